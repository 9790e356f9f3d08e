"""What a run needs before it is queued: an architecture the family can build, and a live
worker (or this machine) with the device and the memory for one step."""

from __future__ import annotations

from dataclasses import dataclass

from model_trainer.core.contracts.model import Architecture, ModelBackend
from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.settings import LimitSettings
from model_trainer.infra.machine import memory_bytes
from model_trainer.infra.workers import DeviceCapacity, DeviceKind, WorkerCapacity
from model_trainer.training.config import ModelSpec, TrainerSpec
from model_trainer.training.model_registry import ModelRegistry
from model_trainer.training.run.budget import (
    MemoryJudgement,
    judge_memory,
    memory_refusal,
    tokens_per_step,
    tokens_per_step_refusal,
    training_flops_per_token,
)


def resolve_architecture(
    spec: ModelSpec, models: ModelRegistry, vocab_size: int
) -> tuple[ModelBackend, Architecture]:
    """The family's plugin and a named size with the request's overrides and the family's
    checked options (the request's merged over the size's), or a 422 naming the field."""
    backend = models.get(spec.family)
    sizes = backend.sizes()
    if spec.size not in sizes:
        known = ", ".join(sorted(sizes))
        raise AppError(
            ErrorCode.CONFIG_INVALID, f"model.size: unknown size '{spec.size}' ({known})"
        )
    size = sizes[spec.size]
    options = models.options(spec.family, size.options | spec.options, "model.options")
    n_layer = spec.n_layer or size.n_layer
    n_head = spec.n_head or size.n_head
    n_embd = spec.n_embd or size.n_embd
    # Context and dropout have request defaults; a size's value wins only over a default.
    given = spec.model_fields_set
    max_seq_len = size.max_seq_len if "max_seq_len" not in given else None
    dropout = size.dropout if "dropout" not in given else None
    arch = Architecture(
        family=spec.family,
        n_layer=n_layer,
        n_head=n_head,
        n_embd=n_embd,
        max_seq_len=spec.max_seq_len if max_seq_len is None else max_seq_len,
        vocab_size=vocab_size,
        dropout=spec.dropout if dropout is None else dropout,
        options=options,
    )
    backend.check(arch)
    return backend, arch


def _memory_of(offer: tuple[str, DeviceCapacity]) -> int:
    return offer[1].memory_bytes


THIS_MACHINE = "this machine (no worker is live to ask)"


@dataclass(frozen=True)
class RunEstimate:
    """What a run would be and need, judged against the live workers as a submission is,
    and the first thing that refuses it (None when nothing does)."""

    architecture: Architecture
    parameters: int
    flops_per_token: int
    tokens_per_step: int
    memory: MemoryJudgement
    """The step's estimate against the device it was judged by (a budget of 0 when no
    live worker offers the device asked for)."""
    worker: str | None
    """The live worker judged against: the roomiest that offers the device; None when no
    worker is live (this machine stands in, and a submission waits for a worker)."""
    refusal: AppError | None


def _device_for(
    spec: TrainerSpec, workers: list[WorkerCapacity]
) -> tuple[str | None, DeviceCapacity, AppError | None]:
    """The roomiest device the run asks for among the live workers that serve its queue, or
    the refusal when none offers it; this machine's memory while no worker has said. A CUDA
    run no live worker serves is not refused: it waits on CUDA's queue for one (and no GPU
    is there to judge its memory by)."""
    kind: DeviceKind | None = spec.device if spec.device != "auto" else None
    serving = [w for w in workers if ("cuda" if kind == "cuda" else "cpu") in w.serves]
    if kind is not None:
        offered = [(w.name, d) for w in serving if (d := w.offers(kind)) is not None]
    else:
        offered = [(w.name, w.best_device()) for w in serving]
    if not offered and kind == "cuda":
        return None, DeviceCapacity(kind="cuda", name="none", memory_bytes=0), None
    if not offered and kind == "mps":
        kinds: list[str] = sorted({d.kind for w in serving for d in w.devices})
        refusal = AppError(
            ErrorCode.DEVICE_UNAVAILABLE,
            f"trainer.device: no live worker offers {kind} (live workers offer: "
            f"{', '.join(kinds) or 'none live'}); use 'auto' or 'cpu', or start a worker "
            "that has it",
        )
        return None, DeviceCapacity(kind=kind, name="none", memory_bytes=0), refusal
    if not offered:
        return None, DeviceCapacity(kind="cpu", name="cpu", memory_bytes=memory_bytes()), None
    name, device = max(offered, key=_memory_of)
    return name, device, None


def estimate_run(
    arch: Architecture,
    backend: ModelBackend,
    spec: TrainerSpec,
    limits: LimitSettings,
    workers: list[WorkerCapacity],
    lora_parameters: int = 0,
) -> RunEstimate:
    """The run's size, cost and memory, and what refuses it first: the parameter limit, the
    tokens per step, an MPS device no live worker offers, or a step bigger than the memory
    of the roomiest worker (this machine's, while no worker has said). Builds nothing."""
    parameters = backend.parameter_count(arch) + lora_parameters
    worker, device, unavailable = _device_for(spec, workers)
    memory = judge_memory(arch, backend, spec, limits, device, lora_parameters)
    unjudged = worker is None and device.kind == "cuda"  # no GPU to judge it by yet
    where = f"the roomiest worker, {worker}," if worker is not None else THIS_MACHINE
    too_many = (
        AppError(
            ErrorCode.PARAMETER_LIMIT_EXCEEDED,
            f"model: {parameters:,} parameters exceed the limit {limits.max_parameters:,}",
        )
        if parameters > limits.max_parameters
        else None
    )
    refusals = [
        too_many,
        tokens_per_step_refusal(arch, spec, limits),
        unavailable,
        None if memory.fits or unjudged else memory_refusal(memory, arch, spec, where),
    ]
    return RunEstimate(
        architecture=arch,
        parameters=parameters,
        flops_per_token=training_flops_per_token(arch, backend, lora_parameters),
        tokens_per_step=tokens_per_step(arch, spec),
        memory=memory,
        worker=worker,
        refusal=next((r for r in refusals if r is not None), None),
    )
