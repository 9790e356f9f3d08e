"""Browse the corpus root by the rules training reads it with.

A folder's size is what a training request naming it would read: its `.txt` files, found
by the same walk (`infra/paths.py`), so what the listing promises is what training gets.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.infra.paths import corpus_walk, resolve_inside, visible_folders


class CorpusEntryKind(StrEnum):
    """What an entry of a corpus folder is."""

    FILE = "file"
    FOLDER = "folder"


class CorpusEntry(BaseModel):
    """A `.txt` file or a folder directly inside the listed folder."""

    model_config = ConfigDict(extra="forbid")

    name: str
    path: Annotated[str, Field(description="Relative to the corpus root, as `corpus_path`")]
    kind: CorpusEntryKind
    bytes: Annotated[
        int, Field(description="A file's size; a folder's `.txt` files that training reads")
    ]
    files: Annotated[
        int, Field(description="`.txt` files training on it reads (0: the folder holds none)")
    ]


class CorpusFolder:
    """One folder of the corpus root: its totals and what is directly inside it."""

    def __init__(self, path: str, entries: list[CorpusEntry]) -> None:
        self.path = path
        self.entries = entries
        self.bytes = sum(e.bytes for e in entries)
        self.files = sum(e.files for e in entries)


class CorpusCatalog:
    """The folders and `.txt` files under the corpus root, with their sizes."""

    def __init__(self, corpus_root: Path) -> None:
        self._root = corpus_root

    def folder(self, path: str | None) -> CorpusFolder:
        """The folder at `path` (the root when absent); refused as training would refuse it."""
        target = resolve_inside(self._root, path or ".", "path")
        named = f"path '{path}'" if path else "the corpus root"
        if not target.exists():
            raise AppError(ErrorCode.DATA_NOT_FOUND, f"{named} does not exist")
        if not target.is_dir():
            raise AppError(ErrorCode.DATA_INVALID, f"{named} is a file, not a folder")
        base = self._root.resolve()
        prefix = "" if target == base else target.relative_to(base).as_posix()
        folders = {name: [0, 0] for name in visible_folders(target)}
        files: list[CorpusEntry] = []
        for parts, size in corpus_walk(target, base):
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
        return CorpusFolder(prefix, listed + files)

    @staticmethod
    def _entry(prefix: str, name: str, kind: CorpusEntryKind, size: int, count: int) -> CorpusEntry:
        path = f"{prefix}/{name}" if prefix else name
        return CorpusEntry(name=name, path=path, kind=kind, bytes=size, files=count)
