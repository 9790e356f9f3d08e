"""Resolve user-supplied paths inside their roots; nothing escapes and no walk loops."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from model_trainer.core.errors import AppError, ErrorCode

CORPUS_SUFFIXES = frozenset({".txt"})
"""Files a corpus directory contributes; others (binaries, hidden files) are skipped."""

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
"""Open a directory only if it is one itself, never through a symlink."""

Entry = tuple[tuple[str, ...], int, os.stat_result]
"""A walked entry: its path parts under the top, an open descriptor of its directory, lstat."""


def _usable(relative: str, what: str) -> None:
    if not relative or "\x00" in relative:
        raise AppError(ErrorCode.DATA_INVALID, f"{what} must be a non-empty relative path")
    if Path(relative).is_absolute():
        raise AppError(
            ErrorCode.PATH_OUTSIDE_ROOT, f"{what} must be relative to its root, not absolute"
        )


def _refused(exc: OSError | ValueError | RuntimeError, relative: str, what: str) -> AppError:
    """The OS's refusal in the user's own words: the OS's message would name machine paths."""
    # Python 3.11's resolve() reports a symlink loop as RuntimeError, the OS as ELOOP.
    if isinstance(exc, RuntimeError) or (isinstance(exc, OSError) and exc.errno == errno.ELOOP):
        return AppError(ErrorCode.DATA_INVALID, f"{what} '{relative}' runs into a symlink loop")
    reason = (exc.strerror if isinstance(exc, OSError) else None) or "refused by the OS"
    return AppError(ErrorCode.DATA_INVALID, f"{what} is not a usable path: {reason}")


def resolve_inside(root: Path, relative: str, what: str) -> Path:
    """Join `relative` to `root`, resolving symlinks; refuse anything that lands outside."""
    _usable(relative, what)
    base = root.resolve()
    try:
        resolved = (base / relative).resolve()
        os.stat(resolved)  # the OS refuses some names outright (too long, not encodable)
    except (FileNotFoundError, NotADirectoryError):
        pass  # a missing path is the caller's to report
    except (OSError, ValueError, RuntimeError) as exc:
        raise _refused(exc, relative, what) from None
    if resolved != base and base not in resolved.parents:
        raise AppError(ErrorCode.PATH_OUTSIDE_ROOT, f"{what} '{relative}' points outside its root")
    return resolved


def plain_path(root: Path, relative: str, what: str) -> Path | None:
    """`relative` under `root` as written: None if missing, hidden or through a symlink."""
    _usable(relative, what)
    pieces = relative.split("/")
    parts: list[str] = []
    for index, piece in enumerate(pieces):
        if piece in ("", "."):
            continue
        if piece == "..":
            if not parts:
                raise AppError(
                    ErrorCode.PATH_OUTSIDE_ROOT, f"{what} '{relative}' points outside its root"
                )
            parts.pop()  # every part so far is a real directory, so this is its parent
            continue
        if piece.startswith("."):
            return None
        try:
            info = os.lstat(root.joinpath(*parts, piece))
        except (FileNotFoundError, NotADirectoryError):
            return None
        except (OSError, ValueError) as exc:
            raise _refused(exc, relative, what) from None
        last = all(rest in ("", ".") for rest in pieces[index + 1 :])
        if not (stat.S_ISDIR(info.st_mode) or (last and stat.S_ISREG(info.st_mode))):
            return None  # a symlink, a device or a file used as a directory
        parts.append(piece)
    return root.joinpath(*parts)


def walk_visible(top: Path) -> Iterator[Entry]:
    """Entries under `top` other than directories, sorted; never through a symlink or a dot."""
    try:
        fd = os.open(top, _DIR_FLAGS)
    except OSError:
        return
    try:
        yield from _walk_fd(fd, (), set())
    finally:
        os.close(fd)


def _listing(fd: int) -> Iterator[tuple[str, os.stat_result]]:
    """The names in the open folder `fd` that a walk considers (not hidden), sorted, each
    with its `lstat`; nothing when the folder cannot be read."""
    try:
        names = sorted(os.listdir(fd))
    except OSError:
        return  # unreadable: skipped like a missing folder
    for name in names:
        if name.startswith("."):
            continue
        try:
            info = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except OSError:
            continue  # removed since it was listed
        yield name, info


def _walk_fd(fd: int, prefix: tuple[str, ...], seen: set[tuple[int, int]]) -> Iterator[Entry]:
    here = os.fstat(fd)
    if (here.st_dev, here.st_ino) in seen:
        return  # a bind mount can loop a tree without any symlink
    seen.add((here.st_dev, here.st_ino))
    for name, info in _listing(fd):
        if not stat.S_ISDIR(info.st_mode):
            yield (*prefix, name), fd, info
            continue
        try:
            sub = os.open(name, _DIR_FLAGS, dir_fd=fd)
        except OSError:
            continue  # replaced by a symlink or removed since it was listed
        try:
            yield from _walk_fd(sub, (*prefix, name), seen)
        finally:
            os.close(sub)


def _corpus_file_size(top: Path, entry: Entry, base: Path) -> int | None:
    """The size of a `.txt` file, or of one a symlink inside the corpus root points to;
    None for anything a corpus does not read."""
    parts, fd, info = entry
    if Path(parts[-1]).suffix not in CORPUS_SUFFIXES:
        return None
    if stat.S_ISREG(info.st_mode):
        return info.st_size
    if not stat.S_ISLNK(info.st_mode):
        return None
    try:
        target = os.stat(parts[-1], dir_fd=fd)
        if not stat.S_ISREG(target.st_mode):
            return None
        return target.st_size if base in top.joinpath(*parts).resolve().parents else None
    except (OSError, RuntimeError):
        return None  # dangling or a loop


def corpus_walk(top: Path, base: Path) -> Iterator[tuple[tuple[str, ...], int]]:
    """Each file training on the folder `top` reads (its parts under `top`, its size), for
    a corpus root whose resolved path is `base`."""
    for entry in walk_visible(top):
        size = _corpus_file_size(top, entry, base)
        if size is not None:
            yield entry[0], size


def visible_folders(top: Path) -> list[str]:
    """Names of the folders directly in `top` that a walk enters: not hidden, no symlink."""
    try:
        fd = os.open(top, _DIR_FLAGS)
    except OSError:
        return []
    try:
        return [name for name, info in _listing(fd) if stat.S_ISDIR(info.st_mode)]
    finally:
        os.close(fd)


def corpus_files(corpus_root: Path, corpus_path: str, field: str = "corpus_path") -> list[Path]:
    """The `.txt` files a corpus path names, sorted, or a clear error naming `field` (the
    request's name for it, e.g. `data.corpus_path`)."""
    target = resolve_inside(corpus_root, corpus_path, field)
    if not target.exists():
        raise AppError(ErrorCode.DATA_NOT_FOUND, f"{field} '{corpus_path}' does not exist")
    if target.is_file():
        return [target]
    base = corpus_root.resolve()
    files = sorted(target.joinpath(*parts) for parts, _ in corpus_walk(target, base))
    if not files:
        raise AppError(ErrorCode.CORPUS_EMPTY, f"{field} '{corpus_path}' holds no .txt files")
    return files


def display_path(path: Path, root: Path) -> str:
    """A path as users named it (relative to its root), never a machine path."""
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except (ValueError, OSError, RuntimeError):
        return path.name
