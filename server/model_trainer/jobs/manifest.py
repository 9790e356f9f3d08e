"""A job's `manifest.json`: read into its pydantic model, written atomically."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.job_status import JobError, JobStatus
from model_trainer.core.json_types import JsonObject
from model_trainer.infra.atomic import write_model

M = TypeVar("M", bound=BaseModel)


class JobRecord(Protocol):
    """What every manifest says of its job's life (the lifecycle reads and sets these)."""

    status: JobStatus
    created_at: datetime
    finished_at: datetime | None
    error: JobError | None


class ManifestFile(Generic[M]):
    """Manifests of one model: absent is None, unreadable is an error, never a guess."""

    def __init__(self, model: type[M], upgrade: Callable[[str], JsonObject] | None = None) -> None:
        self._model = model
        self._upgrade = upgrade
        """Rewrites what an older version stored, for a manifest the model refuses."""

    def read(self, path: Path) -> M | None:
        try:
            raw = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            return self._model.model_validate_json(raw)
        except ValidationError as exc:
            if self._upgrade is not None:
                try:
                    return self._model.model_validate(self._upgrade(raw))
                except ValidationError:
                    pass
            where = f"{path.parent.name}/{path.name}"
            raise AppError(ErrorCode.DATA_INVALID, f"{where} is unreadable") from exc

    def write(self, path: Path, manifest: M) -> None:
        """Readers see the previous manifest or this one whole."""
        write_model(path, manifest)
