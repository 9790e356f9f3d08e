"""Llama on `transformers`: built from a `LlamaConfig` (never downloaded), exported as HF files.

A Llama block is RMSNorm, attention with rotary positions (RoPE) and optionally fewer
key/value heads than query heads (grouped-query attention), RMSNorm again and a SwiGLU MLP
(gate, up and down projections, no biases). Positions have no parameters, so the context
is limited only by what the model was trained on.

Dropout: Llama has attention dropout only; `architecture.dropout` becomes
`attention_dropout` (on the attention probabilities), and the residual stream and the MLP
have none.

The shared counts, options and checks are also Qwen2's (`model_trainer.plugins.qwen2`),
which differs in its query/key/value biases.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from transformers import LlamaConfig, LlamaForCausalLM, PretrainedConfig, PreTrainedModel

from model_trainer.plugin import (
    AppError,
    Architecture,
    ErrorCode,
    JsonObject,
    LanguageModel,
    ModelSize,
    SpecialTokens,
)
from model_trainer.plugin_hf import (
    HfCausalLM,
    config_float,
    config_int,
    evaluation_mode,
    load_pretrained,
    quiet_transformers,
    save_pretrained,
)

quiet_transformers()

END_OF_TEXT_ID = 0
"""bos/eos in the built config until `export` records the tokenizer's own (as GPT-2's)."""


class RotaryOptions(BaseModel):
    """The knobs Llama and Qwen2 share beyond the shared architecture fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_kv_head: Annotated[
        int | None,
        Field(
            ge=1,
            le=4096,
            description="Key/value heads; they must divide n_head (default: n_head, no grouping)",
        ),
    ] = None
    intermediate_size: Annotated[
        int | None,
        Field(
            ge=1,
            le=262144,
            description="SwiGLU MLP width (default: 8/3 x n_embd rounded up to a multiple of 64)",
        ),
    ] = None
    rope_theta: Annotated[
        float, Field(gt=0.0, le=1e9, description="Base of the rotary position frequencies")
    ] = 10000.0
    tie_word_embeddings: Annotated[
        bool, Field(description="The output layer shares the token embedding's weights")
    ] = True
    rms_norm_eps: Annotated[
        float, Field(gt=0.0, lt=1.0, description="Epsilon of the RMS norms")
    ] = 1e-6


class LlamaOptions(RotaryOptions):
    """Llama's own options (the shared rotary family's)."""


SIZES: dict[str, ModelSize] = {
    "nano": ModelSize(
        n_layer=4, n_head=4, n_embd=128, options={"n_kv_head": 2, "intermediate_size": 384}
    ),
    "tiny": ModelSize(
        n_layer=4, n_head=4, n_embd=256, options={"n_kv_head": 2, "intermediate_size": 704}
    ),
    "mini": ModelSize(
        n_layer=6, n_head=6, n_embd=384, options={"n_kv_head": 2, "intermediate_size": 1024}
    ),
    "small": ModelSize(
        n_layer=12, n_head=12, n_embd=768, options={"n_kv_head": 4, "intermediate_size": 2304}
    ),
}
"""Named sizes (Llama's and Qwen2's): GPT-2's shapes with grouped key/value heads and the
MLP width of `default_mlp_width`, but for `small`, whose MLP (3 x width) takes back what its
4 key/value heads save, so that it stays near GPT-2 small (121 M parameters at GPT-2's
vocabulary of 50,257, tied)."""


def default_mlp_width(n_embd: int) -> int:
    """8/3 x width rounded up to a multiple of 64: SwiGLU's three matrices then hold about
    what GPT-2's two of 4 x width do, as in Llama."""
    return -(-8 * n_embd // (3 * 64)) * 64


def rotary_options(architecture: Architecture) -> RotaryOptions:
    """The architecture's options (already checked by the family's options model)."""
    return RotaryOptions.model_validate(architecture.options)


def kv_heads(architecture: Architecture, options: RotaryOptions) -> int:
    return options.n_kv_head or architecture.n_head


def mlp_width(architecture: Architecture, options: RotaryOptions) -> int:
    return options.intermediate_size or default_mlp_width(architecture.n_embd)


def rotary_parameter_count(architecture: Architecture, qkv_bias: bool) -> int:
    """Per block: query and output projections (2d^2), key and value projections of
    n_kv_head heads (2 x d x kv width), with `qkv_bias` their biases (d + 2 x kv width), a
    SwiGLU MLP of width m (3dm) and two RMS norms (2d); the token embedding, the output
    layer unless tied, and the final norm. No other biases; rotary positions have none."""
    a = architecture
    options = rotary_options(a)
    d, m = a.n_embd, mlp_width(a, options)
    kv = kv_heads(a, options) * (d // a.n_head)
    per_layer = 2 * d * d + 2 * d * kv + 3 * d * m + 2 * d
    if qkv_bias:
        per_layer += d + 2 * kv
    output = 0 if options.tie_word_embeddings else a.vocab_size * d
    return a.n_layer * per_layer + a.vocab_size * d + output + d


def rotary_activation_bytes(architecture: Architecture) -> int:
    """GPT-2's fitted terms (docs/RELIABILITY.md) adjusted to this block. GPT-2's 80 bytes
    per width per layer are 48 for attention and norms and 32 for its MLP, two saved
    tensors of 4 x width (8 bytes per MLP unit). SwiGLU saves four of width m (gate, up,
    the gate's SiLU, their product): 16 bytes per unit. The RMS norms, computed in fp32
    step by step, and the rotated queries and keys keep about 24 more per width than
    GPT-2's attention and fused LayerNorms: 72 instead of 48. 18 per vocabulary entry
    (logits and the loss's copies) and 16 per width (embeddings) as GPT-2's; SDPA keeps no
    T x T matrix. Against the peak RSS of two fp32 steps on CPU the estimate was 0.80-1.43
    of the growth (docs/RELIABILITY.md)."""
    a = architecture
    m = mlp_width(a, rotary_options(a))
    per_layer = 72 * a.n_embd + 16 * m
    return a.n_layer * per_layer + 18 * a.vocab_size + 16 * a.n_embd


def rotary_flops_per_token(architecture: Architecture, parameters: int) -> int:
    """6 per parameter (forward and backward) plus attention's 12 x layers x T x width (the
    scores and the weighted sum run over every query head, grouped or not)."""
    a = architecture
    return 6 * parameters + 12 * a.n_layer * a.max_seq_len * a.n_embd


def check_rotary(architecture: Architecture) -> None:
    """Heads that split the width, an even head width for RoPE (it rotates pairs of
    dimensions), and key/value heads that divide the heads."""
    a = architecture
    if a.n_embd % a.n_head:
        raise AppError(
            ErrorCode.CONFIG_INVALID,
            f"model.n_embd: {a.n_embd} is not divisible by n_head {a.n_head}",
        )
    head_dim = a.n_embd // a.n_head
    if head_dim % 2:
        raise AppError(
            ErrorCode.CONFIG_INVALID,
            f"model.n_embd: a head width of {head_dim} (n_embd {a.n_embd} / n_head {a.n_head})"
            " is odd; rotary positions rotate pairs of dimensions, so it must be even",
        )
    kv = kv_heads(a, rotary_options(a))
    if a.n_head % kv:
        raise AppError(
            ErrorCode.CONFIG_INVALID,
            f"model.options.n_kv_head: {kv} key/value heads do not divide n_head {a.n_head}",
        )


def llama_config(architecture: Architecture) -> LlamaConfig:
    a = architecture
    options = rotary_options(a)
    config = LlamaConfig(
        vocab_size=a.vocab_size,
        hidden_size=a.n_embd,
        intermediate_size=mlp_width(a, options),
        num_hidden_layers=a.n_layer,
        num_attention_heads=a.n_head,
        num_key_value_heads=kv_heads(a, options),
        max_position_embeddings=a.max_seq_len,
        rms_norm_eps=options.rms_norm_eps,
        rope_parameters={"rope_type": "default", "rope_theta": options.rope_theta},
        attention_dropout=a.dropout,
        tie_word_embeddings=options.tie_word_embeddings,
        bos_token_id=END_OF_TEXT_ID,
        eos_token_id=END_OF_TEXT_ID,
    )
    config._attn_implementation = "sdpa"  # as gpt2.py: not a constructor argument in the types
    return config


LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
"""Every projection of a Llama or Qwen2 block: attention's four and the SwiGLU MLP's three."""


def _rope_type(config: JsonObject) -> object:
    """The rotary scaling a config asks for: `rope_parameters.rope_type` (transformers 5),
    or the older `rope_scaling`'s `rope_type`/`type`; "default" when it asks for none."""
    for key in ("rope_parameters", "rope_scaling"):
        rope = config.get(key)
        if isinstance(rope, dict):
            kind = rope.get("rope_type", rope.get("type", "default"))
            if kind != "default":
                return kind
        elif rope is not None:
            return rope
    return "default"


def refuse_unmodelled_rotary(config: JsonObject, family: str, hidden: int, heads: int) -> None:
    """Refuse a config whose shape keys differ from what the family's counts and memory
    estimate model (transformers would load it, and the counts would be off): a head width
    other than hidden_size / num_attention_heads, biases on the attention's four or the
    MLP's projections (Llama's `attention_bias`, `mlp_bias`; Qwen2 has neither key, its
    query/key/value biases are built in), a rotary scaling other than the default."""
    head_dim = config.get("head_dim")
    rope = _rope_type(config)
    unmodelled: list[tuple[str, object, str]] = []
    if head_dim is not None and (heads <= 0 or head_dim != hidden // heads):
        unmodelled.append(("head_dim", head_dim, "null or hidden_size / num_attention_heads"))
    unmodelled.extend(
        (key, config.get(key), "false")
        for key in ("attention_bias", "mlp_bias")
        if config.get(key, False) not in (False, None)
    )
    if rope != "default":
        unmodelled.append(("rope_type", rope, "'default' (no rotary scaling)"))
    if unmodelled:
        key, value, expected = unmodelled[0]
        raise AppError(
            ErrorCode.CONFIG_INVALID,
            f"model.init_from: config.json's '{key}' is {value!r}; the {family} plugin "
            f"models only {expected}",
        )


def rotary_architecture_of(config: JsonObject, family: str) -> Architecture | None:
    """The architecture a Llama or Qwen2 folder's `config.json` describes (`family` is its
    `model_type`), or None for another family. The rotary base is read from
    `rope_parameters` (transformers 5) or the older top-level `rope_theta`."""
    if config.get("model_type") != family:
        return None
    rope = config.get("rope_parameters")
    source = rope if isinstance(rope, dict) else config
    heads = config_int(config, "num_attention_heads")
    refuse_unmodelled_rotary(config, family, config_int(config, "hidden_size"), heads)
    kv = config.get("num_key_value_heads")
    # Absent means the library's default, which for both families is an untied output layer
    # (a config saved by `save_pretrained` omits values equal to the defaults).
    tied = config.get("tie_word_embeddings", False)
    options: JsonObject = {
        "n_kv_head": kv if isinstance(kv, int) else heads,
        "intermediate_size": config_int(config, "intermediate_size"),
        "rope_theta": config_float(source, "rope_theta", 10000.0),
        "tie_word_embeddings": tied if isinstance(tied, bool) else False,
        "rms_norm_eps": config_float(config, "rms_norm_eps", 1e-6),
    }
    return Architecture(
        family=family,
        n_layer=config_int(config, "num_hidden_layers"),
        n_head=heads,
        n_embd=config_int(config, "hidden_size"),
        max_seq_len=config_int(config, "max_position_embeddings"),
        vocab_size=config_int(config, "vocab_size"),
        dropout=config_float(config, "attention_dropout", 0.0),
        options=options,
    )


M = TypeVar("M", bound=PreTrainedModel)


class RotaryBackend(Generic[M]):
    """`ModelBackend` (and `FineTunable`) for a family of Llama-shaped blocks: what Llama and
    Qwen2 share, given the family's name, its `transformers` class, its `HfCausalLM`
    wrapper, its config and whether its query/key/value projections have biases."""

    def __init__(
        self,
        family: str,
        hf_class: type[M],
        wrapper: type[HfCausalLM[M]],
        make_config: Callable[[Architecture], PretrainedConfig],
        options: type[RotaryOptions],
        qkv_bias: bool,
    ) -> None:
        self._family = family
        self._hf_class = hf_class
        self._wrapper = wrapper
        self._make_config = make_config
        self._options = options
        self._qkv_bias = qkv_bias

    def name(self) -> str:
        return self._family

    def sizes(self) -> dict[str, ModelSize]:
        return dict(SIZES)

    def options_model(self) -> type[BaseModel]:
        return self._options

    def parameter_count(self, architecture: Architecture) -> int:
        return rotary_parameter_count(architecture, qkv_bias=self._qkv_bias)

    def flops_per_token(self, architecture: Architecture) -> int:
        return rotary_flops_per_token(architecture, self.parameter_count(architecture))

    def activation_bytes_per_token(self, architecture: Architecture) -> int:
        return rotary_activation_bytes(architecture)

    def check(self, architecture: Architecture) -> None:
        check_rotary(architecture)

    def build(self, architecture: Architecture) -> LanguageModel:
        check_rotary(architecture)
        return self._wrapper(self._hf_class(self._make_config(architecture)))

    def export(
        self,
        model: LanguageModel,
        architecture: Architecture,
        out_dir: Path,
        special: SpecialTokens = SpecialTokens(),  # noqa: B008 - frozen, so shared safely
    ) -> list[str]:
        if not isinstance(model, self._wrapper):
            raise AppError(
                ErrorCode.CONFIG_INVALID, f"only {self._family} models export as {self._family}"
            )
        return save_pretrained(model.hf_model, out_dir, special, max_length=None)

    def load(self, export_dir: Path) -> LanguageModel:
        model = self._hf_class.from_pretrained(
            str(export_dir), local_files_only=True, attn_implementation="sdpa"
        )
        evaluation_mode(model)
        return self._wrapper(model)

    # FineTunable: runs that start from a folder of the family or an earlier run's export

    def architecture_of(self, config: JsonObject) -> Architecture | None:
        return rotary_architecture_of(config, self._family)

    def from_pretrained(self, folder: Path, architecture: Architecture) -> LanguageModel:
        dropout: dict[str, float | int | str] = {"attention_dropout": architecture.dropout}
        return self._wrapper(load_pretrained(self._hf_class, folder, dropout))

    def lora_targets(self) -> list[str]:
        return list(LORA_TARGETS)


class LlamaModel(HfCausalLM[LlamaForCausalLM]):
    """`LanguageModel` over `LlamaForCausalLM`."""


class LlamaBackend(RotaryBackend[LlamaForCausalLM]):
    """`ModelBackend` for Llama shaped models."""

    def __init__(self) -> None:
        super().__init__(
            "llama", LlamaForCausalLM, LlamaModel, llama_config, LlamaOptions, qkv_bias=False
        )
