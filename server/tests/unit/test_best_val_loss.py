"""The run's best val loss is in its manifest from the first evaluation after step 0 on,
as the loop judges it (lowest so far, never a NaN), and a resumed run keeps the best it
reached before."""

from __future__ import annotations

import math
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from model_trainer.core.contracts.events import Event, utc_now
from model_trainer.core.contracts.model import Architecture
from model_trainer.core.job_status import JobStatus
from model_trainer.core.logging import Log
from model_trainer.infra.job_state import JobStateStore
from model_trainer.infra.redis_store import RedisStore
from model_trainer.jobs.layout import RunFolder
from model_trainer.plugins.gpt2 import Gpt2Backend
from model_trainer.training.config import DataSpec, Precision, RunConfig, TrainerSpec
from model_trainer.training.loop.checkpoint import Checkpointer
from model_trainer.training.loop.loop import (
    EvalResult,
    LoopEnd,
    LoopOutcome,
    TrainingData,
    train_loop,
)
from model_trainer.training.loop.progress import Progress
from model_trainer.training.run.durations import AttemptClock
from model_trainer.training.run.hooks import RunReporter
from model_trainer.training.run.manifest import RUN_MANIFESTS, RunManifest, TokenizerRef

TEXT = "".join(f"row {i % 13}: a dog ran by the gate {i % 7}\n" for i in range(300))
VOCAB = sorted(set(TEXT))
_IDS: list[int] = [VOCAB.index(c) for c in TEXT]
IDS = np.array(_IDS, dtype=np.uint16)
ARCH = Architecture(
    family="gpt2",
    n_layer=1,
    n_head=2,
    n_embd=32,
    max_seq_len=16,
    vocab_size=len(VOCAB),
    dropout=0.0,
)


def _spec(learning_rate: float, min_lr: float) -> TrainerSpec:
    return TrainerSpec(
        max_steps=40,
        batch_size=4,
        learning_rate=learning_rate,
        min_lr=min_lr,
        warmup_steps=0,
        eval_interval=10,
        eval_steps=2,
        checkpoint_interval=10,
        log_interval=5,
        seed=11,
        eval_samples=0,
    )


FLAT = _spec(1e-12, 0.0)
"""A learning rate so small that no weight moves by a representable amount: val loss is the
same at every evaluation but the final one (it reads the whole split), so the best stays at
the first after step 0 until then (lower wins, not equal)."""
LEARNING = _spec(3e-3, 3e-4)
Best = tuple[float | None, int | None]


class MemoryStore(RedisStore):
    """Keeps what the reporter stores in a dict (what the reporter sets and asks
    for: its status, progress and cancel flag)."""

    def __init__(self) -> None:
        super().__init__("redis://127.0.0.1:1/0")
        self.values: dict[str, str] = {}

    def set(self, key: str, value: str, ttl_s: float | None = None) -> None:
        self.values[key] = value

    def set_many(self, values: dict[str, str]) -> None:
        self.values.update(values)

    def set_add(self, key: str, member: str) -> None:
        self.values[f"{key}:{member}"] = member

    def exists(self, key: str) -> bool:
        return key in self.values


class Events:
    def publish(self, channels: list[str], event: Event) -> None:
        return None


def _manifest(spec: TrainerSpec) -> RunManifest:
    return RunManifest(
        run_id="run-best",
        status=JobStatus.RUNNING,
        config=RunConfig(data=DataSpec(tokenizer_id="tok", corpus_path="story.txt"), trainer=spec),
        tokenizer=TokenizerRef(tokenizer_id="tok", method="char", vocab_size=len(VOCAB)),
        architecture=ARCH,
        parameters=1,
        created_at=utc_now(),
    )


def _on_disk(folder: Path) -> RunManifest:
    manifest = RUN_MANIFESTS.read(RunFolder(folder).manifest)
    assert manifest is not None
    return manifest


def _best(manifest: RunManifest) -> Best:
    return manifest.metrics.best_val_loss, manifest.metrics.best_step


class Watched(RunReporter):
    """The run's reporter, writing its manifest file; after each evaluation the best that
    file holds is noted, and the run is cancelled once `stop_at` steps are reported."""

    def __init__(self, folder: Path, manifest: RunManifest, stop_at: int | None = None) -> None:
        paths = RunFolder(folder)
        folder.mkdir(parents=True, exist_ok=True)
        super().__init__(
            folder,
            manifest,
            JobStateStore(MemoryStore(), "runs"),
            Events(),
            Log("training", run_id=manifest.run_id),
            threading.Event(),
            AttemptClock(manifest.durations),
            write_manifest=lambda m: RUN_MANIFESTS.write(paths.manifest, m),
        )
        self.folder = folder
        self.seen: list[tuple[int, float, Best]] = []
        self._stop_at = stop_at
        self._step = 0

    def on_progress(self, progress: Progress) -> None:
        super().on_progress(progress)
        self._step = progress.step

    def on_eval(self, result: EvalResult) -> None:
        super().on_eval(result)
        self.seen.append((result.step, result.val_loss, _best(_on_disk(self.folder))))

    def should_stop(self) -> LoopEnd | None:
        if self._stop_at is not None and self._step >= self._stop_at:
            return LoopEnd.CANCELLED
        return super().should_stop()


def _train(reporter: Watched, spec: TrainerSpec) -> LoopOutcome:
    torch.manual_seed(spec.seed)
    model = Gpt2Backend().build(ARCH)
    data = TrainingData(train=IDS[:8000], val=IDS[8000:])
    checkpoints = Checkpointer(RunFolder(reporter.folder).checkpoints)
    try:
        cpu = torch.device("cpu")
        return train_loop(model, ARCH, spec, data, cpu, Precision.FP32, checkpoints, reporter, "{}")
    finally:
        reporter.close()


def _lowest_after_zero(seen: list[tuple[int, float, Best]], upto: int) -> Best:
    """The loop's rule, worked out from the evaluations: the first lowest after step 0."""
    best: Best = (None, None)
    for step, val_loss, _ in seen:
        if 0 < step <= upto and (best[0] is None or val_loss < best[0]):
            best = (val_loss, step)
    return best


@pytest.mark.timeout(300)
def test_each_evaluation_writes_the_best_so_far_and_the_loop_agrees(tmp_path: Path) -> None:
    reporter = Watched(tmp_path, _manifest(LEARNING))
    outcome = _train(reporter, LEARNING)
    assert outcome.end is LoopEnd.COMPLETED
    assert [step for step, _, _ in reporter.seen] == [0, 10, 20, 30, 40]
    # step 0 is never the best (the loop keeps no best checkpoint of untrained weights)
    assert reporter.seen[0][2] == (None, None)
    for step, _, written in reporter.seen[1:]:
        assert written == _lowest_after_zero(reporter.seen, step), step
    # what the manifest says at the end is the loop's own figure, which `summarise` copies
    assert _best(_on_disk(tmp_path)) == (outcome.best_val_loss, outcome.best_step)


@pytest.mark.timeout(300)
def test_a_resumed_run_keeps_the_best_it_reached_before(tmp_path: Path) -> None:
    whole = Watched(tmp_path / "whole", _manifest(FLAT))
    expected = _train(whole, FLAT)
    # flat until the final evaluation, which reads the whole split and so differs
    before_end = [written for step, _, written in whole.seen if 0 < step < 40]
    assert before_end == [(whole.seen[1][1], 10)] * 3
    first = Watched(tmp_path / "split", _manifest(FLAT), stop_at=20)
    assert _train(first, FLAT).end is LoopEnd.CANCELLED
    assert _best(_on_disk(tmp_path / "split")) == (whole.seen[1][1], 10)
    # a new start reads the manifest as written; the evaluations at 20 and 30 equal the best
    # at 10 and so do not replace it
    again = Watched(tmp_path / "split", _on_disk(tmp_path / "split"))
    outcome = _train(again, FLAT)
    assert outcome.resumed_from == 20 and [s for s, _, _ in again.seen] == [20, 30, 40]
    assert [written for _, _, written in again.seen] == [
        *before_end[1:],
        (expected.best_val_loss, expected.best_step),
    ]
    assert (outcome.best_val_loss, outcome.best_step) == (
        expected.best_val_loss,
        expected.best_step,
    )


def test_a_best_from_evaluations_the_resume_repeats_is_worked_out_again(
    tmp_path: Path,
) -> None:
    """A crash after an evaluation, before the next checkpoint: the manifest's best came
    from a step the loop trains again; the best before the resume comes from the metrics."""
    reporter = Watched(tmp_path, _manifest(FLAT))
    reporter.on_start(None)
    for step, val_loss in ((0, 3.0), (10, 2.5), (20, 2.7), (30, 2.2)):
        reporter.on_eval(EvalResult(step=step, train_loss=2.0, val_loss=val_loss))
    reporter.close()
    assert _best(_on_disk(tmp_path)) == (2.2, 30)
    resumed = Watched(tmp_path, _on_disk(tmp_path))
    resumed.on_start(20)  # the checkpoint at 20: the evaluations from 20 on come again
    resumed.on_eval(EvalResult(step=20, train_loss=2.0, val_loss=2.7))
    resumed.close()
    assert _best(_on_disk(tmp_path)) == (2.5, 10)
    # a best at the checkpoint's own step: that evaluation is dropped and made again
    # (it may read otherwise, e.g. the final one over the whole split), so it is not kept
    at_checkpoint = Watched(tmp_path, _on_disk(tmp_path))
    at_checkpoint.on_start(10)
    at_checkpoint.on_eval(EvalResult(step=10, train_loss=2.0, val_loss=2.6))
    at_checkpoint.close()
    assert _best(_on_disk(tmp_path)) == (2.6, 10)
    fresh = Watched(tmp_path, _on_disk(tmp_path))
    fresh.on_start(None)  # no checkpoint: all over again, nothing carried
    fresh.on_eval(EvalResult(step=0, train_loss=3.0, val_loss=3.0))
    fresh.close()
    assert _best(_on_disk(tmp_path)) == (None, None)


def test_a_val_loss_that_is_not_finite_never_becomes_the_best(tmp_path: Path) -> None:
    reporter = Watched(tmp_path, _manifest(FLAT))
    reporter.on_start(None)
    reporter.on_eval(EvalResult(step=10, train_loss=2.0, val_loss=math.nan))
    assert _best(_on_disk(tmp_path)) == (None, None)
    reporter.on_eval(EvalResult(step=20, train_loss=2.0, val_loss=2.5))
    for bad in (math.nan, -math.inf, math.inf):
        reporter.on_eval(EvalResult(step=30, train_loss=2.0, val_loss=bad))
        assert _best(_on_disk(tmp_path)) == (2.5, 20)
    reporter.close()
