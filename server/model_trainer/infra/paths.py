"""Resolve user-supplied paths inside their roots; nothing escapes and no walk loops.

A walk hands out only names that UTF-8 can hold and folders at most `MAX_FOLDER_DEPTH`
below its root; what it passes over it can report, with the reason, so that a listing
and training skip the same things and say so.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from model_trainer.core.errors import AppError, ErrorCode

CORPUS_SUFFIXES = frozenset({".txt", ".jsonl", ".json", ".csv", ".parquet", ".arrow"})
"""Files a corpus directory contributes; others (binaries, hidden files) are skipped."""

SAVED_DATASET_META = frozenset({"state.json", "dataset_info.json", "dataset_dict.json"})
"""What `datasets`' `save_to_disk` writes beside its `.arrow` data files: no corpus text."""

MAX_FOLDER_DEPTH = 64
"""How many folders below its root a walk enters: each level holds a descriptor open while
it is walked, so a tree nested thousands deep must not decide how many a process holds."""

NOT_UTF8 = "its name is not valid UTF-8"
TOO_DEEP = f"more than {MAX_FOLDER_DEPTH} folders deep"
TOO_LONG = "its path is longer than the system opens"

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
"""Open a directory only if it is one itself, never through a symlink."""

Entry = tuple[tuple[str, ...], int, os.stat_result]
"""A walked entry: its path parts under the top, an open descriptor of its directory, lstat."""


class Skipped(NamedTuple):
    """What a walk met but does not hand out, and why."""

    parts: tuple[str, ...]
    folder: bool
    reason: str


def printable(text: str) -> str:
    """`text` as UTF-8 (and so JSON, Redis and logs) can hold it: the bytes of a name that is
    not UTF-8, which Python reads as lone surrogates, shown as `\\xNN`."""
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate no file name decodes to (a JSON `\\ud800`)
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")


def is_utf8(text: str) -> bool:
    """Whether `text` is a name UTF-8 can hold (no bytes that failed to decode)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _usable(relative: str, what: str) -> None:
    if not relative or "\x00" in relative:
        raise AppError(ErrorCode.DATA_INVALID, f"{what} must be a non-empty relative path")
    if not is_utf8(relative):
        raise AppError(ErrorCode.DATA_INVALID, f"{what} '{printable(relative)}' is not valid UTF-8")
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


def walk_visible(
    top: Path, depth: int = 0, skipped: list[Skipped] | None = None
) -> Iterator[Entry]:
    """Entries under `top` other than directories, sorted, depth first; never through a
    symlink or a dot. `top` lies `depth` folders below its root; names that are not UTF-8
    and folders deeper than `MAX_FOLDER_DEPTH` are passed over, into `skipped` if given."""
    try:
        fd = os.open(top, _DIR_FLAGS)
    except OSError:
        return
    yield from _walk_fd(fd, depth, skipped)


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


def _skip_reason(name: str, info: os.stat_result, level: int) -> str | None:
    """Why a walk passes over `name`, met `level` parts below its root; None to take it."""
    if not is_utf8(name):
        return NOT_UTF8  # it could be named in no manifest, listing or request
    if stat.S_ISDIR(info.st_mode) and level > MAX_FOLDER_DEPTH:
        return TOO_DEEP
    return None


Frame = tuple[int, tuple[str, ...], Iterator[tuple[str, os.stat_result]]]
"""An open folder of a walk: its descriptor, its parts under the top, its names still due."""


def _enter(
    stack: list[Frame], fd: int, prefix: tuple[str, ...], seen: set[tuple[int, int]]
) -> None:
    """Walk the open folder `fd` next, unless the walk has been in it already."""
    here = os.fstat(fd)
    if (here.st_dev, here.st_ino) in seen:
        os.close(fd)  # a bind mount can loop a tree without any symlink
        return
    seen.add((here.st_dev, here.st_ino))
    stack.append((fd, prefix, _listing(fd)))


def _walk_fd(fd: int, depth: int, skipped: list[Skipped] | None) -> Iterator[Entry]:
    """The walk from the open folder `fd`, which it closes; a stack, not recursion, so no
    tree is too deep for Python."""
    stack: list[Frame] = []
    seen: set[tuple[int, int]] = set()
    try:
        _enter(stack, fd, (), seen)
        while stack:
            here, prefix, names = stack[-1]
            found = next(names, None)
            if found is None:
                os.close(stack.pop()[0])
                continue
            name, info = found
            parts, folder = (*prefix, name), stat.S_ISDIR(info.st_mode)
            reason = _skip_reason(name, info, depth + len(parts))
            if reason is not None:
                if skipped is not None:
                    skipped.append(Skipped(parts, folder, reason))
            elif not folder:
                yield parts, here, info
            else:
                try:
                    sub = os.open(name, _DIR_FLAGS, dir_fd=here)
                except OSError:
                    continue  # replaced by a symlink or removed since it was listed
                _enter(stack, sub, parts, seen)
    finally:
        for frame in stack:
            os.close(frame[0])


def _corpus_file_size(top: Path, entry: Entry, base: Path) -> int | None:
    """The size of a corpus file, or of one a symlink inside the corpus root points to;
    None for anything a corpus does not read."""
    parts, fd, info = entry
    if Path(parts[-1]).suffix not in CORPUS_SUFFIXES or _saved_dataset_meta(parts[-1], fd):
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


def _saved_dataset_meta(name: str, fd: int) -> bool:
    """Whether `name` is the metadata of a `save_to_disk` folder (the open folder `fd`)."""
    if name not in SAVED_DATASET_META:
        return False
    for marker in ("state.json", "dataset_dict.json"):
        try:
            os.stat(marker, dir_fd=fd, follow_symlinks=False)
        except OSError:
            continue
        return True
    return False


def corpus_walk(
    top: Path, base: Path, skipped: list[Skipped] | None = None
) -> Iterator[tuple[tuple[str, ...], int]]:
    """Each file training on the folder `top` reads (its parts under `top`, its size), for
    a corpus root whose resolved path is `base`. Once the walk is done, `skipped` gets the
    folders and corpus files it passed over (their parts under the root), with the reason."""
    lead = top.relative_to(base).parts
    room = _path_max(top) - len(os.fsencode(top))
    met: list[Skipped] = []
    for entry in walk_visible(top, len(lead), met):
        parts = entry[0]
        size = _corpus_file_size(top, entry, base)
        if size is None:
            continue
        # Training opens files by path: one past the system's limit could only fail there.
        if sum(len(os.fsencode(part)) + 1 for part in parts) >= room:
            met.append(Skipped(parts, False, TOO_LONG))
        else:
            yield parts, size
    if skipped is not None:
        skipped += [
            s._replace(parts=(*lead, *s.parts))
            for s in met
            if s.folder or Path(s.parts[-1]).suffix in CORPUS_SUFFIXES
        ]


def _path_max(top: Path) -> int:
    try:
        return os.pathconf(top, "PC_PATH_MAX")
    except (OSError, ValueError):
        return 4096  # Linux's


def visible_folders(top: Path, depth: int = 0) -> list[str]:
    """Names of the folders directly in `top` (itself `depth` below its root) that a walk
    enters: not hidden, no symlink, not passed over."""
    try:
        fd = os.open(top, _DIR_FLAGS)
    except OSError:
        return []
    try:
        return [
            name
            for name, info in _listing(fd)
            if stat.S_ISDIR(info.st_mode) and _skip_reason(name, info, depth + 1) is None
        ]
    finally:
        os.close(fd)


def unreachable(target: Path, base: Path) -> str | None:
    """Why a walk from the corpus root (resolved: `base`) would pass over the existing
    `target` on its way, or None: naming it directly reads nothing the walk skips either."""
    parts = target.relative_to(base).parts
    odd = next((part for part in parts if not is_utf8(part)), None)
    if odd is not None:  # reached through a symlink: the request itself is UTF-8
        return f"it leads to '{printable(odd)}', whose name is not valid UTF-8"
    folders = len(parts) if target.is_dir() else len(parts) - 1
    return f"it lies {TOO_DEEP}" if folders > MAX_FOLDER_DEPTH else None


def _passed_over(skipped: list[Skipped], shown: int = 3) -> str:
    """The first few things a walk skipped, with why, for a message."""
    if not skipped:
        return ""
    named = "; ".join(f"'{printable('/'.join(s.parts))}': {s.reason}" for s in skipped[:shown])
    more = f"; and {len(skipped) - shown} more" if len(skipped) > shown else ""
    return f" (skipped {named}{more})"


def corpus_files(corpus_root: Path, corpus_path: str, field: str = "corpus_path") -> list[Path]:
    """The corpus files a corpus path names, sorted, or a clear error naming `field` (the
    request's name for it, e.g. `data.corpus_path`)."""
    target = resolve_inside(corpus_root, corpus_path, field)
    if not target.exists():
        raise AppError(ErrorCode.DATA_NOT_FOUND, f"{field} '{corpus_path}' does not exist")
    base = corpus_root.resolve()
    why = unreachable(target, base)
    if why is not None:
        raise AppError(ErrorCode.DATA_INVALID, f"{field} '{corpus_path}' is not read: {why}")
    if target.is_file():
        return [target]
    skipped: list[Skipped] = []
    files = sorted(target.joinpath(*parts) for parts, _ in corpus_walk(target, base, skipped))
    if not files:
        kinds = ", ".join(sorted(CORPUS_SUFFIXES))
        message = f"{field} '{corpus_path}' holds no corpus files ({kinds}){_passed_over(skipped)}"
        raise AppError(ErrorCode.CORPUS_EMPTY, message)
    return files


def display_path(path: Path, root: Path) -> str:
    """A path as users named it (relative to its root), never a machine path, and always
    text that UTF-8 can hold: this is where a path becomes a string of a manifest."""
    try:
        return printable(str(path.resolve().relative_to(root.resolve())))
    except (ValueError, OSError, RuntimeError):
        return printable(path.name)
