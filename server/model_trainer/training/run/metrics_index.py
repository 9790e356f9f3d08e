"""Pages of `metrics.jsonl` by line number without reading the whole file each time.

The API keeps, per metrics file, where each complete line starts and the step and loss of
each record (about 32 bytes a line), and extends that by the lines appended since the last
read; a page (`after`, `limit`) then seeks to its first line, and a downsampled first load
(`points`) picks its records from the index and reads only those. The index lives in the
API process (after a restart the first read of a run scans its file once) and is checked
against the file at every read: a file replaced (a resumed run's trim, a pull from the
object store) or rewritten is indexed again from its start.

Line numbers count complete lines, as `metrics_after` does: a torn last line (no "\\n" yet)
is not counted, and a damaged line is counted but never served.
"""

from __future__ import annotations

import os
import threading
from array import array
from bisect import bisect_left
from collections import OrderedDict
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import BinaryIO

from pydantic import TypeAdapter, ValidationError

from model_trainer.core.logging import Log
from model_trainer.training.run.manifest import MetricRecord
from model_trainer.training.run.metrics_downsample import min_max_picks

INDEXED_LINES = 4_000_000
"""Lines indexed across all files before the least recently read file's index is dropped
(about 130 MB of index at most)."""
CHUNK_BYTES = 4 << 20
"""Bytes read at a time while indexing."""

_log = Log("api")
_FIELDS: TypeAdapter[dict[str, object]] = TypeAdapter(dict[str, object])
_KNOWN = frozenset(MetricRecord.model_fields)
_NAN = float("nan")
_CHARTED = {"train": "loss", "eval": "val_loss"}
"""The value downsampling keeps the extremes of, per kind of record."""


@dataclass
class Series:
    """The records of one kind, in file order: line number, step, and the charted value
    (NaN when absent)."""

    charted: str
    lines: array[int] = field(default_factory=lambda: array("q"))
    steps: array[int] = field(default_factory=lambda: array("q"))
    values: array[float] = field(default_factory=lambda: array("d"))
    ascending: bool = True
    """No step below the one before it (so every slice is ascending too)."""

    def add(self, number: int, step: int, value: object) -> None:
        if self.steps and step < self.steps[-1]:
            self.ascending = False
        self.lines.append(number)
        self.steps.append(step)
        self.values.append(float(value) if isinstance(value, float) or type(value) is int else _NAN)

    def picks(self, start: int, stop: int, budget: int) -> list[int]:
        """Line numbers of at most about `budget` records among lines [start, stop)."""
        first = bisect_left(self.lines, start)
        last = bisect_left(self.lines, stop)
        steps, values = self.steps[first:last], self.values[first:last]
        keep = min_max_picks(steps, values, budget // 4, self.ascending)
        return [self.lines[first + i] for i in keep]


@dataclass
class FileIndex:
    """Where the complete lines of one metrics file start, and what they hold."""

    identity: tuple[int, int]
    starts: array[int] = field(default_factory=lambda: array("q"))
    end: int = 0
    """Just past the last complete line indexed."""
    last_line: bytes = b""
    """That line as read, to notice a file rewritten under the same name and size."""
    kinds: dict[str, Series] = field(
        default_factory=lambda: {kind: Series(value) for kind, value in _CHARTED.items()}
    )

    def holds(self, handle: BinaryIO, stat: os.stat_result) -> bool:
        """Whether the file is still the one indexed (only grown since)."""
        if (stat.st_dev, stat.st_ino) != self.identity or stat.st_size < self.end:
            return False
        if not self.starts:
            return True
        handle.seek(self.starts[-1])
        return handle.read(len(self.last_line)) == self.last_line

    def extend(self, handle: BinaryIO) -> None:
        """Index the complete lines written since the last read."""
        handle.seek(self.end)
        pending = b""
        while chunk := handle.read(CHUNK_BYTES):
            data = pending + chunk
            cut = data.rfind(b"\n") + 1
            if cut:
                self._add_lines(data[:cut])
            pending = data[cut:]

    def _add_lines(self, block: bytes) -> None:
        offset, starts, kinds = self.end, self.starts, self.kinds
        lines = block.split(b"\n")[:-1]
        for line in lines:
            number = len(starts)
            starts.append(offset)
            offset += len(line) + 1
            try:
                fields = _FIELDS.validate_json(line)
            except ValidationError:
                continue  # damaged: counted, never served
            kind, step = fields.get("kind"), fields.get("step")
            series = kinds.get(kind) if isinstance(kind, str) else None
            # `type(...) is int`: not a bool. Odd lines left out here are also refused by
            # the full validation before anything is served.
            if series is not None and type(step) is int and _KNOWN.issuperset(fields):
                series.add(number, step, fields.get(series.charted))
        self.last_line = lines[-1] + b"\n"
        self.end = offset


@dataclass(frozen=True)
class MetricsPage:
    """What `GET /runs/{id}/metrics` answers, before it is dressed as a response."""

    records: list[MetricRecord]
    next_after: int
    """The `after` of the next page: the end of this one."""
    total: int
    """Complete lines in the file (damaged ones included)."""
    downsampled: bool


@dataclass
class _Entry:
    lock: threading.Lock = field(default_factory=threading.Lock)
    index: FileIndex | None = None


class MetricsIndexes:
    """The index of each metrics file read lately, in this process; the least recently
    read ones are dropped past `INDEXED_LINES` lines in all."""

    def __init__(self, budget: int = INDEXED_LINES) -> None:
        self._budget = budget
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def read(
        self, path: Path, after: int, limit: int | None = None, points: int | None = None
    ) -> MetricsPage:
        """The records of lines [after, after + limit) (all past `after` without a
        limit); with `points`, at most about that many training records of them (min/max
        per bucket of loss) and about a quarter as many evaluations."""
        key = os.path.abspath(path)
        try:
            handle = path.open("rb")
        except (FileNotFoundError, IsADirectoryError):
            return MetricsPage([], 0, 0, False)
        entry = self._entry(key)
        with handle, entry.lock:
            index = _current(entry, handle, key)
            page = _page(index, handle, after, limit, points)
        self._trim(key)
        return page

    def _entry(self, key: str) -> _Entry:
        with self._lock:
            entry = self._entries.setdefault(key, _Entry())
            self._entries.move_to_end(key)
            return entry

    def _trim(self, keep: str) -> None:
        with self._lock:
            total = sum(len(e.index.starts) for e in self._entries.values() if e.index)
            for key in list(self._entries):
                if total <= self._budget:
                    break
                index = self._entries[key].index
                if key != keep:
                    total -= len(index.starts) if index else 0
                    del self._entries[key]


def _current(entry: _Entry, handle: BinaryIO, key: str) -> FileIndex:
    """The entry's index brought up to date with the file (rebuilt when it no longer
    describes it)."""
    stat = os.fstat(handle.fileno())
    index = entry.index
    if index is None or not index.holds(handle, stat):
        if index is not None:
            _log.info("metrics_index_rebuilt", path=key, lines_before=len(index.starts))
        index = FileIndex(identity=(stat.st_dev, stat.st_ino))
        entry.index = index
    index.extend(handle)
    return index


def _page(
    index: FileIndex, handle: BinaryIO, after: int, limit: int | None, points: int | None
) -> MetricsPage:
    total = len(index.starts)
    start = min(after, total)
    stop = total if limit is None else min(total, start + limit)
    if points is not None:
        train = index.kinds["train"].picks(start, stop, points)
        evals = index.kinds["eval"].picks(start, stop, max(4, points // 4))
        kept = len(train) + len(evals)
        if kept < _charted_count(index, start, stop):
            lines = sorted(train + evals)
            return MetricsPage(_read_lines(handle, index, lines), stop, total, True)
    return MetricsPage(_read_range(handle, index, start, stop), stop, total, False)


def _charted_count(index: FileIndex, start: int, stop: int) -> int:
    return sum(
        bisect_left(s.lines, stop) - bisect_left(s.lines, start) for s in index.kinds.values()
    )


def _read_range(handle: BinaryIO, index: FileIndex, start: int, stop: int) -> list[MetricRecord]:
    if start >= stop:
        return []
    handle.seek(index.starts[start])
    return [r for line in islice(handle, stop - start) if (r := _record(line)) is not None]


def _read_lines(handle: BinaryIO, index: FileIndex, lines: list[int]) -> list[MetricRecord]:
    records: list[MetricRecord] = []
    for number in lines:
        handle.seek(index.starts[number])
        record = _record(handle.readline())
        if record is not None:
            records.append(record)
    return records


def _record(line: bytes) -> MetricRecord | None:
    try:
        return MetricRecord.model_validate_json(line)
    except ValidationError:
        return None  # damaged; still counted, so offsets stay line numbers


METRICS_INDEXES = MetricsIndexes()
"""This process's indexes (the API reads every run's metrics through it)."""


def read_metrics(
    path: Path, after: int, limit: int | None = None, points: int | None = None
) -> MetricsPage:
    """A page of the run's `metrics.jsonl` (see `MetricsIndexes.read`)."""
    return METRICS_INDEXES.read(path, after, limit, points)
