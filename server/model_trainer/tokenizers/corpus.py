"""Read a corpus once: check UTF-8, hash it, and split it into train and holdout files.

Plain text streams fixed-size blocks cut at line ends and is split by line; structured
files (JSON Lines, JSON, CSV, Parquet, `save_to_disk` folders: `records.py`) are read a
record at a time and split by record, each record's text written whole, followed by an
empty line. Memory stays flat whatever the corpus size.
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
from model_trainer.tokenizers.records import (
    CorpusFormat,
    TextSpec,
    corpus_format,
    has_records,
    iter_records,
)

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
    train_records: int | None = None
    """Records of structured files (None when the corpus is plain text only)."""
    holdout_records: int | None = None
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


class _Halves:
    """The two files a split writes, and what went into each so far."""

    def __init__(self, train: BinaryIO, holdout: BinaryIO) -> None:
        self.files = (train, holdout)
        self.bytes = [0, 0]
        self.lines = [0, 0]
        self.records = [0, 0]

    def add(self, kept: bytes, out: bytes, lines: int, held_lines: int) -> None:
        self.files[0].write(kept)
        self.files[1].write(out)
        self.bytes[0] += len(kept)
        self.bytes[1] += len(out)
        self.lines[0] += lines - held_lines
        self.lines[1] += held_lines


class _Split:
    """The state one split carries across its files: where the tail starts, the random
    draws, the digest of the bytes read."""

    def __init__(
        self, total: int, fraction: float, seed: int, strategy: HoldoutStrategy, root: Path
    ) -> None:
        self.fraction = fraction
        self.strategy = strategy
        self.root = root
        self.rng = np.random.default_rng(seed)
        self.digest = hashlib.sha256()
        self.tail_start = int(total * (1.0 - fraction)) if fraction > 0 else total + 1
        self.seen = 0
        self.dropped = 0

    def text_file(self, path: Path, halves: _Halves) -> None:
        """A `.txt` file's lines, split in vectorised blocks."""
        name = display_path(path, self.root)
        with path.open("rb") as handle:
            for offset, block in _blocks(handle):
                _check_utf8(block, offset, name)
                self.digest.update(block)
                kept, out, held_lines, lines = _partition(
                    block, self.seen, self.tail_start, self.rng, self.fraction, self.strategy
                )
                self.seen += len(block)
                halves.add(kept, out, lines, held_lines)

    def record_file(self, path: Path, halves: _Halves, text: TextSpec) -> None:
        """A structured file's records, each a document (its text, then an empty line)
        that goes whole to one half; its bytes hashed as read from disk."""
        _hash_file(path, self.digest)
        size = path.stat().st_size
        pending: tuple[list[str], list[str]] = ([], [])
        for record in iter_records(path, self.root, text):
            if len(record.text) < text.min_length:
                self.dropped += 1
                continue
            if self.strategy is HoldoutStrategy.TAIL:
                held = self.seen + record.position * size >= self.tail_start
            else:
                held = bool(self.rng.random() < self.fraction)
            doc = record.text if record.text.endswith("\n") else record.text + "\n"
            pending[held].append(doc + "\n")
            halves.records[held] += 1
            if len(pending[0]) + len(pending[1]) >= 1024:
                _flush(pending, halves)
        _flush(pending, halves)
        self.seen += size


def _flush(pending: tuple[list[str], list[str]], halves: _Halves) -> None:
    kept, out = ("".join(docs).encode("utf-8") for docs in pending)
    held_lines = out.count(b"\n")
    halves.add(kept, out, kept.count(b"\n") + held_lines, held_lines)
    pending[0].clear()
    pending[1].clear()


def _hash_file(path: Path, digest: hashlib._Hash) -> None:
    """The file's bytes, then a newline unless it ends in one (as `corpus_sha256` does)."""
    last = b"\n"
    with path.open("rb") as handle:
        while chunk := handle.read(BLOCK_BYTES):
            digest.update(chunk)
            last = chunk[-1:]
    if last != b"\n":
        digest.update(b"\n")


def split_corpus(
    files: list[Path],
    corpus_root: Path,
    work_dir: Path,
    holdout_fraction: float,
    seed: int,
    strategy: HoldoutStrategy = HoldoutStrategy.RANDOM_LINES,
    text: TextSpec | None = None,
) -> CorpusSplit:
    """Write `train.txt` and `holdout.txt` under `work_dir`; deterministic for a seed.
    `.txt` files are split by line; structured files (`records.py`) by record, as `text`
    says (the column `text` by default)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    train_path, holdout_path = work_dir / "train.txt", work_dir / "holdout.txt"
    total = sum(f.stat().st_size for f in files)
    split = _Split(total, holdout_fraction, seed, strategy, corpus_root)
    spec = text or TextSpec()
    with train_path.open("wb") as train, holdout_path.open("wb") as holdout:
        halves = _Halves(train, holdout)
        for path in files:
            if corpus_format(path) is CorpusFormat.TEXT:
                split.text_file(path, halves)
            else:
                split.record_file(path, halves, spec)
    if halves.bytes[0] == 0:
        raise AppError(ErrorCode.CORPUS_EMPTY, _empty(split, halves, spec))
    return CorpusSplit(
        train_file=train_path,
        holdout_file=holdout_path,
        files=[display_path(f, corpus_root) for f in files],
        total_bytes=total,
        train_bytes=halves.bytes[0],
        holdout_bytes=halves.bytes[1],
        train_lines=halves.lines[0],
        holdout_lines=halves.lines[1],
        train_records=halves.records[0] if has_records(files) else None,
        holdout_records=halves.records[1] if has_records(files) else None,
        sha256=split.digest.hexdigest(),
    )


def _empty(split: _Split, halves: _Halves, spec: TextSpec) -> str:
    if split.dropped:
        kept = sum(halves.records)
        return (
            f"the corpus has no text left for training: {split.dropped} records are shorter "
            f"than min_length {spec.min_length} characters, {kept} left, all held out"
            if kept
            else f"the corpus has no text left for training: all {split.dropped} records are "
            f"shorter than min_length {spec.min_length} characters"
        )
    return "the corpus has no text left for training"


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


def _blank_at(data: bytes, start: int) -> bool:
    """Whether the character that starts at byte `start` is whitespace (or not all there)."""
    lead = data[start]
    size = 1 if lead < 0x80 else 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4
    char = data[start : start + size].decode("utf-8", errors="replace")
    return len(char) != 1 or char.isspace()


def _blank_before(data: bytes, end: int) -> bool:
    """Whether the character that ends just before byte `end` is whitespace."""
    start = end - 1
    while start > 0 and end - start < 4 and 0x80 <= data[start] < 0xC0:
        start -= 1
    return _blank_at(data, start)


def text_cut(data: bytes) -> int:
    """Where to end a piece of `data` (whole UTF-8 characters; 0: nowhere), just after a
    line end, preferring one that tokenizers surely break at: the last line end between
    two non-blank characters; else the last one just before an empty line that a
    non-blank character follows (between paragraphs; tokenizers that make one token of
    `"\n\n"` differ there, byte-level BPE does not); else the last line end."""
    end = len(data)
    while (i := data.rfind(b"\n", 0, end)) > 0:
        if i + 1 < len(data) and not (_blank_before(data, i) or _blank_at(data, i + 1)):
            return i + 1
        end = i
    end = len(data)
    while (i := data.rfind(b"\n\n", 0, end)) >= 0:
        if i + 2 < len(data) and not _blank_at(data, i + 2):
            return i + 1
        end = i + 1
    return data.rfind(b"\n") + 1


def iter_text_chunks(path: Path, chunk_bytes: int = 64 * 1024) -> Iterator[tuple[str, int]]:
    """(text, bytes) pieces of about `chunk_bytes`, each cut just after a newline, so every
    piece is whole lines with their line ends; where the block allows, at a place where the
    tokens of the whole text break too (`text_cut`), so that the pieces, encoded on their
    own (`TokenizerHandle.encode_continuations`), add up to the whole text's tokens."""
    with path.open("rb") as handle:
        carry = b""
        while block := handle.read(chunk_bytes):
            data = carry + block
            cut = text_cut(data)
            if cut == 0:
                carry = data
                continue
            yield data[:cut].decode("utf-8"), cut
            carry = data[cut:]
        if carry:
            yield carry.decode("utf-8"), len(carry)
