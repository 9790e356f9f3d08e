"""Small formatting helpers for tables."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.table import Table
from rich.text import Text

STATUS_STYLE = {
    "completed": "green",
    "failed": "red",
    "cancelled": "yellow",
    "running": "cyan",
    "queued": "blue",
    "stalled": "magenta",
}


def table(*headers: str) -> Table:
    grid = Table(box=None, header_style="bold", pad_edge=False)
    for header in headers:
        numeric = header.endswith(("loss", "steps", "step", "tok/s", "size", "files", "params"))
        # Folded, never cut with an ellipsis: an id must stay whole to be copied.
        grid.add_column(header, justify="right" if numeric else "left", overflow="fold")
    return grid


def facts(rows: list[tuple[str, str | Text]]) -> Table:
    """One thing's facts: a bold name and its value per line (`show` commands)."""
    grid = table("", "")
    for name, value in rows:
        grid.add_row(Text(name, style="bold"), value)
    return grid


def status_text(status: str) -> str:
    style = STATUS_STYLE.get(status)
    return f"[{style}]{status}[/]" if style else status


def num(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def count(value: float | None) -> str:
    if value is None:
        return "-"
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= size:
            return f"{value / size:.1f}{unit}"
    return f"{value:.0f}"


def size(n: int) -> str:
    for unit, step in (("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)):
        if n >= step:
            return f"{n / step:.1f} {unit}"
    return f"{n} B"


def ago(when: datetime | None) -> str:
    if when is None:
        return "-"
    seconds = (datetime.now(UTC) - when).total_seconds()
    if seconds < 90:
        return f"{seconds:.0f}s ago"
    if seconds < 5400:
        return f"{seconds / 60:.0f}m ago"
    if seconds < 129_600:
        return f"{seconds / 3600:.0f}h ago"
    return when.strftime("%Y-%m-%d")
