"""A job's `manifest.json`: read into its pydantic model, written atomically.

This is where every manifest is read and written, so it is also where manifests meet the
shared store (`infra/storage`): a read first takes the store's copy when it changed, and a
write goes to the store once it is whole locally.
"""

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
from model_trainer.infra.storage import storage

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
        store = storage()
        if store.shared:  # a local folder is the record: not one call more than a read
            store.pull(path)
        return self.read_local(path)

    def read_local(self, path: Path) -> M | None:
        """The local file alone, for a reader that pulled it itself (the API's cache)."""
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
        """Readers see the previous manifest or this one whole, here and in the store; the
        store's copy is written last, after whatever the manifest claims (the kinds push
        those files first). Raises `STORE_UNAVAILABLE` when the store stays away."""
        write_model(path, manifest)
        storage().push([path])
