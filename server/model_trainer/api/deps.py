"""Dependencies, declared once as `Annotated` aliases for routes to use.

They are `async def` on purpose: none of them blocks, and FastAPI runs a plain `def`
dependency in its thread pool, a round trip between threads that would cost more than the
lookup itself on every request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextvars import ContextVar, Token
from typing import Annotated

from fastapi import Depends, params
from fastapi.security import APIKeyHeader

from model_trainer.api.admission import API_KEY_HEADER
from model_trainer.core.container import Container, Registry
from model_trainer.core.contracts.queue import JobQueue
from model_trainer.infra.inference_pool import InferencePool
from model_trainer.infra.redis_store import RedisStore
from model_trainer.infra.workers import WorkerDirectory
from model_trainer.orchestrators.artifacts import ArtifactStore
from model_trainer.orchestrators.corpus import CorpusCatalog
from model_trainer.orchestrators.dashboard import DashboardAssets
from model_trainer.orchestrators.deletion import Deletion
from model_trainer.orchestrators.evaluations import EvaluationOrchestrator
from model_trainer.orchestrators.run_labels import RunCatalog
from model_trainer.orchestrators.run_logs import RunLogFollower
from model_trainer.orchestrators.runs import RunOrchestrator
from model_trainer.orchestrators.tokenizers import TokenizerOrchestrator
from model_trainer.services import (
    ARTIFACTS,
    CORPUS,
    DASHBOARD,
    DELETION,
    ENCODE_POOL,
    EVALUATIONS,
    GENERATION_POOL,
    MODELS,
    QUEUE,
    REDIS,
    RUN_CATALOG,
    RUN_LOGS,
    RUNS,
    TOKENIZER_BACKENDS,
    TOKENIZER_LOGS,
    TOKENIZERS,
    WORKERS,
)
from model_trainer.tokenizers.registry import TokenizerRegistry
from model_trainer.training.model_registry import ModelRegistry

_registry_var: ContextVar[Registry] = ContextVar("registry")


def bind_registry(registry: Registry) -> Token[Registry]:
    """Make `registry` the one this request's dependencies use (the app's middleware does)."""
    return _registry_var.set(registry)


def unbind_registry(token: Token[Registry]) -> None:
    _registry_var.reset(token)


async def get_registry() -> Registry:
    """The registry of the app serving this request."""
    try:
        return _registry_var.get()
    except LookupError:
        raise LookupError("the API was built without a service registry") from None


async def get_container(
    registry: Annotated[Registry, Depends(get_registry)],
) -> AsyncIterator[Container]:
    """One container per request, closed when the response is sent."""
    with registry.container() as container:
        yield container


ContainerDep = Annotated[Container, Depends(get_container)]


async def get_redis(container: ContainerDep) -> RedisStore:
    return container.get(REDIS)


async def get_queue(container: ContainerDep) -> JobQueue:
    return container.get(QUEUE)


async def get_workers(container: ContainerDep) -> WorkerDirectory:
    return container.get(WORKERS)


async def get_tokenizers(container: ContainerDep) -> TokenizerOrchestrator:
    return container.get(TOKENIZERS)


async def get_runs(container: ContainerDep) -> RunOrchestrator:
    return container.get(RUNS)


async def get_evaluations(container: ContainerDep) -> EvaluationOrchestrator:
    return container.get(EVALUATIONS)


async def get_run_catalog(container: ContainerDep) -> RunCatalog:
    return container.get(RUN_CATALOG)


async def get_deletion(container: ContainerDep) -> Deletion:
    return container.get(DELETION)


async def get_run_logs(container: ContainerDep) -> RunLogFollower:
    return container.get(RUN_LOGS)


async def get_tokenizer_logs(container: ContainerDep) -> RunLogFollower:
    return container.get(TOKENIZER_LOGS)


async def get_artifacts(container: ContainerDep) -> ArtifactStore:
    return container.get(ARTIFACTS)


async def get_corpus(container: ContainerDep) -> CorpusCatalog:
    return container.get(CORPUS)


async def get_dashboard(container: ContainerDep) -> DashboardAssets:
    return container.get(DASHBOARD)


async def get_generation_pool(container: ContainerDep) -> InferencePool:
    return container.get(GENERATION_POOL)


async def get_encode_pool(container: ContainerDep) -> InferencePool:
    return container.get(ENCODE_POOL)


async def get_tokenizer_backends(container: ContainerDep) -> TokenizerRegistry:
    return container.get(TOKENIZER_BACKENDS)


async def get_models(container: ContainerDep) -> ModelRegistry:
    return container.get(MODELS)


RedisDep = Annotated[RedisStore, Depends(get_redis)]
QueueDep = Annotated[JobQueue, Depends(get_queue)]
WorkersDep = Annotated[WorkerDirectory, Depends(get_workers)]
TokenizersDep = Annotated[TokenizerOrchestrator, Depends(get_tokenizers)]
RunsDep = Annotated[RunOrchestrator, Depends(get_runs)]
EvaluationsDep = Annotated[EvaluationOrchestrator, Depends(get_evaluations)]
RunLogsDep = Annotated[RunLogFollower, Depends(get_run_logs)]
RunCatalogDep = Annotated[RunCatalog, Depends(get_run_catalog)]
DeletionDep = Annotated[Deletion, Depends(get_deletion)]
TokenizerLogsDep = Annotated[RunLogFollower, Depends(get_tokenizer_logs)]
ArtifactsDep = Annotated[ArtifactStore, Depends(get_artifacts)]
CorpusDep = Annotated[CorpusCatalog, Depends(get_corpus)]
DashboardDep = Annotated[DashboardAssets, Depends(get_dashboard)]
GenerationPoolDep = Annotated[InferencePool, Depends(get_generation_pool)]
EncodePoolDep = Annotated[InferencePool, Depends(get_encode_pool)]
TokenizerBackendsDep = Annotated[TokenizerRegistry, Depends(get_tokenizer_backends)]
ModelsDep = Annotated[ModelRegistry, Depends(get_models)]

API_KEY_SCHEME = APIKeyHeader(
    name=API_KEY_HEADER,
    auto_error=False,
    description="Needed when the API runs with SECURITY__API_KEY set.",
)
API_KEY_DOCUMENTED = params.Security(dependency=API_KEY_SCHEME)
"""Declares the key in the schema; RequestContext checks it before any route runs."""
