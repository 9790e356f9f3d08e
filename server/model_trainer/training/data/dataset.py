"""Token-id datasets: a corpus encoded once per tokenizer into `train.bin` and `val.bin`.

Text is streamed in chunks cut at line ends (newlines stay in the text, so models learn line
breaks) and encoded by `training.encode` (an exact word cache in worker processes for
byte-level BPE, the tokenizer's batch encoder otherwise); ids are appended to the files as
they come, so memory stays flat whatever the corpus size. A dataset is cached by
(corpus sha256, tokenizer, split settings): a second run on the same pair reuses it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from model_trainer.core.contracts.tokenizer import TokenizerHandle
from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.logging import Log
from model_trainer.infra.arrays import TokenArray, open_tokens
from model_trainer.infra.atomic import write_model
from model_trainer.infra.paths import display_path
from model_trainer.jobs.layout import DatasetCache, DatasetFolder
from model_trainer.tokenizers.corpus import (
    BLOCK_BYTES,
    CorpusSplit,
    HoldoutStrategy,
    split_corpus,
)
from model_trainer.tokenizers.fast_bpe import TypeCode
from model_trainer.tokenizers.records import TextSpec, corpus_format, has_records
from model_trainer.training.data.encode import EncodedFile, encode_file

TokenDtype = Literal["uint16", "uint32"]


class DatasetInfo(BaseModel):
    """What a token-id dataset holds; stored as `dataset.json`, written last."""

    model_config = ConfigDict(extra="forbid")

    key: str
    tokenizer_id: str
    corpus_sha256: str
    holdout_strategy: HoldoutStrategy
    holdout_fraction: float
    seed: int
    dtype: TokenDtype
    vocab_size: int
    train_tokens: int
    val_tokens: int
    train_chars: int
    val_chars: int
    train_bytes: int | None = None
    """UTF-8 bytes of the split's text (bits per byte divide by it); None in datasets
    cached before it was recorded."""
    val_bytes: int | None = None
    files: list[str]
    text: TextSpec | None = None
    """How structured files became text (None for a corpus of plain text only)."""
    seconds: float


class PreparedDataset(BaseModel):
    """A dataset folder ready for training."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    folder: Path
    info: DatasetInfo
    reused: bool

    def train_path(self) -> Path:
        return DatasetFolder(self.folder).train

    def val_path(self) -> Path:
        return DatasetFolder(self.folder).val


def corpus_sha256(files: list[Path]) -> str:
    """The same digest `split_corpus` records: file bytes in order, each ending in a newline."""
    digest = hashlib.sha256()
    for path in files:
        last = b"\n"
        with path.open("rb") as handle:
            while chunk := handle.read(BLOCK_BYTES):
                digest.update(chunk)
                last = chunk[-1:]
        if last != b"\n":
            digest.update(b"\n")
    return digest.hexdigest()


def corpus_layout(files: list[Path], corpus_root: Path) -> str:
    """Each file's name, format and size, in order: what the bytes of `corpus_sha256` do
    not say, and structured files are read by (the same bytes as `.csv` or `.txt`, or cut
    into files elsewhere, are other text)."""
    layout: list[tuple[str, str, int]] = [
        (display_path(f, corpus_root), corpus_format(f), f.stat().st_size) for f in files
    ]
    return json.dumps(layout)


def _read_info(folder: DatasetFolder) -> DatasetInfo | None:
    try:
        return DatasetInfo.model_validate_json(folder.info.read_bytes())
    except (FileNotFoundError, ValidationError):
        return None


ENCODING_VERSION = 2
"""Raised when the same text and tokenizer would give other ids (2: chunks after the first
are encoded as continuations, so no chunk start gains a word-start marker): a dataset cached
before such a change is prepared again rather than reused."""


def dataset_key(
    sha: str,
    tokenizer_id: str,
    strategy: HoldoutStrategy,
    fraction: float,
    seed: int,
    text: TextSpec | None = None,
    layout: str = "",
) -> str:
    """The cache key: the corpus, the tokenizer, how the corpus is split, and for structured
    files how records become text (a different column, template or filter is other text)
    and the files' `corpus_layout`. A corpus of plain text only is its bytes alone."""
    key = f"v{ENCODING_VERSION}|{sha}|{tokenizer_id}|{strategy}|{fraction!r}|{seed}"
    if text is not None:
        key += f"|{text.key()}|{layout}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def prepare_dataset(
    *,
    files: list[Path],
    corpus_root: Path,
    handle: TokenizerHandle,
    tokenizer_id: str,
    holdout_fraction: float,
    holdout_strategy: HoldoutStrategy,
    seed: int,
    cache_root: Path,
    log: Log,
    progress: Callable[[float], None] | None = None,
    workers: int | None = None,
    text: TextSpec | None = None,
) -> PreparedDataset:
    """The cached dataset for these inputs, built now if nobody built it before; `workers`
    encoding processes (default: the tokenizer's thread pool); `text` as `split_corpus` reads."""
    dtype = _dtype(vocab_size := handle.info().vocab_size)
    sha, layout = corpus_sha256(files), corpus_layout(files, corpus_root)
    text = (text or TextSpec()) if has_records(files) else None
    key = dataset_key(sha, tokenizer_id, holdout_strategy, holdout_fraction, seed, text, layout)
    folder = (cache := DatasetCache(cache_root)).folder(key)
    cache_root.mkdir(parents=True, exist_ok=True)
    with cache.lock(key).open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second run on the same data waits, then reuses
        info = _read_info(folder)
        if info is not None:
            log.info("dataset_reused", key=key, train_tokens=info.train_tokens)
            return PreparedDataset(folder=folder.path, info=info, reused=True)
        started = time.perf_counter()
        try:
            split = split_corpus(
                files, corpus_root, folder.work, holdout_fraction, seed, holdout_strategy, text
            )
            train, val = _encode(split, folder, handle, dtype, progress, workers)
        finally:
            shutil.rmtree(folder.work, ignore_errors=True)
        if train.tokens < 2:
            raise AppError(ErrorCode.CORPUS_EMPTY, "the training split encodes to no tokens")
        info = DatasetInfo(
            key=key,
            tokenizer_id=tokenizer_id,
            corpus_sha256=sha,
            holdout_strategy=holdout_strategy,
            holdout_fraction=holdout_fraction,
            seed=seed,
            dtype=dtype,
            vocab_size=vocab_size,
            train_tokens=train.tokens,
            val_tokens=val.tokens,
            train_chars=train.chars,
            val_chars=val.chars,
            files=[display_path(f, corpus_root) for f in files],
            text=text,
            seconds=time.perf_counter() - started,
        )
        info.train_bytes, info.val_bytes = split.train_bytes, split.holdout_bytes
        write_model(folder.info, info)  # last: its presence marks the folder complete
        _log_prepared(log, info, train)
        return PreparedDataset(folder=folder.path, info=info, reused=False)


def _dtype(vocab_size: int) -> TokenDtype:
    if vocab_size > 2**32:
        raise AppError(ErrorCode.CONFIG_INVALID, f"vocab_size {vocab_size} does not fit 32 bits")
    return "uint16" if vocab_size <= 2**16 else "uint32"


def _encode(
    split: CorpusSplit,
    folder: DatasetFolder,
    handle: TokenizerHandle,
    dtype: TokenDtype,
    progress: Callable[[float], None] | None,
    workers: int | None,
) -> tuple[EncodedFile, EncodedFile]:
    """Both halves of the split encoded into the folder's token files, reporting the share
    of bytes done to `progress`."""
    total = max(1, split.train_bytes + split.holdout_bytes)
    seen = 0

    def done(size: int) -> None:
        nonlocal seen
        seen += size
        if progress is not None:
            progress(seen / total)

    typecode: TypeCode = "H" if dtype == "uint16" else "I"
    train = encode_file(split.train_file, folder.train, handle, typecode, done, workers)
    val = encode_file(split.holdout_file, folder.val, handle, typecode, done, workers)
    return train, val


def _log_prepared(log: Log, info: DatasetInfo, train: EncodedFile) -> None:
    log.info(
        "dataset_prepared",
        key=info.key,
        train_tokens=info.train_tokens,
        val_tokens=info.val_tokens,
        encoder=train.encoder,
        processes=train.processes,
        seconds=round(info.seconds, 3),
    )


def load_tokens(path: Path, dtype: str) -> TokenArray:
    """A read-only memory map of a token file (an empty array for an empty file)."""
    return open_tokens(path, dtype)
