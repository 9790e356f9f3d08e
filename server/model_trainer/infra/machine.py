"""What this machine offers a job: memory as the kernel will enforce it, and its GPUs.

Nothing here touches CUDA through torch: a worker forks a work horse per job, and a parent
that initialised CUDA leaves its children unable to use it. GPUs are asked of `nvidia-smi`.
"""

from __future__ import annotations

import platform
import shutil
import subprocess
from pathlib import Path

from model_trainer.core.contracts.queue import Capability
from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.infra.workers import DeviceCapacity, WorkerCapacity

MEMINFO = Path("/proc/meminfo")
CGROUP_LIMITS = (
    Path("/sys/fs/cgroup/memory.max"),  # cgroup v2
    Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"),  # cgroup v1
)
UNKNOWN_MEMORY = 8 * 1024**3
"""Assumed where the kernel says nothing (not Linux): a small laptop's worth."""


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isascii() and text.isdigit() else None


def _mem_total() -> int | None:
    try:
        lines = MEMINFO.read_text(encoding="ascii").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    for line in lines:
        name, _, rest = line.partition(":")
        fields = rest.split()
        if name == "MemTotal" and fields and fields[0].isascii() and fields[0].isdigit():
            return int(fields[0]) * 1024
    return None


def memory_bytes() -> int:
    """The machine's RAM, or the container's memory limit when that is lower."""
    total = _mem_total() or UNKNOWN_MEMORY
    limits = [v for v in (_read_int(p) for p in CGROUP_LIMITS) if v is not None and v > 0]
    return min([total, *limits])


def _cuda_devices() -> list[DeviceCapacity]:
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    query = [smi, "--query-gpu=name,memory.total", "--format=csv,noheader,nounits"]
    try:
        out = subprocess.run(query, capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return []
    devices: list[DeviceCapacity] = []
    for line in out.stdout.splitlines():
        name, _, mib = line.rpartition(",")
        if name and mib.strip().isascii() and mib.strip().isdigit():
            devices.append(
                DeviceCapacity(kind="cuda", name=name.strip(), memory_bytes=int(mib) * 1024**2)
            )
    return devices


SERVING_ORDER: tuple[Capability, ...] = ("cuda", "cpu")
"""The order a worker that serves both looks at their queues in."""


def served_capabilities(asked: list[Capability] | None, has_cuda: bool) -> list[Capability]:
    """The queues a worker takes jobs from, CUDA's first: a GPU is the scarce thing, and any
    worker can take CPU work. Unset (`asked` None): `cpu`, plus `cuda` when the machine has a
    GPU. Asked to serve `cuda` without one, the worker must not start: every CUDA run it
    took would fail."""
    if asked is None:
        return ["cuda", "cpu"] if has_cuda else ["cpu"]
    if "cuda" in asked and not has_cuda:
        raise AppError(
            ErrorCode.DEVICE_UNAVAILABLE,
            "WORKER__QUEUES asks this worker to serve cuda, but this machine has no CUDA "
            "device (nvidia-smi lists none); serve cpu only, or start it on a machine with "
            "an NVIDIA GPU",
        )
    return [capability for capability in SERVING_ORDER if capability in asked]


def cuda_devices() -> list[DeviceCapacity]:
    """This machine's NVIDIA GPUs, as `nvidia-smi` lists them (none without it)."""
    return _cuda_devices()


def worker_capacity(
    name: str,
    threads: int,
    peak_flops: dict[str, float] | None = None,
    serves: list[Capability] | None = None,
) -> WorkerCapacity:
    """This machine as a worker offers it: RAM for CPU runs, then the first GPU if any, the
    peak FLOP/s measured of them (`peak_flops`), and the queues it serves."""
    ram = memory_bytes()
    devices = [DeviceCapacity(kind="cpu", name=platform.machine() or "cpu", memory_bytes=ram)]
    devices += _cuda_devices()[:1]  # a run trains on one device
    if platform.system() == "Darwin" and platform.machine() == "arm64":
        devices.append(DeviceCapacity(kind="mps", name="apple", memory_bytes=ram))
    return WorkerCapacity(
        name=name,
        memory_bytes=ram,
        threads=threads,
        devices=devices,
        peak_flops=peak_flops or {},
        serves=serves or ["cpu"],
    )
