"""The device's peak FLOP/s, measured, and a run's model FLOPs utilisation against it.

Peak here is what this machine does, not what a datasheet says: square matmuls, grown until
one takes long enough to keep every thread busy, timed a few times, the fastest counted. The
figure is kept in a small JSON file keyed by host, device, threads, precision and torch
version, so every run on a worker reads it instead of measuring. A worker measures again at
each start and keeps the higher figure: a probe that ran while the machine was busy reads
low, and would make every later utilisation figure read high.

A worker measures at start in a child it forks for the purpose (`measure_for_worker`): a
parent that ran native thread pools (OpenMP) or initialised CUDA would leave the work horses
it forks unable to use them. A run reads the file, or measures in its own process.
"""

from __future__ import annotations

import json
import math
import socket
import time
from collections.abc import Callable
from pathlib import Path

import torch
from pydantic import TypeAdapter, ValidationError

from model_trainer.core.errors import AppError
from model_trainer.core.logging import Log
from model_trainer.infra.atomic import write_text
from model_trainer.training.config import Precision
from model_trainer.training.loop.device import cpu_supports_bf16, prepare_device, set_threads

_log = Log("worker")
_CACHE: TypeAdapter[dict[str, float]] = TypeAdapter(dict[str, float])

TARGET_PASS_S = 0.025
"""A matmul is grown until one pass takes this long (or reaches MAX_SIDE)."""
TIMED_S = 0.1
"""Passes are timed until they add up to this long (at least MIN_PASSES of them)."""
MIN_PASSES = 3
START_SIDE = {"cpu": 256, "cuda": 2048, "mps": 1024}
MAX_SIDE = {"cpu": 4096, "cuda": 16384, "mps": 8192}
_DTYPES = {Precision.FP32: torch.float32, Precision.BF16: torch.bfloat16}


def _synchronize(device: torch.device) -> Callable[[], None]:
    if device.type == "cuda":
        return torch.cuda.synchronize
    if device.type == "mps":
        return torch.mps.synchronize
    return lambda: None


def _pass_s(a: torch.Tensor, b: torch.Tensor, sync: Callable[[], None]) -> float:
    start = time.perf_counter()
    torch.mm(a, b)
    sync()
    return time.perf_counter() - start


def measure_peak(device: torch.device, precision: Precision) -> float:
    """FLOP/s of the fastest square matmul pass in `precision` on `device` (fp32 or bf16);
    the matmul grows until a pass keeps the device busy. Well under a second on a CPU."""
    dtype = _DTYPES[Precision.BF16 if precision is Precision.BF16 else Precision.FP32]
    sync = _synchronize(device)
    side, largest = START_SIDE.get(device.type, 256), MAX_SIDE.get(device.type, 4096)
    best = 0.0
    with torch.no_grad():
        while True:
            a = torch.full((side, side), 0.5, device=device, dtype=dtype)
            b = torch.full((side, side), 0.25, device=device, dtype=dtype)
            _pass_s(a, b, sync)  # warm-up: kernels chosen, pages touched, threads woken
            seconds = _pass_s(a, b, sync)
            best = max(best, 2 * side**3 / max(seconds, 1e-9))
            if seconds >= TARGET_PASS_S or side >= largest:
                break
            side *= 2
        spent, passes = 0.0, 0
        while passes < MIN_PASSES or spent < TIMED_S:
            seconds = _pass_s(a, b, sync)
            best = max(best, 2 * side**3 / max(seconds, 1e-9))
            spent, passes = spent + seconds, passes + 1
    return best


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return device.type


def cache_key(device: torch.device, precision: Precision) -> str:
    """What a measurement holds for: this host, this device, its threads, torch's version."""
    threads = torch.get_num_threads()
    name = _device_name(device)
    return f"{socket.gethostname()}|{name}|{threads} threads|{precision}|torch {torch.__version__}"


def _read(path: Path) -> dict[str, float]:
    try:
        return _CACHE.validate_json(path.read_bytes())
    except (OSError, ValidationError):
        return {}


def device_peak(
    device: torch.device, precision: Precision, cache: Path, remeasure: bool = False
) -> float:
    """The peak FLOP/s of `device` in `precision`: from the cache file, else (or when asked
    to `remeasure`) measured now, the higher of the two kept in the file (a cache that
    cannot be written only costs measuring again)."""
    key = cache_key(device, precision)
    known = _read(cache).get(key)
    if known is not None and not (math.isfinite(known) and known > 0):
        known = None
    if known is not None and not remeasure:
        return known
    peak = max(measure_peak(device, precision), known or 0.0)
    try:
        write_text(cache, json.dumps(_read(cache) | {key: peak}, indent=1, sort_keys=True))
    except AppError as exc:
        _log.warning("peak_flops_not_cached", file=str(cache), error=exc.message)
    return peak


def precisions_of(device: torch.device) -> list[Precision]:
    """The precisions a run on `device` may compute in (`auto` picks among them)."""
    if device.type == "cuda" and torch.cuda.get_device_capability(device)[0] >= 8:
        return [Precision.FP32, Precision.BF16]
    if device.type == "cpu" and cpu_supports_bf16():
        return [Precision.FP32, Precision.BF16]
    return [Precision.FP32]


def model_flops_utilisation(
    tokens_per_s: float | None, flops_per_token: int, peak_flops: float | None
) -> float | None:
    """The share of the device's measured peak that the model's own FLOPs take:
    tokens/s x FLOPs per token / peak FLOP/s (None while either is unknown)."""
    if not tokens_per_s or not peak_flops or flops_per_token <= 0:
        return None
    return tokens_per_s * flops_per_token / peak_flops


def measure_for_worker(cache: Path, threads: int) -> dict[str, float]:
    """Every precision of this machine's CPU (and first GPU), measured or read from the
    cache: what a worker reports beside its memory, by `<device>-<precision>`."""
    set_threads(threads)
    devices = [torch.device("cpu")]
    if torch.cuda.is_available():
        devices.append(torch.device("cuda"))
    peaks: dict[str, float] = {}
    for device in devices:
        prepare_device(device)
        for precision in precisions_of(device):
            peak = device_peak(device, precision, cache, remeasure=True)
            peaks[f"{device.type}-{precision}"] = peak
    return peaks
