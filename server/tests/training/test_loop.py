"""The training loop on a tiny model: it learns, stops when asked, and resumes exactly."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from model_trainer.core.contracts.model import Architecture, LanguageModel
from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.plugins.gpt2 import Gpt2Backend
from model_trainer.training.config import Precision, TrainerSpec
from model_trainer.training.loop.checkpoint import BEST, LAST, Checkpointer, CheckpointMeta
from model_trainer.training.loop.loop import (
    EvalResult,
    LoopEnd,
    LoopOutcome,
    TrainingData,
    divergence,
    estimate_loss,
    train_loop,
)
from model_trainer.training.loop.progress import Progress
from model_trainer.training.loop.schedule import get_lr

TEXT = "".join(f"line {i % 17}: the cat sat on the mat {i % 5}\n" for i in range(400))
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


class Recorder:
    """Hooks that remember what the loop said and stop after `stop_after` steps."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.progress: list[Progress] = []
        self.evals: list[EvalResult] = []
        self.checkpoints: list[tuple[int, str, bool]] = []
        self.starts: list[int | None] = []
        self._stop_after = stop_after

    def on_start(self, resumed_from: int | None) -> None:
        self.starts.append(resumed_from)

    def on_progress(self, progress: Progress) -> None:
        self.progress.append(progress)

    def on_eval(self, result: EvalResult) -> None:
        self.evals.append(result)

    def on_checkpoint(self, step: int, path: str, best: bool) -> None:
        self.checkpoints.append((step, path, best))

    def should_stop(self) -> LoopEnd | None:
        done = self.progress[-1].step if self.progress else 0
        stop = self._stop_after is not None and done >= self._stop_after
        return LoopEnd.CANCELLED if stop else None


def _spec(**overrides: int) -> TrainerSpec:
    base = TrainerSpec(
        max_steps=40,
        batch_size=4,
        learning_rate=3e-3,
        min_lr=3e-4,
        warmup_steps=5,
        eval_interval=20,
        eval_steps=2,
        checkpoint_interval=20,
        log_interval=5,
        seed=7,
    )
    return base.model_copy(update=overrides)


def _train(
    folder: Path,
    spec: TrainerSpec,
    hooks: Recorder,
    precision: Precision = Precision.FP32,
    arch: Architecture = ARCH,
) -> tuple[LanguageModel, LoopOutcome]:
    torch.manual_seed(spec.seed)
    model = Gpt2Backend().build(arch)
    data = TrainingData(train=IDS[:8000], val=IDS[8000:])
    outcome = train_loop(
        model,
        arch,
        spec,
        data,
        torch.device("cpu"),
        precision,
        Checkpointer(folder),
        hooks,
        "{}",
    )
    return model, outcome


def test_lr_schedule_warms_up_then_decays_to_the_floor() -> None:
    spec = _spec()
    assert get_lr(0, spec) < get_lr(4, spec) <= spec.learning_rate
    assert math.isclose(get_lr(5, spec), spec.learning_rate)
    assert get_lr(20, spec) < spec.learning_rate
    assert math.isclose(get_lr(40, spec), spec.min_lr)
    assert math.isclose(get_lr(1000, spec), spec.min_lr)


def test_loss_falls_and_checkpoints_are_written(tmp_path: Path) -> None:
    hooks = Recorder()
    _model, outcome = _train(tmp_path, _spec(), hooks)
    assert outcome.step == 40 and outcome.end is LoopEnd.COMPLETED
    assert hooks.starts == [None]
    assert [e.step for e in hooks.evals] == [0, 20, 40]
    assert hooks.evals[-1].val_loss < hooks.evals[0].val_loss
    assert (tmp_path / LAST).is_file() and (tmp_path / BEST).is_file()
    assert [p.step for p in hooks.progress] == list(range(5, 41, 5))
    assert all(p.tokens_per_s and p.tokens_per_s > 0 for p in hooks.progress)


def test_a_loss_that_is_not_finite_is_a_divergence_in_words() -> None:
    assert divergence(2.5, 7) is None
    for value in (math.nan, math.inf, -math.inf):
        reason = divergence(value, 7)
        assert reason is not None and f"became {value} at step 7" in reason


def test_stop_request_saves_a_checkpoint_and_ends_cancelled(tmp_path: Path) -> None:
    hooks = Recorder(stop_after=10)
    _model, outcome = _train(tmp_path, _spec(), hooks)
    assert outcome.end is LoopEnd.CANCELLED and outcome.step == 10
    assert (tmp_path / LAST).is_file()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("precision", [Precision.FP32, Precision.BF16])
def test_resume_from_checkpoint_matches_an_uninterrupted_run(
    tmp_path: Path, precision: Precision
) -> None:
    whole, _ = _train(tmp_path / "whole", _spec(), Recorder(), precision)
    _train(tmp_path / "split", _spec(), Recorder(stop_after=15), precision)
    hooks = Recorder()
    resumed, outcome = _train(tmp_path / "split", _spec(), hooks, precision)
    assert outcome.resumed_from == 15 and outcome.step == 40 and hooks.starts == [15]
    expected = dict(whole.module.named_parameters())
    for name, value in resumed.module.named_parameters():
        assert torch.allclose(value, expected[name], atol=1e-6), name


@pytest.mark.timeout(120)
def test_resume_reports_best_and_progress_as_an_uninterrupted_run(tmp_path: Path) -> None:
    whole_hooks = Recorder()
    _, whole = _train(tmp_path / "whole", _spec(), whole_hooks)
    _train(tmp_path / "split", _spec(), Recorder(stop_after=25))  # best.pt at 20, last at 25
    hooks = Recorder()
    _, resumed = _train(tmp_path / "split", _spec(), hooks)
    assert resumed.resumed_from == 25 and resumed.best_step == whole.best_step
    assert resumed.best_val_loss and whole.best_val_loss
    assert math.isclose(resumed.best_val_loss, whole.best_val_loss, rel_tol=1e-5)
    after = [p for p in whole_hooks.progress if p.step > 25]
    assert len(hooks.progress) == len(after) == 3
    for mine, theirs in zip(hooks.progress, after, strict=True):
        assert (mine.step, mine.max_steps, mine.tokens_seen) == (
            theirs.step,
            theirs.max_steps,
            theirs.tokens_seen,
        )
        # val_loss is the latest evaluation's, from before the resume at step 30 and 35
        pairs = [(mine.train_loss, theirs.train_loss), (mine.val_loss, theirs.val_loss)]
        for got, expected in [*pairs, (mine.lr, theirs.lr)]:
            assert got is not None and expected is not None, mine.step
            assert math.isclose(got, expected, rel_tol=1e-5), mine.step


@pytest.mark.timeout(120)
def test_a_run_resumed_and_stopped_at_once_keeps_its_best(tmp_path: Path) -> None:
    _, first = _train(tmp_path, _spec(), Recorder(stop_after=20))  # evaluated at 20: best
    assert first.end is LoopEnd.CANCELLED and first.best_step == 20 and first.tokens_per_s
    _, again = _train(tmp_path, _spec(), Recorder(stop_after=0))
    assert again.end is LoopEnd.CANCELLED and again.step == 20
    assert again.best_step == 20 and again.best_val_loss == first.best_val_loss
    assert again.tokens_per_s == first.tokens_per_s
    assert Checkpointer(tmp_path).meta(LAST).best_step == 20


def test_a_checkpoint_of_another_architecture_is_refused(tmp_path: Path) -> None:
    _train(tmp_path, _spec(), Recorder(stop_after=5))
    wider = Architecture(
        family="gpt2",
        n_layer=1,
        n_head=2,
        n_embd=64,
        max_seq_len=32,
        vocab_size=len(VOCAB),
        dropout=0.0,
    )
    with pytest.raises(AppError) as caught:
        _train(tmp_path, _spec(), Recorder(), arch=wider)
    assert caught.value.code is ErrorCode.CHECKPOINT_MISMATCH
    assert caught.value.http_status == 409
    assert "n_embd 32 vs 64" in caught.value.message
    assert "max_seq_len 16 vs 32" in caught.value.message
    assert "n_layer" not in caught.value.message


def test_a_checkpoint_from_before_best_step_still_loads() -> None:
    old = (
        '{"step": 10, "tokens_seen": 640, "best_val_loss": 2.5, "config_json": "{}", '
        f'"architecture": {ARCH.model_dump_json()}}}'
    )
    meta = CheckpointMeta.model_validate_json(old)
    assert meta.best_step is None and meta.last_eval is None and meta.tokens_per_s is None


def test_a_rank_evaluates_its_share_at_a_time_to_the_same_loss() -> None:
    """In a run of several processes each rank pushes a batch through the model a share at a
    time (its memory holds a share's activations): the mean is the whole batch's."""
    torch.manual_seed(3)
    model = Gpt2Backend().build(ARCH)
    data = TrainingData(train=IDS[:8000], val=IDS[8000:])
    spec = _spec(batch_size=8)
    cpu = torch.device("cpu")
    whole = estimate_loss(model, data, spec, ARCH, cpu, Precision.FP32, 0)
    shared = estimate_loss(model, data, spec, ARCH, cpu, Precision.FP32, 0, world=4)
    assert abs(whole.train_loss - shared.train_loss) < 1e-5
    assert abs(whole.val_loss - shared.val_loss) < 1e-5
