"""Resolve user-supplied paths inside their roots; nothing escapes."""

from __future__ import annotations

from pathlib import Path

from model_trainer.core.errors import AppError, ErrorCode

CORPUS_SUFFIXES = frozenset({".txt"})
"""Files a corpus directory contributes; others (binaries, hidden files) are skipped."""


def resolve_inside(root: Path, relative: str, what: str) -> Path:
    """Join `relative` to `root`, resolving symlinks; refuse anything that lands outside."""
    if not relative or "\x00" in relative:
        raise AppError(ErrorCode.DATA_INVALID, f"{what} must be a non-empty relative path")
    candidate = Path(relative)
    if candidate.is_absolute():
        raise AppError(
            ErrorCode.PATH_OUTSIDE_ROOT, f"{what} must be relative to its root, not absolute"
        )
    base = root.resolve()
    try:
        resolved = (base / candidate).resolve()
        resolved.exists()  # the OS refuses some names outright (too long, not encodable)
    except (OSError, ValueError) as exc:
        # The message keeps to the user's own words: the OS's would name machine paths.
        reason = (exc.strerror if isinstance(exc, OSError) else None) or "refused by the OS"
        raise AppError(ErrorCode.DATA_INVALID, f"{what} is not a usable path: {reason}") from None
    if resolved != base and base not in resolved.parents:
        raise AppError(ErrorCode.PATH_OUTSIDE_ROOT, f"{what} '{relative}' points outside its root")
    return resolved


def corpus_files(corpus_root: Path, corpus_path: str) -> list[Path]:
    """The `.txt` files a corpus path names, sorted, or a clear error."""
    target = resolve_inside(corpus_root, corpus_path, "corpus_path")
    if not target.exists():
        raise AppError(ErrorCode.DATA_NOT_FOUND, f"corpus_path '{corpus_path}' does not exist")
    if target.is_file():
        return [target]
    base = corpus_root.resolve()
    files = sorted(
        p
        for p in target.rglob("*")
        if p.suffix in CORPUS_SUFFIXES
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(target).parts)
        and base in p.resolve().parents
    )
    if not files:
        raise AppError(ErrorCode.CORPUS_EMPTY, f"corpus_path '{corpus_path}' holds no .txt files")
    return files


def display_path(path: Path, root: Path) -> str:
    """A path as users named it (relative to its root), never a machine path."""
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return path.name
