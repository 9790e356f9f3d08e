"""Named sizes carry what a family needs: any architecture field and family option, with the
request's own values winning and the merged options checked by the family's model."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict

from model_trainer.core.contracts.model import ModelSize
from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.orchestrators.run_admission import resolve_architecture
from model_trainer.plugins.gpt2 import Gpt2Backend
from model_trainer.training.config import ModelSpec
from model_trainer.training.model_registry import ModelRegistry


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kv_heads: int | None = None
    mlp_width: int = 512


class _Family(Gpt2Backend):
    """GPT-2's counts, with sizes that set options and the options model above."""

    def __init__(self, sizes: dict[str, ModelSize]) -> None:
        super().__init__()
        self._sizes = sizes

    def sizes(self) -> dict[str, ModelSize]:
        return dict(self._sizes)

    def options_model(self) -> type[BaseModel]:
        return _Options


LEAN = ModelSize(
    n_layer=2,
    n_head=4,
    n_embd=64,
    max_seq_len=128,
    dropout=0.1,
    options={"kv_heads": 2, "mlp_width": 128},
)


def _registry(size: ModelSize = LEAN) -> ModelRegistry:
    return ModelRegistry("model", "model.family", {"fam": _Family({"lean": size})}, [])


def test_a_size_sets_every_field_and_option_it_names() -> None:
    _backend, arch = resolve_architecture(ModelSpec(family="fam", size="lean"), _registry(), 300)
    assert (arch.n_layer, arch.n_head, arch.n_embd) == (2, 4, 64)
    assert (arch.max_seq_len, arch.dropout, arch.vocab_size) == (128, 0.1, 300)
    assert arch.options == {"kv_heads": 2, "mlp_width": 128}


def test_the_request_wins_over_the_size_and_its_options_merge_over_the_sizes() -> None:
    spec = ModelSpec(
        family="fam", size="lean", n_head=8, max_seq_len=64, dropout=0.0, options={"mlp_width": 96}
    )
    _backend, arch = resolve_architecture(spec, _registry(), 300)
    assert (arch.n_layer, arch.n_head, arch.n_embd) == (2, 8, 64)
    assert (arch.max_seq_len, arch.dropout) == (64, 0.0)
    assert arch.options == {"kv_heads": 2, "mlp_width": 96}


def test_a_size_without_context_or_dropout_leaves_the_request_defaults() -> None:
    plain = ModelSize(n_layer=2, n_head=4, n_embd=64)
    _backend, arch = resolve_architecture(ModelSpec(family="fam", size="lean"), _registry(plain), 9)
    assert (arch.max_seq_len, arch.dropout) == (256, 0.0)
    assert arch.options == {"kv_heads": None, "mlp_width": 512}


def test_the_merged_options_are_checked_by_the_family() -> None:
    spec = ModelSpec(family="fam", size="lean", options={"mlp_width": "wide"})
    with pytest.raises(AppError) as caught:
        resolve_architecture(spec, _registry(), 300)
    assert caught.value.code is ErrorCode.CONFIG_INVALID
    assert "model.options.mlp_width" in caught.value.message
