"""What the loop reports lands in `metrics.jsonl` and on the event channels as typed records."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from model_trainer.core.contracts.events import Event, utc_now
from model_trainer.core.contracts.model import Architecture
from model_trainer.core.job_status import JobStatus
from model_trainer.core.logging import Log
from model_trainer.infra.job_state import JobStateStore
from model_trainer.infra.redis_store import RedisStore
from model_trainer.jobs.layout import RunFolder
from model_trainer.training.config import DataSpec, RunConfig
from model_trainer.training.loop.loop import EvalResult
from model_trainer.training.loop.progress import Progress
from model_trainer.training.run.durations import AttemptClock
from model_trainer.training.run.events import EVENT_ADAPTER, TrainProgress
from model_trainer.training.run.hooks import RunReporter
from model_trainer.training.run.manifest import (
    RUN_MANIFESTS,
    MetricRecord,
    RunDurations,
    RunManifest,
    TokenizerRef,
    keep_metrics_until,
    metrics_after,
)


class MemoryStore(RedisStore):
    """Keeps what the reporter stores in a dict (it only sets values)."""

    def __init__(self) -> None:
        super().__init__("redis://127.0.0.1:1/0")
        self.values: dict[str, str] = {}

    def set(self, key: str, value: str, ttl_s: float | None = None) -> None:
        self.values[key] = value


class Events:
    def __init__(self) -> None:
        self.published: list[Event] = []

    def publish(self, channels: list[str], event: Event) -> None:
        self.published.append(event)


def _manifest() -> RunManifest:
    arch = Architecture(
        family="gpt2", n_layer=1, n_head=1, n_embd=8, max_seq_len=4, vocab_size=5, dropout=0.0
    )
    return RunManifest(
        run_id="run-report",
        status=JobStatus.RUNNING,
        config=RunConfig(data=DataSpec(tokenizer_id="tok", corpus_path="story.txt")),
        tokenizer=TokenizerRef(tokenizer_id="tok", method="char", vocab_size=5),
        architecture=arch,
        parameters=1,
        created_at=utc_now(),
    )


def _report(folder: Path, events: Events) -> None:
    state = JobStateStore(MemoryStore(), "runs")
    log = Log("training", run_id="run-report")
    manifest = _manifest()
    clock = AttemptClock(manifest.durations)
    paths = RunFolder(folder)
    reporter = RunReporter(
        folder,
        manifest,
        state,
        events,
        log,
        threading.Event(),
        clock,
        write_manifest=lambda m: RUN_MANIFESTS.write(paths.manifest, m),
    )
    try:
        reporter.on_eval(EvalResult(step=0, train_loss=3.0, val_loss=3.1))
        reporter.on_progress(Progress(step=5, max_steps=10, tokens_seen=80))
        reporter.on_progress(
            Progress(step=10, max_steps=10, tokens_seen=160, train_loss=2.5, lr=1e-3)
        )
        reporter.on_eval(EvalResult(step=10, train_loss=2.4, val_loss=2.6))
    finally:
        reporter.close()


def test_metric_lines_parse_back_with_the_model_that_wrote_them(tmp_path: Path) -> None:
    before = time.time()
    _report(tmp_path, Events())
    lines = RunFolder(tmp_path).metrics.read_text(encoding="utf-8").splitlines()
    records = [MetricRecord.model_validate_json(line) for line in lines]
    assert [(r.kind, r.step) for r in records] == [
        ("eval", 0),
        ("train", 5),
        ("train", 10),
        ("eval", 10),
    ]
    assert records[1].loss is None and records[1].tokens_seen == 80
    assert records[2].loss == 2.5 and records[3].val_perplexity is not None
    assert '"loss"' not in lines[1]  # absent, not 0.0 nor null
    times = [r.time for r in records if r.time is not None]
    assert len(times) == len(records) and before <= times[0], times
    assert times == sorted(times) and times[-1] <= time.time()
    with pytest.raises(ValidationError):
        MetricRecord.model_validate_json('{"kind": "checkpoint", "step": 1}')


def test_a_progress_without_a_loss_is_published_as_null(tmp_path: Path) -> None:
    events = Events()
    _report(tmp_path, events)
    progress = [e for e in events.published if isinstance(e, TrainProgress)]
    assert [p.step for p in progress] == [5, 10]
    parsed = EVENT_ADAPTER.validate_json(progress[0].model_dump_json())
    assert isinstance(parsed, TrainProgress)
    assert parsed.train_loss is None and parsed.lr is None and parsed.tokens_per_s is None
    assert progress[1].train_loss == 2.5 and progress[1].lr == 1e-3


def test_resuming_keeps_records_before_the_step_in_the_same_schema(tmp_path: Path) -> None:
    _report(tmp_path, Events())
    path = RunFolder(tmp_path).metrics
    legacy = '{"kind": "train", "step": 1, "loss": null, "lr": 0.1, "tokens_per_s": null}\n'
    path.write_text(legacy + path.read_text(encoding="utf-8") + '{"kind": "tr', encoding="utf-8")
    keep_metrics_until(path, 10)
    lines = path.read_text(encoding="utf-8").splitlines()
    kept = [MetricRecord.model_validate_json(line) for line in lines]
    assert [(r.kind, r.step) for r in kept] == [
        ("train", 1),
        ("eval", 0),
        ("train", 5),
        ("train", 10),
    ]
    assert lines[0] == '{"kind":"train","step":1,"lr":0.1}'


def test_metrics_after_an_offset_are_the_lines_past_it(tmp_path: Path) -> None:
    _report(tmp_path, Events())
    path = RunFolder(tmp_path).metrics
    whole, total = metrics_after(path, 0)
    assert total == len(whole) == 4
    for after in range(6):
        records, next_after = metrics_after(path, after)
        assert records == whole[after:] and next_after == 4
    # A line being written is neither returned nor counted; a damaged one is counted
    # (offsets are line numbers), and a record from before `time` existed still reads.
    legacy = '{"kind":"train","step":11,"loss":2.0}\n'
    path.write_text(path.read_text() + "not json\n" + legacy + '{"kind":"tr', encoding="utf-8")
    records, next_after = metrics_after(path, 4)
    assert next_after == 6 and [(r.step, r.time) for r in records] == [(11, None)]
    assert metrics_after(path, 6) == ([], 6)
    assert metrics_after(tmp_path / "missing.jsonl", 3) == ([], 0)


def test_an_attempt_adds_its_time_to_what_earlier_attempts_recorded() -> None:
    earlier = RunDurations(prepare_s=1.0, train_s=10.0, export_s=0.0, total_s=11.5)
    clock = AttemptClock(earlier)
    clock.start("prepare")
    clock.start("train")
    time.sleep(0.01)
    clock.tick()
    assert earlier.prepare_s >= 1.0 and earlier.train_s >= 10.01 and earlier.export_s == 0.0
    assert earlier.total_s >= 11.51
    spent = (earlier.prepare_s - 1.0) + (earlier.train_s - 10.0)
    assert earlier.total_s - 11.5 >= spent - 1e-9
