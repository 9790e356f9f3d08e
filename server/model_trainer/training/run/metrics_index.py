"""Pages of `metrics.jsonl` by line number without reading the whole file each time.

The API keeps, per metrics file, where each complete line starts and the step and loss of
each record (about 32 bytes a line), and extends that by the lines appended since the last
read; a page (`after`, `limit`) then seeks to its first line, and a downsampled first load
(`points`) picks its records from the index and reads only those. The index is checked
against the file at every read: a file replaced (a resumed run's trim, a pull from the
object store) or rewritten is indexed again from its start.

So that a restarted API need not parse every line again, the index is also kept beside the
file, in a hidden sidecar (`.metrics.index`: hidden names never reach the object store nor
the run's artifacts), written after a build and after every `SIDECAR_LINES` new lines. A
sidecar is only a cache: one that does not describe the file (replaced, trimmed, rewritten)
or cannot be read whole (torn, damaged, of another version) is ignored and written again,
and one that cannot be written (a read-only or full disk) only costs the next start a scan.

Line numbers count complete lines, as `metrics_after` does: a torn last line (no "\\n" yet)
is not counted, and a damaged line is counted but never served.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import zlib
from array import array
from bisect import bisect_left
from collections import OrderedDict
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import BinaryIO

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from model_trainer.core.logging import Log
from model_trainer.infra.arrays import non_decreasing, strictly_ascending
from model_trainer.infra.atomic import FILE_MODE
from model_trainer.training.run.manifest import MetricRecord
from model_trainer.training.run.metrics_downsample import min_max_picks

INDEXED_LINES = 4_000_000
"""Lines indexed across all files before the least recently read file's index is dropped
(about 130 MB of index at most)."""
CHUNK_BYTES = 4 << 20
"""Bytes read at a time while indexing."""
SIDECAR_LINES = 1000
"""Lines indexed since the sidecar was last written (or read) that make it worth writing
again: a restart then parses at most about this many lines, and a long run's sidecar (about
30 MB at a million records) is not rewritten at every poll."""
SIDECAR_VERSION = 1

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
    saved: int = 0
    """Lines the sidecar held when last written or read (0: none)."""
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
            index = _current(entry, handle, path)
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


def _current(entry: _Entry, handle: BinaryIO, path: Path) -> FileIndex:
    """The entry's index brought up to date with the file: the one in memory, else the
    sidecar's, else a new one (each only while it still describes the file)."""
    stat = os.fstat(handle.fileno())
    index = entry.index
    if index is None or not index.holds(handle, stat):
        if index is not None:
            _log.info("metrics_index_rebuilt", path=str(path), lines_before=len(index.starts))
        index = _stored(path, handle, stat) or FileIndex(identity=(stat.st_dev, stat.st_ino))
        entry.index = index
    index.extend(handle)
    if len(index.starts) - index.saved >= SIDECAR_LINES:
        _save(index, sidecar_path(path))
    return index


def sidecar_path(path: Path) -> Path:
    """Where the index of the metrics file `path` is kept between processes: hidden, so
    neither the object store nor the run's artifact list ever shows it."""
    return path.with_name(f".{path.stem}.index")


class _Header(BaseModel):
    """The sidecar's first line: what the arrays after it describe, and their sizes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int
    byteorder: str
    device: int
    inode: int
    end: int
    lines: int
    last_line: int
    """Bytes of the last indexed line (they follow the line starts)."""
    series: dict[str, int]
    """Records of each kind; each has its line numbers, steps and values, in that order."""
    crc: int
    """CRC-32 of everything after this line (a torn or damaged sidecar is not used)."""


class _Unusable(Exception):
    """A sidecar that cannot be trusted; the reason is logged and the file indexed anew."""


def _dump(index: FileIndex) -> list[bytes | array[int] | array[float]]:
    """The sidecar's parts, in order: the arrays as they are, not copied (a million records
    make about 30 MB)."""
    parts: list[bytes | array[int] | array[float]] = [index.starts, index.last_line]
    for kind in _CHARTED:
        series = index.kinds[kind]
        parts += [series.lines, series.steps, series.values]
    crc = 0
    for part in parts:
        crc = zlib.crc32(part, crc)
    header = _Header(
        version=SIDECAR_VERSION,
        byteorder=sys.byteorder,
        device=index.identity[0],
        inode=index.identity[1],
        end=index.end,
        lines=len(index.starts),
        last_line=len(index.last_line),
        series={kind: len(index.kinds[kind].lines) for kind in _CHARTED},
        crc=crc,
    )
    return [header.model_dump_json().encode() + b"\n", *parts]


def _save(index: FileIndex, sidecar: Path) -> None:
    """Write the sidecar atomically (a temp name renamed over it). Not retried at the next
    read when it fails: the index serves all the same, and is tried again further on."""
    index.saved = len(index.starts)
    # No `mkdir`: a run folder deleted meanwhile must not come back to hold a sidecar.
    # No fsync: a sidecar torn by a crash fails its size or CRC check and is rebuilt.
    try:
        fd, tmp = tempfile.mkstemp(prefix=f"{sidecar.name}.", suffix=".tmp", dir=sidecar.parent)
    except OSError as exc:
        _log.warning("metrics_index_not_saved", path=str(sidecar), error=str(exc))
        return
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), FILE_MODE)
            handle.writelines(_dump(index))
        os.replace(tmp, sidecar)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        _log.warning("metrics_index_not_saved", path=str(sidecar), error=str(exc))


def _stored(path: Path, handle: BinaryIO, stat: os.stat_result) -> FileIndex | None:
    """The sidecar's index, when there is one that still describes the file."""
    sidecar = sidecar_path(path)
    try:
        data = sidecar.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        _log.warning("metrics_index_sidecar_unread", path=str(sidecar), error=str(exc))
        return None
    try:
        index = _parse(data)
    except _Unusable as exc:
        _log.warning("metrics_index_sidecar_unusable", path=str(sidecar), reason=str(exc))
        _discard(sidecar)
        return None
    if not index.holds(handle, stat):
        _log.info("metrics_index_sidecar_stale", path=str(sidecar), lines=len(index.starts))
        _discard(sidecar)
        return None
    return index


def _discard(sidecar: Path) -> None:
    """Remove a sidecar not to be used, so later starts do not read it again (a file too
    small to be worth a sidecar of its own would otherwise keep the stale one)."""
    try:
        sidecar.unlink(missing_ok=True)
    except OSError:
        pass  # read-only, or a directory: read and refused again next time


def _parse(data: bytes) -> FileIndex:
    """The index a sidecar holds; `_Unusable` unless it is whole and consistent."""
    cut = data.find(b"\n")
    try:
        head = _Header.model_validate_json(data[: max(cut, 0)])
    except ValidationError as exc:
        raise _Unusable("no readable header") from exc
    if (head.version, head.byteorder) != (SIDECAR_VERSION, sys.byteorder):
        raise _Unusable(f"version {head.version} ({head.byteorder}-endian)")
    if set(head.series) != set(_CHARTED):
        raise _Unusable("other kinds of records")
    payload = memoryview(data)[cut + 1 :]
    sizes = [8 * head.lines, head.last_line, *(24 * head.series[k] for k in _CHARTED)]
    if min(sizes) < 0 or sum(sizes) != len(payload):
        raise _Unusable(f"{len(payload)} bytes where the header says {sum(sizes)}")
    if zlib.crc32(payload) != head.crc:
        raise _Unusable("damaged (CRC mismatch)")
    index = FileIndex(identity=(head.device, head.inode), end=head.end, saved=head.lines)
    at = _fill(index.starts, payload, 0, head.lines)
    index.last_line = bytes(payload[at : at + head.last_line])
    at += head.last_line
    for kind in _CHARTED:
        series, count = index.kinds[kind], head.series[kind]
        for items in (series.lines, series.steps, series.values):
            at = _fill(items, payload, at, count)
        series.ascending = non_decreasing(series.steps)
    _check(index)
    return index


def _fill(items: array[int] | array[float], payload: memoryview, at: int, count: int) -> int:
    """Append `count` 8-byte items read from `at`; where the next part starts."""
    items.frombytes(payload[at : at + 8 * count])
    return at + 8 * count


def _check(index: FileIndex) -> None:
    """Raise `_Unusable` unless lines start in order from 0, the last one ends where the
    index ends, and each kind's line numbers are in order among them."""
    starts, last = index.starts, index.last_line
    if not starts:
        if index.end != 0 or last:
            raise _Unusable("no lines, yet an end")
        return
    if starts[0] != 0 or not strictly_ascending(starts):
        raise _Unusable("line starts out of order")
    if starts[-1] + len(last) != index.end or last.find(b"\n") != len(last) - 1:
        raise _Unusable("the last line does not end the index")
    for series in index.kinds.values():
        numbers = series.lines
        if numbers and (numbers[0] < 0 or numbers[-1] >= len(starts)):
            raise _Unusable("a record's line number past the lines")
        if not strictly_ascending(numbers):
            raise _Unusable("records' line numbers out of order")


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
