"""Workers stopped on purpose, as real processes: SIGTERM stops a job warm (a run finishes its
step, saves `last.pt` and is queued again; a tokenizer is queued again at once) and the worker
exits within its grace period; another worker finishes the job as if nothing happened. A
second SIGTERM stops cold. A tokenizer whose worker is SIGKILLed is started again."""

from __future__ import annotations

import random
import signal
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import torch
from pydantic import BaseModel
from safetensors.torch import load_file

from model_trainer.api.schemas.runs import MetricsPublic, RunQueued
from model_trainer.api.schemas.tokenizers import TokenizerCreate, TokenizerQueued
from model_trainer.client.raw import request
from model_trainer.infra.redis_store import RedisStore
from model_trainer.jobs.layout import ArtifactLayout
from model_trainer.training.config import DataSpec, ModelSpec, Precision, RunConfig, TrainerSpec
from model_trainer.training.run.events import EVENT_ADAPTER, run_channel

from .conftest import story
from .processes import ProcessStack, children

pytestmark = pytest.mark.timeout(300)

GRACE_S = 20.0
"""WORKER__STOP_GRACE_S of these workers: a warm stop must end well within it."""
EXIT_S = 15.0
"""A stopped worker is gone within this long (a container manager's grace is often 30 s)."""


class _Record(BaseModel):
    """The fields of a job's log record these tests read."""

    event: str
    timestamp: datetime
    message: str | None = None


class Stack:
    """The process stack, a char tokenizer, and workers named in order of start."""

    def __init__(self, processes: ProcessStack, tokenizer_id: str) -> None:
        self.processes = processes
        self.tokenizer_id = tokenizer_id
        self.layout = ArtifactLayout(Path(processes.env["ARTIFACTS_ROOT"]))
        self._started = 1

    def new_worker(self) -> str:
        self._started += 1
        name = f"worker-{self._started}"
        self.processes.start_worker(name)
        return name

    def workers(self) -> list[str]:
        procs = self.processes.procs
        return [n for n, p in procs.items() if n.startswith("worker") and p.poll() is None]

    def two_workers(self) -> None:
        """Two live workers: one to stop while the other stands by."""
        while len(self.workers()) < 2:
            self.new_worker()

    def busy_worker(self, timeout_s: float = 60) -> str:
        """The worker whose work horse is running (its only child process)."""
        deadline = time.monotonic() + timeout_s
        while True:
            busy = [n for n in self.workers() if children(self.processes.procs[n].pid)]
            if len(busy) == 1:
                return busy[0]
            assert time.monotonic() < deadline, f"busy workers: {busy}"
            time.sleep(0.05)

    def events(self, folder: Path) -> list[_Record]:
        lines = (folder / "logs.jsonl").read_text(encoding="utf-8").splitlines()
        return [_Record.model_validate_json(line) for line in lines]

    def wait_event(self, folder: Path, event: str, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while not (folder / "logs.jsonl").is_file() or event not in {
            e.event for e in self.events(folder)
        }:
            assert time.monotonic() < deadline, f"no {event} in {folder}"
            time.sleep(0.05)


def _random_words(path: Path, megabytes: float) -> None:
    """Text of many distinct words: sentencepiece's unigram trainer takes seconds on it."""
    rng = random.Random(7)
    letters = "abcdefghijklmnopqrstuvwxyz"
    lines: list[str] = []
    size = 0
    while size < megabytes * 1e6:
        words = ("".join(rng.choices(letters, k=rng.randint(2, 9))) for _ in range(12))
        lines.append(" ".join(words))
        size += len(lines[-1]) + 1
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp("warm-stop")
    corpus = work / "corpus"
    corpus.mkdir()
    (corpus / "story.txt").write_text(story(1200, 5), encoding="utf-8")
    _random_words(corpus / "words.txt", 1.0)
    processes = ProcessStack(work, work / "artifacts", corpus)
    processes.env["WORKER__STOP_GRACE_S"] = str(GRACE_S)
    for name in ("redis", "api", "worker-1"):
        processes.start(name)
    try:
        processes.wait_ready()
        yield Stack(processes, _tokenizer(processes, "char", "story.txt"))
    finally:
        processes.stop_all()


def _tokenizer(processes: ProcessStack, method: str, corpus: str, wait: bool = True) -> str:
    body = TokenizerCreate(method=method, vocab_size=2000, min_frequency=1, corpus_path=corpus)
    status, raw = request("POST", processes.base + "/tokenizers/train", body)
    assert status == 202, raw
    tokenizer_id = TokenizerQueued.model_validate_json(raw).tokenizer_id
    if wait:
        assert processes.wait_tokenizer(tokenizer_id, {"completed", "failed"}).status == (
            "completed"
        )
    return tokenizer_id


def _start_run(stack: Stack, trainer: TrainerSpec) -> str:
    config = RunConfig(
        model=ModelSpec(size="nano", n_layer=2, n_head=2, n_embd=64, max_seq_len=32),
        data=DataSpec(tokenizer_id=stack.tokenizer_id, corpus_path="story.txt"),
        trainer=trainer,
    )
    status, raw = request("POST", stack.processes.base + "/runs/train", config)
    assert status == 202, raw
    return RunQueued.model_validate_json(raw).run_id


def _listen(stack: Stack, run_id: str, heard: list[str]) -> None:
    """The run's events, as a subscriber hears them, until the run has been quiet for 10 s."""
    store = RedisStore(stack.processes.env["REDIS_URL"])
    try:
        heard.extend(store.subscribe(run_channel(run_id), timeout_s=10))
    finally:
        store.close()


def _weights(stack: Stack, run_id: str) -> dict[str, torch.Tensor]:
    return load_file(str(stack.layout.run(run_id).export / "model.safetensors"))


def test_sigterm_mid_run_requeues_it_and_another_worker_finishes_it_identically(
    stack: Stack,
) -> None:
    processes = stack.processes
    stack.two_workers()
    trainer = TrainerSpec(
        max_steps=1500,
        batch_size=8,
        eval_interval=500,
        eval_steps=2,
        checkpoint_interval=1000,  # only the warm stop saves `last.pt` before the end
        log_interval=10,
        seed=3,
        precision=Precision.FP32,  # `auto` times each precision: two runs could differ
    )
    whole = _start_run(stack, trainer)
    assert processes.wait_run(whole, {"completed", "failed"}).status == "completed"

    broken = _start_run(stack, trainer)
    heard: list[str] = []
    listener = threading.Thread(target=_listen, args=(stack, broken, heard), daemon=True)
    listener.start()
    processes.wait_run(broken, {"completed", "failed"}, at_step=300)
    first = stack.busy_worker()  # the other one is idle: it takes the run once queued again
    stopped, signalled = time.monotonic(), datetime.now(UTC)
    processes.signal(first, signal.SIGTERM)
    assert processes.wait_exit(first, EXIT_S) == 0
    exit_s = time.monotonic() - stopped
    final = processes.wait_run(broken, {"completed", "failed"})
    assert final.status == "completed", final.message

    listener.join(timeout=30)
    kinds = [EVENT_ADAPTER.validate_json(raw).type for raw in heard]
    assert "trainer.train.requeued.v1" in kinds, sorted(set(kinds))
    requeued_at = kinds.index("trainer.train.requeued.v1")  # the event subscribers hear
    assert kinds.index("trainer.train.completed.v1") > requeued_at, kinds[-5:]
    events = stack.events(stack.layout.run(broken).path)
    requeued = [e for e in events if e.event == "run_requeued"]
    assert len(requeued) == 1 and requeued[0].message is not None, requeued
    assert requeued[0].message.startswith("requeued: its worker was stopped (SIGTERM) at step ")
    starts = [i for i, e in enumerate(events) if e.event == "run_job_started"]
    assert len(starts) == 2 and events.index(requeued[0]) < starts[1]
    trained = next(e for e in events[starts[1] :] if e.event == "train_progress")
    # Both attempts' time is counted: the first attempt's before the second's.
    first_s = (requeued[0].timestamp - events[starts[0]].timestamp).total_seconds()
    second_s = (events[-1].timestamp - events[starts[1]].timestamp).total_seconds()
    assert final.durations.total_s > second_s + first_s / 2, (final.durations, first_s, second_s)
    assert final.durations.train_s > final.durations.total_s / 2
    print(
        f"\nwarm stop: queued again {(requeued[0].timestamp - signalled).total_seconds():.3f} s, "
        f"worker exited {exit_s:.3f} s, run training again on the other worker "
        f"{(trained.timestamp - signalled).total_seconds():.3f} s after SIGTERM"
    )
    a, b = _weights(stack, whole), _weights(stack, broken)
    assert a.keys() == b.keys()
    for name in a:
        assert torch.allclose(a[name], b[name], atol=1e-5), name
    raw = request("GET", f"{processes.base}/runs/{broken}/metrics")[1]
    metrics = MetricsPublic.model_validate_json(raw).data
    assert [m.step for m in metrics if m.kind == "train"] == list(range(10, 1501, 10))
    assert [m.step for m in metrics if m.kind == "eval"] == [0, 500, 1000, 1500]


def test_sigterm_mid_tokenizer_requeues_it_to_another_worker(stack: Stack) -> None:
    processes = stack.processes
    stack.two_workers()
    tokenizer_id = _tokenizer(processes, "sentencepiece", "words.txt", wait=False)
    # Inside sentencepiece's trainer, a native call that no signal interrupts
    stack.wait_event(stack.layout.tokenizer(tokenizer_id).path, "corpus_split")
    time.sleep(0.5)
    first = stack.busy_worker()
    stopped = time.monotonic()
    processes.signal(first, signal.SIGTERM)
    assert processes.wait_exit(first, GRACE_S) == 0
    exit_s = time.monotonic() - stopped
    final = processes.wait_tokenizer(tokenizer_id, {"completed", "failed"})
    assert final.status == "completed", final.message
    assert final.stats is not None and final.stats.vocab_size > 0
    events = stack.events(stack.layout.tokenizer(tokenizer_id).path)
    names = [e.event for e in events]
    assert names.count("tokenizer_job_started") == 2 and "tokenizer_abandoned" in names
    requeued = [e.message for e in events if e.event == "tokenizer_requeued"]
    assert requeued == ["requeued: its worker was stopped (SIGTERM); it will start over"]
    assert exit_s < 5.0, f"the worker took {exit_s:.1f} s to stop"


def test_sigkill_mid_tokenizer_is_started_again_never_stuck_running(stack: Stack) -> None:
    processes = stack.processes
    stack.two_workers()
    tokenizer_id = _tokenizer(processes, "sentencepiece", "words.txt", wait=False)
    running = processes.wait_tokenizer(tokenizer_id, {"running", "completed", "failed"})
    assert running.status == "running", running.message
    processes.kill(stack.busy_worker())  # the worker and its work horse, no warning
    stalled = processes.wait_tokenizer(tokenizer_id, {"stalled", "completed", "failed"}, 30)
    assert stalled.status == "stalled", stalled.message
    final = processes.wait_tokenizer(tokenizer_id, {"completed", "failed"})
    assert final.status == "completed", final.message
    manifest = (stack.layout.tokenizer(tokenizer_id).manifest).read_text(encoding="utf-8")
    assert '"status": "completed"' in manifest
    assert not stack.layout.tokenizer(tokenizer_id).work.exists()
    names = [e.event for e in stack.events(stack.layout.tokenizer(tokenizer_id).path)]
    assert names.count("tokenizer_job_started") == 2


def _in_a_long_evaluation(stack: Stack) -> tuple[str, str]:
    """The one live worker, busy in a first evaluation longer than any test waits (a warm
    stop would wait for its end); and the run."""
    processes = stack.processes
    if not stack.workers():
        stack.new_worker()
    worker, *others = stack.workers()
    for name in others:  # none may take the run up again while the test looks at it
        processes.signal(name, signal.SIGTERM)
        processes.wait_exit(name, GRACE_S)
    slow = TrainerSpec(max_steps=100, batch_size=32, eval_steps=10_000, seed=1)
    run_id = _start_run(stack, slow)
    stack.wait_event(stack.layout.run(run_id).path, "precision_chosen")
    return worker, run_id


def _stalled_then_cancelled(stack: Stack, run_id: str) -> None:
    """The horse was killed mid-step: the job could not queue itself, its heartbeat lapses."""
    processes = stack.processes
    run = processes.wait_run(run_id, {"stalled", "queued", "completed", "failed"}, timeout_s=30)
    assert run.status == "stalled", run.message
    cancelled = request("POST", f"{processes.base}/runs/{run_id}/cancel")
    assert cancelled[0] == 200, cancelled[1]
    assert processes.wait_run(run_id, {"cancelled"}, timeout_s=30).status == "cancelled"


def test_a_second_sigterm_stops_cold(stack: Stack) -> None:
    worker, run_id = _in_a_long_evaluation(stack)
    stack.processes.signal(worker, signal.SIGTERM)
    time.sleep(1.5)  # RQ ignores a second signal within a second of the first
    stopped = time.monotonic()
    stack.processes.signal(worker, signal.SIGTERM)
    stack.processes.wait_exit(worker, 10)
    assert time.monotonic() - stopped < 5.0
    _stalled_then_cancelled(stack, run_id)


def test_a_warm_stop_longer_than_the_grace_period_is_cut_short(stack: Stack) -> None:
    processes = stack.processes
    grace = processes.env["WORKER__STOP_GRACE_S"]
    processes.env["WORKER__STOP_GRACE_S"] = "2"
    try:
        worker, run_id = _in_a_long_evaluation(stack)
    finally:
        processes.env["WORKER__STOP_GRACE_S"] = grace
    stopped = time.monotonic()
    processes.signal(worker, signal.SIGTERM)
    processes.wait_exit(worker, 10)
    assert 2.0 <= time.monotonic() - stopped < 6.0
    _stalled_then_cancelled(stack, run_id)


@pytest.mark.parametrize("delay_s", [0.0, 0.002, 0.01, 0.03, 0.1, 0.3])
def test_a_stop_while_a_job_starts_still_exits_promptly(stack: Stack, delay_s: float) -> None:
    """SIGTERM to the worker alone as a run is handed to it (dequeued, forked, starting):
    whatever moment it lands in, the worker is gone within `EXIT_S`, and the run is not
    left running on a horse nobody told to stop."""
    processes = stack.processes
    for extra in stack.workers()[1:]:
        processes.signal(extra, signal.SIGTERM)
        processes.wait_exit(extra, EXIT_S)
    if not stack.workers():
        stack.new_worker()
    (worker,) = stack.workers()
    trainer = TrainerSpec(max_steps=100_000, batch_size=8, eval_interval=50_000, seed=3)
    run_id = _start_run(stack, trainer)
    time.sleep(delay_s)
    processes.signal(worker, signal.SIGTERM)
    assert processes.wait_exit(worker, EXIT_S) == 0
    stack.new_worker()
    cancelled = request("POST", f"{processes.base}/runs/{run_id}/cancel")
    assert cancelled[0] == 200, cancelled[1]
    assert processes.wait_run(run_id, {"cancelled"}, timeout_s=60).status == "cancelled"
