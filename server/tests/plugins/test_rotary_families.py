"""The built-in Llama and Qwen2 families beyond the contract: grouped key/value heads, tied and
untied output layers and Qwen2's biases counted exactly, sizes that resolve, request-time
checks that name the field, and exports that say what was trained."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from pydantic import TypeAdapter

from model_trainer.core.contracts.model import Architecture
from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.json_types import JsonObject, JsonValue
from model_trainer.orchestrators.run_admission import resolve_architecture
from model_trainer.plugins.llama import default_mlp_width
from model_trainer.training.config import ModelSpec
from model_trainer.training.model_registry import discover_models
from plugins.hf_reference import hf_logits

pytestmark = pytest.mark.timeout(120)

MODELS = discover_models({})
FAMILIES = ["llama", "qwen2"]
CONFIG: TypeAdapter[JsonObject] = TypeAdapter(JsonObject)
VOCAB = 61
_PROBE: list[list[int]] = [[1, 5, 9, 13, 2, 7, 30, 44], [0, 3, 3, 8, 60, 12, 6, 1]]
PROBE = torch.tensor(_PROBE)

SHAPES: list[JsonObject] = [
    {},
    {"n_kv_head": 1},
    {"n_kv_head": 2, "tie_word_embeddings": False, "intermediate_size": 100},
]
"""Options over the defaults: plain multi-head, one key/value head, untied and a narrow MLP."""


def _arch(family: str, options: JsonObject, dropout: float = 0.0) -> Architecture:
    return Architecture(
        family=family,
        n_layer=2,
        n_head=4,
        n_embd=48,
        max_seq_len=16,
        vocab_size=VOCAB,
        dropout=dropout,
        options=MODELS.options(family, options, "model.options"),
    )


@pytest.mark.parametrize("options", SHAPES)
@pytest.mark.parametrize("family", FAMILIES)
def test_the_count_is_the_built_models(family: str, options: JsonObject) -> None:
    backend, arch = MODELS.get(family), _arch(family, options)
    backend.check(arch)
    module = backend.build(arch).module
    assert backend.parameter_count(arch) == sum(p.numel() for p in module.parameters())
    names = {name for name, _ in module.named_parameters()}
    untied = options.get("tie_word_embeddings") is False
    assert ("lm_head.weight" in names) is untied  # a tied output layer is the embedding
    assert backend.flops_per_token(arch) > 6 * backend.parameter_count(arch)
    assert backend.activation_bytes_per_token(arch) > 0


@pytest.mark.parametrize("options", SHAPES)
def test_qwen2_is_llama_with_query_key_value_biases(options: JsonObject) -> None:
    llama, qwen2 = _arch("llama", options), _arch("qwen2", options)
    heads = options.get("n_kv_head")
    kv_width = 12 * (heads if isinstance(heads, int) else 4)  # heads of 48 / 4 wide
    extra = qwen2.n_layer * (qwen2.n_embd + 2 * kv_width)
    with_biases = MODELS.get("qwen2").parameter_count(qwen2)
    assert with_biases - MODELS.get("llama").parameter_count(llama) == extra


def test_the_default_mlp_width_is_eight_thirds_rounded_up_to_64() -> None:
    assert [default_mlp_width(d) for d in (32, 128, 256, 384, 768)] == [128, 384, 704, 1024, 2048]


@pytest.mark.parametrize("family", FAMILIES)
def test_every_size_resolves_passes_its_check_and_small_is_near_gpt2_small(family: str) -> None:
    backend = MODELS.get(family)
    counts: dict[str, int] = {}
    for size in backend.sizes():
        _, arch = resolve_architecture(ModelSpec(family=family, size=size), MODELS, 50257)
        assert arch.options.get("n_kv_head") is not None and arch.options.get("intermediate_size")
        counts[size] = backend.parameter_count(arch)
    assert list(counts.values()) == sorted(counts.values())
    assert 115_000_000 < counts["small"] < 130_000_000
    _, nano = resolve_architecture(ModelSpec(family=family, size="nano"), MODELS, 300)
    built = backend.build(nano).module
    assert backend.parameter_count(nano) == sum(p.numel() for p in built.parameters())


REFUSED: list[tuple[JsonObject, str]] = [
    ({"n_head": 4, "options": {"n_kv_head": 3}}, "model.options.n_kv_head"),
    ({"n_head": 4, "options": {"n_kv_head": 8}}, "model.options.n_kv_head"),
    ({"n_head": 4, "n_embd": 36}, "model.n_embd"),  # head width 9: RoPE rotates pairs
    ({"n_head": 4, "n_embd": 30}, "model.n_embd"),
]


@pytest.mark.parametrize(("fields", "named"), REFUSED)
@pytest.mark.parametrize("family", FAMILIES)
def test_what_cannot_be_built_is_refused_naming_the_field(
    family: str, fields: JsonObject, named: str
) -> None:
    body: JsonObject = {"family": family, "size": "nano"}
    body.update(fields)
    spec = ModelSpec.model_validate(body)
    with pytest.raises(AppError) as refused:
        resolve_architecture(spec, MODELS, 300)
    assert refused.value.code is ErrorCode.CONFIG_INVALID
    assert refused.value.message.startswith(f"{named}: "), refused.value.message


def _get(config: JsonObject, key: str) -> JsonValue:
    assert key in config, key
    return config[key]


@pytest.mark.parametrize("family", FAMILIES)
def test_the_export_says_what_was_trained_and_transformers_computes_alike(
    family: str, tmp_path: Path
) -> None:
    options: JsonObject = {"n_kv_head": 2, "tie_word_embeddings": False, "rope_theta": 5000.0}
    backend, arch = MODELS.get(family), _arch(family, options, dropout=0.1)
    torch.manual_seed(0)
    model = backend.build(arch)
    model.module.eval()
    with torch.no_grad():
        ours = model.logits(PROBE)
    backend.export(model, arch, tmp_path)
    config = CONFIG.validate_json((tmp_path / "config.json").read_bytes())
    assert _get(config, "model_type") == family
    assert _get(config, "num_key_value_heads") == 2
    assert _get(config, "tie_word_embeddings") is False
    assert _get(config, "attention_dropout") == 0.1  # the only dropout these families have
    assert _get(config, "intermediate_size") == default_mlp_width(48)
    rope = _get(config, "rope_parameters")
    assert isinstance(rope, dict) and rope.get("rope_theta") == 5000.0
    assert torch.allclose(hf_logits(tmp_path, PROBE), ours, atol=1e-5)
