"""A run's current labels (name, notes, tags), and every run listed, filtered and sorted.

The labels a run was submitted with stay in its `config`; edits go to the run folder's
labels file (`orchestrators/labels.py`). A filtered or sorted list reads every run, newest
first, up to `MAX_LISTED_RUNS`, each through a cache of small summaries that parses a
manifest again only when it was replaced, so a page polling the list costs a `stat` per run.

With a shared store, a filtered list would otherwise ask the store about every run on every
poll. It trusts what it last fetched of an ended run's manifest, and of any run's labels,
for `ENDED_TRUST_S` (the store's `refresh_s` if longer): an ended run's manifest changes
only when it is resumed, and labels only through a PATCH. Edits and resumptions made
through this process rewrite the local file and are seen at once (the cache compares the
file's stamp); those made through another API process reach this one's filters within that
window. The runs a list shows are read again as every page reads them
(`RunOrchestrator.get`), so what it shows is fresh; only which ended runs a filter picks
may lag. Runs not yet ended are looked at every `refresh_s`, as any page does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.job_status import TERMINAL, JobStatus
from model_trainer.core.logging import Log
from model_trainer.infra.job_state import JobStateStore
from model_trainer.infra.storage import storage
from model_trainer.infra.unreadable import report_unreadable
from model_trainer.jobs.labels import Labels, LabelsPatch, same_tag
from model_trainer.jobs.layout import ArtifactLayout
from model_trainer.orchestrators.labels import LabelBook
from model_trainer.orchestrators.manifest_cache import ManifestCache
from model_trainer.training.config import RunConfig
from model_trainer.training.run.manifest import RUN_MANIFESTS

if TYPE_CHECKING:
    from model_trainer.orchestrators.runs import RunOrchestrator, RunView

ENDED_TRUST_S = 120.0
"""How long a filtered list trusts what it last fetched of an ended run (see above)."""
MAX_LISTED_RUNS = 10_000
"""Runs a filtered or sorted list looks through at most, newest first (older ones are not
searched; an unfiltered newest-first page reads only the runs it shows)."""

_log = Log("api")


class RunSort(StrEnum):
    """The orders `GET /runs` knows."""

    NEWEST = "newest"
    OLDEST = "oldest"
    NAME = "name"
    """By name, ignoring case; runs without a name last, newest first among them."""
    FINAL_LOSS = "final_loss"
    """Lowest final validation loss first (else the final training loss); runs without
    one last."""


@dataclass(frozen=True)
class RunQuery:
    """What `GET /runs` asks for; the filters combine with AND."""

    status: JobStatus | None = None
    tag: str | None = None
    family: str | None = None
    text: str | None = None
    """A piece of the run's name or id, ignoring case."""
    sort: RunSort = RunSort.NEWEST
    limit: int = 100

    @property
    def plain(self) -> bool:
        """Newest first with no filter: the page alone is read."""
        filters = (self.status, self.tag, self.family, self.text)
        return self.sort is RunSort.NEWEST and all(f is None for f in filters)


def submitted(config: RunConfig) -> Labels:
    """The labels a run was submitted with."""
    return Labels(name=config.name, notes=config.notes, tags=config.tags)


class RunSummary(BaseModel):
    """What a list filters and sorts by, and what deletion checks: a few fields of a
    manifest, kept for thousands of runs where whole manifests would not fit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    run_id: str
    status: JobStatus
    created_at: datetime
    family: str
    tokenizer_id: str
    origin_run_id: str | None
    """The run whose export this one fine-tunes, if any."""
    final_loss: float | None
    labels: Labels
    """As submitted; the labels file may say otherwise."""


def _summary(path: Path) -> RunSummary | None:
    manifest = RUN_MANIFESTS.read_local(path)
    if manifest is None:
        return None
    metrics, finetune = manifest.metrics, manifest.finetune
    final = metrics.final_val_loss
    return RunSummary(
        run_id=manifest.run_id,
        status=manifest.status,
        created_at=manifest.created_at,
        family=manifest.architecture.family,
        tokenizer_id=manifest.tokenizer.tokenizer_id,
        origin_run_id=finetune.origin.run_id if finetune is not None else None,
        final_loss=final if final is not None else metrics.final_train_loss,
        labels=submitted(manifest.config),
    )


@dataclass
class Users:
    """The runs that need a tokenizer or a run, and those whose manifest cannot be read (any
    of which may need it: a deletion must not go ahead on a guess)."""

    runs: list[str]
    unreadable: list[str]


class RunCatalog:
    """Every run, read cheaply: lists filtered and sorted, label edits, and which runs
    use a tokenizer or fine-tune from a run (for deletion)."""

    def __init__(
        self, runs: RunOrchestrator, layout: ArtifactLayout, state: JobStateStore, refresh_s: float
    ) -> None:
        self._runs = runs
        self._layout = layout
        self._state = state
        trust = max(refresh_s, ENDED_TRUST_S)
        self._summaries = ManifestCache(_summary, refresh_s, MAX_LISTED_RUNS)
        self._ended = ManifestCache(_summary, trust, MAX_LISTED_RUNS)
        """Ended runs' summaries, looked up in the store less often (see the module)."""
        self._ended_ids: set[str] = set()
        self._listed_labels = LabelBook(trust)

    def ids(self) -> list[str]:
        """Every run Redis lists or that has a folder (here or in the shared store), newest
        first (ids sort by creation)."""
        known = set(self._state.newest(10 * MAX_LISTED_RUNS))
        known.update(storage().folders(self._layout.runs))
        return sorted(known, reverse=True)

    def summaries(self, ids: list[str]) -> list[RunSummary]:
        """The runs of `ids` that have a readable manifest, in order (for lists: a run that
        cannot be read, or that the store cannot bring, is left out, not the list)."""
        found: list[RunSummary] = []
        for run_id in ids:
            try:
                summary = self._listed(run_id)
            except AppError as exc:  # one bad run must not hide the others
                report_unreadable(self._layout.run(run_id).manifest, exc, _log)
                continue
            if summary is not None:
                found.append(summary)
        return found

    def _listed(self, run_id: str) -> RunSummary | None:
        ended = run_id in self._ended_ids
        cache = self._ended if ended else self._summaries
        summary = cache.get(self._layout.run(run_id).manifest)
        if summary is not None and summary.status in TERMINAL:
            self._ended_ids.add(run_id)
        else:
            self._ended_ids.discard(run_id)
        return summary

    def _needing(self, ids: list[str], needs: Callable[[RunSummary], bool]) -> Users:
        """For deletion: the runs of `ids` for which `needs` holds, read afresh. A store that
        does not answer fails the check (`STORE_UNAVAILABLE`); an unreadable manifest is
        listed as such, never skipped."""
        users = Users(runs=[], unreadable=[])
        for run_id in ids:
            manifest = self._layout.run(run_id).manifest
            try:
                summary = self._summaries.get(manifest)
            except AppError as exc:
                if exc.code is not ErrorCode.DATA_INVALID:
                    raise
                report_unreadable(manifest, exc, _log)
                users.unreadable.append(run_id)
                continue
            if summary is not None and needs(summary):
                users.runs.append(run_id)
        return users

    def labels(self, summary: RunSummary) -> Labels:
        """The run's labels as a list filters and sorts by them (see the module)."""
        return self._listed_labels.current(self._layout.run(summary.run_id), summary.labels)

    def find(self, query: RunQuery) -> list[RunView]:
        """The runs `query` asks for, in its order, at most `query.limit`."""
        if query.plain:
            return self._runs.newest(query.limit)
        chosen = [s for s in self.summaries(self.ids()[:MAX_LISTED_RUNS]) if self._fits(s, query)]
        ordered = _ordered(chosen, query.sort, self.labels)
        views: list[RunView] = []
        for summary in ordered[: query.limit]:
            try:
                views.append(self._runs.get(summary.run_id))
            except AppError as exc:  # deleted since it was read
                if exc.code is not ErrorCode.NOT_FOUND:
                    raise
        return views

    def _fits(self, summary: RunSummary, query: RunQuery) -> bool:
        if query.family is not None and summary.family.casefold() != query.family.casefold():
            return False
        if query.tag is not None or query.text is not None:
            labels = self.labels(summary)
            if query.tag is not None and not any(same_tag(t, query.tag) for t in labels.tags):
                return False
            if query.text is not None:
                wanted = query.text.casefold()
                if wanted not in summary.run_id and wanted not in (labels.name or "").casefold():
                    return False
        return query.status is None or self.status(summary) is query.status

    def status(self, summary: RunSummary) -> JobStatus:
        """The run's status as shown: the manifest once it ended, Redis's before that."""
        if summary.status in TERMINAL:
            return summary.status
        return self._state.snapshot(summary.run_id).shown_over(summary.status, None)[0]

    def relabel(self, run_id: str, patch: LabelsPatch) -> RunView:
        """Change the fields `patch` carries (null clears one); any status."""
        view = self._runs.get(run_id)
        folder = self._runs.folder(run_id)
        self._runs.labels.edit(folder, submitted(view.manifest.config), patch)
        _log.info("run_relabelled", run_id=run_id, fields=",".join(sorted(patch.model_fields_set)))
        return self._runs.get(run_id)

    def using_tokenizer(self, tokenizer_id: str) -> Users:
        """Every run (newest first) that trains or trained with the tokenizer."""
        return self._needing(self.ids(), lambda s: s.tokenizer_id == tokenizer_id)

    def fine_tuning_from(self, run_id: str) -> Users:
        """Runs not yet ended that start from the run's export."""
        active = sorted(self._state.active(), reverse=True)
        return self._needing(
            active, lambda s: s.origin_run_id == run_id and self.status(s) not in TERMINAL
        )


def _ordered(
    summaries: list[RunSummary], sort: RunSort, labels: Callable[[RunSummary], Labels]
) -> list[RunSummary]:
    """`summaries` in the order `sort` names; ties newest first (the sorts are stable)."""
    newest = sorted(summaries, key=_age, reverse=True)
    if sort is RunSort.OLDEST:
        return newest[::-1]
    if sort is RunSort.NAME:
        names = {s.run_id: labels(s).name for s in newest}

        def by_name(s: RunSummary) -> tuple[bool, str]:
            name = names[s.run_id]
            return (name is None, name.casefold() if name is not None else "")

        return sorted(newest, key=by_name)
    if sort is RunSort.FINAL_LOSS:
        return sorted(newest, key=_loss)
    return newest


def _age(summary: RunSummary) -> tuple[datetime, str]:
    return (summary.created_at, summary.run_id)


def _loss(summary: RunSummary) -> tuple[bool, float]:
    loss = summary.final_loss
    return (loss is None, loss if loss is not None else 0.0)
