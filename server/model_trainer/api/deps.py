"""Dependencies, declared once as `Annotated` aliases for routes to use."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends

from model_trainer.core.container import Container, Registry
from model_trainer.core.contracts.queue import JobQueue
from model_trainer.infra.redis_store import RedisStore
from model_trainer.orchestrators.artifacts import ArtifactStore
from model_trainer.orchestrators.runs import RunOrchestrator
from model_trainer.orchestrators.tokenizers import TokenizerOrchestrator
from model_trainer.services import ARTIFACTS, QUEUE, REDIS, RUNS, TOKENIZERS


def get_registry() -> Registry:
    """Replaced by `create_app` with the registry it was given."""
    raise LookupError("the API was built without a service registry")


def get_container(registry: Annotated[Registry, Depends(get_registry)]) -> Iterator[Container]:
    """One container per request, closed when the response is sent."""
    with registry.container() as container:
        yield container


ContainerDep = Annotated[Container, Depends(get_container)]


def get_redis(container: ContainerDep) -> RedisStore:
    return container.get(REDIS)


def get_queue(container: ContainerDep) -> JobQueue:
    return container.get(QUEUE)


def get_tokenizers(container: ContainerDep) -> TokenizerOrchestrator:
    return container.get(TOKENIZERS)


def get_runs(container: ContainerDep) -> RunOrchestrator:
    return container.get(RUNS)


def get_artifacts(container: ContainerDep) -> ArtifactStore:
    return container.get(ARTIFACTS)


RedisDep = Annotated[RedisStore, Depends(get_redis)]
QueueDep = Annotated[JobQueue, Depends(get_queue)]
TokenizersDep = Annotated[TokenizerOrchestrator, Depends(get_tokenizers)]
RunsDep = Annotated[RunOrchestrator, Depends(get_runs)]
ArtifactsDep = Annotated[ArtifactStore, Depends(get_artifacts)]
