"""What the latency benchmarks share: percentiles, log timestamps, machine load, and a
char tokenizer plus a training run started through the API."""

from __future__ import annotations

import math
import os
import shutil
import time
from datetime import datetime
from pathlib import Path

from model_trainer.api.schemas.runs import RunPublic, RunQueued
from model_trainer.client.raw import request
from model_trainer.tokenizers.corpus import HoldoutStrategy
from model_trainer.training.config import DataSpec, ModelSpec, RunConfig, TrainerSpec
from stack import SHARED_CORPUS

CORPUS = "text.txt"
WORDS = "the king and queen of a quiet town spoke with every friend they met".split()


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank `q`-th percentile (0-100) of `values`; p100 is the maximum."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def epoch_of(iso_timestamp: str) -> float:
    """Seconds since the epoch of a log record's ISO-8601 UTC `timestamp` field."""
    return datetime.fromisoformat(iso_timestamp).timestamp()


def load_note() -> str:
    """The machine's load averages, printed beside every figure (the cores are shared)."""
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def api_pid(port: int) -> int:
    """The process serving the API on `port` (its command line names the port)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                args = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"api" in args and str(port).encode() in args:
                return int(entry.name)
    raise SystemExit(f"no API process on port {port}")


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def write_corpus(folder: Path, lines: int = 200) -> None:
    """Shakespeare when it is beside the project (and `lines` is 0), else generated lines."""
    folder.mkdir(parents=True, exist_ok=True)
    if lines == 0 and SHARED_CORPUS.is_file():
        shutil.copy(SHARED_CORPUS, folder / CORPUS)
        return
    count = lines or 20_000
    text = [" ".join(WORDS[(i * 7 + j) % len(WORDS)] for j in range(8)) for i in range(count)]
    (folder / CORPUS).write_text("\n".join(text) + "\n", encoding="utf-8")


def start_run(base: str, tokenizer_id: str, steps: int, log_interval: int = 10) -> str:
    """Queue a GPT-2 nano run (block 64, batch 12) through the API; its id."""
    config = RunConfig(
        model=ModelSpec(size="nano", max_seq_len=64),
        data=DataSpec(
            tokenizer_id=tokenizer_id, corpus_path=CORPUS, holdout_strategy=HoldoutStrategy.TAIL
        ),
        trainer=TrainerSpec(max_steps=steps, log_interval=log_interval, eval_steps=5),
    )
    status, raw = request("POST", base + "/runs/train", config)
    if status != 202:
        raise SystemExit(f"POST /runs/train answered {status}: {raw[:300]!r}")
    return RunQueued.model_validate_json(raw).run_id


def run_status(base: str, run_id: str) -> RunPublic:
    return RunPublic.model_validate_json(request("GET", f"{base}/runs/{run_id}")[1])


def wait_run(base: str, run_id: str, until_step: int | None = None, timeout_s: float = 600) -> str:
    """Wait until the run ended (or, with `until_step`, trains past that step); its status."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        run = run_status(base, run_id)
        if run.status in ("completed", "failed", "cancelled"):
            return str(run.status)
        if until_step is not None and run.progress.step >= until_step:
            return str(run.status)
        time.sleep(0.1)
    raise SystemExit(f"run {run_id} did not get there in {timeout_s:.0f} s")
