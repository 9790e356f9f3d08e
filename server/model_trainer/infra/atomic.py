"""Atomic file writes: write a sibling temp file, fsync, rename over the target."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from pydantic import BaseModel

from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.json_types import JsonValue


def write_bytes(path: Path, data: bytes) -> None:
    """Readers see the old file or the whole new one, never a torn write."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise AppError(ErrorCode.STORAGE_FAILED, f"cannot write {path.name}: {exc}") from exc


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, value: JsonValue) -> None:
    write_text(path, json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def write_model(path: Path, model: BaseModel) -> None:
    write_text(path, model.model_dump_json(indent=2) + "\n")


def move_into_place(tmp: Path, path: Path) -> None:
    """Atomically publish a file a library wrote to a temp name."""
    try:
        with tmp.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise AppError(ErrorCode.STORAGE_FAILED, f"cannot write {path.name}: {exc}") from exc
