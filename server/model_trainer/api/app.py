"""Build the FastAPI application around a service registry."""

from __future__ import annotations

from fastapi import FastAPI

from model_trainer import __version__
from model_trainer.api.errors import install_error_handlers
from model_trainer.api.middleware import RequestContext
from model_trainer.api.routes import artifacts, backends, health, runs, tokenizers
from model_trainer.core.container import Registry
from model_trainer.core.settings import Settings
from model_trainer.services import RUNS, SETTINGS


def create_app(registry: Registry) -> FastAPI:
    """The API, wired to `registry` (the composition root's, or a test's)."""
    with registry.container() as container:
        settings: Settings = container.get(SETTINGS)
        # Build the process-wide services now (the run orchestrator imports transformers):
        # dependencies run on the event loop, so no request may pay for that import.
        container.get(RUNS)
    app = FastAPI(
        title="Model Trainer",
        version=__version__,
        description="Train tokenizers and small language models; watch, evaluate, export.",
    )
    install_error_handlers(app)
    app.add_middleware(
        RequestContext,
        registry=registry,
        api_key=settings.security.api_key,
        max_body=settings.limits.max_body_bytes,
    )
    app.include_router(health.router)
    app.include_router(backends.router)
    app.include_router(tokenizers.router)
    app.include_router(runs.router)
    app.include_router(artifacts.router)
    return app
