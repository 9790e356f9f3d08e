"""Build the FastAPI application around a service registry."""

from __future__ import annotations

from fastapi import FastAPI

from model_trainer import __version__
from model_trainer.api.deps import get_registry
from model_trainer.api.errors import install_error_handlers
from model_trainer.api.middleware import request_context
from model_trainer.api.routes import artifacts, health, runs, tokenizers
from model_trainer.core.container import Registry
from model_trainer.core.settings import Settings
from model_trainer.services import SETTINGS


def create_app(registry: Registry) -> FastAPI:
    """The API, wired to `registry` (the composition root's, or a test's)."""
    with registry.container() as container:
        settings: Settings = container.get(SETTINGS)
    app = FastAPI(
        title="Model Trainer",
        version=__version__,
        description="Train tokenizers and small language models; watch, evaluate, export.",
    )
    app.dependency_overrides[get_registry] = lambda: registry
    install_error_handlers(app)
    app.middleware("http")(
        request_context(settings.security.api_key, settings.limits.max_body_bytes)
    )
    app.include_router(health.router)
    app.include_router(tokenizers.router)
    app.include_router(runs.router)
    app.include_router(artifacts.router)
    return app
