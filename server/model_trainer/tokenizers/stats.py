"""Holdout statistics: how well a trained tokenizer covers text it has not seen."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from model_trainer.core.contracts.tokenizer import TokenizerHandle
from model_trainer.tokenizers.corpus import iter_text_chunks


class TokenizerStats(BaseModel):
    """Measured on the holdout split; the ratios are absent (None) when the holdout is empty
    (`holdout_fraction` 0, or a corpus too small to spare a line), never a made-up 0."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    vocab_size: int
    holdout_lines: int
    holdout_chars: int
    holdout_words: int
    token_count: int
    unknown_tokens: int
    unknown_token_rate: float | None
    coverage: float | None
    char_coverage: float | None
    tokens_per_char: float | None
    tokens_per_word: float | None


def _ratio(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def _complement(ratio: float | None) -> float | None:
    return None if ratio is None else 1.0 - ratio


def _uncovered(handle: TokenizerHandle, unk: int | None, char_counts: Counter[str]) -> int:
    """Occurrences of characters that, encoded alone, come out as the unknown token."""
    if unk is None or not char_counts:
        return 0
    distinct = list(char_counts)
    encoded = handle.encode_batch(distinct)
    return sum(char_counts[c] for c, ids in zip(distinct, encoded, strict=True) if unk in ids)


STATS_MAX_BYTES = 1 << 20
"""Holdout text measured: the first MiB (a random sample of lines for `random_lines` splits);
encoding more costs seconds on large corpora and moves the figures in the third decimal."""
STATS_BATCH = 4096
"""Holdout lines per encode call (the tokenizer spreads them over its threads)."""


def holdout_stats(handle: TokenizerHandle, holdout_file: Path) -> TokenizerStats:
    """Encode the holdout line by line (in large batches); count tokens, unknowns, characters
    (line ends excluded, as the tokenizers never saw them) and words."""
    info = handle.info()
    unk = info.unk_id
    lines = chars = words = tokens = unknown = 0
    char_counts: Counter[str] = Counter()
    batch: list[str] = []

    def flush() -> None:
        nonlocal tokens, unknown
        for ids in handle.encode_batch(batch):
            tokens += len(ids)
            if unk is not None:
                unknown += ids.count(unk)
        batch.clear()

    measured = 0
    for text, size in iter_text_chunks(holdout_file):
        if measured >= STATS_MAX_BYTES:
            break
        measured += size
        found = text.splitlines()
        lines += len(found)
        chars += len(text) - text.count("\n")
        words += len(text.split())
        if unk is not None:  # without an unknown token every character is covered
            char_counts.update(text)
        batch.extend(found)
        if len(batch) >= STATS_BATCH:
            flush()
    if batch:
        flush()
    char_counts.pop("\n", None)
    uncovered = _uncovered(handle, unk, char_counts)
    return TokenizerStats(
        vocab_size=info.vocab_size,
        holdout_lines=lines,
        holdout_chars=chars,
        holdout_words=words,
        token_count=tokens,
        unknown_tokens=unknown,
        unknown_token_rate=_ratio(unknown, tokens),
        coverage=_complement(_ratio(unknown, tokens)),
        char_coverage=_complement(_ratio(uncovered, chars)),
        tokens_per_char=_ratio(tokens, chars),
        tokens_per_word=_ratio(tokens, words),
    )
