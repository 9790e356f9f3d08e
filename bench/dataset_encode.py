"""Dataset tokenization: our preparation path vs the `tokenizers` library's batch encoder.

One invocation trains a byte-level BPE (vocab 8000, in a child process) once on a ~33 MB
corpus, then times in alternating rounds (a) the library's `encode_batch_fast` over the corpus
in 64 KiB chunks cut at line ends, 64 chunks per call, ids gathered into an array, (b)
`prepare_dataset` writing `train.bin` (hashing, the line split, encoding and fsync included;
nothing held out) and (c) `encode_file` alone on the corpus; checks that all three hold the
same ids, and prints MB/s and the ratio of (b) to (a) against the target. Then it prepares
corpora of growing size (the same text repeated) in a child process each and prints time and
peak memory. With `--json PATH` it also writes those figures, for `bench/plots.py`.
Run: `python bench/dataset_encode.py [--scale 1,10,100,1000] [--json PATH]`.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from array import array
from pathlib import Path

THREADS = os.cpu_count() or 1
os.environ.setdefault("RAYON_NUM_THREADS", str(THREADS))  # before tokenizers starts its pool

from pydantic import BaseModel  # noqa: E402
from tokenizers import Encoding  # noqa: E402

from model_trainer.core.contracts.tokenizer import TokenizerConfig, TokenizerMethod  # noqa: E402
from model_trainer.core.logging import Log  # noqa: E402
from model_trainer.plugins.tokenizers.bpe import byte_level_bpe  # noqa: E402
from model_trainer.tokenizers.corpus import HoldoutStrategy, iter_text_chunks  # noqa: E402
from model_trainer.tokenizers.hf_handle import TOKENIZER_JSON, HfTokenizerHandle  # noqa: E402
from model_trainer.training.data.dataset import prepare_dataset  # noqa: E402
from model_trainer.training.data.encode import CHUNK_BYTES, LIBRARY_BATCH, encode_file  # noqa: E402
from results import (  # noqa: E402
    Machine,
    TokenizationComparison,
    TokenizationPoint,
    TokenizationResults,
    write,
)

TARGET = 2.0
RSS_TARGET_MB = 1500
VOCAB = 8000


class Figures(BaseModel):
    """What a child process reports about one preparation."""

    seconds: float
    start_mb: float
    own_mb: float
    worker_mb: float
    rss_mb: float = 0.0
    pss_mb: float = 0.0


class Args(argparse.Namespace):
    """Command-line options, typed."""

    mb: int
    rounds: int
    scale: str
    json: str
    child: str
    train: str


def library_ids(handle: HfTokenizerHandle, corpus: Path, fast: bool = True) -> array[int]:
    """The baseline: the library's batch encoder over the same chunks our path encodes
    (`encode_batch_fast`, or `encode_batch`, which also computes offsets)."""
    tokenizer = handle.tokenizer

    def encode(texts: list[str]) -> list[Encoding]:
        if fast:
            return tokenizer.encode_batch_fast(texts, add_special_tokens=False)
        return tokenizer.encode_batch(texts, add_special_tokens=False)

    ids: array[int] = array("H")
    batch: list[str] = []
    for text, _size in iter_text_chunks(corpus, CHUNK_BYTES):
        batch.append(text)
        if len(batch) == LIBRARY_BATCH:
            for encoding in encode(batch):
                ids.extend(encoding.ids)
            batch = []
    for encoding in encode(batch):
        ids.extend(encoding.ids)
    return ids


def prepare(corpus: Path, tokenizer_dir: Path, cache: Path) -> Path:
    """Our path: a dataset with nothing held out, so `train.bin` holds the whole corpus."""
    handle = HfTokenizerHandle.from_dir(tokenizer_dir, unk_token=None)
    dataset = prepare_dataset(
        files=[corpus],
        corpus_root=corpus.parent,
        handle=handle,
        tokenizer_id="bench",
        holdout_fraction=0.0,
        holdout_strategy=HoldoutStrategy.TAIL,
        seed=0,
        cache_root=cache,
        log=Log("data"),
    )
    return dataset.train_path()


def write_repeated(source: str, target: Path, megabytes: int) -> None:
    """`source` (whole lines) written again and again, cut at a line end near the size."""
    limit = megabytes * 1_000_000
    written = 0
    with target.open("w", encoding="utf-8") as out:
        while written < limit:
            piece = source[: limit - written]
            piece = piece[: piece.rfind("\n") + 1]
            if not piece:
                break
            out.write(piece)
            written += len(piece.encode())


def tree_memory_mb(pid: int) -> tuple[float, float]:
    """Memory of `pid` and its descendants: RSS summed (pages shared after a fork count once
    per process) and PSS summed (shared pages split between their users)."""
    rss = pss = 0
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            rollup = Path(f"/proc/{current}/smaps_rollup").read_text()
            children = Path(f"/proc/{current}/task/{current}/children").read_text()
        except OSError:
            continue
        for line in rollup.splitlines():
            if line.startswith("Rss:"):
                rss += int(line.split()[1])
            elif line.startswith("Pss:"):
                pss += int(line.split()[1])
        todo += [int(c) for c in children.split()]
    return rss / 1024, pss / 1024


def measure(corpus: Path, tokenizer_dir: Path, cache: Path) -> Figures:
    """Prepare `corpus` in a child process; its time and peak memory."""
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", f"{corpus}|{tokenizer_dir}|{cache}"],
        stdout=subprocess.PIPE,
    )
    peak_rss = peak_pss = 0.0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak_rss, peak_pss
        while not stop.wait(0.05):
            rss, pss = tree_memory_mb(proc.pid)
            peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _err = proc.communicate()
    stop.set()
    sampler.join()
    if proc.wait() != 0:
        raise SystemExit(f"preparation failed for {corpus}")
    figures = Figures.model_validate_json(out.splitlines()[-1])  # after any log lines
    figures.rss_mb, figures.pss_mb = peak_rss, peak_pss
    return figures


def train(corpus: Path, tokenizer_dir: Path) -> int:
    tokenizer, trainer = byte_level_bpe(
        TokenizerConfig(method=TokenizerMethod.BPE, vocab_size=VOCAB, min_frequency=2)
    )
    tokenizer.train([str(corpus)], trainer)
    tokenizer_dir.mkdir()
    tokenizer.save(str(tokenizer_dir / TOKENIZER_JSON))
    return 0


def status_mb(field: str) -> float:
    """A memory figure of this process from /proc/self/status, in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def child(spec: str) -> int:
    corpus, tokenizer_dir, cache = (Path(p) for p in spec.split("|"))
    start = status_mb("VmRSS")
    started = time.perf_counter()
    prepare(corpus, tokenizer_dir, cache)
    seconds = time.perf_counter() - started
    own = status_mb("VmHWM")  # unlike ru_maxrss, not carried over from before exec
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    figures = Figures(seconds=seconds, start_mb=start, own_mb=own, worker_mb=workers)
    sys.stdout.write(figures.model_dump_json())
    return 0


def compare(args: Args, work: Path, corpus: Path, tokenizer_dir: Path) -> TokenizationComparison:
    handle = HfTokenizerHandle.from_dir(tokenizer_dir, unk_token=None)
    mb = corpus.stat().st_size / 1e6
    seconds: dict[str, list[float]] = {"library": [], "prepare": [], "encode": []}
    identical = True
    for r in range(args.rounds):
        order = list(seconds) if r % 2 == 0 else list(reversed(seconds))
        files: dict[str, bytes] = {}
        for side in order:
            started = time.perf_counter()
            if side == "library":
                files[side] = library_ids(handle, corpus).tobytes()
            elif side == "prepare":
                files[side] = prepare(corpus, tokenizer_dir, work / f"datasets-{r}").read_bytes()
            else:
                encode_file(corpus, work / "ids.bin", handle, "H", lambda _size: None)
                files[side] = (work / "ids.bin").read_bytes()
            seconds[side].append(time.perf_counter() - started)  # includes reading the file back
        shutil.rmtree(work / f"datasets-{r}")
        same = files["prepare"] == files["library"] == files["encode"]
        identical = identical and same
        print(
            f"  round {r + 1}: library {seconds['library'][-1]:.2f} s, "
            f"prepare_dataset {seconds['prepare'][-1]:.2f} s, "
            f"encode_file {seconds['encode'][-1]:.2f} s, "
            f"{len(files['library']) // 2:,} ids, identical: {same}"
        )
    started = time.perf_counter()
    with_offsets = library_ids(handle, corpus, fast=False).tobytes()
    slow = mb / (time.perf_counter() - started)
    identical = identical and with_offsets == files["library"]
    print(f"  for reference, the library's encode_batch (offsets too): {slow:.2f} MB/s, once")
    rate = {side: mb / statistics.median(times) for side, times in seconds.items()}
    ratio = rate["prepare"] / rate["library"]
    print(
        f"{mb:.1f} MB, vocab {VOCAB}, {THREADS} threads/workers: prepare_dataset "
        f"{rate['prepare']:.2f} MB/s vs library {rate['library']:.2f} MB/s -> ratio "
        f"{ratio:.2f} (target >= {TARGET}); encoding alone {rate['encode']:.2f} MB/s, ratio "
        f"{rate['encode'] / rate['library']:.2f}; ids identical: {identical}"
    )
    return TokenizationComparison(
        corpus_mb=mb,
        rounds=args.rounds,
        library_mb_per_s=rate["library"],
        prepare_mb_per_s=rate["prepare"],
        encode_mb_per_s=rate["encode"],
        library_with_offsets_mb_per_s=slow,
        identical=identical,
    )


def scale(
    sizes: list[int], work: Path, corpus: Path, tokenizer_dir: Path
) -> tuple[list[TokenizationPoint], bool]:
    """Time and peak memory of each size, and whether 1 GB and above kept to the target."""
    text = corpus.read_text(encoding="utf-8")
    points: list[TokenizationPoint] = []
    verdict = True
    print(
        "| corpus | seconds | MB/s | preparing process (after imports) | largest worker "
        "| all processes, RSS summed | all processes, PSS summed |"
    )
    for size in sizes:
        big = work / f"repeated-{size}mb.txt"
        write_repeated(text, big, size)
        figures = measure(big, tokenizer_dir, work / f"datasets-{size}")
        mb = big.stat().st_size / 1e6
        big.unlink()
        shutil.rmtree(work / f"datasets-{size}")
        print(
            f"| {mb:.0f} MB | {figures.seconds:.1f} | {mb / figures.seconds:.1f} "
            f"| {figures.own_mb:.0f} MB ({figures.start_mb:.0f} MB) | {figures.worker_mb:.0f} MB "
            f"| {figures.rss_mb:.0f} MB | {figures.pss_mb:.0f} MB |"
        )
        points.append(
            TokenizationPoint(
                corpus_mb=mb,
                seconds=figures.seconds,
                mb_per_s=mb / figures.seconds,
                start_mb=figures.start_mb,
                own_mb=figures.own_mb,
                worker_mb=figures.worker_mb,
                rss_mb=figures.rss_mb,
                pss_mb=figures.pss_mb,
            )
        )
        if size >= 1000:
            verdict = verdict and figures.rss_mb <= RSS_TARGET_MB
            print(
                f"peak RSS at {mb:.0f} MB: {figures.rss_mb:.0f} MB, every process summed "
                f"(target <= {RSS_TARGET_MB} MB)"
            )
    return points, verdict


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=int, default=33, help="corpus size for the comparison")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scale", default="1,10,100,1000", help="sizes in MB ('' to skip)")
    parser.add_argument("--json", default="", help="also write the figures to this file")
    parser.add_argument("--child", default="", help=argparse.SUPPRESS)
    parser.add_argument("--train", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(namespace=Args())
    if args.child:
        return child(args.child)
    if args.train:
        return train(*(Path(p) for p in args.train.split("|")))
    # Imported here so that measured children load only what preparing a dataset needs.
    from tokenizer_train import build_corpus

    work = Path(tempfile.mkdtemp(prefix="bench-dataset-"))
    results = TokenizationResults(
        machine=Machine.now(), vocab=VOCAB, threads=THREADS, rss_target_mb=RSS_TARGET_MB
    )
    try:
        corpus = build_corpus(work, args.mb)
        with corpus.open("a", encoding="utf-8") as out:
            out.write("\n")  # whole lines, as the split writes them
        tokenizer_dir = work / "tokenizer"
        # Trained in a child: training leaves this process's heap and thread pool in a state
        # that slows what runs after it, and neither a job nor the baseline starts that way.
        subprocess.run(
            [sys.executable, __file__, "--train", f"{corpus}|{tokenizer_dir}"], check=True
        )
        print(f"load: {os.getloadavg()[0]:.2f} (1 min average), {THREADS} cores")
        comparison = compare(args, work, corpus, tokenizer_dir)
        results.comparison = comparison
        verdicts = [
            comparison.identical
            and comparison.prepare_mb_per_s / comparison.library_mb_per_s >= TARGET
        ]
        sizes = [int(s) for s in args.scale.split(",") if s]
        if sizes:
            results.scale, within = scale(sizes, work, corpus, tokenizer_dir)
            verdicts.append(within)
        print(f"load: {os.getloadavg()[0]:.2f} (1 min average)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results.machine.finish()
    if args.json:
        write(Path(args.json), results)
    return 0 if all(verdicts) else 1


if __name__ == "__main__":
    raise SystemExit(main())
