"""Encode a text file into a token-id file, streaming, with the fastest exact encoder at hand.

The text is read in chunks cut at line ends (`iter_text_chunks`, which prefers places where
tokens break in the whole text too) and every chunk is encoded on its own, the first as the
start of a text and the others as its continuation (`TokenizerHandle.encode_continuations`:
no start-of-text mark), so the ids are the whole text's and the file is the same whichever
encoder runs. Byte-level BPE tokenizers go through `FastBpeEncoder` (in worker processes
when the file is large enough to repay starting them; they mark no start of text, so a
continuation encodes like any text); other tokenizers use their handle. At most a few tasks
are in flight, so memory stays flat whatever the file size.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from array import array
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from itertools import islice
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict
from tokenizers import Tokenizer

from model_trainer.core.contracts.tokenizer import TokenizerHandle
from model_trainer.tokenizers.corpus import iter_text_chunks
from model_trainer.tokenizers.fast_bpe import FastBpeEncoder, TypeCode
from model_trainer.tokenizers.hf_handle import HfTokenizerHandle

CHUNK_BYTES = 64 * 1024
"""Text per chunk: long enough to amortise overhead, short enough to parallelise."""
LIBRARY_BATCH = 64
"""Chunks handed to a tokenizer's batch encoder at once (it spreads them over its threads)."""
TASK_CHUNKS = 8
"""Chunks per task sent to a worker process (about 512 KiB of text)."""
TASKS_IN_FLIGHT = 2
"""Tasks queued per worker: enough to keep it busy, few enough to keep memory flat."""
PARALLEL_MIN_BYTES = 4 * 1024 * 1024
"""Smaller files are encoded in this process: starting workers would cost more than it saves."""


class EncodedFile(BaseModel):
    """What `encode_file` wrote, and how."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tokens: int
    chars: int
    encoder: Literal["word-cache", "library"]
    processes: int


_worker_encoder: FastBpeEncoder | None = None
"""The encoder of a worker process, set once by `_start_worker`."""


def default_workers() -> int:
    """As many workers as the tokenizer's own thread pool would use."""
    pinned = os.environ.get("RAYON_NUM_THREADS", "")
    if pinned.isascii() and pinned.isdigit() and 0 < int(pinned) < 10_000:
        return int(pinned)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on every platform
        return os.cpu_count() or 1


def encode_file(
    source: Path,
    target: Path,
    handle: TokenizerHandle,
    typecode: TypeCode,
    done: Callable[[int], None],
    workers: int | None = None,
) -> EncodedFile:
    """Encode `source` into `target` (written under a temporary name, then renamed) with up
    to `workers` processes; `done` is told the bytes of each chunk as it is read."""
    chars = 0

    def chunks() -> Iterator[str]:
        nonlocal chars
        for text, size in iter_text_chunks(source, CHUNK_BYTES):
            chars += len(text)
            done(size)
            yield text

    tokenizer = handle.tokenizer if isinstance(handle, HfTokenizerHandle) else None
    fast = FastBpeEncoder.from_tokenizer(tokenizer, typecode) if tokenizer else None
    count = workers or default_workers()
    processes = 1
    blobs: Iterator[bytes]
    if tokenizer is None or fast is None:
        blobs = _library_blobs(handle, chunks(), typecode)
    elif count > 1 and source.stat().st_size >= PARALLEL_MIN_BYTES:
        blobs = _pooled_blobs(tokenizer.to_str(), chunks(), typecode, count)
        processes = count
    else:
        blobs = map(fast.encode_bytes, chunks())
    itemsize = array(typecode).itemsize
    tokens = 0
    tmp = target.with_name(f".{target.name}.tmp")
    with tmp.open("wb") as out:
        for blob in blobs:
            out.write(blob)
            tokens += len(blob) // itemsize
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, target)
    encoder: Literal["word-cache", "library"] = "library" if fast is None else "word-cache"
    return EncodedFile(tokens=tokens, chars=chars, encoder=encoder, processes=processes)


def _library_blobs(
    handle: TokenizerHandle, chunks: Iterable[str], typecode: TypeCode
) -> Iterator[bytes]:
    """The handle's ids of each chunk: the first as the start of the text, the rest as its
    continuation."""
    iterator = iter(chunks)
    for first in islice(iterator, 1):
        yield array(typecode, handle.encode_batch([first])[0]).tobytes()
    for batch in _batched(iterator, LIBRARY_BATCH):
        for ids in handle.encode_continuations(batch):
            yield array(typecode, ids).tobytes()


def _pooled_blobs(
    tokenizer_json: str, chunks: Iterable[str], typecode: TypeCode, workers: int
) -> Iterator[bytes]:
    """Encoded chunks, in order, from `workers` processes with a bounded queue of tasks."""
    # Forking skips re-importing everything (workers touch nothing but the tokenizer);
    # elsewhere fork is unsafe or missing, so workers start fresh.
    method = "fork" if sys.platform == "linux" else "spawn"
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context(method),
        initializer=_start_worker,
        initargs=(tokenizer_json, typecode),
    ) as pool:
        pending: deque[Future[bytes]] = deque()
        for batch in _batched(chunks, TASK_CHUNKS):
            pending.append(pool.submit(_encode_task, batch))
            if len(pending) >= workers * TASKS_IN_FLIGHT:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _batched(items: Iterable[str], size: int) -> Iterator[list[str]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def _start_worker(tokenizer_json: str, typecode: TypeCode) -> None:
    global _worker_encoder
    # A forked child must not touch the parent's native thread pool; the encoder needs none.
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    _worker_encoder = FastBpeEncoder.from_tokenizer(Tokenizer.from_str(tokenizer_json), typecode)


def _encode_task(texts: list[str]) -> bytes:
    if _worker_encoder is None:
        raise RuntimeError("the tokenizer does not qualify for the fast encoder")
    return b"".join(map(_worker_encoder.encode_bytes, texts))
