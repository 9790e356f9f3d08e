"""Model plugins: every entry point of the `model_trainer.models` group, GPT-2 included,
by family name."""

from __future__ import annotations

from model_trainer.core.contracts.model import MODEL_METHODS, ModelBackend
from model_trainer.infra.plugins import PluginRegistry, discover

ENTRY_POINT_GROUP = "model_trainer.models"

ModelRegistry = PluginRegistry[ModelBackend]


def _accept(instance: object) -> ModelBackend | None:
    return instance if isinstance(instance, ModelBackend) else None


def discover_models(prefer: dict[str, str]) -> ModelRegistry:
    """Every installed model plugin; broken ones are listed with the reason."""
    plugins, records = discover(ENTRY_POINT_GROUP, "model", _accept, MODEL_METHODS, prefer)
    return ModelRegistry("model", "model.family", plugins, records)
