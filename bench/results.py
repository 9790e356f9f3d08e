"""The figures the scaling benchmarks write with `--json` and `bench/plots.py` reads back.

Kept apart from the benchmarks so that drawing the plots loads pydantic only, not torch,
the tokenizers or a running stack.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """A results record: unknown fields are an error, so a renamed field cannot pass silently.
    A percentile of no requests is NaN, written as such so that it reads back."""

    model_config = ConfigDict(extra="forbid", ser_json_inf_nan="constants")


class Machine(Strict):
    """Where and under what load the figures were taken (the cores are shared)."""

    cores: int
    load_start: float
    """The 1-minute load average when the measurements started."""
    load_end: float = 0.0

    @classmethod
    def now(cls) -> Machine:
        return cls(cores=os.cpu_count() or 1, load_start=os.getloadavg()[0])

    def finish(self) -> None:
        self.load_end = os.getloadavg()[0]


class TokenizationPoint(Strict):
    """One corpus size prepared by `prepare_dataset` in a fresh process."""

    corpus_mb: float
    seconds: float
    mb_per_s: float
    start_mb: float
    """The preparing process's RSS after its imports, before it started."""
    own_mb: float
    """The preparing process's peak RSS."""
    worker_mb: float
    """The largest encoding worker's peak RSS."""
    rss_mb: float
    """Peak RSS of the preparing process and its workers, summed."""
    pss_mb: float
    """Peak PSS of the same processes, summed (shared pages split between their users)."""


class TokenizationComparison(Strict):
    """Medians of the alternating rounds against the library's batch encoder."""

    corpus_mb: float
    rounds: int
    library_mb_per_s: float
    prepare_mb_per_s: float
    encode_mb_per_s: float
    library_with_offsets_mb_per_s: float
    identical: bool


class TokenizationResults(Strict):
    """What `bench/dataset_encode.py --json` writes."""

    machine: Machine
    vocab: int
    threads: int
    rss_target_mb: float
    """At 1 GB, for every process together."""
    comparison: TokenizationComparison | None = None
    scale: list[TokenizationPoint] = []


class ModelPoint(Strict):
    """One GPT-2 size trained by the bare loop."""

    name: str
    """Layers/heads/width, as given to `--sizes`."""
    n_layer: int
    n_head: int
    n_embd: int
    params: int
    """Parameters of the model (tied embeddings counted once)."""
    flops_per_token: float
    """Training FLOPs per token: 6 * params + 12 * layers * block * width."""
    batch: int
    steps: int
    """Timed steps (after the warm-up ones)."""
    tokens_per_s: float
    gflops: float
    """Achieved: tokens/s times FLOPs per token."""
    fraction_of_peak: float
    """Achieved GFLOP/s over the measured matmul peak."""


class ModelScalingResults(Strict):
    """What `bench/model_scaling.py --json` writes."""

    machine: Machine
    device: str
    threads: int
    vocab: int
    block: int
    matmul_peak_gflops: float
    matmul_size: int
    """The side of the square fp32 matmul that reached the peak."""
    models: list[ModelPoint] = []


class LatencyPoint(Strict):
    """One request rate held for a while against one path."""

    rate: int
    requests: int
    """Requests answered."""
    failed: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    send_lag_p99_ms: float
    """How late requests left the generator (p99): its own share of the latency."""
    connections: int
    """Connections opened during this rate."""
    server_cpu_ms_per_request: float


class ApiLatencyResults(Strict):
    """What `bench/api_latency.py --json` writes."""

    machine: Machine
    path: str
    seconds_per_rate: float
    p99_target_ms: float
    target_rate: int
    floor: LatencyPoint
    """The generator against a stub server at the highest rate."""
    idle: list[LatencyPoint]
    training: list[LatencyPoint]


ResultsT = TypeVar("ResultsT", TokenizationResults, ModelScalingResults, ApiLatencyResults)


def write(path: Path, results: Strict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(results.model_dump_json(indent=2) + "\n", encoding="utf-8")
    print(f"figures written to {path}")


def read(path: Path, kind: type[ResultsT]) -> ResultsT:
    return kind.model_validate_json(path.read_text(encoding="utf-8"))
