"""The scaling plots in docs/img/, drawn from what the benchmarks wrote with `--json`.

Three PNGs: dataset tokenization time and peak memory vs corpus size
(`dataset_encode.py`), training tokens/s and fraction of the fp32 matmul peak vs model size
(`model_scaling.py`), and API latency vs request rate, idle and while a run trains
(`api_latency.py`). A plot whose figures file is missing is skipped with a note. Measures
nothing itself and needs no torch: it runs in a second or two.
Run: `python bench/plots.py [--tokenization F] [--models F] [--api F] [--out DIR]`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from plotting import Line, Panel, Scale, Threshold, save
from results import (
    ApiLatencyResults,
    Machine,
    ModelScalingResults,
    ResultsT,
    TokenizationResults,
    read,
)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "docs" / "data"
IDLE, TRAINING = "tab:blue", "tab:orange"


class Args(argparse.Namespace):
    """Command-line options, typed."""

    tokenization: Path
    models: Path
    api: Path
    out: Path


def load(machine: Machine) -> str:
    """The load beside the figures, as every table in BENCHMARKS.md gives it."""
    return (
        f"Load (1-minute average) {machine.load_start:.1f} at the start, "
        f"{machine.load_end:.1f} at the end, on {machine.cores} cores."
    )


def megabytes(mb: float) -> str:
    return f"{mb / 1000:g} GB" if mb >= 1000 else f"{mb:g} MB"


def tokenization(results: TokenizationResults, out: Path) -> bool:
    points = results.scale
    if not points:
        print("no corpus sizes in the tokenization figures (run with --scale)")
        return False
    sizes = [p.corpus_mb for p in points]
    ticks = [(p.corpus_mb, megabytes(round(p.corpus_mb))) for p in points]
    size_axis = Scale("corpus size (log)", log=True, ticks=ticks)
    time_panel = Panel(
        title="Time to prepare (labels: throughput)",
        x=size_axis,
        y=Scale("seconds (log)", log=True),
        lines=[
            Line(
                "prepare_dataset",
                sizes,
                [p.seconds for p in points],
                point_labels=[f"{p.mb_per_s:.1f} MB/s" for p in points],
                label_at="below right",
            )
        ],
        legend_at="upper left",
    )
    memory_panel = Panel(
        title="Peak memory",
        x=size_axis,
        # Headroom above the target for the legend.
        y=Scale("peak memory (MB, log)", log=True, top=results.rss_target_mb * 4),
        lines=[
            Line("all processes, RSS summed", sizes, [p.rss_mb for p in points]),
            Line("all processes, PSS summed", sizes, [p.pss_mb for p in points], dashed=True),
            Line("preparing process", sizes, [p.own_mb for p in points], marker="s"),
            # Below the size at which workers start there are none; no point rather than 0 MB.
            Line(
                "largest worker",
                [p.corpus_mb for p in points if p.worker_mb],
                [p.worker_mb for p in points if p.worker_mb],
                marker="^",
            ),
        ],
        thresholds=[
            Threshold(f"target at 1 GB: {results.rss_target_mb:.0f} MB", results.rss_target_mb)
        ],
        legend_at="upper left",
    )
    caption = (
        f"Byte-level BPE, vocab {results.vocab}, {results.threads} threads/workers; the same "
        f"text repeated; each size in a fresh process, memory sampled every 50 ms. "
        + load(results.machine)
    )
    save(out, "Dataset tokenization vs corpus size", [time_panel, memory_panel], caption)
    return True


def models(results: ModelScalingResults, out: Path) -> bool:
    points = results.models
    params = [float(p.params) for p in points]
    shapes = [p.name for p in points]
    ticks = [(float(p.params), f"{p.params / 1e6:.2g}M") for p in points]
    params_axis = Scale("parameters (log)", log=True, ticks=ticks)
    speed = Panel(
        title="Training throughput (labels: layers/heads/width)",
        x=params_axis,
        y=Scale("tokens/s (log)", log=True),
        lines=[
            Line("bare loop, fp32", params, [p.tokens_per_s for p in points], point_labels=shapes)
        ],
        legend_at="upper right",
    )
    share = Panel(
        title="Fraction of the fp32 matmul peak",
        x=params_axis,
        y=Scale("achieved / peak FLOP/s", percent=True, from_zero=True),
        lines=[
            Line(
                "achieved (labels: GFLOP/s)",
                params,
                [p.fraction_of_peak for p in points],
                color="tab:green",
                point_labels=[f"{p.gflops:.0f}" for p in points],
                label_at="below",
            )
        ],
        thresholds=[Threshold(f"peak: {results.matmul_peak_gflops:.0f} GFLOP/s", 1.0, "gray")],
        legend_at="lower right",
    )
    batches = sorted({p.batch for p in points})
    caption = (
        f"GPT-2, vocab {results.vocab}, block {results.block}, batch "
        f"{'/'.join(str(b) for b in batches)}; forward, backward, AdamW in fp32; "
        f"{results.threads} threads on {results.device}. FLOPs per token: 6 x params + 12 x "
        f"layers x block x width. Peak: best square fp32 matmul ({results.matmul_size} wide). "
        + load(results.machine)
    )
    save(out, "Training speed vs model size", [speed, share], caption)
    return True


def latency(results: ApiLatencyResults, out: Path) -> bool:
    lines: list[Line] = []
    failures: list[str] = []
    for label, points, color in (
        ("idle", results.idle, IDLE),
        ("training", results.training, TRAINING),
    ):
        rates = [float(p.rate) for p in points]
        lines.append(Line(f"{label}, p50", rates, [p.p50_ms for p in points], color, dashed=True))
        lines.append(Line(f"{label}, p99", rates, [p.p99_ms for p in points], color))
        failures += [f"{p.failed} at {p.rate} req/s {label}" for p in points if p.failed]
    floor = results.floor
    lines.append(
        Line(
            "generator alone (stub server), p99",
            [float(floor.rate)],
            [floor.p99_ms],
            "gray",
            marker="x",
        )
    )
    rates = sorted({p.rate for p in results.idle + results.training})
    target = Threshold(
        f"target: p99 <= {results.p99_target_ms:g} ms at {results.target_rate} req/s",
        results.p99_target_ms,
    )
    panel = Panel(
        title=f"GET {results.path}, open-loop load, {results.seconds_per_rate:g} s per rate",
        x=Scale("request rate (req/s, log)", log=True, ticks=[(float(r), str(r)) for r in rates]),
        y=Scale("latency from scheduled send (ms, log)", log=True),
        lines=lines,
        thresholds=[target],
        legend_at="upper left",
    )
    failed = ", ".join(failures) or "none"
    caption = (
        "Training: a GPT-2 nano run in the worker on the same cores. Requests failed for want "
        f"of a free connection (256 at most): {failed}. " + load(results.machine)
    )
    save(out, "API latency vs request rate", [panel], caption)
    return True


def draw(
    source: Path, kind: type[ResultsT], plot: Callable[[ResultsT, Path], bool], png: Path
) -> bool:
    """`plot` the figures in `source` into `png`; False (with a note) if there are none."""
    if not source.is_file():
        print(f"no {source}: {png.name} not drawn")
        return False
    if not plot(read(source, kind), png):
        return False
    print(f"{png} drawn from {source}")
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tokenization", type=Path, default=DATA / "dataset_encode.json")
    parser.add_argument("--models", type=Path, default=DATA / "model_scaling.json")
    parser.add_argument("--api", type=Path, default=DATA / "api_latency.json")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    args = parser.parse_args(namespace=Args())
    drawn = [
        draw(args.tokenization, TokenizationResults, tokenization, args.out / "tokenization.png"),
        draw(args.models, ModelScalingResults, models, args.out / "model_scaling.png"),
        draw(args.api, ApiLatencyResults, latency, args.out / "api_latency.png"),
    ].count(True)
    print(f"{drawn} of 3 plots drawn")
    return 0 if drawn else 1


if __name__ == "__main__":
    raise SystemExit(main())
