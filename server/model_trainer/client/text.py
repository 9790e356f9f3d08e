"""Numbers written for people, the same in the terminal and in chat messages."""

from __future__ import annotations

NONE = "—"
"""What an unknown value reads as."""


def duration(seconds: float | None) -> str:
    """`45s`, `3m 07s`, `2h 05m`, `1d 4h`."""
    if seconds is None or seconds < 0:
        return NONE
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 86_400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86_400}d {s % 86_400 // 3600}h"
