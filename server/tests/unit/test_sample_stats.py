"""Distinct-n and the repetition rate on hand-made token lists; early stopping's count; the
samples file's torn lines and trimming."""

from __future__ import annotations

from pathlib import Path

import pytest

from model_trainer.training.loop.early_stop import early_stop, evaluations_since_best
from model_trainer.training.loop.eval_samples import SampleIds
from model_trainer.training.loop.sample_stats import (
    SampleStats,
    distinct_n,
    repetition_rate,
    sample_stats,
)
from model_trainer.training.run.figures import (
    Figures,
    bits_per_byte,
    length_stats,
    regressions,
)
from model_trainer.training.run.samples import (
    EvalSamples,
    SampleLog,
    keep_samples_until,
    read_samples,
)


def test_distinct_n_counts_unique_ngrams_over_all() -> None:
    assert distinct_n([1, 2, 3, 4], 1) == 1.0
    assert distinct_n([1, 1, 1, 1], 1) == 0.25
    assert distinct_n([1, 2, 1, 2, 1], 2) == 2 / 4  # (1,2) (2,1) (1,2) (2,1)
    assert distinct_n([1, 2, 3, 1, 2], 2) == 3 / 4  # (1,2) twice
    assert distinct_n([7], 2) == 0.0  # no bigram at all
    assert distinct_n([], 1) == 0.0


def test_repetition_counts_tokens_that_end_a_repeated_4gram() -> None:
    assert repetition_rate([1, 2, 3, 4, 5, 6, 7, 8]) == 0.0
    # 1 2 3 4 1 2 3 4: the second "1 2 3 4" ends at the last token, once
    assert repetition_rate([1, 2, 3, 4, 1, 2, 3, 4]) == 1 / 8
    # a loop of one token: every 4-gram after the first repeats it (tokens 5..10)
    assert repetition_rate([9] * 10) == 6 / 10
    assert repetition_rate([1, 2, 3]) == 0.0  # shorter than one 4-gram
    assert repetition_rate([]) == 0.0
    assert repetition_rate([1, 2, 1, 2, 1], n=2) == 2 / 5  # (1,2) (2,1), then both again


def test_sample_stats_average_over_samples() -> None:
    stats = sample_stats([[1, 2, 3, 4], [5, 5, 5, 5]])
    assert stats == SampleStats(
        distinct_1=(1.0 + 0.25) / 2, distinct_2=(1.0 + 1 / 3) / 2, repetition=0.0
    )
    assert sample_stats([]) is None


def test_bits_per_byte_and_length_stats() -> None:
    assert bits_per_byte(0.6931471805599453, 10, 10) == pytest.approx(1.0, rel=1e-12)
    assert bits_per_byte(1.0, 10, None) is None
    stats = length_stats([5, 1, 3, 10, 2], tokens=21, chars=42)
    assert (stats.documents, stats.max_tokens, stats.p50_tokens, stats.p95_tokens) == (5, 10, 3, 10)
    assert stats.mean_tokens == 21 / 5 and stats.tokens_per_char == 0.5
    assert length_stats([], 0, 0).documents == 0


def test_regressions_name_worse_figures_only() -> None:
    ours = Figures(
        loss=2.0,
        perplexity=7.4,
        bits_per_byte=None,
        sample_stats=SampleStats(distinct_1=0.5, distinct_2=0.9, repetition=0.2),
    )
    theirs = Figures(
        loss=1.5,
        perplexity=8.0,
        bits_per_byte=1.0,
        sample_stats=SampleStats(distinct_1=0.6, distinct_2=0.8, repetition=0.1),
    )
    found = regressions(ours, theirs, "run-base")
    assert [(r.figure, r.value, r.baseline) for r in found] == [
        ("loss", 2.0, 1.5),
        ("distinct_1", 0.5, 0.6),
        ("repetition", 0.2, 0.1),
    ]
    assert {r.baseline_run_id for r in found} == {"run-base"}
    assert regressions(theirs, theirs, "run-base") == []


def test_early_stop_counts_evaluations_since_the_best_from_steps_alone() -> None:
    assert evaluations_since_best(40, 20, 10) == 2
    assert evaluations_since_best(40, None, 10) == 0
    assert early_stop(3, 40, 20, 1.5, 10) is None
    stop = early_stop(2, 40, 20, 1.5, 10)
    assert stop is not None and stop.at_step == 40
    assert stop.message == (
        "stopped early: val loss did not improve for 2 evaluations (best 1.5000 at step 20)"
    )
    assert early_stop(None, 1000, 20, 1.5, 10) is None


def _record(step: int) -> EvalSamples:
    return EvalSamples(step=step, samples=[], distinct_1=1.0, distinct_2=1.0, repetition=0.0)


def test_samples_file_skips_a_torn_line_and_trims_on_resume(tmp_path: Path) -> None:
    path = tmp_path / "samples.jsonl"
    log = SampleLog(path, lambda ids: "".join(chr(96 + i) for i in ids))
    log.start(None)
    for step in (0, 10, 20):
        record = log.record(step, [SampleIds(prompt=[1, 2], new=[3, 4, 3, 4])])
        assert record is not None
    first = read_samples(path)[0]
    assert first.samples[0].prompt == "ab" and first.samples[0].text == "cdcd"
    assert first.distinct_2 == 2 / 3
    with path.open("a", encoding="utf-8") as handle:
        handle.write(_record(30).model_dump_json()[:20])  # a crash midway through a line
    assert [r.step for r in read_samples(path)] == [0, 10, 20]
    keep_samples_until(path, 20)  # the resumed loop evaluates at 20 again
    assert [r.step for r in read_samples(path)] == [0, 10]
    assert SampleLog(path, None).record(30, [SampleIds(prompt=[1], new=[2])]) is None
