"""`/docs` and `/redoc` load nothing from the internet, and need no API key; nor does the
schema they show, which declares the key for the operations that need it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import TypeAdapter

from model_trainer.api.app import create_app
from model_trainer.core.json_types import JsonObject
from model_trainer.core.settings import SecuritySettings, Settings, WorkerSettings
from model_trainer.services import build_registry

KEY = "docs-k3y"
_SPEC: TypeAdapter[JsonObject] = TypeAdapter(JsonObject)
PAGES = ("/docs", "/redoc")
# Whatever a page loads: scripts, style sheets, icons.
_REFERENCE = re.compile(r"""<(?:script|link)\b[^>]*?\b(?:src|href)\s*=\s*["']([^"']+)["']""")
_ABSOLUTE = re.compile(r"""(?:src|href)\s*=\s*["']\s*(?:https?:)?//""")
_MIN_BYTES = {"text/javascript": 100_000, "text/css": 10_000, "image/png": 500}


def _client(stack_settings: Settings, api_key: str | None) -> Iterator[TestClient]:
    settings = Settings(
        redis_url=stack_settings.redis_url,
        artifacts_root=stack_settings.artifacts_root,
        corpus_root=stack_settings.corpus_root,
        worker=WorkerSettings(queue_name="docs"),
        security=SecuritySettings(api_key=api_key),
    )
    registry = build_registry(settings)
    with TestClient(create_app(registry), base_url="http://localhost") as client:
        yield client
    registry.close()


@pytest.fixture()
def open_api(stack_settings: Settings) -> Iterator[TestClient]:
    yield from _client(stack_settings, None)


@pytest.fixture()
def locked(stack_settings: Settings) -> Iterator[TestClient]:
    yield from _client(stack_settings, KEY)


def _references(html: str) -> list[str]:
    return [m.group(1) for m in _REFERENCE.finditer(html)]


def _check_pages(client: TestClient) -> None:
    for page in PAGES:
        response = client.get(page)
        assert response.status_code == 200, page
        assert response.headers["content-type"].startswith("text/html"), page
        html = response.text
        assert not _ABSOLUTE.search(html), f"{page} loads from elsewhere: {_references(html)}"
        assert "fonts.googleapis" not in html and "cdn." not in html, page
        references = _references(html)
        assert any(ref.endswith(".js") for ref in references), (page, references)
        for ref in references:
            asset = client.get(ref)
            assert asset.status_code == 200, (page, ref)
            kind = asset.headers["content-type"].split(";")[0]
            assert kind in _MIN_BYTES, (ref, kind)
            assert len(asset.content) >= _MIN_BYTES[kind], (ref, len(asset.content))
        assert "/openapi.json" in html, page


def test_the_pages_are_served_with_their_own_assets(open_api: TestClient) -> None:
    _check_pages(open_api)
    swagger = open_api.get("/docs").text
    assert "/docs-assets/swagger-ui-bundle.js" in swagger
    assert "/docs-assets/swagger-ui.css" in swagger
    assert "/docs-assets/redoc.standalone.js" in open_api.get("/redoc").text
    assert open_api.get("/openapi.json").status_code == 200
    # Large scripts leave compressed, like every other answer over 1 kB.
    script = open_api.get("/docs-assets/swagger-ui-bundle.js", headers={"Accept-Encoding": "gzip"})
    assert script.headers["content-encoding"] == "gzip"
    assert open_api.get("/docs-assets/nothing.js").status_code == 404


def test_the_pages_and_schema_need_no_key_and_the_schema_declares_it(locked: TestClient) -> None:
    _check_pages(locked)
    schema = locked.get("/openapi.json")
    assert schema.status_code == 200
    # "Authorize" on the pages: the key is a declared header on every keyed operation.
    spec = _SPEC.validate_json(schema.content)
    components = json.dumps(spec["components"])
    assert '"in": "header", "name": "X-Api-Key"' in components
    assert _operation(spec, "/runs").get("security") == [{"APIKeyHeader": []}]
    assert "security" not in _operation(spec, "/healthz")
    assert locked.get("/runs").status_code == 401


def _operation(spec: JsonObject, path: str) -> JsonObject:
    paths = spec["paths"]
    assert isinstance(paths, dict)
    item = paths[path]
    assert isinstance(item, dict)
    operation = item["get"]
    assert isinstance(operation, dict)
    return operation


def test_the_pages_follow_the_root_path(stack_settings: Settings) -> None:
    """Behind a proxy that mounts the API under a prefix (ASGI `root_path`; the request's
    path carries the prefix, as uvicorn's `--root-path` passes it), the pages name their
    assets and the schema under that prefix, and those answer."""
    settings = Settings(
        redis_url=stack_settings.redis_url,
        artifacts_root=stack_settings.artifacts_root,
        corpus_root=stack_settings.corpus_root,
        worker=WorkerSettings(queue_name="docs"),
    )
    registry = build_registry(settings)
    with TestClient(
        create_app(registry), base_url="http://localhost", root_path="/trainer"
    ) as client:
        for page in PAGES:
            html = client.get(f"/trainer{page}").text
            references = _references(html)
            assert references and all(r.startswith("/trainer/docs-assets/") for r in references)
            assert all(client.get(ref).status_code == 200 for ref in references), references
            assert "/trainer/openapi.json" in html, page
        assert client.get("/trainer/openapi.json").status_code == 200
    registry.close()
