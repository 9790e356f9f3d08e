"""Build the FastAPI application around a service registry."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES

from model_trainer import __version__
from model_trainer.api.deps import API_KEY_DOCUMENTED
from model_trainer.api.docs import install_docs
from model_trainer.api.errors import install_error_handlers
from model_trainer.api.middleware import NegotiatedGZip, RequestContext
from model_trainer.api.routes import (
    artifacts,
    backends,
    corpus,
    dashboard,
    generate,
    health,
    runs,
    tokenizers,
    workers,
)
from model_trainer.core.container import Registry
from model_trainer.core.settings import Settings
from model_trainer.services import RUNS, SETTINGS

GZIP_MIN_BYTES = 1024
"""Smaller bodies gain too little from compression to pay for it."""
GZIP_LEVEL = 1
"""Higher levels cost more than they save: a run's 100,000 metric records (22 MB of JSON)
take 0.16 s to 5.5 MB at level 1, 0.5 s to 4.8 MB at 6 and 0.8 s to 4.7 MB at 9 (Starlette
compresses a body that large in a worker thread, but on the API's cores all the same)."""
UNCOMPRESSED = (*DEFAULT_EXCLUDED_CONTENT_TYPES, "application/octet-stream", "application/x-tar")
"""Starlette's list (log streams, `text/event-stream`, among them: each event must leave at
once) and downloads, which stream large files of their own and keep their length."""


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
        # FastAPI's own pages load their scripts from a CDN; install_docs serves them itself.
        docs_url=None,
        redoc_url=None,
    )
    install_docs(app)
    install_error_handlers(app)
    # Inside RequestContext, so every answer it compressed still gets its request id.
    app.add_middleware(
        NegotiatedGZip,
        minimum_size=GZIP_MIN_BYTES,
        compresslevel=GZIP_LEVEL,
        exclude_content_types=UNCOMPRESSED,
    )
    app.add_middleware(
        RequestContext,
        registry=registry,
        api_key=settings.security.api_key,
        max_body=settings.limits.max_body_bytes,
        allowed_hosts=settings.security.allowed_hosts,
    )
    app.include_router(health.router)
    # The key is checked by RequestContext; this only declares it in the schema, so that the
    # documentation pages offer "Authorize" and generated clients know the header.
    keyed = [API_KEY_DOCUMENTED]
    for router in (
        backends.router,
        tokenizers.router,
        runs.router,
        generate.router,
        artifacts.router,
    ):
        app.include_router(router, dependencies=keyed)
    app.include_router(corpus.router, dependencies=keyed)
    app.include_router(workers.router, dependencies=keyed)
    app.include_router(dashboard.router)
    return app
