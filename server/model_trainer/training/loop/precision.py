"""`trainer.precision: auto`: bf16 autocast where this machine runs the model faster in it.

On CUDA (Ampere and later) bf16 always pays. On a CPU it pays only with native bf16 matmul
(AVX-512 BF16 or AMX), and even then not for every model: at nano sizes the casts around
small matmuls can cost more than the matmuls save. So on such CPUs `auto` times a couple of
forward/backward passes of the run's own model in both precisions and keeps bf16 only when it
is clearly faster. The choice is recorded in the manifest and kept when the run resumes.
"""

from __future__ import annotations

import math
import time

import torch
from pydantic import BaseModel, ConfigDict
from torch.nn import functional as F

from model_trainer.core.contracts.model import Architecture, LanguageModel
from model_trainer.training.config import Precision
from model_trainer.training.loop.device import DeviceInfo, autocast, cpu_supports_bf16

PROBE_ROWS = 4
"""Rows per probe pass: the run's real width and window, a small batch to keep it cheap."""
PROBE_PASSES = 2
"""Timed passes per precision, after one untimed warm-up; the fastest counts."""
MIN_GAIN = 1.1
"""bf16 must be this much faster to be worth its rounding."""


class PrecisionChoice(BaseModel):
    """The precision a run computes in, and why."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    precision: Precision
    reason: str
    fp32_pass_s: float | None = None
    bf16_pass_s: float | None = None


def choose_precision(
    requested: Precision,
    device: torch.device,
    model: LanguageModel,
    arch: Architecture,
    earlier: DeviceInfo | None = None,
) -> PrecisionChoice:
    """Resolve `auto`; explicit choices are returned as asked."""
    if requested is not Precision.AUTO:
        return PrecisionChoice(precision=requested, reason="asked for")
    if earlier is not None and earlier.device == str(device):
        return PrecisionChoice(
            precision=earlier.precision,
            reason="kept from the run's first attempt, so a resumed run computes as it began",
        )
    if device.type == "cuda":
        major, minor = torch.cuda.get_device_capability(device)
        if major >= 8:
            return PrecisionChoice(
                precision=Precision.BF16, reason=f"CUDA {major}.{minor} has bf16 tensor cores"
            )
        return PrecisionChoice(
            precision=Precision.FP32, reason=f"CUDA {major}.{minor} has no bf16 tensor cores"
        )
    if device.type != "cpu":
        return PrecisionChoice(precision=Precision.FP32, reason=f"no bf16 autocast on {device}")
    if not cpu_supports_bf16():
        return PrecisionChoice(
            precision=Precision.FP32,
            reason="this CPU has no native bf16 matmul (AVX-512 BF16 or AMX)",
        )
    return probe_cpu(model, arch, device)


def probe_cpu(model: LanguageModel, arch: Architecture, device: torch.device) -> PrecisionChoice:
    """Time the model in both precisions and keep bf16 only if it is MIN_GAIN faster."""
    fp32 = _pass_seconds(model, arch, device, Precision.FP32)
    bf16 = _pass_seconds(model, arch, device, Precision.BF16)
    gain = fp32 / bf16
    measured = f"a bf16 pass took {bf16 * 1e3:.1f} ms against {fp32 * 1e3:.1f} ms in fp32"
    if gain >= MIN_GAIN:
        return PrecisionChoice(
            precision=Precision.BF16,
            reason=f"{measured} ({gain:.2f}x faster)",
            fp32_pass_s=fp32,
            bf16_pass_s=bf16,
        )
    return PrecisionChoice(
        precision=Precision.FP32,
        reason=f"{measured}; bf16 is not worth it at this model size",
        fp32_pass_s=fp32,
        bf16_pass_s=bf16,
    )


def _pass_seconds(
    model: LanguageModel, arch: Architecture, device: torch.device, precision: Precision
) -> float:
    """Fastest forward/backward of PROBE_ROWS random windows. Runs on the real model (no
    copy, so no extra memory), leaves no gradients behind and draws nothing from the global
    random stream, so the run trains exactly as it would without the probe."""
    best = math.inf
    rng = torch.get_rng_state()  # dropout draws from it; put it back afterwards
    generator = torch.Generator().manual_seed(0)
    shape = (PROBE_ROWS, arch.max_seq_len + 1)
    window = torch.randint(arch.vocab_size, shape, generator=generator).to(device)
    try:
        for attempt in range(1 + PROBE_PASSES):
            started = time.perf_counter()
            with autocast(device, precision):
                logits = model.logits(window[:, :-1])
                loss = F.cross_entropy(
                    logits.reshape(-1, logits.size(-1)), window[:, 1:].reshape(-1)
                )
            torch.autograd.backward(loss)
            model.module.zero_grad(set_to_none=True)
            if attempt:
                best = min(best, time.perf_counter() - started)
    finally:
        torch.set_rng_state(rng)
    return best
