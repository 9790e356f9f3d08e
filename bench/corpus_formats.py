"""Preparing a JSON Lines corpus vs the same text as plain text: time and peak memory.

Writes one corpus twice in a temp dir: as JSON Lines (`{"id": n, "text": document}`, each
document 40 lines of the tokenizer benchmark's text, repeated to the size) and as the
`.txt` file those records become (each document, then an empty line). Trains a byte-level
BPE (vocab 8000) in a child, then prepares each file with `prepare_dataset` in a fresh child
process (`dataset_encode.measure`: hashing, split, encoding, fsync; memory of the process
and its workers sampled every 50 ms), alternating which goes first, and checks that both
give the same token ids. Prints seconds, MB/s and peak memory of each, and the ratios; first
it times the split alone (the one step that reads the formats differently) in-process.
Run: `python bench/corpus_formats.py [--mb 1000] [--rounds 1]`.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dataset_encode
from dataset_encode import Figures, measure
from model_trainer.tokenizers.corpus import split_corpus
from tokenizer_train import build_corpus

DOCUMENT_LINES = 40
SOURCE_MB = 33


class Args(argparse.Namespace):
    """Command-line options, typed."""

    mb: int
    rounds: int


def documents(source: Path) -> list[str]:
    """The source text in documents of `DOCUMENT_LINES` lines, empty ones dropped."""
    lines = source.read_text(encoding="utf-8").splitlines()
    docs = [
        "\n".join(lines[i : i + DOCUMENT_LINES]).strip("\n")
        for i in range(0, len(lines), DOCUMENT_LINES)
    ]
    return [doc for doc in docs if doc]


def write_both(docs: list[str], jsonl: Path, text: Path, megabytes: int) -> int:
    """The documents as JSON Lines up to the size, and as the text they become; records."""
    limit, written, count = megabytes * 1_000_000, 0, 0
    with jsonl.open("w", encoding="utf-8") as records, text.open("w", encoding="utf-8") as plain:
        while written < limit:
            doc = docs[count % len(docs)]
            record: dict[str, object] = {"id": count, "text": doc}
            line = json.dumps(record, ensure_ascii=False) + "\n"
            records.write(line)
            plain.write(doc + "\n\n")
            written += len(line.encode())
            count += 1
    return count


def train_bin(cache: Path) -> Path:
    return next(cache.glob("*/train.bin"))


def report(name: str, path: Path, figures: Figures) -> None:
    mb = path.stat().st_size / 1e6
    print(
        f"| {name} | {mb:.0f} MB | {figures.seconds:.1f} | {mb / figures.seconds:.1f} "
        f"| {figures.own_mb:.0f} MB ({figures.start_mb:.0f} MB) | {figures.worker_mb:.0f} MB "
        f"| {figures.rss_mb:.0f} MB | {figures.pss_mb:.0f} MB |"
    )


def compare(work: Path, files: dict[str, Path], tokenizer: Path, rounds: int) -> bool:
    """Each file prepared `rounds` times, alternating the order; whether the ids matched."""
    print(
        "| corpus | size | seconds | MB/s | preparing process (after imports) | largest worker "
        "| all processes, RSS summed | all processes, PSS summed |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    same = True
    best: dict[str, Figures] = {}
    for r in range(rounds):
        order = list(files) if r % 2 == 0 else list(reversed(files))
        caches = {name: work / f"datasets-{name}-{r}" for name in order}
        for name in order:
            figures = measure(files[name], tokenizer, caches[name])
            report(name, files[name], figures)
            if name not in best or figures.seconds < best[name].seconds:
                best[name] = figures
        bins = [train_bin(c) for c in caches.values()]
        same = same and filecmp.cmp(bins[0], bins[1], shallow=False)
        for cache in caches.values():
            shutil.rmtree(cache)
    jsonl, text = best["jsonl"], best["txt"]
    print(
        f"JSON Lines / plain text: time {jsonl.seconds / text.seconds:.2f}x, peak RSS summed "
        f"{jsonl.rss_mb / text.rss_mb:.2f}x, preparing process peak "
        f"{jsonl.own_mb / text.own_mb:.2f}x; identical ids: {same}"
    )
    return same


def split_alone(work: Path, files: dict[str, Path], rounds: int) -> None:
    """The step that differs between the two, timed by itself in this process: reading,
    hashing and splitting each file (nothing held out), alternating, best of `rounds`."""
    best: dict[str, float] = {}
    for r in range(max(rounds, 3)):
        for name in files if r % 2 == 0 else reversed(files):
            started = time.perf_counter()
            split = split_corpus([files[name]], work, work / f"split-{name}", 0.0, 0)
            seconds = time.perf_counter() - started
            best[name] = min(best.get(name, seconds), seconds)
            split.train_file.unlink()
    mb = {name: path.stat().st_size / 1e6 for name, path in files.items()}
    print(
        "split alone (best of 3+): "
        + ", ".join(f"{n} {best[n]:.1f} s ({mb[n] / best[n]:.0f} MB/s)" for n in files)
        + f"; JSON Lines / plain text {best['jsonl'] / best['txt']:.2f}x"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=int, default=1000, help="size of the JSON Lines corpus")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args(namespace=Args())
    work = Path(tempfile.mkdtemp(prefix="bench-formats-"))
    try:
        source = build_corpus(work, SOURCE_MB)
        tokenizer = work / "tokenizer"
        # A child trains, as in dataset_encode: training leaves this process slower after.
        train = [sys.executable, dataset_encode.__file__, "--train", f"{source}|{tokenizer}"]
        subprocess.run(train, check=True)
        files = {"txt": work / "corpus.txt", "jsonl": work / "corpus.jsonl"}
        count = write_both(documents(source), files["jsonl"], files["txt"], args.mb)
        source.unlink()
        print(f"{count:,} records; load {os.getloadavg()[0]:.2f} (1 min average)")
        split_alone(work, files, args.rounds)
        same = compare(work, files, tokenizer, args.rounds)
        print(f"load {os.getloadavg()[0]:.2f} (1 min average)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
