"""Holdout statistics: how well a trained tokenizer covers text it has not seen."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from model_trainer.core.contracts.tokenizer import TokenizerHandle
from model_trainer.tokenizers.corpus import iter_text_batches


class TokenizerStats(BaseModel):
    """Measured on the holdout split (all zero-safe when the holdout is empty)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    vocab_size: int
    holdout_lines: int
    holdout_chars: int
    holdout_words: int
    token_count: int
    unknown_tokens: int
    unknown_token_rate: float
    coverage: float
    char_coverage: float
    tokens_per_char: float
    tokens_per_word: float


def _ratio(part: float, whole: float, empty: float) -> float:
    return part / whole if whole else empty


def holdout_stats(handle: TokenizerHandle, holdout_file: Path) -> TokenizerStats:
    """Encode the holdout in batches and count tokens, unknowns, characters and words."""
    info = handle.info()
    unk = info.unk_id
    lines = chars = words = tokens = unknown = 0
    char_counts: Counter[str] = Counter()
    for batch in iter_text_batches(holdout_file):
        lines += len(batch)
        for line in batch:
            chars += len(line) + 1
            words += len(line.split())
            char_counts.update(line)
        for ids in handle.encode_batch(batch):
            tokens += len(ids)
            if unk is not None:
                unknown += ids.count(unk)
    # A character is covered when encoding it alone yields no unknown token.
    uncovered = 0
    if unk is not None and char_counts:
        distinct = list(char_counts)
        for char, ids in zip(distinct, handle.encode_batch(distinct), strict=True):
            if unk in ids:
                uncovered += char_counts[char]
    counted_chars = sum(char_counts.values())
    return TokenizerStats(
        vocab_size=info.vocab_size,
        holdout_lines=lines,
        holdout_chars=chars,
        holdout_words=words,
        token_count=tokens,
        unknown_tokens=unknown,
        unknown_token_rate=_ratio(unknown, tokens, 0.0),
        coverage=1.0 - _ratio(unknown, tokens, 0.0),
        char_coverage=1.0 - _ratio(uncovered, counted_chars, 0.0),
        tokens_per_char=_ratio(tokens, chars, 0.0),
        tokens_per_word=_ratio(tokens, words, 0.0),
    )
