"""Job functions, at module level so RQ can import them by the dotted names of `JobTarget`.

The worker installs its registry here before forking work horses, which inherit it (and
every module already imported), so a job starts without paying for imports.
"""

from __future__ import annotations

from model_trainer.core.container import Registry
from model_trainer.core.logging import bind_context, clear_context
from model_trainer.core.settings import Settings
from model_trainer.services import RUN_EVALUATOR, RUN_TRAINER, TOKENIZER_TRAINER, build_registry
from model_trainer.training.inference.eval_job import split_job_id

_registry: list[Registry] = []


def install(registry: Registry) -> None:
    """Make `registry` the one this process's jobs use."""
    _registry[:] = [registry]


def _current() -> Registry:
    if not _registry:
        install(build_registry(Settings()))
    return _registry[0]


def train_tokenizer(tokenizer_id: str) -> str:
    """Train one tokenizer; returns its final status."""
    clear_context()
    bind_context(job_id=tokenizer_id)
    with _current().container() as container:
        manifest = container.get(TOKENIZER_TRAINER).run(tokenizer_id)
    return str(manifest.status)


def train_model(run_id: str) -> str:
    """Train (or resume) one model run; returns its final status."""
    clear_context()
    bind_context(job_id=run_id, run_id=run_id)
    with _current().container() as container:
        manifest = container.get(RUN_TRAINER).run(run_id)
    return str(manifest.status)


def evaluate_model(job_id: str) -> str:
    """Evaluate a finished run (`<run-id>_<evl-id>`); returns the evaluation's final status."""
    clear_context()
    run_id, _ = split_job_id(job_id)
    bind_context(job_id=job_id, run_id=run_id)
    with _current().container() as container:
        manifest = container.get(RUN_EVALUATOR).run(job_id)
    return str(manifest.status)
