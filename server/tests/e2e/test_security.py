"""The API key, the hosts a keyless API answers, request limits and log redaction."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from model_trainer.api.app import create_app
from model_trainer.api.schemas.common import ErrorBody
from model_trainer.core.logging import Log, configure_logging
from model_trainer.core.settings import LimitSettings, SecuritySettings, Settings, WorkerSettings
from model_trainer.services import build_registry

KEY = "k3y-that-must-never-be-logged"
FOREIGN_HOSTS = (
    "evil.example.com",
    "evil.example.com:8000",
    "localhost.evil.example.com",
    "127.0.0.1.nip.io:8000",
    "localhost:8000@evil.example.com",
    "localhost:",
    "api",
    "",
)
"""Names a page elsewhere can make a browser send (DNS rebinding), and ones that are no host."""
LOOPBACK_HOSTS = ("localhost", "LocalHost:8000", "localhost.", "127.0.0.1", "127.0.0.1:1", "[::1]")


def _client(stack_settings: Settings, security: SecuritySettings) -> Iterator[TestClient]:
    settings = Settings(
        redis_url=stack_settings.redis_url,
        artifacts_root=stack_settings.artifacts_root,
        corpus_root=stack_settings.corpus_root,
        worker=WorkerSettings(queue_name="locked"),
        security=security,
        limits=LimitSettings(max_body_bytes=4096, max_steps=1000, max_vocab_size=5000),
    )
    registry = build_registry(settings)
    with TestClient(create_app(registry), base_url="http://localhost") as client:
        yield client
    registry.close()


@pytest.fixture()
def locked(stack_settings: Settings) -> Iterator[TestClient]:
    yield from _client(stack_settings, SecuritySettings(api_key=KEY))


@pytest.fixture()
def keyless(stack_settings: Settings) -> Iterator[TestClient]:
    yield from _client(stack_settings, SecuritySettings(allowed_hosts=["Trainer.LAN"]))


def test_a_keyless_api_answers_only_requests_addressed_to_this_machine(
    keyless: TestClient,
) -> None:
    for path in ("/healthz", "/runs", "/ui/", "/docs", "/openapi.json"):
        for host in FOREIGN_HOSTS:
            refused = keyless.get(path, headers={"Host": host})
            assert refused.status_code == 421, (path, host)
            body = ErrorBody.model_validate_json(refused.content)
            assert body.code == "HOST_NOT_ALLOWED" and "SECURITY__ALLOWED_HOSTS" in body.message
            assert body.request_id == refused.headers["X-Request-ID"]
    for host in (*LOOPBACK_HOSTS, "trainer.lan", "trainer.lan:8000"):
        assert keyless.get("/healthz", headers={"Host": host}).status_code == 200, host
        assert keyless.get("/runs", headers={"Host": host}).status_code == 200, host
    # HEAD and POST are judged alike: nothing is started for a foreign host.
    assert keyless.head("/runs", headers={"Host": "evil.example.com"}).status_code == 421
    train = keyless.post("/runs/train", content=b"{}", headers={"Host": "evil.example.com"})
    assert train.status_code == 421


def test_with_a_key_every_host_is_answered(locked: TestClient) -> None:
    for host in ("evil.example.com", "evil.example.com:8000", "api"):
        headers = {"Host": host, "X-Api-Key": KEY}
        assert locked.get("/healthz", headers={"Host": host}).status_code == 200, host
        assert locked.get("/runs", headers=headers).status_code == 200, host
        assert locked.get("/runs", headers={"Host": host}).status_code == 401, host


def test_allowed_hosts_are_names_without_a_port() -> None:
    SecuritySettings(allowed_hosts=["api", "10.0.0.5", "[fd00::5]", "trainer.lan"])
    for wrong in ("api:8000", "http://api", "", "a b", "api/"):
        with pytest.raises(ValidationError):
            SecuritySettings(allowed_hosts=[wrong])


def test_a_compressed_body_is_refused_not_misread(keyless: TestClient) -> None:
    train: dict[str, object] = {"method": "char", "vocab_size": 50, "corpus_path": "story.txt"}
    body = json.dumps(train).encode()
    for coding, payload in (("gzip", gzip.compress(body)), ("br", body), ("identity, gzip", body)):
        headers = {"Content-Encoding": coding, "Content-Type": "application/json"}
        refused = keyless.post("/tokenizers/train", content=payload, headers=headers)
        assert refused.status_code == 415, coding
        error = ErrorBody.model_validate_json(refused.content)
        assert error.code == "UNSUPPORTED_CONTENT_ENCODING", coding
    # `identity` is no encoding at all: the body is read (and judged) as usual.
    plain = keyless.post(
        "/tokenizers/train",
        content=b"{}",
        headers={"Content-Encoding": "identity", "Content-Type": "application/json"},
    )
    assert plain.status_code == 422


def test_every_endpoint_but_healthz_and_the_dashboard_needs_the_key(locked: TestClient) -> None:
    assert locked.get("/healthz").status_code == 200
    assert locked.get("/", follow_redirects=False).status_code == 307  # to /ui/, key-free
    for method, path in [
        ("GET", "/tokenizers"),
        ("GET", "/runs"),
        ("GET", "/readyz"),
        ("POST", "/tokenizers/train"),
        ("GET", "/artifacts/models/run-00000000-00000000"),
        ("GET", "/runs/run-00000000-00000000/metrics"),
        ("GET", "/corpus"),
        ("GET", "/docs-assetsx"),
    ]:
        response = locked.request(method, path)
        assert response.status_code == 401, path
        assert ErrorBody.model_validate_json(response.content).code == "UNAUTHORIZED"
        wrong = locked.request(method, path, headers={"X-Api-Key": KEY[:-1] + "x"})
        assert wrong.status_code == 401, path
    assert locked.get("/tokenizers", headers={"X-Api-Key": KEY}).status_code == 200


def test_limits_answer_with_clear_4xx(locked: TestClient) -> None:
    auth = {"X-Api-Key": KEY}
    big = locked.post(
        "/tokenizers/encode-nothing",
        content=b"x" * 10_000,
        headers=auth | {"Content-Type": "application/json"},
    )
    assert big.status_code == 413
    assert ErrorBody.model_validate_json(big.content).code == "PAYLOAD_TOO_LARGE"
    body: dict[str, object] = {"method": "bpe", "vocab_size": 50_000, "corpus_path": "story.txt"}
    vocab = locked.post("/tokenizers/train", json=body, headers=auth)
    assert vocab.status_code == 422 and "vocab_size" in vocab.text
    run: dict[str, object] = {
        "data": {"tokenizer_id": "tok-00000000-00000000", "corpus_path": "story.txt"},
        "trainer": {"max_steps": 5000},
    }
    steps = locked.post("/runs/train", json=run, headers=auth)
    assert steps.status_code == 422 and "max_steps" in steps.text


def test_the_key_never_reaches_the_logs(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "test", [KEY])
    Log("api").info("login", header=f"X-Api-Key: {KEY}", nested=f"prefix {KEY} suffix")
    err = capsys.readouterr().err
    assert KEY not in err and "***" in err
    configure_logging("INFO", "test", [])
