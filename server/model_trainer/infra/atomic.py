"""Atomic file writes: write a sibling temp file, fsync, rename over the target."""

from __future__ import annotations

import errno
import json
import os
import tempfile
import threading
from pathlib import Path

from pydantic import BaseModel
from pydantic_core import PydanticSerializationError

from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.json_types import JsonValue
from model_trainer.infra.paths import printable

_STORAGE_REASONS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EIO: "the disk reported an I/O error",
}


_UMASK_LOCK = threading.Lock()


def _process_umask() -> int:
    """The process umask, read once at import."""
    # `os.umask` can only be read by setting it, which races with files other threads
    # create: Linux shows it in /proc instead; elsewhere the toggle passes through a mask
    # stricter than any usual one, so a file created in that instant errs private.
    try:
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o077)
        os.umask(mask)
    return mask


# `mkstemp` makes files 0600, which other accounts and container users cannot read
FILE_MODE = 0o666 & ~_process_umask()
"""The mode `open()` gives a new file."""


def is_storage_fault(exc: OSError) -> bool:
    """Whether `exc` says the disk cannot take writes (full, read-only, denied, failing)."""
    return exc.errno in _STORAGE_REASONS


def storage_error(exc: OSError, what: str) -> AppError:
    """One clear `STORAGE_FAILED` error for an OS-level write failure."""
    reason = _STORAGE_REASONS.get(exc.errno or 0, exc.strerror or str(exc))
    return AppError(ErrorCode.STORAGE_FAILED, f"cannot write {what}: {reason} ({exc})")


def write_bytes(path: Path, data: bytes) -> None:
    """Readers see the old file or the whole new one, never a torn write."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), FILE_MODE)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise storage_error(exc, path.name) from exc


def _unwritable(path: Path, where: str) -> AppError:
    """Text UTF-8 cannot hold (a file name's bytes that are not UTF-8) is bad input: one
    clear failure, not a crash the queue would start again and again."""
    message = f"cannot write {path.name}: text that is not valid UTF-8 {where}"
    return AppError(ErrorCode.DATA_INVALID, message)


def write_text(path: Path, text: str) -> None:
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError as exc:
        near = exc.object[max(0, exc.start - 30) : exc.end + 30]
        raise _unwritable(path, f"near '{printable(near)}'") from exc
    write_bytes(path, data)


def write_json(path: Path, value: JsonValue) -> None:
    write_text(path, json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def write_model(path: Path, model: BaseModel) -> None:
    try:
        text = model.model_dump_json(indent=2)
    except PydanticSerializationError as exc:
        bad = [f for f in type(model).model_fields if not _serializes(model, f)]
        raise _unwritable(path, f"in {', '.join(bad) or 'it'}") from exc
    write_text(path, text + "\n")


def _serializes(model: BaseModel, field: str) -> bool:
    """Whether `field` of `model` alone serializes (to name the one that does not)."""
    try:
        model.model_dump_json(include={field})
    except PydanticSerializationError:
        return False
    return True


def make_readable(folder: Path) -> None:
    """Give the files a library wrote into `folder` the mode `open()` gives new files."""
    # safetensors (0.8) saves through a private temp file, so `model.safetensors` is 0600
    try:
        for path in folder.iterdir():
            if path.is_file() and not path.is_symlink():
                path.chmod(FILE_MODE)
    except OSError as exc:
        raise storage_error(exc, folder.name) from exc


def move_into_place(tmp: Path, path: Path) -> None:
    """Atomically publish a file a library wrote to a temp name, with the mode of `open()`."""
    try:
        with tmp.open("rb") as handle:
            os.fchmod(handle.fileno(), FILE_MODE)
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise storage_error(exc, path.name) from exc
