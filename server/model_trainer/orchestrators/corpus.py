"""Browse the corpus root by the rules training reads it with.

A folder's size is what a training request naming it would read: its corpus files, found
by the same walk (`infra/paths.py`), so what the listing promises is what training gets;
what that walk passes over (names that are not UTF-8, folders too deep) is listed with why.
Structured files (and `save_to_disk` folders) show their format, their columns and, where
that is cheap, their rows (`tokenizers/records.py`).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.infra.paths import (
    Skipped,
    corpus_files,
    corpus_walk,
    printable,
    resolve_inside,
    unreachable,
    visible_folders,
)
from model_trainer.tokenizers.records import corpus_format, shape_of


class CorpusEntryKind(StrEnum):
    """What an entry of a corpus folder is."""

    FILE = "file"
    FOLDER = "folder"


class CorpusEntryFormat(StrEnum):
    """How training reads an entry: a file's format, or a folder `save_to_disk` wrote."""

    TEXT = "text"
    JSONL = "jsonl"
    JSON = "json"
    CSV = "csv"
    PARQUET = "parquet"
    ARROW = "arrow"
    SAVED_DATASET = "saved_dataset"


class CorpusEntry(BaseModel):
    """A corpus file or a folder directly inside the listed folder."""

    model_config = ConfigDict(extra="forbid")

    name: str
    path: Annotated[str, Field(description="Relative to the corpus root, as `corpus_path`")]
    kind: CorpusEntryKind
    bytes: Annotated[
        int, Field(description="A file's size; a folder's corpus files that training reads")
    ]
    files: Annotated[
        int, Field(description="Corpus files training on it reads (0: the folder holds none)")
    ]
    format: Annotated[
        CorpusEntryFormat | None,
        Field(description="A file's format; `saved_dataset` for a `save_to_disk` folder"),
    ] = None
    columns: Annotated[
        list[str],
        Field(description="A structured file's (or saved dataset's) columns, for `text_field`"),
    ] = []
    rows: Annotated[
        int | None, Field(description="Records, where the file states them (Parquet, Arrow)")
    ] = None
    problem: Annotated[
        str | None, Field(description="Why training would refuse this file, if it would")
    ] = None


class CorpusSkip(BaseModel):
    """A folder or `.txt` file under the listed folder that training on it passes over."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(description="Bytes that are not UTF-8 shown as `\\xNN`")]
    path: Annotated[str, Field(description="Relative to the corpus root, shown as `name`")]
    reason: str

    @classmethod
    def of(cls, skipped: Skipped) -> CorpusSkip:
        path = printable("/".join(skipped.parts))
        return cls(name=printable(skipped.parts[-1]), path=path, reason=skipped.reason)


class CorpusFolder:
    """One folder of the corpus root: its totals, what is directly inside it, and what
    training on it would pass over anywhere under it."""

    def __init__(self, path: str, entries: list[CorpusEntry], skipped: list[CorpusSkip]) -> None:
        self.path = path
        self.entries = entries
        self.skipped = skipped
        self.bytes = sum(e.bytes for e in entries)
        self.files = sum(e.files for e in entries)


class CorpusCatalog:
    """The folders and `.txt` files under the corpus root, with their sizes."""

    def __init__(self, corpus_root: Path) -> None:
        self._root = corpus_root

    def folder(self, path: str | None) -> CorpusFolder:
        """The folder at `path` (the root when absent); refused as training would refuse it."""
        base = self._root.resolve()
        target = self._target(path, base)
        inside = target.relative_to(base)
        prefix = "" if target == base else inside.as_posix()
        folders = {name: [0, 0] for name in visible_folders(target, len(inside.parts))}
        files: list[CorpusEntry] = []
        skipped: list[Skipped] = []
        for parts, size in corpus_walk(target, base, skipped):
            if len(parts) == 1:
                files.append(self._entry(prefix, parts[0], CorpusEntryKind.FILE, size, 1))
                continue
            # A folder the walk entered is one `visible_folders` saw, unless it was created
            # in between: count it all the same.
            totals = folders.setdefault(parts[0], [0, 0])
            totals[0] += size
            totals[1] += 1
        listed = [
            self._entry(prefix, name, CorpusEntryKind.FOLDER, size, count)
            for name, (size, count) in sorted(folders.items())
        ]
        for entry in listed + files:
            _describe(entry, target / entry.name, self._root)
        return CorpusFolder(prefix, listed + files, [CorpusSkip.of(s) for s in skipped])

    def _target(self, path: str | None, base: Path) -> Path:
        target = resolve_inside(self._root, path or ".", "path")
        named = f"path '{path}'" if path else "the corpus root"
        if not target.exists():
            raise AppError(ErrorCode.DATA_NOT_FOUND, f"{named} does not exist")
        if not target.is_dir():
            raise AppError(ErrorCode.DATA_INVALID, f"{named} is a file, not a folder")
        why = unreachable(target, base)
        if why is not None:
            raise AppError(ErrorCode.DATA_INVALID, f"{named} is not read: {why}")
        return target

    @staticmethod
    def _entry(prefix: str, name: str, kind: CorpusEntryKind, size: int, count: int) -> CorpusEntry:
        path = f"{prefix}/{name}" if prefix else name
        return CorpusEntry(name=name, path=path, kind=kind, bytes=size, files=count)


def _describe(entry: CorpusEntry, path: Path, root: Path) -> None:
    """Fill in how training reads the entry: its format, columns and rows, or the problem."""
    folder = entry.kind is CorpusEntryKind.FOLDER
    if folder and (entry.files == 0 or not (path / "state.json").is_file()):
        return  # a plain folder
    entry.format = (
        CorpusEntryFormat.SAVED_DATASET if folder else CorpusEntryFormat(corpus_format(path))
    )
    try:
        if folder:
            shapes = [shape_of(f, root)[1] for f in corpus_files(root, entry.path)]
            entry.columns, entry.rows = shapes[0].columns, sum(s.rows or 0 for s in shapes)
        else:
            shape = shape_of(path, root)[1]
            entry.columns, entry.rows = shape.columns, shape.rows
    except AppError as exc:
        entry.problem = exc.message
