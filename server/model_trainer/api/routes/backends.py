"""`/backends`: the tokenizer methods and model families this installation offers."""

from __future__ import annotations

from fastapi import APIRouter

from model_trainer.api.deps import ModelsDep, TokenizerBackendsDep
from model_trainer.api.schemas.backends import BackendPublic, BackendsPublic, ModelSize
from model_trainer.api.schemas.common import GUARDED, error_responses
from model_trainer.core.contracts.tokenizer import can_train
from model_trainer.infra.plugins import PluginStatus


async def list_backends(tokenizers: TokenizerBackendsDep, models: ModelsDep) -> BackendsPublic:
    """Every installed plugin, broken ones with the reason; forms are built from the schemas."""
    data: list[BackendPublic] = []
    for record in tokenizers.records():
        # a broken plugin cannot be asked: it trains as far as anyone can tell
        ok = record.status is PluginStatus.OK
        trains = can_train(tokenizers.get(record.name)) if ok else True
        data.append(BackendPublic.from_record("tokenizer", record, {}, trains))
    for record in models.records():
        sizes: dict[str, ModelSize] = {}
        if record.status is PluginStatus.OK:
            named = models.get(record.name).sizes()
            sizes = {name: ModelSize.of(size) for name, size in named.items()}
        data.append(BackendPublic.from_record("model", record, sizes, trains=True))
    return BackendsPublic(data=data, count=len(data))


router = APIRouter(prefix="/backends", tags=["backends"], responses=error_responses(*GUARDED, 500))
router.add_api_route("", list_backends, methods=["GET"], operation_id="backends-list")
