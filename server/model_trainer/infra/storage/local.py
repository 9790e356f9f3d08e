"""`ARTIFACTS_ROOT` as a local folder: the folder is the record, so nothing is ever copied."""

from __future__ import annotations

from pathlib import Path


class LocalFolder:
    """Every process sees the same folder; pushes and pulls are no-ops."""

    def __init__(self, root: Path) -> None:
        self._root = root

    @property
    def root(self) -> Path:
        return self._root

    @property
    def shared(self) -> bool:
        return False

    def push(self, paths: list[Path]) -> None:
        return None

    def push_folder(self, folder: Path, last: Path | None = None) -> None:
        return None

    def pull(self, path: Path, max_age_s: float = 0.0) -> bool:
        return path.is_file()

    def pull_folder(self, folder: Path) -> None:
        return None

    def remove_folder(self, folder: Path, first: Path | None = None) -> None:
        return None

    def listing(self, folder: Path) -> list[tuple[str, int]] | None:
        return None

    def folders(self, index: Path) -> list[str]:
        if not index.is_dir():
            return []
        return sorted(f.name for f in index.iterdir() if not f.name.startswith("."))
