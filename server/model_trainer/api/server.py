"""Run the API under uvicorn with the composition root's registry."""

from __future__ import annotations

import ipaddress
import os

import uvicorn

from model_trainer.api.admission import answered_hosts
from model_trainer.api.app import create_app
from model_trainer.core.logging import Log, configure_logging
from model_trainer.core.settings import SecuritySettings, Settings, StoreSettings
from model_trainer.infra.compute import LocalCompute
from model_trainer.services import build_registry


def bound_address(host: str) -> str | None:
    """The name a client of an API bound to one address (`--host 192.168.1.5`) sends as its
    `Host`, when that is an address of its own: a page by DNS rebinding cannot send it, as
    an address names no site; None for names, loopback and every address."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
    if address.is_loopback or address.is_unspecified:
        return None
    return f"[{address}]" if address.version == 6 else str(address)


def serve(settings: Settings, host: str, port: int) -> None:
    """Serve until interrupted; the registry is closed on the way out."""
    bound = bound_address(host)
    if bound is not None and bound not in settings.security.allowed_hosts:
        # Whoever binds the API to one address means it to be reached there.
        settings.security = SecuritySettings(
            api_key=settings.security.api_key,
            allowed_hosts=[*settings.security.allowed_hosts, bound],
        )
    # Before torch and tokenizers start their thread pools: generation and encoding use
    # these threads, and the remaining cores stay free for the event loop.
    LocalCompute(settings.api.inference_threads).apply()
    secrets = [settings.security.api_key] if settings.security.api_key else []
    # Library progress bars would interleave with the JSON log lines on stderr.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    configure_logging(settings.log_level, "model-trainer-api", secrets)
    store = settings.store
    settings.store = StoreSettings(
        attempts=store.api_attempts,
        first_delay_s=store.first_delay_s,
        max_delay_s=store.max_delay_s,
        refresh_s=store.refresh_s,
        api_attempts=store.api_attempts,
    )
    registry = build_registry(settings)
    Log("api").info("api_starting", host=host, port=port)
    if not settings.security.api_key:
        # Says why a request by another name (a LAN address, a compose service) gets 421.
        Log("api").info(
            "api_without_key",
            answered_hosts=", ".join(sorted(answered_hosts(settings.security.allowed_hosts))),
        )
    try:
        # No log_config: uvicorn's loggers then propagate to the root's JSON handler instead
        # of getting plain-text handlers of their own.
        uvicorn.run(
            create_app(registry),
            host=host,
            port=port,
            log_config=None,
            log_level="warning",
            access_log=False,
        )
    finally:
        registry.close()
