"""Faults injected into the real stack: Redis and the API restarted mid-run, two workers on
one queue, a disk that fills up. Each case checks that nothing a person started is lost."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel

from model_trainer.api.schemas.runs import MetricsPublic, RunQueued, RunsPublic
from model_trainer.api.schemas.tokenizers import (
    TokenizerCreate,
    TokenizerPublic,
    TokenizerQueued,
    TokenizersPublic,
)
from model_trainer.client.raw import request
from model_trainer.core.contracts.queue import JobSpec
from model_trainer.core.contracts.tokenizer import TokenizerMethod
from model_trainer.infra.redis_store import RedisStore
from model_trainer.infra.rq_queue import RqJobQueue
from model_trainer.jobs.targets import JobTarget
from model_trainer.training.config import DataSpec, ModelSpec, RunConfig, TrainerSpec

from .conftest import story
from .processes import ProcessStack, sse_events

pytestmark = pytest.mark.timeout(300)


def _train_char_tokenizer(stack: ProcessStack) -> str:
    body = TokenizerCreate(
        method=TokenizerMethod.CHAR, vocab_size=100, min_frequency=1, corpus_path="story.txt"
    )
    tok = TokenizerQueued.model_validate_json(
        request("POST", stack.base + "/tokenizers/train", body)[1]
    ).tokenizer_id
    deadline = time.monotonic() + 120
    while True:
        view = TokenizerPublic.model_validate_json(
            request("GET", f"{stack.base}/tokenizers/{tok}")[1]
        )
        if view.status == "completed":
            return tok
        assert view.status != "failed" and time.monotonic() < deadline, view.message
        time.sleep(0.2)


def _start_run(stack: ProcessStack, tokenizer_id: str, steps: int) -> str:
    config = RunConfig(
        model=ModelSpec(size="nano", n_layer=2, n_head=2, n_embd=64, max_seq_len=32),
        data=DataSpec(tokenizer_id=tokenizer_id, corpus_path="story.txt"),
        trainer=TrainerSpec(
            max_steps=steps,
            batch_size=8,
            eval_interval=200,
            eval_steps=2,
            checkpoint_interval=50,
            log_interval=10,
            seed=3,
        ),
    )
    status, raw = request("POST", stack.base + "/runs/train", config)
    assert status == 202, raw
    return RunQueued.model_validate_json(raw).run_id


def _train_steps(stack: ProcessStack, run_id: str) -> list[int]:
    raw = request("GET", f"{stack.base}/runs/{run_id}/metrics")[1]
    return [m.step for m in MetricsPublic.model_validate_json(raw).data if m.kind == "train"]


class _Record(BaseModel):
    """The one field of a log record these tests read."""

    event: str


def _events(folder: Path) -> list[str]:
    lines = (folder / "logs.jsonl").read_text(encoding="utf-8").splitlines()
    return [_Record.model_validate_json(line).event for line in lines]


@pytest.fixture(scope="module")
def faults(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ProcessStack, str]]:
    """A stack of real processes (Redis, API, one worker) and a trained char tokenizer."""
    work = tmp_path_factory.mktemp("faults")
    corpus = work / "corpus"
    corpus.mkdir()
    (corpus / "story.txt").write_text(story(1200, 4), encoding="utf-8")
    stack = ProcessStack(work, work / "artifacts", corpus)
    for name in ("redis", "api", "worker-a"):
        stack.start(name)
    try:
        stack.wait_ready()
        yield stack, _train_char_tokenizer(stack)
    finally:
        stack.stop_all()


def test_redis_restart_without_persistence_loses_nothing(
    faults: tuple[ProcessStack, str],
) -> None:
    stack, tok = faults
    run_id = _start_run(stack, tok, steps=400)
    stack.wait_run(run_id, {"completed", "failed"}, at_step=100)
    stack.kill("redis")
    time.sleep(4.0)  # longer than the heartbeat TTL: every key it held is gone for good
    stack.start("redis")
    final = stack.wait_run(run_id, {"completed", "failed"})
    assert final.status == "completed", final.message
    assert _train_steps(stack, run_id) == list(range(10, 401, 10))
    # Redis forgot the indexes: the lists are rebuilt from the manifests on disk
    runs = RunsPublic.model_validate_json(request("GET", stack.base + "/runs")[1])
    assert run_id in [r.run_id for r in runs.data]
    toks = TokenizersPublic.model_validate_json(request("GET", stack.base + "/tokenizers")[1])
    assert tok in [t.tokenizer_id for t in toks.data]


def test_api_restart_mid_run_keeps_the_log_stream_whole(
    faults: tuple[ProcessStack, str],
) -> None:
    stack, tok = faults
    run_id = _start_run(stack, tok, steps=600)
    path = f"/runs/{run_id}/logs/stream"
    first = list(sse_events(stack.base, path, None, limit=5))
    stack.kill("api")
    stack.start("api")
    stack.wait_ready()
    rest = list(sse_events(stack.base, path, str(first[-1][0]), limit=1_000_000))
    ids = [event_id for event_id, _ in first + rest]
    assert ids == list(range(1, len(ids) + 1))  # no gap, no duplicate
    assert stack.wait_run(run_id, {"completed", "failed"}).status == "completed"
    folder = Path(stack.env["ARTIFACTS_ROOT"]) / "models" / run_id
    lines = (folder / "logs.jsonl").read_text(encoding="utf-8").splitlines()
    assert [data for _, data in first + rest] == lines  # every line, in order


def test_two_workers_never_train_one_run_at_once(faults: tuple[ProcessStack, str]) -> None:
    stack, tok = faults
    stack.start("worker-b")
    try:
        run_id = _start_run(stack, tok, steps=300)
        stack.wait_run(run_id, {"completed", "failed"}, at_step=20)
        # Deliver the same run to the queue again, as a requeue racing a live worker would
        store = RedisStore(stack.env["REDIS_URL"])
        RqJobQueue(store, stack.env["WORKER__QUEUE_NAME"], 30).enqueue(
            JobSpec(job_id=f"{run_id}-again", function=JobTarget.TRAIN_MODEL, payload_json=run_id)
        )
        store.close()
        final = stack.wait_run(run_id, {"completed", "failed"})
    finally:
        stack.kill("worker-b")
    assert final.status == "completed", final.message
    folder = Path(stack.env["ARTIFACTS_ROOT"]) / "models" / run_id
    events = _events(folder)
    assert events.count("run_job_started") == 1
    assert _train_steps(stack, run_id) == list(range(10, 301, 10))
