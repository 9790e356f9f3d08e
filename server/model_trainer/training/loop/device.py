"""Pick the device (CUDA > MPS > CPU unless told) and what it can do (see `precision.py`)."""

from __future__ import annotations

import contextlib
import platform
from contextlib import AbstractContextManager

import torch
from pydantic import BaseModel, ConfigDict

from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.infra.machine import memory_bytes
from model_trainer.infra.workers import DeviceCapacity, DeviceKind
from model_trainer.training.config import CompileChoice, DeviceChoice, Precision


class DeviceInfo(BaseModel):
    """Where a run computes, recorded in its manifest."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    device: str
    name: str
    precision: Precision
    precision_reason: str = ""
    threads: int
    cpu: str
    torch: str
    peak_flops: float | None = None
    """The device's matmul FLOP/s in `precision`, measured on this machine (for MFU)."""
    processes: int = 1
    """Processes that train the run (`trainer.nproc`); `threads` is each one's."""

    @property
    def run_peak_flops(self) -> float | None:
        """The peak the run as a whole can reach: one device's per process on CUDA (a GPU
        each); on a CPU the processes share the cores the peak was measured with."""
        if self.peak_flops is None:
            return None
        return self.peak_flops * (self.processes if self.device.startswith("cuda") else 1)


def pick_device(choice: DeviceChoice) -> torch.device:
    """The requested device, or the best available one for `auto`."""
    cuda = torch.cuda.is_available()
    mps = torch.backends.mps.is_available()
    if choice == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if (choice == "cuda" and not cuda) or (choice == "mps" and not mps):
        raise AppError(ErrorCode.CONFIG_INVALID, f"trainer.device: {choice} is not available here")
    return torch.device(choice)


def check_ranks(device: torch.device, nproc: int) -> None:
    """Refuse a run in more processes than this device can hold: one GPU per rank on CUDA;
    none of torch's process-group backends runs on MPS."""
    if nproc == 1 or device.type == "cpu":
        return
    if device.type == "mps":
        raise AppError(
            ErrorCode.DEVICE_UNAVAILABLE,
            "trainer.nproc: a run in several processes needs CPUs or CUDA GPUs, not mps",
        )
    gpus = torch.cuda.device_count()
    if nproc > gpus:
        raise AppError(
            ErrorCode.DEVICE_UNAVAILABLE,
            f"trainer.nproc {nproc} needs one CUDA GPU per process; this worker has {gpus}",
        )


def wants_compile(choice: CompileChoice, device: torch.device) -> bool:
    """`torch.compile` pays on CUDA (fused kernels). On a CPU `auto` does not compile at any
    run length: at the built-in sizes a CPU step is matmul-bound, and the compiled step was
    no faster than the eager one, so the compile time (40-65 s on machine C) is never won
    back (`bench/compile_breakeven.py`; docs/BENCHMARKS.md, "torch.compile on a CPU")."""
    return choice == "on" or (choice == "auto" and device.type == "cuda")


def prepare_device(device: torch.device) -> None:
    """Let fp32 matmuls use TF32 tensor cores on CUDA (what nanoGPT-class trainers do)."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


def cpu_supports_bf16() -> bool:
    """Whether this CPU has native bf16 matmul (AVX-512 BF16 or AMX)."""
    capability = torch.backends.cpu.get_cpu_capability()
    return "AVX512" in capability and _cpu_flags_have("avx512_bf16", "amx_bf16")


def _cpu_flags_have(*flags: str) -> bool:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            text = handle.read()
    except OSError:
        return False
    return any(flag in text for flag in flags)


def autocast(device: torch.device, precision: Precision) -> AbstractContextManager[None]:
    """bf16 autocast for the forward pass when asked, else nothing."""
    if precision is Precision.BF16:
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def device_info(
    device: torch.device,
    precision: Precision,
    reason: str = "",
    peak_flops: float | None = None,
    processes: int = 1,
    threads: int | None = None,
) -> DeviceInfo:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.machine()
    return DeviceInfo(
        device=str(device),
        name=name,
        precision=precision,
        precision_reason=reason,
        threads=threads or torch.get_num_threads(),
        processes=processes,
        cpu=_cpu_model(),
        torch=torch.__version__,
        peak_flops=peak_flops,
    )


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def set_threads(threads: int) -> None:
    """Pin torch's intra-op pool; inter-op stays small (one op graph at a time here)."""
    torch.set_num_threads(threads)
    with contextlib.suppress(RuntimeError):  # only settable before first parallel work
        torch.set_num_interop_threads(max(1, min(2, threads)))


def device_capacity(device: torch.device) -> DeviceCapacity:
    """The memory a run on `device` has: the GPU's own, else this machine's (or container's)."""
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return DeviceCapacity(kind="cuda", name=props.name, memory_bytes=props.total_memory)
    kind: DeviceKind = "mps" if device.type == "mps" else "cpu"
    return DeviceCapacity(kind=kind, name=device.type, memory_bytes=memory_bytes())
