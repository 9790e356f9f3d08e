"""What one training step needs, checked against what a worker has, before anything runs.

The estimate is for one micro-step in fp32 with AdamW: weights, gradients and two moments
(16 bytes a parameter), plus the activations autograd keeps for the backward pass, per token
as the family states them (`ModelBackend.activation_bytes_per_token`; GPT-2's terms were
fitted to peak RSS measured on CPU, see docs/RELIABILITY.md).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from model_trainer.core.contracts.model import Architecture, ModelBackend
from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.settings import LimitSettings
from model_trainer.infra.workers import DeviceCapacity
from model_trainer.training.config import TrainerSpec

STATE_BYTES_PER_PARAMETER = 16
"""fp32 weights, gradients and AdamW's two moments."""
FROZEN_BYTES_PER_PARAMETER = 4
"""fp32 weights that do not train (a LoRA run's base model): no gradient, no moments."""
BUCKET_BYTES_PER_PARAMETER = 4
"""DistributedDataParallel's fp32 gradient buckets, beside the gradients themselves."""
PROCESS_BYTES = 600 * 1024 * 1024
"""What a work horse holds before the model (torch, transformers, the tokenizer)."""

GB = 1024**3


class StepMemory(BaseModel):
    """Estimated bytes of one micro-step, by part."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    parameters: int
    state_bytes: int
    activation_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.state_bytes + self.activation_bytes


def step_memory(
    arch: Architecture, backend: ModelBackend, batch_size: int, lora_parameters: int = 0
) -> StepMemory:
    """The estimate for the family's model and `batch_size` windows of `arch.max_seq_len`
    tokens: its parameters' state and the activations it says a token keeps. With
    `lora_parameters` (a LoRA run's adapters) only those train; the base's weights are
    frozen and hold no gradients or optimizer state."""
    base = backend.parameter_count(arch)
    per_token = backend.activation_bytes_per_token(arch)
    frozen = base if lora_parameters else 0
    trainable = lora_parameters or base
    return StepMemory(
        parameters=base + lora_parameters,
        state_bytes=frozen * FROZEN_BYTES_PER_PARAMETER + trainable * STATE_BYTES_PER_PARAMETER,
        activation_bytes=batch_size * arch.max_seq_len * per_token,
    )


def training_flops_per_token(
    arch: Architecture, backend: ModelBackend, lora_parameters: int = 0
) -> int:
    """The family's training FLOPs per token, for model FLOPs utilisation. In a LoRA run
    the base's frozen weights still compute forward and pass gradients back to their inputs
    (4 per parameter) but get no gradient of their own (the other 2 of the 6), while the
    adapters train in full."""
    full = backend.flops_per_token(arch)
    if not lora_parameters:
        return full
    # never below the adapters' own share, whatever a plugin's formula counts
    return max(full - 2 * backend.parameter_count(arch), 0) + 6 * lora_parameters


def tokens_per_step(arch: Architecture, spec: TrainerSpec) -> int:
    return spec.batch_size * spec.grad_accum_steps * arch.max_seq_len


def tokens_per_step_refusal(
    arch: Architecture, spec: TrainerSpec, limits: LimitSettings
) -> AppError | None:
    """The refusal of an optimizer step over `limits.max_tokens_per_step`, saying what it
    would be; None for one within it."""
    tokens = tokens_per_step(arch, spec)
    if tokens <= limits.max_tokens_per_step:
        return None
    return AppError(
        ErrorCode.TOKENS_PER_STEP_LIMIT_EXCEEDED,
        f"trainer: one step would read {tokens:,} tokens (batch_size {spec.batch_size} x "
        f"grad_accum_steps {spec.grad_accum_steps} x max_seq_len {arch.max_seq_len}); "
        f"the limit is {limits.max_tokens_per_step:,}",
    )


def check_tokens_per_step(arch: Architecture, spec: TrainerSpec, limits: LimitSettings) -> None:
    """Refuse an optimizer step over `limits.max_tokens_per_step`, saying what it would be."""
    refusal = tokens_per_step_refusal(arch, spec, limits)
    if refusal is not None:
        raise refusal


class MemoryJudgement(BaseModel):
    """The estimate of one micro-step against one device's budget."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    need: StepMemory
    overhead_bytes: int
    """What the process holds before the model (on a CPU or MPS device; none on CUDA)."""
    device: DeviceCapacity
    memory_fraction: float
    budget_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.need.total_bytes + self.overhead_bytes

    @property
    def fits(self) -> bool:
        return self.total_bytes <= self.budget_bytes


def judge_memory(
    arch: Architecture,
    backend: ModelBackend,
    spec: TrainerSpec,
    limits: LimitSettings,
    device: DeviceCapacity,
    lora_parameters: int = 0,
) -> MemoryJudgement:
    """The step's estimate and `memory_fraction` of the device's memory (a worker's RAM, or
    its GPU's), without judging yet. A run in `nproc` processes needs on each GPU one
    rank's share; in a machine's memory, every rank's (each holds the whole model and its
    optimizer state) and the work horse's besides."""
    ranks = spec.nproc
    need = step_memory(arch, backend, spec.batch_size // ranks, lora_parameters)
    overhead = 0
    if ranks > 1:  # DDP's gradient buckets, a second copy of what trains, in each rank
        buckets = (lora_parameters or need.parameters) * BUCKET_BYTES_PER_PARAMETER
        need = StepMemory(
            parameters=need.parameters,
            state_bytes=need.state_bytes + buckets,
            activation_bytes=need.activation_bytes,
        )
    if device.kind != "cuda":
        # every rank in this memory, and the work horse's own copy of the weights (which
        # it exports from) and process
        horse = need.parameters * FROZEN_BYTES_PER_PARAMETER if ranks > 1 else 0
        need = StepMemory(
            parameters=need.parameters,
            state_bytes=need.state_bytes * ranks + horse,
            activation_bytes=need.activation_bytes * ranks,
        )
        overhead = PROCESS_BYTES * (ranks + 1 if ranks > 1 else 1)
    return MemoryJudgement(
        need=need,
        overhead_bytes=overhead,
        device=device,
        memory_fraction=limits.memory_fraction,
        budget_bytes=int(device.memory_bytes * limits.memory_fraction),
    )


def memory_refusal(
    judged: MemoryJudgement, arch: Architecture, spec: TrainerSpec, where: str
) -> AppError:
    """What refusing a step that does not fit says: what it would need and what there is."""
    need, device, budget = judged.need, judged.device, judged.budget_bytes
    ranks, shared = spec.nproc, device.kind != "cuda"
    where_ranks = ""
    if ranks > 1:
        where_ranks = f" in each of {ranks} processes" if not shared else f" in {ranks} processes"
    copies = ", a copy in each process" if ranks > 1 and shared else ""
    batch = f"a batch of {spec.batch_size} x {arch.max_seq_len} tokens"
    if ranks > 1 and not shared:
        batch = f"its share of the batch, {spec.batch_size // ranks} x {arch.max_seq_len} tokens,"
    processes = (
        f"; the processes themselves hold {judged.overhead_bytes / GB:.1f} GiB"
        if ranks > 1 and shared
        else ""
    )
    return AppError(
        ErrorCode.MEMORY_LIMIT_EXCEEDED,
        f"model and trainer: one step{where_ranks} would need about "
        f"{judged.total_bytes / GB:.1f} GiB ({need.parameters:,} parameters take "
        f"{need.state_bytes / GB:.1f} GiB with their gradients and optimizer state{copies}; "
        f"{batch} takes {need.activation_bytes / GB:.1f} GiB{processes}), but {where} "
        f"({device.kind}) allows {budget / GB:.1f} GiB ({judged.memory_fraction:.0%} of "
        f"{device.memory_bytes / GB:.1f} GiB); lower batch_size (raise grad_accum_steps to "
        "keep the tokens per step), max_seq_len or the model size"
        f"{', or use fewer processes (trainer.nproc)' if ranks > 1 and shared else ''}",
    )


def check_memory(
    arch: Architecture,
    backend: ModelBackend,
    spec: TrainerSpec,
    limits: LimitSettings,
    device: DeviceCapacity,
    where: str,
    lora_parameters: int = 0,
) -> StepMemory:
    """Refuse a step whose estimate exceeds `memory_fraction` of the device's memory (a
    worker's RAM, or its GPU's); the message says what it would need and what there is."""
    judged = judge_memory(arch, backend, spec, limits, device, lora_parameters)
    if not judged.fits:
        raise memory_refusal(judged, arch, spec, where)
    return judged.need
