"""Job functions, at module level so RQ can import them by the dotted names of `JobTarget`.

The worker installs its registry here before forking work horses, which inherit it (and
every module already imported), so a job starts without paying for imports.
"""

from __future__ import annotations

from model_trainer.core.container import Registry
from model_trainer.core.logging import bind_context, clear_context
from model_trainer.core.settings import Settings
from model_trainer.services import RUN_EVALUATOR, RUN_TRAINER, TOKENIZER_TRAINER, build_registry
from model_trainer.training.config import EvalRequest

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


def evaluate_model(payload_json: str) -> str:
    """Evaluate a finished run; returns the loss."""
    request = EvalRequest.model_validate_json(payload_json)
    clear_context()
    bind_context(job_id=request.run_id, run_id=request.run_id)
    with _current().container() as container:
        metrics = container.get(RUN_EVALUATOR).run(request)
    return f"{metrics.loss:.6f}"
