"""`GET /runs/{id}/metrics`: bytes and time of a first load and of a poll, by run length.

Plants completed runs with 1,000, 100,000 and 1,000,000 logged steps (realistic records:
loss, lr, tokens/s, tokens seen, MFU and time; an evaluation every 50 steps) in the
artifacts of a private stack (Redis, API, worker: `bench/stack.py`), then asks the real API
over HTTP with `Accept-Encoding: gzip`, as the dashboard does:

- full: `after=0`, every record (what a first load cost before `points`);
- points: `after=0&points=2000`, the dashboard's first load now; "build" is the very
  first read of the run (the API parses every line to index the file, and writes the index
  beside it, `.metrics.index`), "warm" the median of later ones;
- poll: `after=<records - 10>`, what the dashboard asks every few seconds;
- restarted: the same first load from a new API process (the whole stack is stopped and
  started again, `--restarts` times, median), which finds each run's sidecar on disk (and,
  as after a usual restart, the files in the page cache).

Before the first load of a run, both stacks ask `GET /runs/{id}` once, as the dashboard does
when it opens a run, so a new process's first-call costs are not counted as the index's.

Bytes are on the wire (gzip) and of the JSON. Beside the API, in this process: a poll
through the index against the same poll by a full scan of the file (`metrics_after`, how
every page was read before the index), and a first load by a new index object reading the
sidecar. Run: `python bench/metrics_read.py [--sizes 1000,...] [--restarts 3]`.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import math
import statistics
import tempfile
import time
from pathlib import Path

from model_trainer.core.contracts.events import utc_now
from model_trainer.core.contracts.model import Architecture
from model_trainer.core.job_status import JobStatus
from model_trainer.infra.atomic import write_model
from model_trainer.training.config import DataSpec, RunConfig
from model_trainer.training.run.manifest import (
    MetricRecord,
    RunManifest,
    TokenizerRef,
    metrics_after,
)
from model_trainer.training.run.metrics_index import MetricsIndexes, sidecar_path
from results import Machine
from stack import running_stack

EVAL_EVERY = 50
POINTS = 2000
REPEATS = 7
SETTLE_S = 3.0
"""Wait after the stack answers, so the worker's own start does not share the cores."""


class Args(argparse.Namespace):
    """Command-line options, typed."""

    sizes: str
    restarts: int


def _records(steps: int) -> bytes:
    """`steps` training records and an evaluation every `EVAL_EVERY`, as the loop logs them."""
    out: list[str] = []
    t0 = 1_700_000_000.0
    for step in range(1, steps + 1):
        loss = 2.0 + 8.0 / (1 + step / 500) + 0.05 * ((step * 7919) % 101) / 101
        out.append(
            MetricRecord(
                kind="train",
                step=step,
                loss=loss,
                lr=3e-4 * min(1.0, step / 2000),
                tokens_per_s=51234.5 + step % 977,
                tokens_seen=step * 16384,
                mfu=0.3121,
                time=t0 + step * 0.31,
            ).line()
        )
        if step % EVAL_EVERY == 0:
            out.append(
                MetricRecord(
                    kind="eval",
                    step=step,
                    train_loss=loss,
                    val_loss=loss + 0.07,
                    val_perplexity=math.exp(loss + 0.07),
                    val_bits_per_byte=1.42,
                    tokens_seen=step * 16384,
                    time=t0 + step * 0.31,
                ).line()
            )
    return "".join(out).encode()


def _plant(artifacts: Path, run_id: str, steps: int) -> Path:
    """A completed run of `steps` steps with nothing but its manifest and metrics."""
    folder = artifacts / "models" / run_id
    folder.mkdir(parents=True)
    arch = Architecture(
        family="gpt2", n_layer=1, n_head=1, n_embd=8, max_seq_len=4, vocab_size=5, dropout=0.0
    )
    manifest = RunManifest(
        run_id=run_id,
        status=JobStatus.COMPLETED,
        config=RunConfig(data=DataSpec(tokenizer_id="tok", corpus_path="story.txt")),
        tokenizer=TokenizerRef(tokenizer_id="tok", method="char", vocab_size=5),
        architecture=arch,
        parameters=1,
        created_at=utc_now(),
    )
    write_model(folder / "manifest.json", manifest)
    (folder / "metrics.jsonl").write_bytes(_records(steps))
    return folder / "metrics.jsonl"


def _get(base: str, target: str) -> tuple[float, int, int]:
    """(seconds to the last byte, bytes on the wire, bytes of JSON) of one gzip-accepting GET."""
    port = int(base.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        start = time.perf_counter()
        conn.request("GET", target, headers={"Accept-Encoding": "gzip"})
        response = conn.getresponse()
        body = response.read()
        seconds = time.perf_counter() - start
        if response.status != 200:
            raise SystemExit(f"{target}: {response.status} {body[:200]!r}")
        zipped = response.getheader("content-encoding") == "gzip"
        return seconds, len(body), len(gzip.decompress(body)) if zipped else len(body)
    finally:
        conn.close()


def _median(base: str, target: str, repeats: int) -> tuple[float, int, int]:
    samples = [_get(base, target) for _ in range(repeats)]
    return statistics.median(s[0] for s in samples), samples[0][1], samples[0][2]


def _row(name: str, figures: tuple[float, int, int]) -> str:
    seconds, wire, raw = figures
    return (
        f"  {name:<12} {seconds * 1000:9.1f} ms  {wire / 1e3:10.1f} kB gzip"
        f"  {raw / 1e3:10.1f} kB JSON"
    )


def _in_process(path: Path, lines: int) -> str:
    """A poll of the last 10 lines: by a full scan (before the index) and by the index; and
    a first load by a new index object, from the sidecar."""
    after = lines - 10
    start = time.perf_counter()
    metrics_after(path, after)
    scan = time.perf_counter() - start
    indexes = MetricsIndexes()
    indexes.read(path, after)  # reads the sidecar the API wrote
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        indexes.read(path, after)
        times.append(time.perf_counter() - start)
    indexed = statistics.median(times)
    loads = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        MetricsIndexes().read(path, 0, points=POINTS)
        loads.append(time.perf_counter() - start)
    return (
        f"  in process: poll by full scan {scan * 1000:.1f} ms, by index {indexed * 1000:.2f} ms"
        f" ({scan / indexed:,.0f}x); first load from the sidecar"
        f" {statistics.median(loads) * 1000:.1f} ms"
    )


def _measure(base: str, run_id: str, path: Path) -> None:
    url = f"/runs/{run_id}/metrics"
    _get(base, f"/runs/{run_id}")  # as the dashboard opens a run: the process's first calls
    built = _get(base, f"{url}?after=0&points={POINTS}")
    warm = _median(base, f"{url}?after=0&points={POINTS}", REPEATS)
    full = _median(base, f"{url}?after=0", 1 if built[2] > 50e6 else 3)
    lines = path.read_bytes().count(b"\n")
    poll = _median(base, f"{url}?after={lines - 10}", REPEATS * 3)
    for name, figures in [("full", full), ("points build", built), ("points warm", warm)]:
        print(_row(name, figures))
    print(_row("poll", poll))
    print(
        f"  full / points (warm): {full[0] / warm[0]:.0f}x time, {full[1] / warm[1]:.0f}x wire "
        f"bytes, {full[2] / warm[2]:.0f}x JSON bytes; full / poll: {full[0] / poll[0]:.0f}x time"
    )
    sidecar = sidecar_path(path)
    size = f"{sidecar.stat().st_size / 1e3:,.0f} kB" if sidecar.is_file() else "none"
    print(f"  sidecar: {size}")
    print(_in_process(path, lines))


def _restarted(work: Path, paths: dict[str, Path], restarts: int) -> None:
    """The first load of each run from a new API process, which finds the sidecars."""
    samples: dict[str, list[tuple[float, int, int]]] = {run_id: [] for run_id in paths}
    for _ in range(restarts):
        with running_stack(work, work / "corpus", threads=1) as base:
            time.sleep(SETTLE_S)
            for run_id in paths:
                _get(base, f"/runs/{run_id}")
                samples[run_id].append(
                    _get(base, f"/runs/{run_id}/metrics?after=0&points={POINTS}")
                )
    print(f"after a restart (new API process, sidecars on disk; median of {restarts}):")
    for run_id, path in paths.items():
        got = samples[run_id]
        seconds = statistics.median(s[0] for s in got)
        spread = f"{min(s[0] for s in got) * 1000:.1f}-{max(s[0] for s in got) * 1000:.1f} ms"
        lines = path.read_bytes().count(b"\n")
        print(_row(f"{lines:,} records", (seconds, got[0][1], got[0][2])) + f"  ({spread})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,100000,1000000", help="logged steps per run")
    parser.add_argument("--restarts", type=int, default=3, help="API restarts to time")
    args = parser.parse_args(namespace=Args())
    sizes = [int(s) for s in args.sizes.split(",")]
    machine = Machine.now()
    with tempfile.TemporaryDirectory(prefix="metrics-read-") as tmp:
        work = Path(tmp)
        paths = {
            f"run-00000000-{i:08x}": _plant(work / "artifacts", f"run-00000000-{i:08x}", n)
            for i, n in enumerate(sizes, start=1)
        }
        (work / "corpus").mkdir()
        with running_stack(work, work / "corpus", threads=1) as base:
            time.sleep(SETTLE_S)
            for steps, (run_id, path) in zip(sizes, paths.items(), strict=True):
                records = path.read_bytes().count(b"\n")
                mb = path.stat().st_size / 1e6
                print(f"{steps:,} steps ({records:,} records, {mb:.1f} MB file)")
                _measure(base, run_id, path)
        _restarted(work, paths, args.restarts)
    machine.finish()
    print(f"{machine.cores} cores, load {machine.load_start:.2f} -> {machine.load_end:.2f}")


if __name__ == "__main__":
    main()
