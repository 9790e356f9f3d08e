"""The composition root: which implementation stands behind each contract.

The API and the worker both call `build_registry`; tests replace parts with
`registry.register(KEY, factory)` before handing the registry on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from model_trainer.core.container import Container, Key, Registry
from model_trainer.core.contracts.compute import ComputeProvider
from model_trainer.core.contracts.events import EventPublisher
from model_trainer.core.contracts.queue import JobQueue
from model_trainer.core.settings import Settings
from model_trainer.infra.compute import LocalCompute
from model_trainer.infra.events import RedisEventPublisher
from model_trainer.infra.inference_pool import InferencePool
from model_trainer.infra.job_state import JobStateStore
from model_trainer.infra.redis_store import RedisStore
from model_trainer.infra.rq_queue import RqJobQueue
from model_trainer.infra.storage import open_storage, use_storage
from model_trainer.infra.workers import WorkerDirectory
from model_trainer.jobs.layout import ArtifactLayout
from model_trainer.jobs.lifecycle import JobLifecycle
from model_trainer.jobs.recovery import JobReconciler, Recovery
from model_trainer.orchestrators.artifacts import ArtifactStore
from model_trainer.orchestrators.corpus import CorpusCatalog
from model_trainer.orchestrators.dashboard import DashboardAssets
from model_trainer.orchestrators.deletion import Deletion
from model_trainer.orchestrators.evaluations import EvaluationOrchestrator
from model_trainer.orchestrators.run_labels import RunCatalog
from model_trainer.orchestrators.run_logs import RunLogFollower
from model_trainer.orchestrators.runs import RunOrchestrator, run_route
from model_trainer.orchestrators.tokenizers import TokenizerOrchestrator
from model_trainer.tokenizers.kind import TokenizerKind
from model_trainer.tokenizers.manifest import TokenizerManifest
from model_trainer.tokenizers.registry import TokenizerRegistry, discover_tokenizers
from model_trainer.tokenizers.training import TokenizerTraining
from model_trainer.training.inference.eval_job import EvalKind, EvalManifest
from model_trainer.training.inference.evaluate import RunEvaluation
from model_trainer.training.run.kind import RunKind
from model_trainer.training.run.manifest import RunManifest
from model_trainer.training.run.runner import RunTraining

if TYPE_CHECKING:
    from model_trainer.training.model_registry import ModelRegistry

SETTINGS: Key[Settings] = Key("settings")
REDIS: Key[RedisStore] = Key("redis")
QUEUE: Key[JobQueue] = Key("queue")
EVENTS: Key[EventPublisher] = Key("events")
COMPUTE: Key[ComputeProvider] = Key("compute")
TOKENIZER_BACKENDS: Key[TokenizerRegistry] = Key("tokenizer_backends")
TOKENIZER_STATE: Key[JobStateStore] = Key("tokenizer_state")
TOKENIZERS: Key[TokenizerOrchestrator] = Key("tokenizer_orchestrator")
TOKENIZER_KIND: Key[TokenizerKind] = Key("tokenizer_kind")
TOKENIZER_TRAINER: Key[JobLifecycle[TokenizerManifest]] = Key("tokenizer_trainer")
MODELS: Key[ModelRegistry] = Key("models")
RUN_STATE: Key[JobStateStore] = Key("run_state")
RUNS: Key[RunOrchestrator] = Key("run_orchestrator")
RUN_LOGS: Key[RunLogFollower] = Key("run_logs")
TOKENIZER_LOGS: Key[RunLogFollower] = Key("tokenizer_logs")
RUN_KIND: Key[RunKind] = Key("run_kind")
RUN_TRAINER: Key[JobLifecycle[RunManifest]] = Key("run_trainer")
EVAL_STATE: Key[JobStateStore] = Key("eval_state")
EVAL_KIND: Key[EvalKind] = Key("eval_kind")
EVALUATIONS: Key[EvaluationOrchestrator] = Key("evaluation_orchestrator")
RUN_EVALUATOR: Key[JobLifecycle[EvalManifest]] = Key("run_evaluator")
ARTIFACTS: Key[ArtifactStore] = Key("artifacts")
CORPUS: Key[CorpusCatalog] = Key("corpus")
DASHBOARD: Key[DashboardAssets] = Key("dashboard")
RECONCILER: Key[Recovery] = Key("reconciler")
WORKERS: Key[WorkerDirectory] = Key("workers")
GENERATION_POOL: Key[InferencePool] = Key("generation_pool")
ENCODE_POOL: Key[InferencePool] = Key("encode_pool")
RUN_CATALOG: Key[RunCatalog] = Key("run_catalog")
DELETION: Key[Deletion] = Key("deletion")

WORKER_TTL_FACTOR = 3.0
"""A worker counts as live while its last heartbeat is younger than this many intervals."""


def build_registry(settings: Settings) -> Registry:
    """Process-wide services are built once here; per-use services come from factories."""
    registry = Registry()
    # Manifests meet the store wherever they are read or written: the choice is process-wide
    layout = ArtifactLayout(use_storage(open_storage(settings)).root)
    redis = RedisStore(settings.redis_url)
    registry.on_close(redis.close)
    backends = discover_tokenizers(settings.plugins.prefer)
    tokenizer_state = JobStateStore(redis, "tokenizers")
    worker_ttl_s = WORKER_TTL_FACTOR * settings.worker.heartbeat_interval_s
    queue = RqJobQueue(
        redis,
        settings.worker.queue_name,
        worker_ttl_s=worker_ttl_s,
    )
    registry.register_value(SETTINGS, settings)
    registry.register_value(WORKERS, WorkerDirectory(redis, worker_ttl_s))
    registry.register_value(REDIS, redis)
    registry.register_value(QUEUE, queue)
    registry.register_value(EVENTS, RedisEventPublisher(redis))
    registry.register_value(COMPUTE, LocalCompute(settings.worker.threads))
    registry.register_value(TOKENIZER_BACKENDS, backends)
    registry.register_value(TOKENIZER_STATE, tokenizer_state)
    _register_tokenizer_jobs(registry, layout)
    registry.register_value(RUN_STATE, JobStateStore(redis, "runs"))
    registry.register_singleton(
        RUN_KIND, lambda c: RunKind(layout, c.get(RUN_STATE), c.get(EVENTS))
    )
    registry.register_value(ARTIFACTS, ArtifactStore(layout))
    registry.register_value(CORPUS, CorpusCatalog(settings.corpus_root))
    registry.register_value(DASHBOARD, DashboardAssets(settings.ui_dist))
    _register_run_jobs(registry)
    registry.register_value(EVAL_STATE, JobStateStore(redis, "evals"))
    registry.register_singleton(EVAL_KIND, lambda c: EvalKind(layout, c.get(EVAL_STATE)))
    registry.register_singleton(
        EVALUATIONS,
        lambda c: EvaluationOrchestrator(
            c.get(SETTINGS), c.get(RUNS), c.get(EVAL_KIND), c.get(QUEUE), c.get(RUN_STATE)
        ),
    )
    registry.register(RUN_EVALUATOR, _eval_jobs)
    api = settings.api
    for key, name in ((GENERATION_POOL, "generate"), (ENCODE_POOL, "encode")):
        pool = InferencePool(name, api.inference_workers, api.inference_queue)
        registry.register_value(key, pool)
        registry.on_close(pool.close)
    registry.register(RECONCILER, _recovery)
    _register_run_catalog(registry, layout)
    return registry


def _register_tokenizer_jobs(registry: Registry, layout: ArtifactLayout) -> None:
    """The tokenizer orchestrator, the kind and the job body."""
    registry.register_singleton(
        TOKENIZERS,
        lambda c: TokenizerOrchestrator(
            c.get(SETTINGS),
            c.get(TOKENIZER_BACKENDS),
            c.get(TOKENIZER_STATE),
            c.get(QUEUE),
            workers=c.get(WORKERS),
        ),
    )
    registry.register_singleton(
        TOKENIZER_KIND, lambda c: TokenizerKind(layout, c.get(TOKENIZER_STATE))
    )
    registry.register(TOKENIZER_TRAINER, _tokenizer_jobs)


def _register_run_jobs(registry: Registry) -> None:
    """The model registry, the run orchestrator, the log followers and the job body."""
    registry.register_singleton(MODELS, lambda c: _models(c.get(SETTINGS)))
    registry.register_singleton(
        RUNS,
        lambda c: RunOrchestrator(
            c.get(SETTINGS),
            c.get(TOKENIZER_BACKENDS),
            c.get(MODELS),
            c.get(RUN_STATE),
            c.get(QUEUE),
            c.get(WORKERS),
            c.get(EVENTS),
            tokenizer_state=c.get(TOKENIZER_STATE),
        ),
    )
    registry.register_singleton(RUN_LOGS, lambda c: RunLogFollower(c.get(RUNS).has_ended))
    registry.register_singleton(
        TOKENIZER_LOGS, lambda c: RunLogFollower(c.get(TOKENIZERS).has_ended)
    )
    registry.register(RUN_TRAINER, _run_jobs)


def _register_run_catalog(registry: Registry, layout: ArtifactLayout) -> None:
    """Every run listed, filtered and relabelled; runs and tokenizers deleted."""
    registry.register_singleton(
        RUN_CATALOG,
        lambda c: RunCatalog(
            c.get(RUNS), layout, c.get(RUN_STATE), c.get(SETTINGS).store.refresh_s
        ),
    )
    registry.register_singleton(
        DELETION,
        lambda c: Deletion(
            layout,
            c.get(RUNS),
            c.get(RUN_CATALOG),
            c.get(EVAL_KIND),
            c.get(RUN_STATE),
            c.get(TOKENIZERS),
            c.get(TOKENIZER_STATE),
        ),
    )


def _tokenizer_jobs(c: Container) -> JobLifecycle[TokenizerManifest]:
    kind, settings = c.get(TOKENIZER_KIND), c.get(SETTINGS)
    body = TokenizerTraining(settings, c.get(TOKENIZER_BACKENDS), kind)
    return JobLifecycle(kind, body, settings.worker, c.get(QUEUE))


def _run_jobs(c: Container) -> JobLifecycle[RunManifest]:
    kind, settings = c.get(RUN_KIND), c.get(SETTINGS)
    body = RunTraining(settings, c.get(TOKENIZER_BACKENDS), c.get(MODELS), kind, c.get(EVENTS))
    return JobLifecycle(kind, body, settings.worker, c.get(QUEUE), route=run_route)


def _eval_jobs(c: Container) -> JobLifecycle[EvalManifest]:
    kind, settings = c.get(EVAL_KIND), c.get(SETTINGS)
    body = RunEvaluation(settings, c.get(TOKENIZER_BACKENDS), c.get(MODELS), kind)
    return JobLifecycle(kind, body, settings.worker, c.get(QUEUE))


def _recovery(c: Container) -> Recovery:
    """Runs, tokenizers and evaluations whose worker died, started again by any live worker."""
    worker, queue = c.get(SETTINGS).worker, c.get(QUEUE)
    tokenizer_kind, run_kind = c.get(TOKENIZER_KIND), c.get(RUN_KIND)
    tokenizers = JobReconciler(tokenizer_kind, worker, queue)
    runs = JobReconciler(run_kind, worker, queue, route=run_route)  # CUDA runs to CUDA's queue
    eval_kind = c.get(EVAL_KIND)
    return Recovery([tokenizers, runs, JobReconciler(eval_kind, worker, queue)])


def _models(settings: Settings) -> ModelRegistry:
    """Found on first use: importing a model plugin imports `transformers`, which takes
    seconds (the worker and the API ask for it up front, before their first job or request)."""
    from model_trainer.training.model_registry import discover_models

    return discover_models(settings.plugins.prefer)
