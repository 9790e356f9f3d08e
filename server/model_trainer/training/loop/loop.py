"""The training loop, nanoGPT style: one pass down the page per optimizer step."""

from __future__ import annotations

import math
import time
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
from model_trainer.training.loop.optim import make_optimizer, set_lr
from model_trainer.training.loop.progress import Progress
from model_trainer.training.loop.schedule import get_lr

EVAL_SEED_OFFSET = {"train": 1_000_003, "val": 2_000_003}
"""Evaluation windows come from their own seeds, the same windows at every evaluation."""


class EvalResult(EvalPoint):
    """Mean loss per split at one step."""

    @property
    def val_perplexity(self) -> float:
        return math.exp(min(self.val_loss, 50.0))


class LoopOutcome(BaseModel):
    """How the loop ended."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    step: int
    tokens_seen: int
    cancelled: bool
    last_eval: EvalResult | None
    best_val_loss: float | None
    best_step: int | None
    resumed_from: int
    tokens_per_s: float | None


class LoopHooks(Protocol):
    """What the loop reports to, and asks whether to stop."""

    def on_progress(self, progress: Progress) -> None: ...

    def on_eval(self, result: EvalResult) -> None: ...

    def on_checkpoint(self, step: int, path: str, best: bool) -> None: ...

    def should_stop(self) -> bool: ...


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


def finite_loss(value: float, step: int) -> float:
    """`value`, or the end of the run: weights that produced a NaN or infinite loss are lost,
    and every later step, checkpoint and record would only repeat it."""
    if not math.isfinite(value):
        raise AppError(
            ErrorCode.TRAINING_DIVERGED,
            f"the loss became {value} at step {step}: training diverged; lower "
            "trainer.learning_rate, raise trainer.warmup_steps or set trainer.grad_clip",
        )
    return value


def _eval_result(point: EvalPoint | None) -> EvalResult | None:
    """A checkpoint's record of the latest evaluation, as the loop reports it."""
    if point is None:
        return None
    return EvalResult(step=point.step, train_loss=point.train_loss, val_loss=point.val_loss)


def _loss(model: LanguageModel, x: Tensor, y: Tensor) -> Tensor:
    logits = model.logits(x)  # (B, T, V)
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1))


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
) -> EvalResult:
    """Mean loss over `eval_steps` fixed windows of each split; `full_val` reads the whole
    validation split instead (the final evaluation, free of sampling noise)."""
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
                total += float(_loss(model, x.to(device), y.to(device)).item())
        means[split] = total / spec.eval_steps
    module.train()
    return EvalResult(step=step, train_loss=means["train"], val_loss=means["val"])


def _optimizer_step(
    model: LanguageModel,
    optimizer: torch.optim.Optimizer,
    sampler: WindowSampler,
    spec: TrainerSpec,
    lr: float,
    device: torch.device,
    precision: Precision,
) -> Tensor:
    """Set lr, accumulate gradients over micro-batches, clip, step; returns the mean loss."""
    set_lr(optimizer, lr)
    loss_sum = torch.zeros((), device=device)
    for _ in range(spec.grad_accum_steps):
        x, y = sampler.next()
        with autocast(device, precision):
            loss = _loss(model, x.to(device), y.to(device)) / spec.grad_accum_steps
        torch.autograd.backward(loss)
        loss_sum += loss.detach()
    if spec.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(model.module.parameters(), spec.grad_clip)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss_sum


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
) -> LoopOutcome:
    """Train to `spec.max_steps`, resuming from `last.pt` when there is one."""
    module = model.module.to(device)
    optimizer = make_optimizer(module, spec, device)
    sampler = WindowSampler(data.train, arch.max_seq_len, spec.batch_size, spec.seed)
    step, tokens_seen, best, best_step = 0, 0, None, None
    last_eval: EvalResult | None = None
    rate: float | None = None
    if checkpointer.exists(LAST):
        meta, sampler_state = checkpointer.restore(LAST, model, optimizer, arch)
        sampler.restore(sampler_state)
        step, tokens_seen, best = meta.step, meta.tokens_seen, meta.best_val_loss
        best_step, last_eval, rate = meta.best_step, _eval_result(meta.last_eval), meta.tokens_per_s
    resumed_from = step
    tokens_per_step = spec.batch_size * arch.max_seq_len * spec.grad_accum_steps
    module.train()
    mark_time, mark_step = time.perf_counter(), step

    def checkpoint(name: str, at: int) -> None:
        meta = CheckpointMeta(
            step=at,
            tokens_seen=tokens_seen,
            best_val_loss=best,
            best_step=best_step,
            last_eval=last_eval,
            tokens_per_s=rate,
            architecture=arch,
            config_json=config_json,
        )
        path = checkpointer.save(name, model, optimizer, sampler.state(), meta)
        hooks.on_checkpoint(at, path.name, name == BEST)

    while True:
        # evaluate (and keep the best weights) every eval_interval steps and at the end
        if step % spec.eval_interval == 0 or step == spec.max_steps:
            final = step == spec.max_steps
            last_eval = estimate_loss(model, data, spec, arch, device, precision, step, final)
            finite_loss(last_eval.train_loss, step)
            finite_loss(last_eval.val_loss, step)
            hooks.on_eval(last_eval)
            if step > 0 and (best is None or last_eval.val_loss < best):
                best, best_step = last_eval.val_loss, step
                checkpoint(BEST, step)
            mark_time, mark_step = time.perf_counter(), step  # eval time is not training
        if step >= spec.max_steps:
            break
        if hooks.should_stop():
            checkpoint(LAST, step)
            return LoopOutcome(
                step=step,
                tokens_seen=tokens_seen,
                cancelled=True,
                last_eval=last_eval,
                best_val_loss=best,
                best_step=best_step,
                resumed_from=resumed_from,
                tokens_per_s=rate,
            )
        # one optimizer step: lr, micro-batches, clip, step, clear
        lr = get_lr(step, spec)
        loss = _optimizer_step(model, optimizer, sampler, spec, lr, device, precision)
        step += 1
        tokens_seen += tokens_per_step
        # report every log_interval steps
        if step % spec.log_interval == 0 or step == spec.max_steps:
            train_loss = finite_loss(float(loss.item()), step)
            now = time.perf_counter()
            rate = (step - mark_step) * tokens_per_step / max(now - mark_time, 1e-9)
            mark_time, mark_step = now, step
            hooks.on_progress(
                Progress(
                    step=step,
                    max_steps=spec.max_steps,
                    tokens_seen=tokens_seen,
                    train_loss=train_loss,
                    val_loss=last_eval.val_loss if last_eval else None,
                    lr=lr,
                    tokens_per_s=rate,
                    eta_s=(spec.max_steps - step) * tokens_per_step / rate if rate else None,
                )
            )
        # checkpoint every checkpoint_interval steps and at the end
        if step % spec.checkpoint_interval == 0 or step == spec.max_steps:
            checkpoint(LAST, step)
    return LoopOutcome(
        step=step,
        tokens_seen=tokens_seen,
        cancelled=False,
        last_eval=last_eval,
        best_val_loss=best,
        best_step=best_step,
        resumed_from=resumed_from,
        tokens_per_s=rate,
    )
