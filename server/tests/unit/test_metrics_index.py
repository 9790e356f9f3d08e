"""Pages of `metrics.jsonl` through the index: the same records as a full read, after
appends, trims, rewrites, torn and damaged lines; the index kept in a sidecar for the next
process, and never trusted when stale or damaged; and min/max downsampling."""

from __future__ import annotations

import errno
import math
import random
import re
import tempfile
import zlib
from array import array
from collections.abc import Callable
from pathlib import Path

import pytest

from model_trainer.infra.atomic import write_text
from model_trainer.training.run.manifest import MetricRecord, metrics_after
from model_trainer.training.run.metrics_downsample import min_max_picks
from model_trainer.training.run.metrics_index import (
    FileIndex,
    MetricsIndexes,
    MetricsPage,
    sidecar_path,
)


def _train(step: int, loss: float | None = None) -> str:
    value = 3.0 - step / 1000 if loss is None else loss
    return MetricRecord(kind="train", step=step, loss=value, lr=1e-3, time=1.7e9 + step).line()


def _eval(step: int) -> str:
    return MetricRecord(kind="eval", step=step, train_loss=2.0, val_loss=2.5 - step / 1e4).line()


def _lines(first: int, last: int, eval_every: int = 50) -> str:
    out = []
    for step in range(first, last + 1):
        out.append(_train(step))
        if step % eval_every == 0:
            out.append(_eval(step))
    return "".join(out)


def _same_as_full_read(indexes: MetricsIndexes, path: Path) -> None:
    """Every `after` (and a few limits) answers what a full read of the file says."""
    whole, total = metrics_after(path, 0)
    for after in sorted({0, 1, 2, total // 3, total - 1, total, total + 7} - {-1}):
        page = indexes.read(path, after)
        expected, seen = metrics_after(path, after)
        assert (page.records, page.next_after, page.total) == (expected, seen, total), after
        assert not page.downsampled
    if total > 10:
        page = indexes.read(path, 5, limit=4)
        assert page.next_after == 9 and page.total == total
        assert page.records == metrics_after(path, 5)[0][: len(page.records)]


def test_pages_follow_appends_torn_and_damaged_lines(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    indexes = MetricsIndexes()
    assert indexes.read(path, 0) == MetricsPage([], 0, 0, False)
    path.write_text(_lines(1, 300), encoding="utf-8")
    _same_as_full_read(indexes, path)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(_lines(301, 420) + "{not json\n" + '{"kind":"train","step":1,"x":1}\n')
        handle.write(_train(421)[:15])  # torn: being written
    _same_as_full_read(indexes, path)
    total = indexes.read(path, 0).total
    assert indexes.read(path, total).records == []
    with path.open("a", encoding="utf-8") as handle:
        handle.write(_train(421)[15:] + _lines(422, 430))
    _same_as_full_read(indexes, path)
    assert indexes.read(path, total).records[0].step == 421


def test_a_trimmed_or_rewritten_file_is_indexed_again(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    indexes = MetricsIndexes()
    path.write_text(_lines(1, 500), encoding="utf-8")
    _same_as_full_read(indexes, path)
    write_text(path, _lines(1, 200))  # a resumed run's trim: a new, smaller file
    _same_as_full_read(indexes, path)
    assert indexes.read(path, 10_000).next_after == indexes.read(path, 0).total
    # Rewritten in place (same file, not smaller) with lines of other lengths.
    path.write_text(_lines(1001, 1200), encoding="utf-8")
    _same_as_full_read(indexes, path)
    assert indexes.read(path, 0, points=40).records[0].step == 1001
    path.unlink()
    assert indexes.read(path, 3) == MetricsPage([], 0, 0, False)


def test_the_least_recently_read_index_goes_past_the_budget(tmp_path: Path) -> None:
    indexes = MetricsIndexes(budget=250)
    paths = [tmp_path / f"{i}.jsonl" for i in range(3)]
    for path in paths:
        path.write_text(_lines(1, 100), encoding="utf-8")
        _same_as_full_read(indexes, path)
    for path in paths:
        _same_as_full_read(indexes, path)


def test_few_records_are_not_downsampled(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_text(_lines(1, 900), encoding="utf-8")
    indexes = MetricsIndexes()
    page = indexes.read(path, 0, points=1000)
    assert page.records == metrics_after(path, 0)[0] and not page.downsampled


def test_many_records_keep_the_extremes_and_the_ends(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    rng = random.Random(4)
    lines = [_train(s, 3.0 - s / 1e5 + rng.random() * 0.1) for s in range(1, 100_001)]
    lines[30_000] = _train(30_001, 9.5)  # a spike
    lines[70_000] = _train(70_001, 0.01)  # a dip
    evals = {s: _eval(s) for s in range(1000, 100_001, 1000)}
    text = "".join(line + evals.get(i + 1, "") for i, line in enumerate(lines))
    path.write_text(text, encoding="utf-8")
    page = MetricsIndexes().read(path, 0, points=2000)
    train = [r for r in page.records if r.kind == "train"]
    assert page.downsampled and page.total == page.next_after == 100_100
    assert 1000 < len(train) <= 2000
    assert [r.step for r in train] == sorted(r.step for r in train)
    assert train[0].step == 1 and train[-1].step == 100_000
    assert {30_001, 70_001} <= {r.step for r in train}
    assert [r for r in page.records if r.kind == "eval"] == [
        MetricRecord.model_validate_json(e) for e in evals.values()
    ]


def test_many_evaluations_are_downsampled_too(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_text(_lines(1, 20_000, eval_every=2), encoding="utf-8")
    page = MetricsIndexes().read(path, 0, points=400)
    evals = [r.step for r in page.records if r.kind == "eval"]
    assert page.downsampled and 0 < len(evals) <= 100
    assert evals[0] == 2 and evals[-1] == 20_000
    # A page past a first load comes whole.
    poll = MetricsIndexes().read(path, page.total - 10, points=400)
    assert not poll.downsampled and len(poll.records) == 10


def _port_of_chart_data(xs: list[int], ys: list[float], buckets: int) -> list[int]:
    """`downsampleMinMax` of `ui/src/lib/chartData.ts`, line for line, on indices."""
    n = len(xs)
    if n <= 4 * buckets or buckets < 1 or n < 2:
        return list(range(n))
    span = xs[-1] - xs[0]
    scale = buckets / span if span > 0 else 0
    out: list[int] = []
    bucket, first, last, lo, hi = -1, 0, 0, -1, -1
    for i in range(n):
        b = min(buckets - 1, math.floor((xs[i] - xs[0]) * scale))
        if b != bucket:
            if bucket >= 0:
                out += sorted({j for j in (first, lo, hi, last) if j >= 0})
            bucket, first, lo, hi = b, i, -1, -1
        last = i
        if not math.isnan(ys[i]):
            lo = i if lo < 0 or ys[i] < ys[lo] else lo
            hi = i if hi < 0 or ys[i] > ys[hi] else hi
    return out + sorted({j for j in (first, lo, hi, last) if j >= 0})


@pytest.mark.parametrize("seed", range(6))
def test_downsampling_picks_what_the_dashboard_picks(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.choice([5, 50, 3000])
    xs = sorted(rng.randrange(0, n * 3) for _ in range(n))
    ys = [math.nan if rng.random() < 0.05 else rng.gauss(0, 1) for _ in range(n)]
    buckets = rng.choice([1, 3, 40])
    picks = min_max_picks(array("q", xs), array("d", ys), buckets)
    assert picks == _port_of_chart_data(xs, ys, buckets)
    assert len(picks) <= max(n if n <= 4 * buckets else 0, 4 * buckets)


def test_steps_out_of_order_still_keep_the_ends_and_extremes() -> None:
    rng = random.Random(9)
    xs = [rng.randrange(0, 5000) for _ in range(4000)]
    ys = [rng.gauss(0, 1) for _ in range(4000)]
    picks = min_max_picks(array("q", xs), array("d", ys), 50)
    assert picks == sorted(set(picks)) and picks[0] == 0 and picks[-1] == len(xs) - 1
    assert {ys.index(min(ys)), ys.index(max(ys))} <= set(picks)
    ordered = sorted(xs)
    known = min_max_picks(array("q", ordered), array("d", ys), 50, ascending=True)
    assert known == min_max_picks(array("q", ordered), array("d", ys), 50)


class _Parsed:
    """Counts the lines the indexes parse (a sidecar read instead parses none)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.lines = 0
        add_lines = FileIndex._add_lines

        def counting(index: FileIndex, block: bytes) -> None:
            self.lines += block.count(b"\n")
            add_lines(index, block)

        monkeypatch.setattr(FileIndex, "_add_lines", counting)

    def take(self) -> int:
        seen, self.lines = self.lines, 0
        return seen


def _write(path: Path, last: int) -> None:
    path.write_text(_lines(1, last, eval_every=7), encoding="utf-8")


def test_a_new_process_reads_the_sidecar_instead_of_every_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "metrics.jsonl"
    parsed = _Parsed(monkeypatch)
    _write(path, 3000)
    first = MetricsIndexes().read(path, 0, points=200)
    total = first.total
    assert parsed.take() == total and sidecar_path(path).is_file()
    assert sidecar_path(path).name.startswith(".")  # never in the store nor the artifacts
    again = MetricsIndexes()  # as after an API restart
    assert again.read(path, 0, points=200) == first and first.downsampled
    assert parsed.take() == 0
    _same_as_full_read(again, path)
    _same_as_full_read(MetricsIndexes(), path)
    assert parsed.take() == 0
    with path.open("a", encoding="utf-8") as handle:
        handle.write(_lines(3001, 3010) + _train(3011)[:9])  # the last one torn
    _same_as_full_read(MetricsIndexes(), path)
    assert parsed.take() == 10  # only the lines appended since


def test_a_sidecar_is_written_again_after_enough_new_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "metrics.jsonl"
    _write(path, 1000)
    indexes = MetricsIndexes()
    indexes.read(path, 0)
    stamp = sidecar_path(path).read_bytes()
    with path.open("a", encoding="utf-8") as handle:
        handle.write(_lines(1001, 1100))
    indexes.read(path, 0)
    assert sidecar_path(path).read_bytes() == stamp  # a poll does not write it
    with path.open("a", encoding="utf-8") as handle:
        handle.write(_lines(1101, 2200))
    indexes.read(path, 0)
    assert sidecar_path(path).read_bytes() != stamp
    parsed = _Parsed(monkeypatch)
    _same_as_full_read(MetricsIndexes(), path)
    assert parsed.take() == 0


def _truncate_in_place(path: Path) -> None:
    with path.open("r+b") as handle:
        handle.truncate(path.stat().st_size // 2)


def _rewrite_in_place(path: Path) -> None:
    """Same file and at least as long, other lines at the same offsets."""
    path.write_text(_lines(5001, 8000, eval_every=7), encoding="utf-8")


def _replace_by_a_copy(path: Path) -> None:
    """What a pull from the object store does: the same bytes in a new file."""
    write_text(path, path.read_text(encoding="utf-8"))


_CHANGES: dict[str, Callable[[Path], None]] = {
    "trimmed": lambda path: write_text(path, _lines(1, 1500, eval_every=7)),  # a resume
    "truncated": _truncate_in_place,
    "rewritten": _rewrite_in_place,
    "copied": _replace_by_a_copy,
}


@pytest.mark.parametrize("change", list(_CHANGES))
def test_a_sidecar_of_another_file_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    path = tmp_path / "metrics.jsonl"
    _write(path, 3000)
    MetricsIndexes().read(path, 0)
    _CHANGES[change](path)
    parsed = _Parsed(monkeypatch)
    _same_as_full_read(MetricsIndexes(), path)
    assert parsed.take() == metrics_after(path, 0)[1]  # indexed anew
    _same_as_full_read(MetricsIndexes(), path)
    assert parsed.take() == 0  # and its sidecar written again


def test_a_stale_sidecar_too_small_to_replace_is_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "metrics.jsonl"
    _write(path, 3000)
    MetricsIndexes().read(path, 0)
    write_text(path, _lines(1, 100))  # fewer lines than make a sidecar worth it
    parsed = _Parsed(monkeypatch)
    _same_as_full_read(MetricsIndexes(), path)
    assert parsed.take() == metrics_after(path, 0)[1] and not sidecar_path(path).exists()


def _flip_a_byte(data: bytes) -> bytes:
    at = len(data) * 2 // 3
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


def _starts_out_of_order(data: bytes) -> bytes:
    """A well-formed sidecar (right sizes and CRC) whose line starts are not in order."""
    header, payload = data.split(b"\n", 1)
    broken = payload[8:16] + payload[:8] + payload[16:]
    header = re.sub(rb'"crc":\d+', b'"crc":%d' % zlib.crc32(broken), header)
    return header + b"\n" + broken


def _lines_overstated(data: bytes) -> bytes:
    before, after = data.split(b'"lines":', 1)
    digits = after[: after.index(b",")]
    return before + b'"lines":%d' % (int(digits) + 1) + after[len(digits) :]


_DAMAGES: dict[str, Callable[[bytes], bytes]] = {
    "empty": lambda data: b"",
    "garbage": lambda data: b"\x93NUMPY garbage\n\x00\x01" * 50,
    "torn": lambda data: data[: len(data) // 2],
    "longer": lambda data: data + b"\x00" * 8,
    "flipped": _flip_a_byte,
    "unordered": _starts_out_of_order,
    "overstated": _lines_overstated,
    "version": lambda data: data.replace(b'"version":1', b'"version":99', 1),
}


@pytest.mark.parametrize("damage", list(_DAMAGES))
def test_a_damaged_sidecar_is_rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    path = tmp_path / "metrics.jsonl"
    _write(path, 3000)
    expected = MetricsIndexes().read(path, 0, points=200)
    sidecar = sidecar_path(path)
    sidecar.write_bytes(_DAMAGES[damage](sidecar.read_bytes()))
    parsed = _Parsed(monkeypatch)
    assert MetricsIndexes().read(path, 0, points=200) == expected
    assert parsed.take() == expected.total
    _same_as_full_read(MetricsIndexes(), path)
    assert parsed.take() == 0


def test_a_sidecar_that_cannot_be_written_costs_only_a_scan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "metrics.jsonl"
    _write(path, 3000)
    sidecar_path(path).mkdir()  # neither read nor replaced
    _same_as_full_read(MetricsIndexes(), path)

    def full_disk(*args: object, **kwargs: object) -> tuple[int, str]:
        raise OSError(errno.ENOSPC, "No space left on device")

    sidecar_path(path).rmdir()
    monkeypatch.setattr(tempfile, "mkstemp", full_disk)
    parsed = _Parsed(monkeypatch)
    _same_as_full_read(MetricsIndexes(), path)
    assert parsed.take() > 0 and not sidecar_path(path).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.jsonl"]  # no temp left
