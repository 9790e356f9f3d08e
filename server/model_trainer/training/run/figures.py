"""Figures an evaluation reports beside its loss: bits per byte, the lengths of the text's
documents in tokens, and what got worse than a baseline run.

Bits per byte is the loss measured against the text rather than the tokens, so models with
different tokenizers compare: the mean loss per token (nats) times the tokens of the
evaluated text, over ln 2 times its UTF-8 bytes (the bytes of the split's text as it was
cut from the corpus: a structured corpus's records as rendered into text).
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict

from model_trainer.training.loop.sample_stats import SampleStats


def bits_per_byte(loss: float, tokens: int, text_bytes: int | None) -> float | None:
    """Mean loss per token (nats) as bits per byte of the text; None without its bytes."""
    if not text_bytes:
        return None
    return loss * tokens / (math.log(2) * text_bytes)


class LengthStats(BaseModel):
    """How long the evaluated text's documents are in tokens. A document is a line: the
    corpus is split by lines (a structured corpus's record counts as its lines); blank
    lines are none. A tokenizer that drops line ends sees one document."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    documents: int
    mean_tokens: float
    p50_tokens: int
    p95_tokens: int
    max_tokens: int
    tokens_per_char: float


def _percentile(ordered: list[int], share: float) -> int:
    """The nearest-rank percentile of sorted values."""
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def length_stats(lengths: list[int], tokens: int, chars: int) -> LengthStats:
    """The statistics of documents `lengths` tokens long, of a text of `tokens` tokens and
    `chars` characters."""
    ordered = sorted(lengths) or [0]
    return LengthStats(
        documents=len(lengths),
        mean_tokens=sum(lengths) / len(lengths) if lengths else 0.0,
        p50_tokens=_percentile(ordered, 0.5),
        p95_tokens=_percentile(ordered, 0.95),
        max_tokens=ordered[-1],
        tokens_per_char=tokens / chars if chars else 0.0,
    )


class Regression(BaseModel):
    """A figure of this evaluation that is worse than the baseline run's."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    figure: str
    value: float
    baseline: float
    baseline_run_id: str


class Figures(BaseModel):
    """The figures two evaluations are compared by (absent ones are not compared)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    loss: float | None = None
    perplexity: float | None = None
    bits_per_byte: float | None = None
    sample_stats: SampleStats | None = None

    def values(self) -> dict[str, float | None]:
        stats = self.sample_stats
        return {
            "loss": self.loss,
            "perplexity": self.perplexity,
            "bits_per_byte": self.bits_per_byte,
            "distinct_1": stats.distinct_1 if stats else None,
            "distinct_2": stats.distinct_2 if stats else None,
            "repetition": stats.repetition if stats else None,
        }


HIGHER_IS_BETTER = frozenset({"distinct_1", "distinct_2"})
"""The other figures are better lower (losses, and the repetition rate)."""


def regressions(current: Figures, baseline: Figures, baseline_run_id: str) -> list[Regression]:
    """The figures where `current` is worse than `baseline`, in a fixed order."""
    found: list[Regression] = []
    theirs = baseline.values()
    for figure, value in current.values().items():
        other = theirs[figure]
        if value is None or other is None:
            continue
        worse = value < other if figure in HIGHER_IS_BETTER else value > other
        if worse:
            found.append(
                Regression(
                    figure=figure, value=value, baseline=other, baseline_run_id=baseline_run_id
                )
            )
    return found
