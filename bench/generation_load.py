"""`/healthz` while generation is saturated: the API must stay responsive.

Starts a private stack (Redis, API, worker), trains a char tokenizer and a GPT-2 nano run,
then times `GET /healthz` on a kept-alive connection, twenty times a second: first idle
(the baseline, measured in the same run), then while `--clients` threads each post
`POST /runs/{id}/generate` with 256 new tokens again and again. Prints the latency
percentiles of both phases and how the generation requests were answered (200, or 503
`SERVER_BUSY` with `Retry-After` once the API's generation pool and its queue are full).

    python bench/generation_load.py                  # 45 clients, 15 s, default pool
    python bench/generation_load.py --clients 45 --seconds 30
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
from pydantic import ValidationError

from latency_common import CORPUS, load_note, percentile, start_run, wait_run, write_corpus
from model_trainer.api.schemas.common import ErrorBody
from results import Machine
from stack import running_stack, train_char_tokenizer

TARGET_P99_S = 0.1
HEALTH_EVERY_S = 0.05
NEW_TOKENS = 256


class Args(argparse.Namespace):
    """Command-line options, typed."""

    clients: int
    seconds: float


def _health(base: str, seconds: float) -> list[float]:
    """`/healthz` latencies over `seconds`, one request every `HEALTH_EVERY_S`."""
    latencies: list[float] = []
    with httpx.Client(base_url=base, timeout=30) as client:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            start = time.perf_counter()
            assert client.get("/healthz").status_code == 200
            latencies.append(time.perf_counter() - start)
            time.sleep(HEALTH_EVERY_S)
    return latencies


def _code(body: bytes) -> str:
    try:
        return ErrorBody.model_validate_json(body).code
    except ValidationError:
        return "(not an error body)"


def _generate_until(
    base: str, run_id: str, stop: threading.Event, out: Counter[str], took: list[float]
) -> None:
    body = {"prompt": "ROMEO:", "max_new_tokens": NEW_TOKENS, "temperature": 0.8, "seed": 1}
    with httpx.Client(base_url=base, timeout=300) as client:
        while not stop.is_set():
            start = time.perf_counter()
            answer = client.post(f"/runs/{run_id}/generate", json=body)
            if answer.status_code in (200, 503):
                out[str(answer.status_code)] += 1
            if answer.status_code == 200:
                took.append(time.perf_counter() - start)
            elif answer.status_code == 503:
                stop.wait(0.2)  # a polite client waits a little; a hostile one would not
            else:
                out[f"{answer.status_code} {_code(answer.content)}"] += 1


def _row(name: str, values: list[float]) -> str:
    return (
        f"{name:<12} n={len(values):<5} p50 {percentile(values, 50) * 1000:7.1f} ms   "
        f"p99 {percentile(values, 99) * 1000:7.1f} ms   max {max(values) * 1000:7.1f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=45)
    parser.add_argument("--seconds", type=float, default=15.0)
    args = parser.parse_args(namespace=Args())
    work = Path(tempfile.mkdtemp(prefix="bench-genload-"))
    write_corpus(work / "corpus", lines=0)
    machine = Machine.now()
    with running_stack(work, work / "corpus", 2) as base:
        tokenizer_id = train_char_tokenizer(base, CORPUS)
        run_id = start_run(base, tokenizer_id, steps=20)
        wait_run(base, run_id)
        print(f"idle ({load_note()})")
        idle = _health(base, 5.0)
        stop, outcomes, took = threading.Event(), Counter[str](), list[float]()
        clients = [
            threading.Thread(target=_generate_until, args=(base, run_id, stop, outcomes, took))
            for _ in range(args.clients)
        ]
        for client in clients:
            client.start()
        time.sleep(2.0)  # every client has sent its first request
        print(f"saturated by {args.clients} generating clients ({load_note()})")
        busy = _health(base, args.seconds)
        stop.set()
        for client in clients:
            client.join()
    machine.finish()
    print(_row("idle", idle))
    print(_row("saturated", busy))
    answered = ", ".join(f"{k}: {v}" for k, v in sorted(outcomes.items()) if v)
    print(f"generate answers: {answered}")
    if took:
        print(f"generate 200s took p50 {percentile(took, 50):.2f} s, max {max(took):.2f} s")
    ratio = percentile(busy, 99) / max(percentile(idle, 99), 1e-9)
    ok = percentile(busy, 99) <= TARGET_P99_S
    print(
        f"/healthz p99 saturated / idle: {ratio:.1f}x; saturated p99 "
        f"{percentile(busy, 99) * 1000:.1f} ms (target <= {TARGET_P99_S * 1000:.0f} ms) -> "
        f"{'PASS' if ok else 'FAIL'}; load {machine.load_start:.2f} -> {machine.load_end:.2f}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
