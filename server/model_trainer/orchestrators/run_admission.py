"""What a run needs before it is queued: an architecture the family can build, and a live
worker (or this machine) with the device and the memory for one step."""

from __future__ import annotations

from model_trainer.core.contracts.model import Architecture, ModelBackend
from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.settings import LimitSettings
from model_trainer.infra.machine import memory_bytes
from model_trainer.infra.workers import DeviceCapacity, WorkerCapacity
from model_trainer.training.config import ModelSpec, TrainerSpec
from model_trainer.training.model_registry import ModelRegistry
from model_trainer.training.run.budget import check_memory


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


def check_capacity(
    arch: Architecture,
    backend: ModelBackend,
    spec: TrainerSpec,
    limits: LimitSettings,
    workers: list[WorkerCapacity],
) -> None:
    """Refuse what no live worker could run: a device none offers, or a step bigger than
    the memory of the roomiest one (this machine's, while no worker has said)."""
    if spec.device in ("cuda", "mps"):
        offered = [(w.name, d) for w in workers if (d := w.offers(spec.device)) is not None]
        if not offered:
            kinds: list[str] = sorted({d.kind for w in workers for d in w.devices})
            raise AppError(
                ErrorCode.DEVICE_UNAVAILABLE,
                f"trainer.device: no live worker offers {spec.device} (live workers offer: "
                f"{', '.join(kinds) or 'none live'}); use 'auto' or 'cpu', or start a worker "
                "that has it",
            )
    elif spec.device == "cpu":
        offered = [(w.name, d) for w in workers if (d := w.offers("cpu")) is not None]
    else:
        offered = [(w.name, w.best_device()) for w in workers]
    if not offered:
        here = DeviceCapacity(kind="cpu", name="cpu", memory_bytes=memory_bytes())
        offered = [("this machine (no worker is live to ask)", here)]
    name, device = max(offered, key=_memory_of)
    where = name if name.startswith("this machine") else f"the roomiest worker, {name},"
    check_memory(arch, backend, spec, limits, device, where)
