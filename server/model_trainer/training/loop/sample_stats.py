"""Figures of generated text that loss does not show: how varied it is, how much it loops.

All are computed on token ids of the generated part only (the prompt is not the model's):
- distinct-n: distinct n-grams over all n-grams of a sample (1.0: no n-gram twice);
- repetition: the share of generated tokens that complete an n-gram (n = 4) already
  generated earlier in the same sample (0.0: no loop; near 1.0: the text repeats itself).
Over several samples each figure is the mean of the samples' figures.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

REPEAT_N = 4
"""The n-gram length the repetition rate looks for."""


class SampleStats(BaseModel):
    """Diversity and repetition of generated samples, averaged over the samples."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    distinct_1: float
    distinct_2: float
    repetition: float


def _ngrams(ids: Sequence[int], n: int) -> list[tuple[int, ...]]:
    return [tuple(ids[i : i + n]) for i in range(len(ids) - n + 1)]


def distinct_n(ids: Sequence[int], n: int) -> float:
    """Distinct n-grams over all n-grams of `ids`; 0.0 when it has none (too short)."""
    grams = _ngrams(ids, n)
    return len(set(grams)) / len(grams) if grams else 0.0


def repetition_rate(ids: Sequence[int], n: int = REPEAT_N) -> float:
    """The share of tokens of `ids` that end an n-gram seen earlier in `ids`; 0.0 for none."""
    if not ids:
        return 0.0
    seen: set[tuple[int, ...]] = set()
    repeated = 0
    for gram in _ngrams(ids, n):
        if gram in seen:
            repeated += 1
        seen.add(gram)
    return repeated / len(ids)


def sample_stats(samples: Sequence[Sequence[int]]) -> SampleStats | None:
    """The figures averaged over `samples` (each the generated ids of one sample); None
    when there are none."""
    if not samples:
        return None
    count = len(samples)
    return SampleStats(
        distinct_1=sum(distinct_n(s, 1) for s in samples) / count,
        distinct_2=sum(distinct_n(s, 2) for s in samples) / count,
        repetition=sum(repetition_rate(s) for s in samples) / count,
    )
