"""Runs that start from weights people already have (`model.init_from`): where the weights
are, which plugin takes them, and the model the loop then trains (every weight, or LoRA
adapters beside the frozen ones)."""

from __future__ import annotations

import hashlib

import torch
from pydantic import TypeAdapter, ValidationError

from model_trainer.core.contracts.model import (
    Architecture,
    FineTunable,
    LanguageModel,
    ModelBackend,
)
from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.ids import validate_id
from model_trainer.core.json_types import JsonObject
from model_trainer.core.settings import Settings
from model_trainer.infra.paths import resolve_inside
from model_trainer.jobs.layout import HF_CONFIG, ArtifactLayout, ModelFolder
from model_trainer.training.config import FinetuneMethod, FinetuneSpec
from model_trainer.training.loop.lora import LoraAdapter, LoraSettings
from model_trainer.training.model_registry import ModelRegistry
from model_trainer.training.run.manifest import FinetuneInfo, LoraInfo, WeightsOrigin

FIELD = "model.init_from"
_CONFIG: TypeAdapter[JsonObject] = TypeAdapter(JsonObject)


def weights_folder(
    settings: Settings, layout: ArtifactLayout, run_id: str | None, path: str | None
) -> ModelFolder:
    """The Hugging Face folder `init_from` names: a run's export, or a folder under
    `MODELS_ROOT` (relative, never outside it); it must exist."""
    if run_id is not None:
        return ModelFolder(layout.run(validate_id(run_id, "run")).export)
    if path is None:
        raise AppError(ErrorCode.CONFIG_INVALID, f"{FIELD}: give run_id or path")
    target = resolve_inside(settings.models_root, path, f"{FIELD}.path")
    if not target.is_dir():
        raise AppError(ErrorCode.DATA_NOT_FOUND, f"{FIELD}.path '{path}' is no folder")
    return ModelFolder(target)


def read_config(folder: ModelFolder, shown: str) -> JsonObject:
    """The folder's `config.json`, or a 400 saying what is wrong with it."""
    if not folder.config.is_file():
        raise AppError(ErrorCode.DATA_INVALID, f"{FIELD}: '{shown}' has no {HF_CONFIG}")
    try:
        return _CONFIG.validate_json(folder.config.read_bytes())
    except (ValidationError, OSError):
        raise AppError(
            ErrorCode.DATA_INVALID, f"{FIELD}: '{shown}' has an unreadable {HF_CONFIG}"
        ) from None


def claim(
    models: ModelRegistry, config: JsonObject
) -> tuple[ModelBackend, FineTunable, Architecture]:
    """The installed plugin whose family the folder's `config.json` describes, and the
    architecture it reads there; 422 `UNKNOWN_BACKEND` when no plugin takes it."""
    able: list[str] = []
    for name in models.names():
        backend = models.get(name)
        if not isinstance(backend, FineTunable):
            continue
        able.append(name)
        arch = backend.architecture_of(config)
        if arch is not None:
            return backend, backend, arch
    model_type = config.get("model_type")
    shown = model_type if isinstance(model_type, str) else "(none)"
    raise AppError(
        ErrorCode.UNKNOWN_BACKEND,
        f"{FIELD}: no installed model plugin takes model_type '{shown}' (plugins that "
        f"fine-tune: {', '.join(able) or 'none'})",
    )


def lora_settings(spec: FinetuneSpec, tunable: FineTunable) -> LoraSettings:
    """The adapters a LoRA run asks for; the family's default modules when it names none."""
    targets = spec.target_modules if spec.target_modules is not None else tunable.lora_targets()
    return LoraSettings(spec.rank, spec.alpha, spec.dropout, list(targets))


def lora_info(settings: LoraSettings) -> LoraInfo:
    return LoraInfo(
        rank=settings.rank,
        alpha=settings.alpha,
        dropout=settings.dropout,
        target_modules=settings.targets,
    )


def count_lora_parameters(backend: ModelBackend, arch: Architecture, settings: LoraSettings) -> int:
    """What the adapters add, counted on a model built on the meta device (no memory, no
    weights read); a target the family has no module of is refused here, when asked."""
    with torch.device("meta"):
        model = backend.build(arch)
        return LoraAdapter.attach(model.module, settings).trainable_parameters()


def weights_sha256(folder: ModelFolder, with_config: bool = True) -> tuple[list[str], str]:
    """The names of the files that make the model (`config.json`, unless `with_config` is
    False, then the weight files in name order) and one SHA-256 over their contents in
    that order: a changed config (another MLP width, ...) is another model as changed
    weights are."""
    weights = folder.weights()
    if not weights:
        raise AppError(ErrorCode.DATA_INVALID, f"{FIELD}: the folder holds no weights")
    files = [folder.config, *weights] if with_config else weights
    digest = hashlib.sha256()
    for path in files:
        try:
            with path.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
        except FileNotFoundError:
            raise AppError(
                ErrorCode.DATA_INVALID, f"{FIELD}: the folder holds no {path.name}"
            ) from None
    return [p.name for p in files], digest.hexdigest()


def origin_folder(settings: Settings, layout: ArtifactLayout, origin: WeightsOrigin) -> ModelFolder:
    return weights_folder(settings, layout, origin.run_id, origin.path)


def check_weights(folder: ModelFolder, info: FinetuneInfo) -> None:
    """Record the hash of the config and weights at the first start; refuse a folder whose
    config or weights changed since (a run that resumed on another model would not be the
    run it was). A run recorded before the config was hashed is checked as it was then."""
    origin = info.origin
    recorded = origin.weights_sha256
    with_config = recorded is None or HF_CONFIG in origin.weights_files
    files, sha = weights_sha256(folder, with_config)
    if recorded is None:
        origin.weights_files, origin.weights_sha256 = files, sha
    elif recorded != sha:
        raise AppError(
            ErrorCode.CHECKPOINT_MISMATCH,
            f"{FIELD}: the config or weights changed since the run started (sha256 "
            f"{recorded[:12]} then, {sha[:12]} now)",
        )


def pretrained(
    backend: ModelBackend, folder: ModelFolder, arch: Architecture, info: FinetuneInfo
) -> tuple[LanguageModel, LoraAdapter | None]:
    """The model the loop trains: the folder's weights, with LoRA adapters when asked (the
    rest then frozen). Call under the run's seed: the adapters start from it."""
    if not isinstance(backend, FineTunable):
        raise AppError(ErrorCode.CONFIG_INVALID, f"{FIELD}: '{arch.family}' cannot fine-tune")
    model = backend.from_pretrained(folder.path, arch)
    lora = info.lora
    if info.method is not FinetuneMethod.LORA or lora is None:
        return model, None
    settings = LoraSettings(lora.rank, lora.alpha, lora.dropout, lora.target_modules)
    return model, LoraAdapter.attach(model.module, settings)
