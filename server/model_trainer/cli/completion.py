"""Shell completion of run and tokenizer ids from the API (silent when it is away)."""

from __future__ import annotations

from pydantic import ValidationError
from pydantic_settings import SettingsError

from model_trainer.client.api import ApiClient
from model_trainer.client.errors import ApiError
from model_trainer.client.views import RunsView, TokenizersView
from model_trainer.core.settings import Settings

COMPLETION_TIMEOUT_S = 2.0
"""A shell waits on completion: better no suggestions than a hung prompt."""


def _client() -> ApiClient:
    try:
        settings = Settings()
    except (ValidationError, SettingsError) as exc:  # the command itself will say so
        raise ApiError("SETTINGS_INVALID", str(exc)) from exc
    return ApiClient(settings.api_base_url, settings.security.api_key, COMPLETION_TIMEOUT_S)


def complete_run_id(incomplete: str) -> list[str]:
    try:
        with _client() as client:
            runs = client.get(RunsView, "/runs", {"limit": 50})
    except ApiError:
        return []
    return [r.run_id for r in runs.data if r.run_id.startswith(incomplete)]


def complete_tokenizer_id(incomplete: str) -> list[str]:
    try:
        with _client() as client:
            toks = client.get(TokenizersView, "/tokenizers", {"limit": 50})
    except ApiError:
        return []
    return [t.tokenizer_id for t in toks.data if t.tokenizer_id.startswith(incomplete)]
