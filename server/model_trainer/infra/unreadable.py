"""Stored records found unreadable are reported once per version of the file, then skipped.

A listing, a start-up scan or the worker's maintenance pass meets the same bad manifest every
time it runs (every poll, every two seconds): one warning naming it is useful, thousands are
noise that buries everything else.
"""

from __future__ import annotations

import threading
from pathlib import Path

from model_trainer.core.errors import AppError
from model_trainer.core.logging import Log

MAX_REMEMBERED = 10_000
"""Bad files remembered at most; past that the memory starts again (and warns again)."""

_seen: set[tuple[str, int, int]] = set()
_lock = threading.Lock()


def report_unreadable(path: Path, error: AppError, log: Log) -> None:
    """Warn about `path` (named by its folder and file) unless this version was reported."""
    try:
        st = path.stat()
        stamp = (str(path), st.st_mtime_ns, st.st_size)
    except OSError:
        stamp = (str(path), 0, 0)
    with _lock:
        if stamp in _seen:
            return
        if len(_seen) >= MAX_REMEMBERED:
            _seen.clear()
        _seen.add(stamp)
    log.warning(
        "record_unreadable_skipped",
        record=f"{path.parent.parent.name}/{path.parent.name}/{path.name}",
        error_code=str(error.code),
        error=error.message,
    )
