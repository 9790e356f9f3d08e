"""Early stopping in the loop: a run whose val loss stops improving ends completed at the
patience, and counts on across a resume as if it had not stopped; samples at each
evaluation come out the same either way."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from model_trainer.core.contracts.model import Architecture
from model_trainer.plugins.gpt2 import Gpt2Backend
from model_trainer.training.config import Precision, TrainerSpec
from model_trainer.training.loop.checkpoint import BEST, LAST, Checkpointer
from model_trainer.training.loop.loop import (
    EvalResult,
    LoopEnd,
    LoopOutcome,
    TrainingData,
    train_loop,
)
from model_trainer.training.loop.progress import Progress

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
# A learning rate so small that no weight moves by a representable amount (the zero biases
# aside, by amounts far below the activations' precision): val loss is flat, exactly.
FLAT = TrainerSpec(
    max_steps=200,
    batch_size=4,
    learning_rate=1e-12,
    min_lr=0.0,
    warmup_steps=0,
    eval_interval=10,
    eval_steps=2,
    checkpoint_interval=10,
    log_interval=5,
    seed=11,
    early_stopping_patience=2,
    eval_samples=2,
    eval_sample_tokens=6,
)


class Hooks:
    """Remembers evaluations; cancels once `stop_after` steps are reported."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.evals: list[EvalResult] = []
        self._step = 0
        self._stop_after = stop_after

    def on_start(self, resumed_from: int | None) -> None:
        self._step = resumed_from or 0

    def on_progress(self, progress: Progress) -> None:
        self._step = progress.step

    def on_eval(self, result: EvalResult) -> None:
        self.evals.append(result)

    def on_checkpoint(self, step: int, path: str, best: bool) -> None:
        return None

    def should_stop(self) -> LoopEnd | None:
        stop = self._stop_after is not None and self._step >= self._stop_after
        return LoopEnd.CANCELLED if stop else None


def _train(folder: Path, hooks: Hooks, spec: TrainerSpec = FLAT) -> LoopOutcome:
    torch.manual_seed(spec.seed)
    model = Gpt2Backend().build(ARCH)
    data = TrainingData(train=IDS[:8000], val=IDS[8000:])
    cpu = torch.device("cpu")
    return train_loop(
        model, ARCH, spec, data, cpu, Precision.FP32, Checkpointer(folder), hooks, "{}"
    )


@pytest.mark.timeout(300)
def test_a_flat_val_loss_stops_at_the_patience_and_counts_on_across_a_resume(
    tmp_path: Path,
) -> None:
    whole_hooks = Hooks()
    whole = _train(tmp_path / "whole", whole_hooks)
    assert whole.end is LoopEnd.COMPLETED and whole.step == 30
    stop = whole.stopped_early
    assert stop is not None and (stop.best_step, stop.at_step, stop.patience) == (10, 30, 2)
    assert stop.message.startswith("stopped early: val loss did not improve for 2 evaluations")
    assert [e.step for e in whole_hooks.evals] == [0, 10, 20, 30]
    assert Checkpointer(tmp_path / "whole").meta(BEST).step == 10
    assert Checkpointer(tmp_path / "whole").meta(LAST).step == 30  # saved as a warm end
    # cancelled at 20, one evaluation after the best: the count comes back from the steps
    first = _train(tmp_path / "split", Hooks(stop_after=20))
    assert first.end is LoopEnd.CANCELLED and first.step == 20
    hooks = Hooks()
    again = _train(tmp_path / "split", hooks)
    assert again.resumed_from == 20 and again.stopped_early == whole.stopped_early
    assert [e.step for e in hooks.evals] == [20, 30]
    # samples at each evaluation, the same after the resume (their own generator)
    ours = [e.samples for e in hooks.evals]
    theirs = [e.samples for e in whole_hooks.evals[2:]]
    assert ours == theirs and all(len(s) == 2 for s in ours)
    assert all(len(s.prompt) == 4 and len(s.new) == 6 for s in ours[0])


def test_no_patience_trains_to_the_end_and_zero_samples_make_none(tmp_path: Path) -> None:
    changes: dict[str, int | None] = {
        "early_stopping_patience": None,
        "eval_samples": 0,
        "max_steps": 30,
    }
    spec = FLAT.model_copy(update=changes)
    hooks = Hooks()
    outcome = _train(tmp_path, hooks, spec)
    assert outcome.step == 30 and outcome.stopped_early is None
    assert all(e.samples == [] for e in hooks.evals)
