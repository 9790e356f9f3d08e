"""Where artifacts are kept: the local folder every job works in, and what shares it.

Jobs and the API always read and write files under `root`, a local folder. With a local
`ARTIFACTS_ROOT` that folder is the record and every method here does nothing. With object
storage, `root` is this process's cache and the store is the record: a process pulls what it
needs before reading it and pushes what it wrote once it is whole.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class ArtifactStorage(Protocol):
    """The artifacts' record, as seen from one process's local folder."""

    @property
    def root(self) -> Path:
        """The local folder every path handed to the methods below lies in."""
        ...

    @property
    def shared(self) -> bool:
        """False when `root` is the record itself (nothing to pull or push)."""
        ...

    def push(self, paths: list[Path]) -> None:
        """Upload each file that changed since this process last pushed or pulled it, in
        order (the last one, e.g. a manifest, appears only after the others). Each object
        appears whole or not at all. Paths outside `root`, hidden or missing are skipped.
        Raises `STORE_UNAVAILABLE` once retries are spent."""
        ...

    def push_folder(self, folder: Path, last: Path | None = None) -> None:
        """`push` every visible file under `folder`, with `last` after all of them."""
        ...

    def pull(self, path: Path, max_age_s: float = 0.0) -> bool:
        """Replace the local file with the store's copy when that changed (atomically: a
        reader sees one or the other); skipped when this process looked less than
        `max_age_s` ago. When the store no longer has the object, a local file that is
        still what this process last synced with it is removed (another process deleted
        it); one written here since stays. True when the file is there afterwards."""
        ...

    def pull_folder(self, folder: Path) -> None:
        """`pull` every file the store holds under `folder`."""
        ...

    def remove_folder(self, folder: Path, first: Path | None = None) -> None:
        """Delete every object the store holds under `folder`, `first` before the others
        (a manifest: other processes stop seeing the job at once). The local files are the
        caller's to remove; a local folder removes nothing here."""
        ...

    def folders(self, index: Path) -> list[str]:
        """The names of the folders under `index`, in the store and locally."""
        ...

    def listing(self, folder: Path) -> list[tuple[str, int]] | None:
        """The store's visible files under `folder` (path relative to it, bytes), sorted by
        path, without downloading any; None when `root` is the record (read the folder)."""
        ...
