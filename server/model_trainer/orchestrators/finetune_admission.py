"""What a run that starts from existing weights (`model.init_from`) needs before it is
queued: the weights' folder and the plugin that takes it, the architecture they fix (only
dropout and the context may change), their tokenizer, and what trains."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import TypeAdapter, ValidationError

from model_trainer.core.contracts.model import Architecture, FineTunable, ModelBackend
from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.job_status import JobStatus
from model_trainer.core.json_types import JsonObject
from model_trainer.core.request_model import problems
from model_trainer.core.settings import Settings
from model_trainer.infra.paths import display_path
from model_trainer.jobs.layout import ArtifactLayout, ModelFolder
from model_trainer.tokenizers.imported import import_tokenizer
from model_trainer.tokenizers.registry import TokenizerRegistry
from model_trainer.training.config import (
    FinetuneMethod,
    FinetuneSpec,
    InitFrom,
    ModelSpec,
    RunConfig,
)
from model_trainer.training.model_registry import ModelRegistry
from model_trainer.training.run.finetune import (
    FIELD,
    claim,
    count_lora_parameters,
    lora_info,
    lora_settings,
    read_config,
    weights_folder,
)
from model_trainer.training.run.manifest import RUN_MANIFESTS, FinetuneInfo, WeightsOrigin


@dataclass(frozen=True)
class BaseWeights:
    """A fine-tuning run as admitted: its config with the tokenizer filled in, the plugin,
    the architecture, the record of where the weights come from and what trains."""

    config: RunConfig
    backend: ModelBackend
    architecture: Architecture
    finetune: FinetuneInfo
    lora_parameters: int
    """What LoRA adapters add (0 for a `full` run)."""


@dataclass(frozen=True)
class _Origin:
    folder: ModelFolder
    shown: str
    """How a message names it: the run id, or the path under `MODELS_ROOT`."""
    tokenizer_id: str | None
    """An earlier run's tokenizer; None for a folder, whose own is registered."""
    size: str | None
    """An earlier run's named size."""


def _origin(init: InitFrom, settings: Settings, layout: ArtifactLayout) -> _Origin:
    folder = weights_folder(settings, layout, init.run_id, init.path)
    if init.run_id is None:
        shown = display_path(folder.path, settings.models_root)
        return _Origin(folder, shown, None, None)
    run = RUN_MANIFESTS.read(layout.run(init.run_id).manifest)
    if run is None:
        raise AppError(ErrorCode.NOT_FOUND, f"{FIELD}.run_id: run '{init.run_id}' does not exist")
    if run.status is not JobStatus.COMPLETED or not folder.config.is_file():
        raise AppError(
            ErrorCode.RUN_NOT_READY,
            f"{FIELD}.run_id: run '{init.run_id}' is {run.status}; it has no exported model",
        )
    return _Origin(folder, init.run_id, run.tokenizer.tokenizer_id, run.config.model.size)


def _fixed(spec: ModelSpec, base: Architecture, size: str | None) -> None:
    """Refuse a request that would change what the weights fix, naming the field."""
    given = spec.model_fields_set
    keep = "leave it out: a run that starts from weights keeps their shape"
    if "family" in given and spec.family != base.family:
        raise AppError(
            ErrorCode.CONFIG_INVALID,
            f"model.family: the weights are {base.family}, not {spec.family}; {keep}",
        )
    if "size" in given and spec.size != size:
        raise AppError(ErrorCode.CONFIG_INVALID, f"model.size: cannot change; {keep}")
    shape = {"n_layer": base.n_layer, "n_head": base.n_head, "n_embd": base.n_embd}
    asked = {"n_layer": spec.n_layer, "n_head": spec.n_head, "n_embd": spec.n_embd}
    for name, value in asked.items():
        if value is not None and value != shape[name]:
            raise AppError(
                ErrorCode.CONFIG_INVALID,
                f"model.{name}: the weights have {shape[name]}, the request asks {value}; {keep}",
            )
    if spec.options and spec.options != base.options:
        raise AppError(ErrorCode.CONFIG_INVALID, f"model.options: cannot change; {keep}")


DEFAULT_CONTEXT = 1024
"""Window length of a fine-tune that names none: the weights' context, at most this (GPT-2's),
so that a model made for long texts does not ask for gigabytes of activations by default."""
MAX_CONTEXT = 32768
"""Longest window a run trains on (the request's bound); a longer context is read as this."""


def _in_range(base: Architecture, models: ModelRegistry, shown: str, max_vocab: int) -> None:
    """A folder's `config.json` is input like a request: its shape within the bounds a
    request's has, its vocabulary within the limit, its options through the family's own
    model, so that no number read there reaches a plugin unchecked."""
    where = f"{FIELD}: '{shown}' config.json gives"
    try:
        ModelSpec(
            family=base.family,
            n_layer=base.n_layer,
            n_head=base.n_head,
            n_embd=base.n_embd,
            max_seq_len=min(base.max_seq_len, MAX_CONTEXT),
            dropout=base.dropout,
        )
    except ValidationError as exc:
        raise AppError(ErrorCode.DATA_INVALID, f"{where} {problems(exc, 'model', 1)}") from None
    if not 2 <= base.vocab_size <= max_vocab:
        raise AppError(
            ErrorCode.DATA_INVALID,
            f"{where} vocab_size {base.vocab_size}; it must be from 2 to {max_vocab:,}",
        )
    try:
        models.options(base.family, base.options, "options")
    except AppError as exc:
        raise AppError(ErrorCode.DATA_INVALID, f"{where} {exc.message}") from None


def _trained_architecture(spec: ModelSpec, base: Architecture) -> Architecture:
    """The weights' architecture with what may change: dropout, and the context up to the
    longest the model takes (the weights' own, at most DEFAULT_CONTEXT, when the request
    gives none)."""
    given = spec.model_fields_set
    if "max_seq_len" in given and spec.max_seq_len > base.max_seq_len:
        raise AppError(
            ErrorCode.CONFIG_INVALID,
            f"model.max_seq_len: {spec.max_seq_len} exceeds the model's context of "
            f"{base.max_seq_len}",
        )
    return Architecture(
        family=base.family,
        n_layer=base.n_layer,
        n_head=base.n_head,
        n_embd=base.n_embd,
        max_seq_len=(
            spec.max_seq_len if "max_seq_len" in given else min(base.max_seq_len, DEFAULT_CONTEXT)
        ),
        vocab_size=base.vocab_size,
        dropout=spec.dropout if "dropout" in given else base.dropout,
        options=base.options,
    )


def _tokenizer_id(
    config: RunConfig,
    origin: _Origin,
    layout: ArtifactLayout,
    tokenizers: TokenizerRegistry,
) -> str:
    """The weights' tokenizer (a folder's registered now, or found registered before);
    a different `data.tokenizer_id` is refused.

    `POST /runs/estimate` comes here too, so an estimate registers a folder's tokenizer as a
    train request would: that is harmless because the registration is idempotent (the id is
    the content's hash, and the folder is published by one rename that a concurrent request
    loses to reuse the winner's record), so estimating and then training, or two requests at
    once, leave one tokenizer."""
    theirs = origin.tokenizer_id
    if theirs is None:
        theirs = import_tokenizer(layout, tokenizers, origin.folder.path, origin.shown).tokenizer_id
    asked = config.data.tokenizer_id
    if asked is not None and asked != theirs:
        raise AppError(
            ErrorCode.TOKENIZER_MISMATCH,
            f"data.tokenizer_id: '{asked}' is not the tokenizer of {FIELD} '{origin.shown}' "
            f"('{theirs}'); leave it out to use theirs",
        )
    return theirs


_FIELDS: TypeAdapter[JsonObject] = TypeAdapter(JsonObject)


def _as_recorded(config: RunConfig, tokenizer_id: str, arch: Architecture) -> RunConfig:
    """The request as the run records it: with the tokenizer it uses and the model the
    weights are (family, shape, context, dropout), not the defaults of a run from scratch."""
    raw = _FIELDS.validate_json(config.model_dump_json())
    data, model = raw.get("data"), raw.get("model")
    if isinstance(data, dict):
        data["tokenizer_id"] = tokenizer_id
    if isinstance(model, dict):
        model |= {
            "family": arch.family,
            "n_layer": arch.n_layer,
            "n_head": arch.n_head,
            "n_embd": arch.n_embd,
            "max_seq_len": arch.max_seq_len,
            "dropout": arch.dropout,
        }
    return RunConfig.model_validate(raw)


def admit_base(
    config: RunConfig,
    settings: Settings,
    layout: ArtifactLayout,
    models: ModelRegistry,
    tokenizers: TokenizerRegistry,
) -> BaseWeights:
    """The weights `config.model.init_from` names, read and checked, and what trains; else
    the refusal naming the field (`UNKNOWN_BACKEND` for a family no plugin takes)."""
    init = config.model.init_from
    if init is None:
        raise AppError(ErrorCode.CONFIG_INVALID, f"{FIELD}: missing")
    origin = _origin(init, settings, layout)
    backend, tunable, base = claim(models, read_config(origin.folder, origin.shown))
    _in_range(base, models, origin.shown, settings.limits.max_vocab_size)
    _fixed(config.model, base, origin.size)
    arch = _trained_architecture(config.model, base)
    backend.check(arch)
    tokenizer_id = _tokenizer_id(config, origin, layout, tokenizers)
    filled = _as_recorded(config, tokenizer_id, arch)
    lora_parameters = _lora_parameters(config, tunable, backend, arch)
    trainable = lora_parameters or backend.parameter_count(arch)
    return BaseWeights(
        config=filled,
        backend=backend,
        architecture=arch,
        finetune=_what_trains(config.finetune, tunable, origin, init, base.family, trainable),
        lora_parameters=lora_parameters,
    )


def _lora_parameters(
    config: RunConfig, tunable: FineTunable, backend: ModelBackend, arch: Architecture
) -> int:
    if config.finetune.method is not FinetuneMethod.LORA:
        return 0
    return count_lora_parameters(backend, arch, lora_settings(config.finetune, tunable))


def _what_trains(
    spec: FinetuneSpec,
    tunable: FineTunable,
    origin: _Origin,
    init: InitFrom,
    model_type: str,
    trainable: int,
) -> FinetuneInfo:
    """The manifest's record: the origin (a folder by its path under `MODELS_ROOT` as
    resolved), the method and the LoRA settings, and how many parameters train."""
    lora = spec.method is FinetuneMethod.LORA
    path = origin.shown if init.path is not None else None
    return FinetuneInfo(
        origin=WeightsOrigin(run_id=init.run_id, path=path, model_type=model_type),
        method=spec.method,
        lora=lora_info(lora_settings(spec, tunable)) if lora else None,
        trainable_parameters=trainable,
        adapter_exported=lora and spec.export_adapter,
    )
