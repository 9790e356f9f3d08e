"""Enqueue-to-start latency: our worker vs RQ's stock forking worker, one invocation.

Ours: `POST /tokenizers/train` (a char tokenizer on a tiny corpus) against a real stack;
latency runs from the moment the client sends the POST to the `timestamp` of the job's
first record in its own `logs.jsonl` (written by the work horse once the job is under way;
same machine, same clock). The baseline: RQ's stock `Worker` (`rq worker`) running a
trivial job whose module imports torch at the top, as job modules do; latency runs from
`Queue.enqueue` to the first line of the job function. Jobs go one at a time to an idle
worker, so no job waits behind another. Run: `python bench/job_latency.py`.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pydantic import BaseModel
from rq import Queue
from rq.job import Job, JobStatus

from latency_common import CORPUS, epoch_of, load_note, percentile, verdict, write_corpus
from model_trainer.api.schemas.tokenizers import TokenizerPublic, TokenizerQueued
from model_trainer.client.raw import request
from model_trainer.infra.redis_store import RedisStore
from model_trainer.jobs.layout import ArtifactLayout
from stack import char_tokenizer_body, running_redis, running_stack

P50_TARGET_S = 0.050
P99_TARGET_S = 0.200
BENCH = Path(__file__).resolve().parent
STOCK_QUEUE = "stock"


class LogRecord(BaseModel):
    """The fields of a job log record this benchmark reads."""

    timestamp: str
    event: str


class Args(argparse.Namespace):
    """Command-line options, typed."""

    jobs: int
    stock_jobs: int
    gap: float


def wait_tokenizer(base: str, tokenizer_id: str) -> str:
    while True:
        status = TokenizerPublic.model_validate_json(
            request("GET", f"{base}/tokenizers/{tokenizer_id}")[1]
        ).status
        if status in ("completed", "failed"):
            return str(status)
        time.sleep(0.01)


def ours(base: str, artifacts: Path, jobs: int, gap_s: float) -> tuple[list[float], list[float]]:
    """(enqueue -> first job log record, POST round trip) per job, in seconds."""
    starts: list[float] = []
    posts: list[float] = []
    for i in range(jobs):
        body = char_tokenizer_body(CORPUS, seed=i)
        sent = time.time()
        status, raw = request("POST", base + "/tokenizers/train", body)
        posts.append(time.time() - sent)
        if status != 202:
            raise SystemExit(f"POST /tokenizers/train answered {status}: {raw[:200]!r}")
        tokenizer_id = TokenizerQueued.model_validate_json(raw).tokenizer_id
        if wait_tokenizer(base, tokenizer_id) != "completed":
            raise SystemExit(f"tokenizer {tokenizer_id} failed; see the worker log")
        logs = ArtifactLayout(artifacts).tokenizer(tokenizer_id).logs
        first = LogRecord.model_validate_json(logs.read_text(encoding="utf-8").splitlines()[0])
        starts.append(epoch_of(first.timestamp) - sent)
        time.sleep(gap_s)  # let the worker go back to waiting on the queue
    return starts, posts


def stock(redis_url: str, work: Path, jobs: int, gap_s: float) -> list[float]:
    """Enqueue -> job function start on RQ's stock worker, in seconds."""
    rq = str(Path(sys.executable).with_name("rq"))
    args = [rq, "worker", "--url", redis_url, "--path", str(BENCH)]
    args += ["--logging_level", "WARNING", STOCK_QUEUE]
    with (work / "stock-worker.log").open("ab") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=log)
    store = RedisStore(redis_url)
    queue = Queue(STOCK_QUEUE, connection=store.client)
    latencies: list[float] = []
    try:
        for i in range(jobs):
            out = work / f"stock-{i}.txt"
            sent = time.time()
            job = queue.enqueue("rq_stock_job.record_start", str(out))
            wait_job(job, proc)
            latencies.append(float(out.read_text(encoding="utf-8")) - sent)
            time.sleep(gap_s)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        store.close()
    return latencies


def wait_job(job: Job, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while job.get_status(refresh=True) not in (JobStatus.FINISHED, JobStatus.FAILED):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the stock RQ worker did not run the job; see stock-worker.log")
        time.sleep(0.01)
    if job.get_status() is JobStatus.FAILED:
        raise SystemExit("the stock RQ worker's job failed; see stock-worker.log")


def summary(name: str, values: list[float]) -> str:
    return (
        f"{name}: p50 {percentile(values, 50) * 1000:7.1f} ms   "
        f"p99 {percentile(values, 99) * 1000:7.1f} ms   max {max(values) * 1000:7.1f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=50, help="jobs on our worker")
    parser.add_argument("--stock-jobs", type=int, default=10, help="jobs on RQ's stock worker")
    parser.add_argument("--gap", type=float, default=0.2, help="seconds between jobs")
    args = parser.parse_args(namespace=Args())
    work = Path(tempfile.mkdtemp(prefix="bench-joblat-"))
    corpus = work / "corpus"
    write_corpus(corpus, lines=200)
    warm = 2  # first jobs touch cold files and caches; not counted
    print(f"before: {load_note()}")
    with running_stack(work / "ours", corpus, 2, {"LOG_LEVEL": "INFO"}) as base:
        starts, posts = ours(base, work / "ours" / "artifacts", args.jobs + warm, args.gap)
    starts, posts = starts[warm:], posts[warm:]
    with running_redis(work / "stock") as redis_url:
        baseline = stock(redis_url, work / "stock", args.stock_jobs + warm, args.gap)[warm:]
    print(f"after:  {load_note()}")
    print(summary(f"RQ stock Worker, job imports torch ({len(baseline)} jobs)", baseline))
    print(summary(f"ours, tokenizer jobs via POST      ({len(starts)} jobs)", starts))
    print(summary("  of which the POST round trip     ", posts))
    p50, p99 = percentile(starts, 50), percentile(starts, 99)
    ok = p50 <= P50_TARGET_S and p99 <= P99_TARGET_S
    ratio = percentile(baseline, 50) / p50
    print(
        f"enqueue -> start: ours p50 {p50 * 1000:.1f} ms (target <= {P50_TARGET_S * 1000:.0f}), "
        f"p99 {p99 * 1000:.1f} ms (target <= {P99_TARGET_S * 1000:.0f}); stock/ours at p50 "
        f"{ratio:.0f}x -> {verdict(ok)}"
    )
    shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
