"""The API key, request limits and log redaction."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from model_trainer.api.app import create_app
from model_trainer.api.schemas.common import ErrorBody
from model_trainer.core.logging import Log, configure_logging
from model_trainer.core.settings import LimitSettings, SecuritySettings, Settings, WorkerSettings
from model_trainer.services import build_registry

KEY = "k3y-that-must-never-be-logged"


@pytest.fixture()
def locked(stack_settings: Settings) -> Iterator[TestClient]:
    settings = Settings(
        redis_url=stack_settings.redis_url,
        artifacts_root=stack_settings.artifacts_root,
        corpus_root=stack_settings.corpus_root,
        worker=WorkerSettings(queue_name="locked"),
        security=SecuritySettings(api_key=KEY),
        limits=LimitSettings(max_body_bytes=4096, max_steps=1000, max_vocab_size=5000),
    )
    registry = build_registry(settings)
    with TestClient(create_app(registry)) as client:
        yield client
    registry.close()


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
