"""The samples a run generates at each evaluation during training: `samples.jsonl`, one
line per evaluation, appended by the worker as the run goes.

Each line is written with one `write` of the whole line, so a reader sees it whole or (when
the writer died midway) as a torn last line without its newline, which readers ignore. A
resumed run evaluates again at the step it resumes from: the lines from that step on are
dropped first, as metrics are.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from model_trainer.infra.atomic import write_text
from model_trainer.infra.storage import storage
from model_trainer.training.loop.eval_samples import SampleIds
from model_trainer.training.loop.sample_stats import SampleStats, sample_stats

Decode = Callable[[list[int]], str]
"""Token ids to text (the run's tokenizer)."""


class SampleText(BaseModel):
    """One sample: the prompt, and the text the model added to it."""

    model_config = ConfigDict(extra="forbid")

    prompt: str
    text: str


class EvalSamples(BaseModel):
    """The samples of one evaluation during training, with their figures (averaged over
    the samples; see `sample_stats`)."""

    model_config = ConfigDict(extra="forbid")

    step: int
    samples: list[SampleText]
    distinct_1: float
    distinct_2: float
    repetition: float

    @property
    def stats(self) -> SampleStats:
        return SampleStats(
            distinct_1=self.distinct_1, distinct_2=self.distinct_2, repetition=self.repetition
        )


def eval_samples(step: int, ids: list[SampleIds], decode: Decode) -> EvalSamples | None:
    """The record of one evaluation's samples; None when there were none."""
    stats = sample_stats([s.new for s in ids])
    if stats is None:
        return None
    texts = [SampleText(prompt=decode(s.prompt), text=decode(s.new)) for s in ids]
    return EvalSamples(
        step=step,
        samples=texts,
        distinct_1=stats.distinct_1,
        distinct_2=stats.distinct_2,
        repetition=stats.repetition,
    )


def read_samples(path: Path) -> list[EvalSamples]:
    """Every whole, readable line of `samples.jsonl`, in order (a torn or damaged line is
    skipped)."""
    records: list[EvalSamples] = []
    if not path.is_file():
        return records
    with path.open("rb") as handle:
        for line in handle:
            if not line.endswith(b"\n"):
                break  # being written right now, or torn by a crash
            try:
                records.append(EvalSamples.model_validate_json(line))
            except ValidationError:
                continue
    return records


def keep_samples_until(path: Path, step: int) -> None:
    """Drop the lines a resumed loop writes again: those of `step` and after."""
    if path.is_file():
        kept = [r for r in read_samples(path) if r.step < step]
        write_text(path, "".join(r.model_dump_json() + "\n" for r in kept))


class SampleLog:
    """Appends a run's evaluation samples to its `samples.jsonl` (and the shared store)."""

    def __init__(self, path: Path, decode: Decode | None) -> None:
        self._path = path
        self._decode = decode
        self.latest: EvalSamples | None = None

    def start(self, resumed_from: int | None) -> None:
        keep_samples_until(self._path, resumed_from or 0)

    def record(self, step: int, ids: list[SampleIds]) -> EvalSamples | None:
        if self._decode is None:
            return None
        record = eval_samples(step, ids, self._decode)
        if record is None:
            return None
        with self._path.open("a", encoding="utf-8") as handle:
            handle.write(record.model_dump_json() + "\n")  # one write: whole, or torn last
        storage().push([self._path])
        self.latest = record
        return record
