"""Tables that fit the terminal without breaking an id.

An id must stay whole on one line to be copied, whatever the width: its column never
shrinks. Numbers never shrink either (a cut number lies). Text columns give way first,
down to a few characters ending in an ellipsis, and when even that is too wide the least
needed columns are left out, the rightmost first.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Table
from rich.text import Text

from model_trainer.client.text import NONE

STATUS_STYLE = {
    "completed": "green",
    "failed": "red",
    "cancelled": "yellow",
    "running": "cyan",
    "queued": "blue",
    "stalled": "magenta",
}
GAP = 2
"""Spaces between two columns."""
TEXT_MIN = 8
"""A text column shrinks to this many characters (ellipsis included) before columns go."""
NUMERIC_HEADERS = ("loss", "steps", "step", "tok/s", "size", "files", "params", "rows", "bpb")


class Kind(Enum):
    ID = "id"
    """Never cut, never wrapped, never left out."""
    NUMBER = "number"
    """Right-aligned, never cut; may be left out on a narrow terminal."""
    TEXT = "text"
    """Cut with an ellipsis when room is short; may be left out."""
    HEADED = "headed"
    """Text under an id as its header (`runs compare`): cut no narrower than the id, never
    left out."""


KEPT = (Kind.ID, Kind.HEADED)


@dataclass(frozen=True)
class Col:
    header: str
    kind: Kind = Kind.TEXT
    keep: int = 0
    """How much the column is wanted when room is short: the lowest goes first (ties:
    the rightmost first)."""
    least: int = TEXT_MIN
    """A text column's narrowest (a name wants more than a few letters before others go)."""


Cell = str | Text


def _column(spec: Col | str) -> Col:
    if isinstance(spec, Col):
        return spec
    numeric = spec.endswith(NUMERIC_HEADERS)
    return Col(spec, Kind.NUMBER if numeric else Kind.TEXT)


class Grid:
    """Rows under headers, laid out for the width it is printed at (a rich renderable)."""

    def __init__(self, *columns: Col | str) -> None:
        self.columns = [_column(c) for c in columns]
        self.rows: list[list[Text]] = []

    def add_row(self, *cells: Cell) -> None:
        # Plain strings are text as written, never markup: a name may hold brackets.
        self.rows.append([c if isinstance(c, Text) else Text(c) for c in cells])

    def _needs(self) -> list[int]:
        return [
            max([Text(c.header).cell_len, *(row[i].cell_len for row in self.rows)])
            for i, c in enumerate(self.columns)
        ]

    def layout(self, width: int) -> tuple[list[int], list[int]]:
        """The shown columns (indexes) and their widths at `width` characters."""
        needs = self._needs()
        shown = list(range(len(self.columns)))

        def least(i: int) -> int:
            kind = self.columns[i].kind
            if kind is Kind.HEADED:
                return max(Text(self.columns[i].header).cell_len, min(needs[i], TEXT_MIN))
            return needs[i] if kind is not Kind.TEXT else min(needs[i], self.columns[i].least)

        def total(indexes: list[int], widths: list[int]) -> int:
            return sum(widths[i] for i in indexes) + GAP * max(0, len(indexes) - 1)

        minimal = [least(i) for i in range(len(needs))]
        while total(shown, minimal) > width:
            droppable = [i for i in shown if self.columns[i].kind not in KEPT]
            if not droppable:
                break
            shown.remove(min(droppable, key=self._giving_way))
        widths = list(needs)
        excess = total(shown, widths) - width
        for i in sorted(shown, key=needs.__getitem__, reverse=True):
            if excess <= 0:
                break
            if self.columns[i].kind in (Kind.TEXT, Kind.HEADED):
                cut = min(excess, widths[i] - minimal[i])
                widths[i] -= cut
                excess -= cut
        return shown, [widths[i] for i in shown]

    def _giving_way(self, i: int) -> tuple[int, int]:
        """The column left out first: the least wanted, then the rightmost."""
        return self.columns[i].keep, -i

    def fits(self, width: int) -> bool:
        """Whether every column that is never left out fits whole at `width`."""
        shown, widths = self.layout(width)
        return sum(widths) + GAP * max(0, len(shown) - 1) <= width

    def table(self, width: int) -> Table:
        shown, widths = self.layout(width)
        grid = Table(box=None, header_style="bold", pad_edge=False, padding=(0, GAP // 2))
        for i, w in zip(shown, widths, strict=True):
            col = self.columns[i]
            grid.add_column(
                col.header,
                justify="right" if col.kind is Kind.NUMBER else "left",
                width=w,
                no_wrap=True,
                overflow="ellipsis",
            )
        for row in self.rows:
            grid.add_row(*(row[i] for i in shown))
        return grid

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.table(options.max_width)


def table(*headers: Col | str) -> Grid:
    return Grid(*headers)


def facts(rows: list[tuple[str, str | Text]]) -> Table:
    """One thing's facts: a bold name and its value per line (`show` commands); long
    values wrap at spaces, and an id is never split (each row holds at most one)."""
    grid = Table(box=None, show_header=False, pad_edge=False)
    grid.add_column(no_wrap=True)
    grid.add_column(overflow="fold")
    for name, value in rows:
        grid.add_row(Text(name, style="bold"), value if isinstance(value, Text) else Text(value))
    return grid


def status_text(status: str) -> Text:
    return Text(status, style=STATUS_STYLE.get(status, ""))


__all__ = ["NONE", "Col", "Grid", "Kind", "facts", "status_text", "table"]
