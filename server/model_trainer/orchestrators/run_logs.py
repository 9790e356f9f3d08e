"""Live run logs: one reader per `logs.jsonl` in this process, shared by all who follow it.

Each follower of a run used to open and poll the file itself and ask for the run's status
every few polls, so a hundred clients on one run meant a hundred readers and a status read
every few milliseconds. Now a single task per file reads new bytes, keeps the latest lines in
memory and wakes every follower; it alone checks the run's status, and only once the file is
drained. Lines are numbered from 1, as the stream's event ids are.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from pathlib import Path

from model_trainer.core.errors import AppError
from model_trainer.core.logging import Log
from model_trainer.infra.storage import storage

POLL_S = 0.05
"""How often the shared reader looks for new lines (one reader per run, so this is cheap)."""
STATUS_EVERY = 20
"""Polls that found nothing between status checks of the run (about once a second)."""
KEEP_LINES = 10_000
"""Latest lines kept in memory (up to twice as many); a follower further behind reads the
older ones from disk."""
READ_BYTES = 8 << 20
"""The most one poll reads; a long backlog is read over several polls."""


LOG_REFRESH_S = 1.0
"""With a shared store: how often the reader fetches the log's copy there (a worker elsewhere
pushes it at each checkpoint and at the end)."""

_log = Log("api")


def _refresh(path: Path) -> None:
    """Bring the store's newer copy of the log; a store away leaves the one here to read."""
    store = storage()
    if not store.shared:
        return
    try:
        store.pull(path, LOG_REFRESH_S)
    except AppError as exc:
        _log.warning("log_not_refreshed", file=path.name, error=exc.message)


def _read(path: Path, offset: int) -> bytes:
    _refresh(path)
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            return handle.read(READ_BYTES)
    except FileNotFoundError:
        return b""  # the job has not logged yet


def _lines_before(path: Path, end: int) -> list[bytes]:
    """The complete lines in the first `end` bytes of `path`."""
    with path.open("rb") as handle:
        return handle.read(end).split(b"\n")[:-1]


class _Tail:
    """Reads one log file as it grows until the run has ended and every line is read."""

    def __init__(self, path: Path, run_ended: Callable[[], Awaitable[bool]]) -> None:
        self.path = path
        self.count = 0
        """Complete lines read so far."""
        self.kept: list[tuple[int, bytes]] = []
        """The latest lines, each with the byte offset where it starts."""
        self.first_kept = 1
        """The number of the first line in `kept`."""
        self.ended = False
        self.error: Exception | None = None
        self.followers = 0
        self.task: asyncio.Task[None] | None = None
        self._run_ended = run_ended
        self._offset = 0  # bytes read
        self._pending = b""  # a line still being written
        self._wake = asyncio.Event()

    def wake_event(self) -> asyncio.Event:
        """Set once more lines (or the end) are there; take it before looking at the lines."""
        return self._wake

    def _publish(self) -> None:
        self._wake.set()
        self._wake = asyncio.Event()

    def _add(self, chunk: bytes) -> None:
        start = self._offset - len(self._pending)
        self._offset += len(chunk)
        *complete, self._pending = (self._pending + chunk).split(b"\n")
        for raw in complete:
            self.kept.append((start, raw))
            start += len(raw) + 1
        self.count += len(complete)
        if len(self.kept) > 2 * KEEP_LINES:  # trimmed in halves, so slicing stays cheap
            del self.kept[:KEEP_LINES]
            self.first_kept += KEEP_LINES

    async def run(self) -> None:
        polls, ending = 0, False
        try:
            while True:
                chunk = await asyncio.to_thread(_read, self.path, self._offset)
                if chunk:
                    self._add(chunk)
                    self._publish()
                    polls = 0
                    continue
                if ending and not self._pending:
                    break
                polls += 1
                if polls % STATUS_EVERY == 0 and not self._pending and await self._run_ended():
                    # The job logs a last line or two after its manifest says it ended: read
                    # once more before closing, so no line is lost.
                    ending = True
                    continue
                await asyncio.sleep(POLL_S)
        except Exception as exc:  # noqa: BLE001 - handed to every follower, which raises it
            # A follower must never wait on a reader that died.
            self.error = exc
        self.ended = True
        self._publish()


async def _follow(tail: _Tail, after: int) -> AsyncIterator[tuple[int, bytes]]:
    """Lines numbered after `after`, in order, until the tail has ended."""
    next_no = after + 1
    while True:
        wake = tail.wake_event()
        if next_no < tail.first_kept:  # behind the lines kept in memory
            lines = await asyncio.to_thread(_lines_before, tail.path, tail.kept[0][0])
            batch = lines[next_no - 1 :]
        else:
            batch = [raw for _, raw in tail.kept[next_no - tail.first_kept :]]
        for raw in batch:
            yield next_no, raw
            next_no += 1
        if batch:
            continue
        if tail.ended:
            if tail.error is not None:
                raise tail.error
            return
        await wake.wait()


class RunLogFollower:
    """Follows runs' log files for the API's streams, one shared reader per file."""

    def __init__(self, run_ended: Callable[[str], bool]) -> None:
        self._run_ended = run_ended  # blocking (disk, Redis): called in a thread
        self._tails: dict[Path, _Tail] = {}

    async def follow(
        self, run_id: str, path: Path, after: int
    ) -> AsyncGenerator[tuple[int, str], None]:
        """(line number, line) for each line of the run's log `path` after line `after`,
        until the run has ended and its last line was read."""
        tail = self._tails.get(path)
        if tail is None:
            tail = _Tail(path, lambda: self._ended(run_id))
            self._tails[path] = tail
        task = tail.task
        if task is None:
            task = tail.task = asyncio.create_task(tail.run(), name=f"tail-{run_id}")
        tail.followers += 1
        try:
            async for line_no, raw in _follow(tail, after):
                yield line_no, raw.decode("utf-8", "replace")
        finally:
            tail.followers -= 1
            if tail.followers == 0 and self._tails.get(path) is tail:
                del self._tails[path]
                task.cancel()

    async def _ended(self, run_id: str) -> bool:
        return await asyncio.to_thread(self._run_ended, run_id)
