"""Services that reach the API by its compose name are answered by a keyless API: the name is
in the API service's `SECURITY__ALLOWED_HOSTS` (else every such request gets 421); an API
bound to one address answers requests naming it."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from model_trainer.api.server import bound_address
from model_trainer.core.settings import SecuritySettings

from .test_containers import COMPOSE

API_SERVICE = "api"


def _environment(service: str) -> dict[str, str]:
    env = COMPOSE.services[service].environment
    if isinstance(env, list):
        return dict(_pair(entry) for entry in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def _pair(entry: str) -> tuple[str, str]:
    key, _, value = entry.partition("=")
    return key, value


def test_every_service_name_the_api_is_reached_by_is_an_allowed_host() -> None:
    raw = _environment(API_SERVICE).get("SECURITY__ALLOWED_HOSTS", "[]")
    allowed = set(SecuritySettings.model_validate_json(f'{{"allowed_hosts": {raw}}}').allowed_hosts)
    reached_by: set[str] = set()
    for name in COMPOSE.services:
        for value in _environment(name).values():
            host = urlsplit(value).hostname if value.startswith("http") else None
            if host in COMPOSE.services:
                reached_by.add(host)
    assert API_SERVICE in reached_by  # the bot and the dev server
    assert reached_by <= allowed, reached_by - allowed


@pytest.mark.parametrize(
    ("host", "answered"),
    [
        ("192.168.1.5", "192.168.1.5"),
        ("fd00::5", "[fd00::5]"),
        ("0.0.0.0", None),
        ("::", None),
        ("127.0.0.1", None),
        ("localhost", None),
        ("trainer.lan", None),
    ],
)
def test_an_api_bound_to_one_address_answers_requests_naming_it(
    host: str, answered: str | None
) -> None:
    """`--host 192.168.1.5` without a key: browsers on the LAN send that address as Host."""
    assert bound_address(host) == answered
