"""The training loop, nanoGPT style: one pass down the page per optimizer step."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import torch
from pydantic import BaseModel, ConfigDict
from torch import Tensor
from torch.nn import functional as F

from model_trainer.core.contracts.model import Architecture, LanguageModel
from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.training.config import Precision, TrainerSpec
from model_trainer.training.data.sampler import TokenArray, WindowSampler, to_long_tensor
from model_trainer.training.loop.checkpoint import (
    BEST,
    LAST,
    Checkpointer,
    CheckpointMeta,
    EvalPoint,
)
from model_trainer.training.loop.device import autocast
from model_trainer.training.loop.early_stop import StoppedEarly, early_stop
from model_trainer.training.loop.eval_samples import SampleIds, generate_samples
from model_trainer.training.loop.optim import make_optimizer, set_lr
from model_trainer.training.loop.parallel import Forward, LogitsFn, Replicas
from model_trainer.training.loop.progress import Progress
from model_trainer.training.loop.schedule import get_lr

EVAL_SEED_OFFSET = {"train": 1_000_003, "val": 2_000_003}
"""Evaluation windows come from their own seeds, the same windows at every evaluation."""


class EvalResult(EvalPoint):
    """Mean loss per split at one step, and the samples generated then (rank 0's; none
    when `trainer.eval_samples` is 0)."""

    samples: list[SampleIds] = []

    @property
    def val_perplexity(self) -> float:
        return math.exp(min(self.val_loss, 50.0))


class LoopEnd(StrEnum):
    """How the loop ended."""

    COMPLETED = "completed"
    """It reached `max_steps`."""
    CANCELLED = "cancelled"
    """The run was cancelled; the last checkpoint is saved at the step reached."""
    WORKER_STOPPING = "worker_stopping"
    """The worker is being stopped; the last checkpoint is saved and the run resumes elsewhere."""
    DIVERGED = "diverged"
    """The loss became NaN or infinite; nothing was saved or reported from that step."""


class LoopOutcome(BaseModel):
    """How the loop ended, and its figures at that point."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    end: LoopEnd
    step: int
    tokens_seen: int
    last_eval: EvalResult | None
    best_val_loss: float | None
    best_step: int | None
    resumed_from: int
    tokens_per_s: float | None
    detail: str = ""
    """Why it diverged, in words (empty for the other ends)."""
    stopped_early: StoppedEarly | None = None
    """Set when it ended `COMPLETED` before `max_steps`: val loss stopped improving."""


class LoopHooks(Protocol):
    """What the loop reports to, and asks whether to stop."""

    def on_start(self, resumed_from: int | None) -> None:
        """Once, before the first evaluation: the step restored from the last checkpoint,
        or None for a fresh start."""
        ...

    def on_progress(self, progress: Progress) -> None: ...

    def on_eval(self, result: EvalResult) -> None: ...

    def on_checkpoint(self, step: int, path: str, best: bool) -> None: ...

    def should_stop(self) -> LoopEnd | None:
        """Before each step: `CANCELLED` or `WORKER_STOPPING` to stop there, None to go on."""
        ...


class TrainingData(BaseModel):
    """Token arrays of both splits (memory-mapped)."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    train: TokenArray
    val: TokenArray


MAX_EVAL_WINDOWS = 2048
"""A full evaluation reads at most this many non-overlapping windows, spread over the split."""
EVAL_BATCH = 16


def mean_loss(model: LanguageModel, tokens: Tensor, block: int) -> tuple[float, int]:
    """Mean next-token loss over non-overlapping windows spread evenly over `tokens`."""
    count = (len(tokens) - 1) // block
    if count < 1:
        raise AppError(ErrorCode.CORPUS_EMPTY, f"{len(tokens)} tokens do not fill one window")
    picks = torch.linspace(0, count - 1, steps=min(count, MAX_EVAL_WINDOWS)).long() * block
    total, n = 0.0, 0
    was_training = model.module.training
    model.module.eval()
    with torch.no_grad():
        for start in range(0, len(picks), EVAL_BATCH):
            offsets = picks[start : start + EVAL_BATCH].unsqueeze(1) + torch.arange(block + 1)
            window = tokens[offsets]  # (B, T+1)
            logits = model.logits(window[:, :-1])
            loss = F.cross_entropy(
                logits.reshape(-1, logits.size(-1)), window[:, 1:].reshape(-1), reduction="sum"
            )
            total += float(loss.item())
            n += window[:, 1:].numel()
    model.module.train(was_training)
    return total / n, int(len(picks))


def divergence(value: float, step: int) -> str | None:
    """Why the run must end, when `value` is NaN or infinite: weights that produced it are
    lost, and every later step, checkpoint and record would only repeat it."""
    if math.isfinite(value):
        return None
    return (
        f"the loss became {value} at step {step}: training diverged; lower "
        "trainer.learning_rate, raise trainer.warmup_steps or set trainer.grad_clip"
    )


def _eval_result(point: EvalPoint | None) -> EvalResult | None:
    """A checkpoint's record of the latest evaluation, as the loop reports it."""
    if point is None:
        return None
    return EvalResult(step=point.step, train_loss=point.train_loss, val_loss=point.val_loss)


STOP_STRENGTH = {None: 0, LoopEnd.WORKER_STOPPING: 1, LoopEnd.CANCELLED: 2}
"""How ranks agree on a stop: the strongest wish of any rank wins (a cancel over a stop)."""
_STOP_BY_STRENGTH = {strength: end for end, strength in STOP_STRENGTH.items()}


def _loss(logits_of: LogitsFn, x: Tensor, y: Tensor) -> Tensor:
    logits = logits_of(x)  # (B, T, V)
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1))


def _batch_loss(logits_of: LogitsFn, x: Tensor, y: Tensor, share: int) -> float:
    """The batch's mean loss, computed `share` windows at a time when `share` is smaller
    (equal parts: the mean of their means is the batch's)."""
    if share <= 0 or share >= len(x):
        return float(_loss(logits_of, x, y).item())
    starts = range(0, len(x), share)
    parts = [_loss(logits_of, x.narrow(0, i, share), y.narrow(0, i, share)) for i in starts]
    return float(torch.stack(parts).mean().item())


@torch.no_grad()
def estimate_loss(
    model: LanguageModel,
    data: TrainingData,
    spec: TrainerSpec,
    arch: Architecture,
    device: torch.device,
    precision: Precision,
    step: int,
    full_val: bool = False,
    world: int = 1,
) -> EvalResult:
    """Mean loss over `eval_steps` fixed windows of each split; `full_val` reads the whole
    validation split instead (the final evaluation, free of sampling noise). In a run of
    `world` processes a batch goes through the model a rank's share at a time: a rank holds
    activations for its share of a batch only."""
    share = spec.batch_size // world if world > 1 else 0
    module = model.module
    module.eval()
    means: dict[str, float] = {}
    for split, tokens in (("train", data.train), ("val", data.val)):
        if split == "val" and full_val:
            block = min(arch.max_seq_len, len(tokens) - 1)
            with autocast(device, precision):
                means[split] = mean_loss(model, to_long_tensor(tokens).to(device), block)[0]
            continue
        block = min(arch.max_seq_len, len(tokens) - 2)
        sampler = WindowSampler(tokens, block, spec.batch_size, spec.seed + EVAL_SEED_OFFSET[split])
        total = 0.0
        for _ in range(spec.eval_steps):
            x, y = sampler.next()
            with autocast(device, precision):
                total += _batch_loss(model.logits, x.to(device), y.to(device), share)
        means[split] = total / spec.eval_steps
    module.train()
    return EvalResult(step=step, train_loss=means["train"], val_loss=means["val"])


def _optimizer_step(
    model: LanguageModel,
    forward: Forward,
    optimizer: torch.optim.Optimizer,
    sampler: WindowSampler,
    spec: TrainerSpec,
    lr: float,
    device: torch.device,
    precision: Precision,
) -> Tensor:
    """Set lr, accumulate gradients over micro-batches, clip, step; returns this rank's
    mean loss."""
    set_lr(optimizer, lr)
    loss_sum = torch.zeros((), device=device)
    for micro in range(spec.grad_accum_steps):
        x, y = sampler.next()
        with forward.accumulating(last=micro == spec.grad_accum_steps - 1):
            with autocast(device, precision):
                loss = _loss(forward, x.to(device), y.to(device)) / spec.grad_accum_steps
            torch.autograd.backward(loss)
        loss_sum += loss.detach()
    if spec.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(model.module.parameters(), spec.grad_clip)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss_sum


@dataclass
class _State:
    """What the loop carries from step to step, and what a checkpoint records of it."""

    step: int = 0
    tokens_seen: int = 0
    best: float | None = None
    best_step: int | None = None
    last_eval: EvalResult | None = None
    rate: float | None = None
    resumed_from: int = 0
    mark_time: float = 0.0
    mark_step: int = 0

    def restart_clock(self) -> None:
        """Measure throughput from here (evaluation time is not training)."""
        self.mark_time, self.mark_step = time.perf_counter(), self.step

    def measure(self, tokens_per_step: int) -> float:
        """Tokens per second since the clock last started; restarts it."""
        now = time.perf_counter()
        rate = (self.step - self.mark_step) * tokens_per_step / max(now - self.mark_time, 1e-9)
        self.mark_time, self.mark_step = now, self.step
        return rate

    def outcome(
        self, end: LoopEnd, detail: str = "", stopped_early: StoppedEarly | None = None
    ) -> LoopOutcome:
        return LoopOutcome(
            end=end,
            step=self.step,
            tokens_seen=self.tokens_seen,
            last_eval=self.last_eval,
            best_val_loss=self.best,
            best_step=self.best_step,
            resumed_from=self.resumed_from,
            tokens_per_s=self.rate,
            detail=detail,
            stopped_early=stopped_early,
        )


class _Checkpoints:
    """The loop's side of the checkpointer: resume from the last one, save either."""

    def __init__(
        self,
        checkpointer: Checkpointer,
        model: LanguageModel,
        optimizer: torch.optim.Optimizer,
        sampler: WindowSampler,
        arch: Architecture,
        config_json: str,
        hooks: LoopHooks,
        writer: bool = True,
    ) -> None:
        self._checkpointer, self._model, self._optimizer = checkpointer, model, optimizer
        self._sampler, self._arch, self._config_json = sampler, arch, config_json
        self._hooks = hooks
        self._writer = writer
        """Whether this process writes (rank 0 of a run in several processes)."""

    def start(self) -> _State:
        """The state to train on from (the last checkpoint's, or a fresh one), announced,
        with its throughput clock started."""
        resumed = self.resume()
        self._hooks.on_start(resumed.step if resumed else None)
        state = resumed or _State()
        state.restart_clock()
        return state

    def resume(self) -> _State | None:
        """The state saved in the last checkpoint, restored into model, optimizer, sampler
        and torch's generator; None when there is none (a fresh start)."""
        if not self._checkpointer.exists(LAST):
            return None
        meta, sampler_state = self._checkpointer.restore(
            LAST, self._model, self._optimizer, self._arch
        )
        self._sampler.restore(sampler_state)
        return _State(
            step=meta.step,
            tokens_seen=meta.tokens_seen,
            best=meta.best_val_loss,
            best_step=meta.best_step,
            last_eval=_eval_result(meta.last_eval),
            rate=meta.tokens_per_s,
            resumed_from=meta.step,
        )

    def save(self, name: str, state: _State) -> None:
        if not self._writer:
            return
        meta = CheckpointMeta(
            step=state.step,
            tokens_seen=state.tokens_seen,
            best_val_loss=state.best,
            best_step=state.best_step,
            last_eval=state.last_eval,
            tokens_per_s=state.rate,
            architecture=self._arch,
            config_json=self._config_json,
        )
        path = self._checkpointer.save(
            name, self._model, self._optimizer, self._sampler.state(), meta
        )
        self._hooks.on_checkpoint(state.step, path.name, name == BEST)


def _progress(
    state: _State, spec: TrainerSpec, train_loss: float, lr: float, tokens_per_step: int
) -> Progress:
    rate = state.rate
    return Progress(
        step=state.step,
        max_steps=spec.max_steps,
        tokens_seen=state.tokens_seen,
        train_loss=train_loss,
        val_loss=state.last_eval.val_loss if state.last_eval else None,
        lr=lr,
        tokens_per_s=rate,
        eta_s=(spec.max_steps - state.step) * tokens_per_step / rate if rate else None,
    )


def _set_up(
    model: LanguageModel,
    arch: Architecture,
    spec: TrainerSpec,
    data: TrainingData,
    device: torch.device,
    group: Replicas,
) -> tuple[Forward, torch.optim.Optimizer, WindowSampler]:
    """The model on the device in training mode, how training calls it, its optimizer, this
    rank's sampler."""
    module = model.module.to(device)
    module.train()
    forward = group.forward(model, device)
    optimizer = make_optimizer(module, spec, device)
    sampler = WindowSampler(
        data.train, arch.max_seq_len, spec.batch_size, spec.seed, group.rank, group.world
    )
    return forward, optimizer, sampler


def _agreed_stop(hooks: LoopHooks, group: Replicas, device: torch.device) -> LoopEnd | None:
    """This process's wish to stop, agreed with the other ranks' (all stop at one step)."""
    return _STOP_BY_STRENGTH[group.agree(STOP_STRENGTH[hooks.should_stop()], device)]


class _Evaluator:
    """The loop's evaluation: losses, samples (rank 0), the best checkpoint, and whether
    training ends here (diverged, or stopped early)."""

    def __init__(
        self,
        model: LanguageModel,
        arch: Architecture,
        spec: TrainerSpec,
        data: TrainingData,
        device: torch.device,
        precision: Precision,
        group: Replicas,
    ) -> None:
        self._model, self._arch, self._spec, self._data = model, arch, spec, data
        self._device, self._precision, self._group = device, precision, group

    def due(self, step: int) -> bool:
        """Every `eval_interval` steps and at the end."""
        return step % self._spec.eval_interval == 0 or step == self._spec.max_steps

    def evaluate(self, s: _State, hooks: LoopHooks, saver: _Checkpoints) -> LoopOutcome | None:
        """Evaluate at `s.step`, report, keep the best weights; the loop's outcome when it
        must end here."""
        spec, group = self._spec, self._group
        final = s.step == spec.max_steps
        ev = estimate_loss(
            self._model,
            self._data,
            spec,
            self._arch,
            self._device,
            self._precision,
            s.step,
            final,
            group.world,
        )
        s.last_eval = ev
        bad = divergence(ev.train_loss, s.step) or divergence(ev.val_loss, s.step)
        if bad is not None:
            return s.outcome(LoopEnd.DIVERGED, bad)
        if group.writer and spec.eval_samples > 0:
            ids = generate_samples(
                self._model,
                self._data.val,
                spec.eval_samples,
                spec.eval_sample_tokens,
                spec.seed,
                self._arch.max_seq_len,
                self._device,
            )
            ev = EvalResult(
                step=ev.step, train_loss=ev.train_loss, val_loss=ev.val_loss, samples=ids
            )
        hooks.on_eval(ev)
        if s.step > 0 and (s.best is None or ev.val_loss < s.best):
            s.best, s.best_step = ev.val_loss, s.step
            saver.save(BEST, s)
        s.restart_clock()
        return None if final else self._stop_early(s, saver)

    def _stop_early(self, s: _State, saver: _Checkpoints) -> LoopOutcome | None:
        """Stop when the patience ran out, with the last checkpoint saved (a warm end). All
        ranks judge the same losses; they agree all the same, to stop at one step."""
        spec = self._spec
        if spec.early_stopping_patience is None:
            return None
        stop = early_stop(
            spec.early_stopping_patience, s.step, s.best_step, s.best, spec.eval_interval
        )
        if not self._group.agree(int(stop is not None), self._device) or stop is None:
            return None
        saver.save(LAST, s)
        return s.outcome(LoopEnd.COMPLETED, stopped_early=stop)


def train_loop(
    model: LanguageModel,
    arch: Architecture,
    spec: TrainerSpec,
    data: TrainingData,
    device: torch.device,
    precision: Precision,
    checkpointer: Checkpointer,
    hooks: LoopHooks,
    config_json: str,
    replicas: Replicas | None = None,
) -> LoopOutcome:
    """Train to `spec.max_steps`, resuming from the last checkpoint when there is one;
    returns how it ended (completed, maybe early; cancelled, worker stopping, diverged).
    With `replicas` of several ranks, this process trains its share of each batch and only
    rank 0 saves."""
    # set up: model on the device, optimizer, sampler; resume from the last checkpoint
    group = replicas or Replicas()
    forward, optimizer, sampler = _set_up(model, arch, spec, data, device, group)
    saver = _Checkpoints(
        checkpointer, model, optimizer, sampler, arch, config_json, hooks, group.writer
    )
    s = saver.start()
    evaluator = _Evaluator(model, arch, spec, data, device, precision, group)
    tokens_per_step = spec.batch_size * arch.max_seq_len * spec.grad_accum_steps
    while True:
        # evaluate (keep the best weights, stop early when asked) every eval_interval steps
        # and at the end
        if evaluator.due(s.step) and (ended := evaluator.evaluate(s, hooks, saver)):
            return ended
        if s.step >= spec.max_steps:
            return s.outcome(LoopEnd.COMPLETED)
        # stop when cancelled or the worker is stopping, with the last checkpoint saved
        if (stop := _agreed_stop(hooks, group, device)) is not None:
            saver.save(LAST, s)
            return s.outcome(stop)
        # one optimizer step: lr, micro-batches, clip, step, clear
        lr = get_lr(s.step, spec)
        loss = _optimizer_step(model, forward, optimizer, sampler, spec, lr, device, precision)
        s.step += 1
        s.tokens_seen += tokens_per_step
        # report every log_interval steps
        if s.step % spec.log_interval == 0 or s.step == spec.max_steps:
            train_loss = float(group.mean(loss).item())
            if (bad := divergence(train_loss, s.step)) is not None:
                return s.outcome(LoopEnd.DIVERGED, bad)
            s.rate = s.measure(tokens_per_step)
            hooks.on_progress(_progress(s, spec, train_loss, lr, tokens_per_step))
        # checkpoint every checkpoint_interval steps and at the end
        if s.step % spec.checkpoint_interval == 0 or s.step == spec.max_steps:
            saver.save(LAST, s)
