"""Tokenizer training: a job through the API and worker vs a direct library call.

Both train a byte-level BPE and a SentencePiece unigram model on the same ~32 MB corpus
with the same threads, in this one invocation, alternating. The job is timed from the POST
to the moment its manifest says completed (split, training, holdout stats and artifact
writes included). Run: `python bench/tokenizer_train.py`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sysconfig
import tempfile
import time
from pathlib import Path

THREADS = os.cpu_count() or 1
os.environ.setdefault("RAYON_NUM_THREADS", str(THREADS))  # before tokenizers starts its pool

import sentencepiece as spm  # noqa: E402

from model_trainer.api.schemas.tokenizers import (  # noqa: E402
    TokenizerCreate,
    TokenizerPublic,
    TokenizerQueued,
)
from model_trainer.client.raw import request  # noqa: E402
from model_trainer.core.contracts.tokenizer import TokenizerConfig, TokenizerMethod  # noqa: E402
from model_trainer.plugins.tokenizers.bpe import byte_level_bpe  # noqa: E402
from stack import SHARED_CORPUS, running_stack  # noqa: E402

TARGET = 0.9
VOCAB = 8000


class Args(argparse.Namespace):
    """Command-line options, typed."""

    mb: int
    spm_mb: int
    repeat: int
    methods: str


def build_corpus(folder: Path, megabytes: int) -> Path:
    """Shakespeare (when beside the project) and standard-library sources up to the size."""
    parts: list[str] = []
    size = 0
    if SHARED_CORPUS.is_file():
        parts.append(SHARED_CORPUS.read_text(encoding="utf-8"))
        size += len(parts[0])
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for path in sorted(stdlib.rglob("*.py")):
        if size >= megabytes * 1_000_000:
            break
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        parts.append(text)
        size += len(text.encode())
    target = folder / f"corpus-{megabytes}mb.txt"
    target.write_text("\n".join(parts), encoding="utf-8")
    return target


def direct(method: TokenizerMethod, corpus: Path, out: Path) -> float:
    started = time.perf_counter()
    if method is TokenizerMethod.BPE:
        tokenizer, trainer = byte_level_bpe(
            TokenizerConfig(method=method, vocab_size=VOCAB, min_frequency=2)
        )
        tokenizer.train([str(corpus)], trainer)
    else:
        spm.SentencePieceTrainer.train(
            input=str(corpus),
            model_prefix=str(out / "direct"),
            vocab_size=VOCAB,
            model_type="unigram",
            num_threads=THREADS,
            hard_vocab_limit=False,
            byte_fallback=True,
            character_coverage=1.0,
            normalization_rule_name="identity",
            remove_extra_whitespaces=False,
            minloglevel=2,
        )
    return time.perf_counter() - started


def job(base: str, method: TokenizerMethod, corpus: str) -> tuple[float, TokenizerPublic]:
    body = TokenizerCreate(
        method=method,
        vocab_size=VOCAB,
        min_frequency=2,
        corpus_path=corpus,
        holdout_fraction=0.1,
        seed=1,
    )
    started = time.perf_counter()
    status, raw = request("POST", base + "/tokenizers/train", body)
    if status != 202:
        raise SystemExit(f"refused: {raw.decode()}")
    tokenizer_id = TokenizerQueued.model_validate_json(raw).tokenizer_id
    while True:
        view = TokenizerPublic.model_validate_json(
            request("GET", f"{base}/tokenizers/{tokenizer_id}")[1]
        )
        if view.status in ("completed", "failed"):
            return time.perf_counter() - started, view
        time.sleep(0.02)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=int, default=32, help="corpus size for BPE")
    parser.add_argument("--spm-mb", type=int, default=32, help="corpus size for SentencePiece")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--methods", default="bpe,sentencepiece")
    args = parser.parse_args(namespace=Args())
    work = Path(tempfile.mkdtemp(prefix="bench-tokenizer-"))
    corpus_root = work / "corpus"
    corpus_root.mkdir()
    sizes = {TokenizerMethod.BPE: args.mb, TokenizerMethod.SENTENCEPIECE: args.spm_mb}
    methods = [TokenizerMethod(m) for m in args.methods.split(",") if m]
    corpora = {m: build_corpus(corpus_root, sizes[m]) for m in methods}
    verdicts: list[bool] = []
    with running_stack(work, corpus_root, THREADS) as base:
        job(base, TokenizerMethod.CHAR, corpora[methods[0]].name)  # warm the worker
        for method in methods:
            corpus = corpora[method]
            mb = corpus.stat().st_size / 1e6
            ours: list[float] = []
            theirs: list[float] = []
            for _ in range(args.repeat):
                theirs.append(direct(method, corpus, work))
                seconds, view = job(base, method, corpus.name)
                if view.status != "completed":
                    raise SystemExit(f"job failed: {view.message}")
                ours.append(seconds)
                d = view.durations
                print(
                    f"  {method}: direct {theirs[-1]:.2f} s, job {seconds:.2f} s "
                    f"(split {d.split_s:.2f}, train {d.train_s:.2f}, stats {d.stats_s:.2f})"
                )
            job_rate = mb / statistics.median(ours)
            direct_rate = mb / statistics.median(theirs)
            ratio = job_rate / direct_rate
            verdicts.append(ratio >= TARGET)
            print(
                f"{method}: {mb:.1f} MB, {THREADS} threads: job {job_rate:.2f} MB/s vs direct "
                f"{direct_rate:.2f} MB/s -> ratio {ratio:.2f} (target >= {TARGET})"
            )
    return 0 if all(verdicts) else 1


if __name__ == "__main__":
    raise SystemExit(main())
