"""Read a corpus once: check UTF-8, hash it, and split lines into train and holdout files.

Streams fixed-size blocks cut at line ends, so memory stays flat whatever the corpus size.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO

import numpy as np
from pydantic import BaseModel, ConfigDict

from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.infra.arrays import at_or_after, count, line_ends, line_mask
from model_trainer.infra.paths import display_path

BLOCK_BYTES = 8 * 1024 * 1024
"""Read size; large enough that per-block overhead vanishes, small enough to stay flat."""


NEWLINE = 10


class HoldoutStrategy(StrEnum):
    """How held-out text is chosen."""

    RANDOM_LINES = "random_lines"
    TAIL = "tail"


class CorpusSplit(BaseModel):
    """Where the two halves went and what was read."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    train_file: Path
    holdout_file: Path
    files: list[str]
    total_bytes: int
    train_bytes: int
    holdout_bytes: int
    train_lines: int
    holdout_lines: int
    sha256: str


def _blocks(handle: BinaryIO) -> Iterator[tuple[int, bytes]]:
    """Yield (offset, block) pairs, each block ending at a line end (or the file's end)."""
    offset, carry = 0, b""
    while chunk := handle.read(BLOCK_BYTES):
        data = carry + chunk
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            carry = data
            continue
        yield offset, data[:cut]
        offset += cut
        carry = data[cut:]
    if carry:
        yield offset, carry if carry.endswith(b"\n") else carry + b"\n"


def _check_utf8(block: bytes, offset: int, name: str) -> None:
    try:
        block.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AppError(
            ErrorCode.CORPUS_NOT_UTF8,
            f"corpus file '{name}' is not valid UTF-8 at byte offset {offset + exc.start}",
        ) from exc


def _partition(
    block: bytes,
    seen: int,
    tail_start: int,
    rng: np.random.Generator,
    fraction: float,
    strategy: HoldoutStrategy,
) -> tuple[bytes, bytes, int, int]:
    """Split a block of whole lines (ending in a newline) into train and holdout bytes,
    vectorised: one random draw per line, then a byte mask. Returns (train, holdout,
    holdout lines, lines)."""
    data = np.frombuffer(block, dtype=np.uint8)
    ends = line_ends(data, NEWLINE)
    starts = np.concatenate((np.zeros(1, dtype=np.int64), ends[:-1]))
    if strategy is HoldoutStrategy.TAIL:
        held = at_or_after(starts, tail_start - seen)
    else:
        held = rng.random(len(ends)) < fraction
    mask = line_mask(held, starts, ends)
    return data[~mask].tobytes(), data[mask].tobytes(), count(held), len(ends)


def split_corpus(
    files: list[Path],
    corpus_root: Path,
    work_dir: Path,
    holdout_fraction: float,
    seed: int,
    strategy: HoldoutStrategy = HoldoutStrategy.RANDOM_LINES,
) -> CorpusSplit:
    """Write `train.txt` and `holdout.txt` under `work_dir`; deterministic for a seed."""
    work_dir.mkdir(parents=True, exist_ok=True)
    train_path, holdout_path = work_dir / "train.txt", work_dir / "holdout.txt"
    rng = np.random.default_rng(seed)
    digest = hashlib.sha256()
    total = sum(f.stat().st_size for f in files)
    tail_start = int(total * (1.0 - holdout_fraction)) if holdout_fraction > 0 else total + 1
    seen = train_bytes = holdout_bytes = train_lines = holdout_lines = 0
    with train_path.open("wb") as train, holdout_path.open("wb") as holdout:
        for path in files:
            name = display_path(path, corpus_root)
            with path.open("rb") as handle:
                for offset, block in _blocks(handle):
                    _check_utf8(block, offset, name)
                    digest.update(block)
                    kept, out, held_lines, lines = _partition(
                        block, seen, tail_start, rng, holdout_fraction, strategy
                    )
                    seen += len(block)
                    train.write(kept)
                    holdout.write(out)
                    train_lines += lines - held_lines
                    holdout_lines += held_lines
                    train_bytes += len(kept)
                    holdout_bytes += len(out)
    if train_bytes == 0:
        raise AppError(ErrorCode.CORPUS_EMPTY, "the corpus has no text left for training")
    return CorpusSplit(
        train_file=train_path,
        holdout_file=holdout_path,
        files=[display_path(f, corpus_root) for f in files],
        total_bytes=total,
        train_bytes=train_bytes,
        holdout_bytes=holdout_bytes,
        train_lines=train_lines,
        holdout_lines=holdout_lines,
        sha256=digest.hexdigest(),
    )


def iter_text_batches(path: Path, batch_chars: int = 1 << 20) -> Iterator[list[str]]:
    """Lines of a UTF-8 file (without line ends) in batches of about `batch_chars`."""
    batch: list[str] = []
    size = 0
    with path.open("rb") as handle:
        for _offset, block in _blocks(handle):
            for line in block.decode("utf-8").splitlines():
                batch.append(line)
                size += len(line) + 1
                if size >= batch_chars:
                    yield batch
                    batch, size = [], 0
    if batch:
        yield batch


def iter_text_chunks(path: Path, chunk_bytes: int = 64 * 1024) -> Iterator[tuple[str, int]]:
    """(text, bytes) pieces of about `chunk_bytes`, each cut just after a newline, so every
    piece is whole lines with their line ends."""
    with path.open("rb") as handle:
        carry = b""
        while block := handle.read(chunk_bytes):
            data = carry + block
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                carry = data
                continue
            yield data[:cut].decode("utf-8"), cut
            carry = data[cut:]
        if carry:
            yield carry.decode("utf-8"), len(carry)
