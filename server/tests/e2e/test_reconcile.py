"""A run whose worker vanished is shown as stalled and queued again, until its budget of
starts is spent; then it fails with a clear message."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from model_trainer.api.app import create_app
from model_trainer.api.schemas.runs import RunPublic, RunQueued
from model_trainer.api.schemas.tokenizers import TokenizerPublic, TokenizerQueued
from model_trainer.core.container import Registry
from model_trainer.core.job_status import JobStatus
from model_trainer.core.settings import Settings, WorkerSettings
from model_trainer.services import RECONCILER, RUN_STATE, build_registry


@pytest.fixture()
def idle(stack_settings: Settings) -> Iterator[tuple[TestClient, Registry]]:
    """The API on a queue no worker consumes, so runs stay where the test puts them."""
    settings = Settings(
        redis_url=stack_settings.redis_url,
        artifacts_root=stack_settings.artifacts_root,
        corpus_root=stack_settings.corpus_root,
        worker=WorkerSettings(queue_name=f"idle-{time.time_ns()}", max_attempts=2),
    )
    registry = build_registry(settings)
    with TestClient(create_app(registry), base_url="http://localhost") as client:
        yield client, registry
    registry.close()


def _char_tokenizer(api: TestClient) -> str:
    body: dict[str, object] = {"method": "char", "vocab_size": 100, "corpus_path": "story.txt"}
    tok = TokenizerQueued.model_validate_json(
        api.post("/tokenizers/train", json=body).content
    ).tokenizer_id
    while TokenizerPublic.model_validate_json(api.get(f"/tokenizers/{tok}").content).status != (
        "completed"
    ):
        time.sleep(0.2)
    return tok


def test_lost_runs_are_resumed_then_given_up_on(
    api: TestClient, idle: tuple[TestClient, Registry]
) -> None:
    client, registry = idle
    tok = _char_tokenizer(api)  # trained by the suite's worker
    body: dict[str, object] = {"data": {"tokenizer_id": tok, "corpus_path": "story.txt"}}
    run_id = RunQueued.model_validate_json(client.post("/runs/train", json=body).content).run_id
    with registry.container() as container:
        state, reconciler = container.get(RUN_STATE), container.get(RECONCILER)
        # As if a worker had started it and died: running, one start counted, no heartbeat
        state.set_status(run_id, JobStatus.RUNNING, "training")
        state.next_attempt(run_id)
        assert reconciler.reconcile() == [run_id]
        run = RunPublic.model_validate_json(client.get(f"/runs/{run_id}").content)
        assert run.status == "stalled" and run.message and "resuming" in run.message

        state.next_attempt(run_id)  # the resumed start died too: the budget of 2 is spent
        assert reconciler.reconcile() == []
    run = RunPublic.model_validate_json(client.get(f"/runs/{run_id}").content)
    assert run.status == "failed" and run.error_code == "WORKER_LOST"
    assert run.failure_class == "TRANSIENT" and run.message and "gave up" in run.message
