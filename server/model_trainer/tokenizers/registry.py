"""Tokenizer plugins: every entry point of the `model_trainer.tokenizers` group, the
built-in methods included, by name."""

from __future__ import annotations

from model_trainer.core.contracts.tokenizer import TOKENIZER_METHODS, TokenizerBackend
from model_trainer.infra.plugins import PluginRegistry, discover

ENTRY_POINT_GROUP = "model_trainer.tokenizers"

TokenizerRegistry = PluginRegistry[TokenizerBackend]


def _accept(instance: object) -> TokenizerBackend | None:
    return instance if isinstance(instance, TokenizerBackend) else None


def discover_tokenizers(prefer: dict[str, str]) -> TokenizerRegistry:
    """Every installed tokenizer plugin; broken ones are listed with the reason."""
    plugins, records = discover(ENTRY_POINT_GROUP, "tokenizer", _accept, TOKENIZER_METHODS, prefer)
    return TokenizerRegistry("tokenizer", "method", plugins, records)
