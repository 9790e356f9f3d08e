"""Min/max downsampling of a metric series, as the dashboard draws it (`downsampleMinMax` in
`ui/src/lib/chartData.ts`): buckets of equal step width, and of each its first, last,
lowest and highest point, so a spike survives however many points are dropped."""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left


def min_max_picks(
    steps: array[int], values: array[float], buckets: int, ascending: bool | None = None
) -> list[int]:
    """The positions to keep, ascending: at most four per bucket. A series of at most
    `4 * buckets` points is kept whole. NaN values are never a bucket's lowest or highest
    (its first and last are kept all the same). `ascending` says whether the steps are in
    order, when the caller knows (else they are looked at)."""
    n = min(len(steps), len(values))
    if n <= 4 * buckets or buckets < 1 or n < 2:
        return list(range(n))
    if ascending is None:
        ascending = all(steps[i] <= steps[i + 1] for i in range(n - 1))
    if ascending:
        return _ascending(steps, values, n, buckets)
    return _in_order(steps, values, n, buckets)


def _ascending(steps: array[int], values: array[float], n: int, buckets: int) -> list[int]:
    """Steps in order (the usual case): each bucket is a slice, found by bisection, whose
    lowest and highest are found by `min`/`max` in C rather than a Python loop."""
    x0, span = steps[0], steps[n - 1] - steps[0]
    cuts = [0]
    if span > 0:
        cuts += [bisect_left(steps, x0 + k * span / buckets, 0, n) for k in range(1, buckets)]
    cuts.append(n)
    picks: list[int] = []
    for start, stop in zip(cuts, cuts[1:], strict=False):
        if start < stop:
            picks += _bucket(values, start, stop)
    return picks


def _bucket(values: array[float], start: int, stop: int) -> list[int]:
    """A bucket's first, lowest, highest and last positions, each once, in order."""
    part = values[start:stop]
    if math.isfinite(sum(part)):  # no NaN nor infinity: C-speed min and max
        lo = start + part.index(min(part))
        hi = start + part.index(max(part))
    else:
        lo, hi = _extremes(values, start, stop)
    return sorted({i for i in (start, lo, hi, stop - 1) if i >= 0})


def _extremes(values: array[float], start: int, stop: int) -> tuple[int, int]:
    """The first lowest and first highest non-NaN positions (-1 when all are NaN)."""
    lo = hi = -1
    for i in range(start, stop):
        v = values[i]
        if math.isnan(v):
            continue
        if lo < 0 or v < values[lo]:
            lo = i
        if hi < 0 or v > values[hi]:
            hi = i
    return lo, hi


def _in_order(steps: array[int], values: array[float], n: int, buckets: int) -> list[int]:
    """Steps out of order (records of an old resume): bucket by bucket as the points come,
    as the dashboard does, so a bucket seen twice gives points twice."""
    x0, span = steps[0], steps[n - 1] - steps[0]
    scale = buckets / span if span > 0 else 0.0
    picks: list[int] = []
    bucket: int | None = None
    first = 0
    for i in range(n):
        b = min(buckets - 1, math.floor((steps[i] - x0) * scale))
        if b != bucket:
            if bucket is not None:
                picks += _bucket_slow(values, first, i)
            bucket, first = b, i
    picks += _bucket_slow(values, first, n)
    return sorted(set(picks))


def _bucket_slow(values: array[float], start: int, stop: int) -> list[int]:
    lo, hi = _extremes(values, start, stop)
    return [i for i in (start, lo, hi, stop - 1) if i >= 0]
