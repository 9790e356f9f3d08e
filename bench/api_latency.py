"""API latency vs request rate: `GET /runs/{id}` under an open-loop load, idle and training.

The generator fires requests on a fixed schedule (request i at t0 + i/rate) over HTTP/1.1
keep-alive connections (asyncio streams, one request in flight per connection, a new
connection whenever none is free), and times each from its *scheduled* moment to the last
byte of its response, so a slow server cannot hide its stalls by slowing the generator down
(coordinated omission). Before the service, the same generator runs against a stub HTTP
server in another process at the highest rate: that is the floor the generator and loopback
add. The API is a real `model-trainer api` process; "idle" asks about a completed run with
nothing else running, "training" about a run that trains in the worker meanwhile (cancelled
at the end). With `--json PATH` it also writes the figures, for `bench/plots.py`.
Run: `python bench/api_latency.py [--json PATH]`.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from latency_common import (
    CORPUS,
    api_pid,
    cpu_seconds,
    load_note,
    percentile,
    run_status,
    start_run,
    verdict,
    wait_run,
    write_corpus,
)
from model_trainer.client.raw import request
from results import ApiLatencyResults, LatencyPoint, Machine, write
from stack import free_port, running_stack, train_char_tokenizer

P99_TARGET_S = 0.010
TARGET_RATE = 200
MAX_CONNECTIONS = 256
STUB_RESPONSE = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"


class Args(argparse.Namespace):
    """Command-line options, typed."""

    rates: str
    seconds: float
    json: str
    stub: int


@dataclass
class Outcome:
    """What one rate produced: latencies from the schedule, and how late requests left."""

    rate: int
    latencies: list[float] = field(default_factory=list)
    send_lags: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    opened: int = 0
    server_cpu_s: float = 0.0

    def fail(self, reason: str) -> None:
        self.errors[reason] = self.errors.get(reason, 0) + 1

    @property
    def failed(self) -> int:
        return sum(self.errors.values())

    def row(self) -> str:
        f = self.figures()
        return (
            f"{f.rate:>5} rps  n {f.requests:>5}  p50 {f.p50_ms:7.2f}  p99 {f.p99_ms:7.2f}  "
            f"max {f.max_ms:7.2f} ms  errors {f.failed}  send lag p99 {f.send_lag_p99_ms:5.2f} ms"
            f"  conns {f.connections}  server CPU {f.server_cpu_ms_per_request:.2f} ms/req"
        )

    def figures(self) -> LatencyPoint:
        ms = [x * 1000 for x in self.latencies]
        return LatencyPoint(
            rate=self.rate,
            requests=len(ms),
            failed=self.failed,
            p50_ms=percentile(ms, 50),
            p99_ms=percentile(ms, 99),
            max_ms=max(ms, default=0.0),
            send_lag_p99_ms=percentile(self.send_lags, 99) * 1000,
            connections=self.opened,
            server_cpu_ms_per_request=self.server_cpu_s * 1000 / max(1, len(ms)),
        )


class Connections:
    """Idle keep-alive connections to one host; opens another when none is free."""

    def __init__(self, host: str, port: int) -> None:
        self._host, self._port = host, port
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.opened = 0

    async def take(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        while self._idle:
            reader, writer = self._idle.pop()
            if not reader.at_eof():
                return reader, writer
            writer.close()  # the server closed it after its keep-alive timeout
        if self.opened >= MAX_CONNECTIONS:
            raise RuntimeError(f"over {MAX_CONNECTIONS} requests in flight")
        self.opened += 1
        return await asyncio.open_connection(self._host, self._port)

    def give(self, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
        self._idle.append(conn)

    async def warm(self, count: int) -> None:
        conns = [await self.take() for _ in range(count)]
        for conn in conns:
            self.give(conn)

    def close(self) -> None:
        for _, writer in self._idle:
            writer.close()
        self._idle.clear()


async def _read_response(reader: asyncio.StreamReader) -> int:
    """Read one response with a Content-Length body; its status code."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return status


async def _one(conns: Connections, raw: bytes, scheduled: float, out: Outcome) -> None:
    loop = asyncio.get_running_loop()
    try:
        conn = await conns.take()
    except RuntimeError:
        out.fail("over the connection cap")
        return
    except OSError as exc:
        out.fail(f"connect: {type(exc).__name__}")
        return
    reader, writer = conn
    out.send_lags.append(loop.time() - scheduled)
    try:
        writer.write(raw)
        status = await _read_response(reader)
    except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
        out.fail(f"exchange: {type(exc).__name__}")
        writer.close()
        return
    out.latencies.append(loop.time() - scheduled)
    if status != 200:
        out.fail(f"HTTP {status}")
    conns.give(conn)


async def open_loop(conns: Connections, path: str, rate: int, seconds: float) -> Outcome:
    """Fire `rate` requests a second for `seconds`, each on its own schedule."""
    raw = f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode()
    out = Outcome(rate)
    loop = asyncio.get_running_loop()
    total = int(rate * seconds)
    start = loop.time() + 0.05
    tasks: set[asyncio.Task[None]] = set()
    for i in range(total):
        scheduled = start + i / rate
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(_one(conns, raw, scheduled, out))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(tasks, timeout=30)
    return out


async def sweep(
    host: str, port: int, path: str, rates: list[int], seconds: float, server: int, show: bool
) -> list[Outcome]:
    conns = Connections(host, port)
    await conns.warm(16)
    await open_loop(conns, path, 50, 1.0)  # warm-up, not counted
    outcomes: list[Outcome] = []
    for rate in rates:
        before, cpu = conns.opened, cpu_seconds(server)
        outcome = await open_loop(conns, path, rate, seconds)
        outcome.server_cpu_s = cpu_seconds(server) - cpu
        outcome.opened = conns.opened - before
        outcomes.append(outcome)
        if show:
            print(f"    {outcome.row()}", flush=True)
        if show and outcome.errors:
            print(f"      failed: {outcome.errors}", flush=True)
    conns.close()
    return outcomes


async def _stub_server(port: int) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                writer.write(STUB_RESPONSE)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def calibrate(rate: int, seconds: float) -> Outcome:
    """The generator against a stub server in another process: the measurement's floor."""
    port = free_port()
    stub = subprocess.Popen([sys.executable, __file__, "--stub", str(port)])
    try:
        deadline = time.monotonic() + 20
        while request("GET", f"http://127.0.0.1:{port}/")[0] != 200:
            if time.monotonic() > deadline:
                raise SystemExit("the stub server did not start")
            time.sleep(0.05)
        return asyncio.run(sweep("127.0.0.1", port, "/", [rate], seconds, stub.pid, False))[0]
    finally:
        stub.terminate()
        stub.wait(timeout=10)


def table(idle: list[Outcome], busy: list[Outcome]) -> str:
    lines = [
        "| rate (req/s) | idle p50 | idle p99 | idle max | idle failed | training p50 "
        "| training p99 | training max | training failed |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for a, b in zip(idle, busy, strict=True):
        cells: list[str] = []
        for outcome in (a, b):
            ms = [x * 1000 for x in outcome.latencies]
            cells += [f"{percentile(ms, 50):.1f} ms", f"{percentile(ms, 99):.1f} ms"]
            cells += [f"{max(ms, default=0.0):.1f} ms", str(outcome.failed)]
        lines.append(f"| {a.rate} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rates", default="50,100,200,400,800", help="requests per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="per rate")
    parser.add_argument("--json", default="", help="also write the figures to this file")
    parser.add_argument("--stub", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(namespace=Args())
    if args.stub:
        asyncio.run(_stub_server(args.stub))
        return 0
    rates = [int(r) for r in args.rates.split(",")]
    work = Path(tempfile.mkdtemp(prefix="bench-apilat-"))
    write_corpus(work / "corpus", lines=0)
    machine = Machine.now()
    floor = calibrate(max(rates), args.seconds)
    print(f"generator floor (stub server): {floor.row()}")
    with running_stack(work, work / "corpus", 2) as base:
        host, port = base.removeprefix("http://").split(":")
        tokenizer_id = train_char_tokenizer(base, CORPUS)
        done = start_run(base, tokenizer_id, steps=20)
        wait_run(base, done)
        print(f"idle, GET /runs/{{completed run}}   ({load_note()})")
        server = api_pid(int(port))
        idle = asyncio.run(
            sweep(host, int(port), f"/runs/{done}", rates, args.seconds, server, True)
        )
        live = start_run(base, tokenizer_id, steps=1_000_000)
        wait_run(base, live, until_step=20)
        print(f"training, GET /runs/{{training run}}   ({load_note()})")
        busy = asyncio.run(
            sweep(host, int(port), f"/runs/{live}", rates, args.seconds, server, True)
        )
        still = run_status(base, live).status
        request("POST", f"{base}/runs/{live}/cancel")
        wait_run(base, live)
    print(f"after: {load_note()}; the run was still {still} at the end")
    print(table(idle, busy))
    machine.finish()
    if args.json:
        results = ApiLatencyResults(
            machine=machine,
            path="/runs/{id}",
            seconds_per_rate=args.seconds,
            p99_target_ms=P99_TARGET_S * 1000,
            target_rate=TARGET_RATE,
            floor=floor.figures(),
            idle=[outcome.figures() for outcome in idle],
            training=[outcome.figures() for outcome in busy],
        )
        write(Path(args.json), results)
    at = rates.index(TARGET_RATE) if TARGET_RATE in rates else -1
    if at < 0:
        return 0
    p99s = (percentile(idle[at].latencies, 99), percentile(busy[at].latencies, 99))
    ok = max(p99s) <= P99_TARGET_S and idle[at].failed == busy[at].failed == 0
    print(
        f"GET /runs/{{id}} at {TARGET_RATE} rps: p99 idle {p99s[0] * 1000:.2f} ms, training "
        f"{p99s[1] * 1000:.2f} ms (target <= {P99_TARGET_S * 1000:.0f} ms) -> {verdict(ok)}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
