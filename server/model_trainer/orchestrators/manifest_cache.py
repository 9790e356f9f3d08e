"""Parsed manifests kept in memory until their file changes (the API reads them per poll)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

from pydantic import BaseModel

from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.logging import Log
from model_trainer.infra.storage import storage

M = TypeVar("M", bound=BaseModel)

FRESH_NS = 50_000_000
"""A file modified less than this long ago (ns) is re-read next time: a second write within
one tick of the file system's clock could leave inode, mtime and size all unchanged."""
ENTRIES = 1024
"""Manifests kept at most, unless a cache is given another size; the oldest entry goes
first."""

_Stamp = tuple[int, int, int]
_log = Log("api")


class ManifestCache(Generic[M]):
    """A manifest file, parsed again only when it was replaced.

    Manifests are written to a temporary name and renamed into place, so a new version has a
    new (inode, mtime, size). Each call returns a shallow copy: callers may replace fields of
    what they get, never mutate the nested values in place.
    """

    def __init__(
        self, read: Callable[[Path], M | None], refresh_s: float = 0.0, entries: int = ENTRIES
    ) -> None:
        """`read` parses the local file; this cache brings it from the shared store."""
        self._read = read
        self._most = entries
        self._refresh_s = refresh_s
        """With a shared store: how long the last look at its copy is trusted."""
        self._entries: dict[Path, tuple[_Stamp, M]] = {}
        self._lock = threading.Lock()

    def get(self, path: Path) -> M | None:
        """The manifest at `path`, None when there is none (as `read` says)."""
        # A newer copy in the shared store replaces the file, and so changes its stamp
        try:
            if storage().shared:  # a local folder costs its one `stat`, as ever
                storage().pull(path, self._refresh_s)
        except AppError as exc:
            if exc.code is not ErrorCode.STORE_UNAVAILABLE or not path.is_file():
                raise
            # A page polling a run still sees what was last fetched while the store is away
            _log.warning("manifest_from_cache", file=path.name, error=exc.message)
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        with self._lock:
            entry = self._entries.get(path)
        if entry is not None and entry[0] == stamp:
            return entry[1].model_copy()
        manifest = self._read(path)  # stat first: a newer file read here is re-read later
        if manifest is None:
            return None
        if time.time_ns() - st.st_mtime_ns > FRESH_NS:
            with self._lock:
                self._entries.pop(path, None)
                if len(self._entries) >= self._most:
                    del self._entries[next(iter(self._entries))]
                self._entries[path] = (stamp, manifest)
            return manifest.model_copy()
        return manifest
