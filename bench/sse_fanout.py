"""Live logs to many clients: N concurrent SSE streams of one training run.

A real stack (API and worker processes); a GPT-2 nano run that logs every step. As soon as
the run is queued, N clients (asyncio, raw HTTP/1.1) open `GET /runs/{id}/logs/stream` and
read until the server ends the stream with the run. For each event received, lag = the
moment it arrived minus the `timestamp` field of the JSON log record it carries (stamped by
the worker just before it writes the line; same machine, same clock). Lines already in the
file when a client connected are history, not live: they are checked but not timed. At the
end every client's events must equal the lines of the run's `logs.jsonl`, ids 1..n, exactly
once and in order. Run: `python bench/sse_fanout.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel

from latency_common import (
    CORPUS,
    api_pid,
    cpu_seconds,
    epoch_of,
    load_note,
    percentile,
    start_run,
    verdict,
    wait_run,
    write_corpus,
)
from model_trainer.jobs.layout import ArtifactLayout
from stack import running_stack, train_char_tokenizer

P99_TARGET_S = 0.250


class LogRecord(BaseModel):
    """The one field of a log record this benchmark reads."""

    timestamp: str


class Args(argparse.Namespace):
    """Command-line options, typed."""

    clients: int
    steps: int


@dataclass
class Stream:
    """What one client saw: events as (id, data, arrival), and when its stream opened."""

    opened: float = 0.0
    events: list[tuple[int, str, float]] = field(default_factory=list)
    error: str = ""


async def _chunks(reader: asyncio.StreamReader) -> list[bytes]:
    """The next chunk(s) of a chunked body; [] at its end."""
    size = int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
    if size == 0:
        return []
    data = await reader.readexactly(size + 2)
    return [data[:-2]]


def _parse_events(buffer: bytes, arrived: float, out: Stream) -> bytes:
    """Take the complete events off the front of `buffer`; return the rest."""
    text = buffer.replace(b"\r\n", b"\n")
    *complete, rest = text.split(b"\n\n")
    for block in complete:
        event_id, data = 0, []
        for line in block.decode("utf-8").split("\n"):
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "id":
                event_id = int(value)
            elif name == "data":
                data.append(value)
        if data:  # pings are comments: no data
            out.events.append((event_id, "\n".join(data), arrived))
    return rest


async def follow(host: str, port: int, run_id: str) -> Stream:
    out = Stream()
    try:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(
            f"GET /runs/{run_id}/logs/stream HTTP/1.1\r\nHost: localhost\r\n"
            "Accept: text/event-stream\r\n\r\n".encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        out.opened = time.time()
        if not head.startswith(b"HTTP/1.1 200"):
            out.error = head.split(b"\r\n", 1)[0].decode()
            return out
        buffer = b""
        while chunks := await _chunks(reader):
            buffer = _parse_events(buffer + b"".join(chunks), time.time(), out)
        writer.close()
    except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
        out.error = f"{type(exc).__name__}: {exc}"
    return out


async def fan_out(host: str, port: int, run_id: str, clients: int) -> list[Stream]:
    return list(await asyncio.gather(*(follow(host, port, run_id) for _ in range(clients))))


def check(streams: list[Stream], lines: list[str]) -> tuple[list[float], int, list[str]]:
    """(lags of live lines, history lines, problems) against the file's lines."""
    expected = [(i + 1, line) for i, line in enumerate(lines)]
    stamps = [epoch_of(LogRecord.model_validate_json(line).timestamp) for line in lines]
    lags: list[float] = []
    history = 0
    problems: list[str] = []
    for n, stream in enumerate(streams):
        if stream.error:
            problems.append(f"client {n}: {stream.error}")
            continue
        got = [(event_id, data) for event_id, data, _ in stream.events]
        if got != expected:
            problems.append(f"client {n}: {len(got)} events, not the file's {len(lines)} lines")
            continue
        for (_, _, arrived), stamp in zip(stream.events, stamps, strict=True):
            if stamp < stream.opened:
                history += 1
            else:
                lags.append(arrived - stamp)
    return lags, history, problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--steps", type=int, default=400, help="steps of the run (a line each)")
    args = parser.parse_args(namespace=Args())
    work = Path(tempfile.mkdtemp(prefix="bench-sse-"))
    write_corpus(work / "corpus", lines=0)
    with running_stack(work, work / "corpus", 2, {"LOG_LEVEL": "INFO"}) as base:
        host, port = base.removeprefix("http://").split(":")
        tokenizer_id = train_char_tokenizer(base, CORPUS)
        print(f"before: {load_note()}")
        server = api_pid(int(port))
        cpu = cpu_seconds(server)
        run_id = start_run(base, tokenizer_id, args.steps, log_interval=1)
        started = time.monotonic()
        streams = asyncio.run(fan_out(host, int(port), run_id, args.clients))
        elapsed = time.monotonic() - started
        api_cpu = cpu_seconds(server) - cpu
        status = wait_run(base, run_id)
        log = ArtifactLayout(work / "artifacts").run(run_id).logs
        lines = log.read_text(encoding="utf-8").splitlines()
    print(f"after:  {load_note()}")
    lags, history, problems = check(streams, lines)
    complete = args.clients - len(problems)
    for problem in problems[:10]:
        print(f"  {problem}")
    p50, p99 = percentile(lags, 50), percentile(lags, 99)
    print(
        f"run {status}, {len(lines)} log lines in {elapsed:.1f} s; {complete}/{args.clients} "
        f"clients got every line exactly once, in order ({history} history events untimed); "
        f"the API used {api_cpu:.1f} s of CPU meanwhile"
    )
    print(
        f"lag over {len(lags)} live events: p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
        f"max {max(lags, default=0.0) * 1000:.1f} ms"
    )
    ok = not problems and p99 <= P99_TARGET_S
    print(
        f"{args.clients} SSE clients: every line delivered {'yes' if not problems else 'NO'}, "
        f"p99 lag {p99 * 1000:.1f} ms (target <= {P99_TARGET_S * 1000:.0f}) -> {verdict(ok)}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
