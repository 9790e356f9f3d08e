"""Run the API under uvicorn with the composition root's registry."""

from __future__ import annotations

import uvicorn

from model_trainer.api.app import create_app
from model_trainer.core.logging import Log, configure_logging
from model_trainer.core.settings import Settings
from model_trainer.services import build_registry


def serve(settings: Settings, host: str, port: int) -> None:
    """Serve until interrupted; the registry is closed on the way out."""
    secrets = [settings.security.api_key] if settings.security.api_key else []
    configure_logging(settings.log_level, "model-trainer-api", secrets)
    registry = build_registry(settings)
    Log("api").info("api_starting", host=host, port=port)
    try:
        uvicorn.run(
            create_app(registry), host=host, port=port, log_level="warning", access_log=False
        )
    finally:
        registry.close()
