"""The dashboard at `/ui/`: its files without the key, the data still behind it, and pages
that no other site may frame."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from model_trainer.api.app import create_app
from model_trainer.api.schemas.common import ErrorBody
from model_trainer.core.settings import SecuritySettings, Settings, WorkerSettings
from model_trainer.orchestrators.dashboard import CACHE_IMMUTABLE, CACHE_REVALIDATE
from model_trainer.services import build_registry

KEY = "dashboard-k3y"
INDEX = '<!doctype html><script type="module" src="./assets/index-Ab12Cd34.js"></script>\n'
SECRET = "never-served\n"
SCRIPT = "export const greeting = 'hello';\n" * 200


def _dist(folder: Path, outside: Path) -> Path:
    """A build as Vite lays it out, plus what must never be served from it."""
    (folder / "assets").mkdir(parents=True)
    (folder / "index.html").write_text(INDEX, encoding="utf-8")
    (folder / "assets" / "index-Ab12Cd34.js").write_text(SCRIPT, encoding="utf-8")
    (folder / "favicon.svg").write_text("<svg/>\n", encoding="utf-8")
    (folder / ".env").write_text("SECRET=1\n", encoding="utf-8")
    outside.write_text(SECRET, encoding="utf-8")
    (folder / "assets" / "leak.js").symlink_to(outside)
    (folder / "up").symlink_to(folder.parent)
    return folder


def _client(stack_settings: Settings, ui_dist: Path) -> Iterator[TestClient]:
    settings = Settings(
        redis_url=stack_settings.redis_url,
        artifacts_root=stack_settings.artifacts_root,
        corpus_root=stack_settings.corpus_root,
        worker=WorkerSettings(queue_name="dashboard"),
        security=SecuritySettings(api_key=KEY),
        ui_dist=ui_dist,
    )
    registry = build_registry(settings)
    with TestClient(create_app(registry)) as client:
        yield client
    registry.close()


@pytest.fixture()
def locked(stack_settings: Settings, tmp_path: Path) -> Iterator[TestClient]:
    """An API with a key, serving a built dashboard."""
    yield from _client(stack_settings, _dist(tmp_path / "dist", tmp_path / "secret.js"))


@pytest.fixture()
def unbuilt(stack_settings: Settings, tmp_path: Path) -> Iterator[TestClient]:
    yield from _client(stack_settings, tmp_path / "no-dist")


def test_the_dashboard_is_served_without_the_key(locked: TestClient) -> None:
    for path in ("/ui/", "/ui/index.html"):
        page = locked.get(path)
        assert page.status_code == 200, path
        assert page.text == INDEX and page.headers["content-type"].startswith("text/html")
        assert page.headers["cache-control"] == CACHE_REVALIDATE
    script = locked.get("/ui/assets/index-Ab12Cd34.js", headers={"Accept-Encoding": "gzip"})
    assert script.status_code == 200 and script.text == SCRIPT
    assert script.headers["content-type"].startswith("text/javascript")
    assert script.headers["cache-control"] == CACHE_IMMUTABLE
    assert script.headers["content-encoding"] == "gzip"
    icon = locked.get("/ui/favicon.svg")
    assert icon.status_code == 200 and icon.headers["cache-control"] == CACHE_REVALIDATE
    for path in ("/", "/ui"):
        moved = locked.get(path, follow_redirects=False)
        assert moved.status_code == 307 and moved.headers["location"] == "ui/", path
        assert locked.get(path).text == INDEX


def test_the_data_still_needs_the_key(locked: TestClient) -> None:
    for path in (
        "/runs",
        "/tokenizers",
        "/corpus",
        "/backends",
        "/docsx",
        "/runs/run-00000000-00000000/metrics",
        "/uix",
        "/ui-data",
    ):
        response = locked.get(path)
        assert response.status_code == 401, path
        assert ErrorBody.model_validate_json(response.content).code == "UNAUTHORIZED"
    assert locked.get("/corpus", headers={"X-Api-Key": KEY}).status_code == 200


def test_nothing_but_the_build_leaves_ui(locked: TestClient) -> None:
    for path in (
        "/ui/assets/leak.js",
        "/ui/up/secret.js",
        "/ui/.env",
        "/ui/assets/",
        "/ui/missing.js",
        "/ui/%2e%2e/secret.js",
        "/ui/assets/%2e%2e/%2e%2e/secret.js",
        "/ui/%2e%2e/runs",
    ):
        response = locked.get(path)
        assert response.status_code in (400, 404), path
        body = ErrorBody.model_validate_json(response.content)
        assert body.code in ("NOT_FOUND", "PATH_OUTSIDE_ROOT"), path
        assert SECRET not in response.text, path
    # Dot segments arrive decoded (clients tidy away only literal ones): the dashboard's
    # route takes `/ui/../runs` as a file name and refuses it; it never reaches `/runs`.
    escape = locked.get("/ui/%2e%2e/runs")
    assert ErrorBody.model_validate_json(escape.content).code == "PATH_OUTSIDE_ROOT"


def test_without_a_build_ui_says_how_to_build_it(unbuilt: TestClient) -> None:
    response = unbuilt.get("/ui/")
    assert response.status_code == 404
    error = ErrorBody.model_validate_json(response.content)
    assert error.code == "NOT_FOUND" and "npm run build" in error.message
    assert "UI_DIST" in error.message and "no-dist" not in error.message
    assert unbuilt.get("/ui/assets/index-Ab12Cd34.js").status_code == 404


def _policy(header: str) -> dict[str, list[str]]:
    """A `Content-Security-Policy` header as directive -> sources."""
    directives = (part.split() for part in header.split(";") if part.strip())
    return {name: sources for name, *sources in directives}


def _inline_script_hashes(html: str) -> set[str]:
    scripts = re.finditer(r"(?<=<script>).*?(?=</script>)", html, flags=re.DOTALL)
    digests = (hashlib.sha256(script.group().encode()).digest() for script in scripts)
    return {f"'sha256-{base64.b64encode(digest).decode()}'" for digest in digests}


def test_no_page_can_be_framed_or_run_scripts_of_elsewhere(locked: TestClient) -> None:
    for path in ("/ui/", "/ui/assets/index-Ab12Cd34.js", "/docs", "/redoc"):
        page = locked.get(path)
        assert page.status_code == 200, path
        assert page.headers["x-frame-options"] == "DENY", path
        assert page.headers["x-content-type-options"] == "nosniff", path
        policy = _policy(page.headers["content-security-policy"])
        assert policy["frame-ancestors"] == ["'none'"], path
        assert policy["default-src"] == ["'none'"], path
        assert policy["base-uri"] == ["'none'"], path
        assert "'unsafe-inline'" not in policy["script-src"], path
        assert "'unsafe-eval'" not in policy["script-src"], path
    dashboard = _policy(locked.get("/ui/").headers["content-security-policy"])
    assert dashboard["script-src"] == ["'self'"] and dashboard["connect-src"] == ["'self'"]
    # Swagger UI starts from a script written into its page: exactly that one may run.
    docs = locked.get("/docs")
    hashes = _inline_script_hashes(docs.text)
    assert len(hashes) == 1
    assert _policy(docs.headers["content-security-policy"])["script-src"] == ["'self'", *hashes]
    assert _policy(locked.get("/redoc").headers["content-security-policy"])["script-src"] == [
        "'self'"
    ]


def test_every_answer_forbids_sniffing_and_framing(locked: TestClient) -> None:
    for path in ("/healthz", "/runs", "/nope", "/ui/missing.js", "/"):
        answer = locked.get(path, follow_redirects=False)
        assert answer.headers["x-content-type-options"] == "nosniff", path
        assert answer.headers["x-frame-options"] == "DENY", path
        policy = _policy(answer.headers["content-security-policy"])
        assert policy == {"default-src": ["'none'"], "frame-ancestors": ["'none'"]}, path
