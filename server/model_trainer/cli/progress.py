"""Live progress of a job in the terminal, fed by its log stream.

A run's log carries a `train_progress` record per logged step (step, loss, tokens/s, ETA)
and a record for each evaluation, checkpoint and ending; the bar follows the first kind and
prints the others above itself. On a terminal the bar redraws in place; anywhere else (a
pipe, a CI log) a plain line is written at every tenth of the run instead.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from pydantic import TypeAdapter, ValidationError
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Column
from rich.text import Text

from model_trainer.client.text import duration, figure, integer, log_moment, percent, queue_words
from model_trainer.client.views import QueuePlaceView
from model_trainer.core.json_types import JsonObject, JsonValue

LOG_RECORD: TypeAdapter[JsonObject] = TypeAdapter(JsonObject)
QUIET_FIELDS = frozenset(
    {"event", "level", "timestamp", "service", "category", "job_id", "run_id", "tokenizer_id"}
)
"""Fields every record carries: shown once in the header, not on every line."""
LEVEL_STYLE = {"warning": "yellow", "error": "bold red", "critical": "bold red"}


@dataclass(frozen=True)
class LogRecord:
    """One parsed line of a job's `logs.jsonl`."""

    event: str
    level: str
    time: str
    fields: JsonObject

    def number(self, name: str) -> float | None:
        value = self.fields.get(name)
        return float(value) if isinstance(value, int | float) else None

    def text(self) -> Text:
        """`2026-01-02 12:03:04 warning event key=value ...` for people (local time)."""
        line = Text(log_moment(self.time) + " " if self.time else "", style="dim")
        line.append(self.event, style=LEVEL_STYLE.get(self.level, "bold"))
        for key, value in self.fields.items():
            if key not in QUIET_FIELDS and value is not None:
                line.append(f" {key}=", style="dim")
                line.append(_short(value))
        return line


def _short(value: JsonValue) -> str:
    if isinstance(value, float):
        return figure(value)
    return str(value)


def parse_log_line(data: str) -> LogRecord:
    """A log line as a record; a line that is not a JSON object is kept as its text."""
    try:
        fields = LOG_RECORD.validate_json(data)
    except ValidationError:
        return LogRecord(event=data, level="info", time="", fields={})
    event, level, time = fields.get("event"), fields.get("level"), fields.get("timestamp")
    return LogRecord(
        event=event if isinstance(event, str) else "?",
        level=level if isinstance(level, str) else "info",
        time=time if isinstance(time, str) else "",
        fields=fields,
    )


@dataclass
class StepState:
    """What the bar shows."""

    step: int = 0
    max_steps: int = 0
    loss: float | None = None
    tokens_per_s: float | None = None
    mfu: float | None = None
    eta_s: float | None = None
    status: str = "queued"
    phase: str | None = None
    """The run's phase while running (`finalising` after the last step: no ETA then)."""
    queue: QueuePlaceView | None = None
    """Where the job waits in its queue, while it waits."""

    def doing(self) -> str:
        """What the job is doing, in words: its status, its phase, its place in the queue."""
        words = self.status
        if self.status == "running" and self.phase and self.phase != "training":
            words = self.phase
        if self.queue is not None:
            words += f": {queue_words(self.queue)}"
        return words

    def detail(self) -> str:
        doing = self.doing()
        parts = [doing] if doing != "running" else []
        if self.loss is not None:
            parts.append(f"loss {figure(self.loss)}")
        if self.tokens_per_s:
            parts.append(f"{integer(self.tokens_per_s)} tok/s")
        if self.mfu is not None:
            parts.append(f"MFU {percent(self.mfu)}")
        if self.eta_s is not None and self.status == "running" and self.phase != "finalising":
            parts.append(f"ETA {duration(self.eta_s)}")
        return "  ".join(parts)


TOLD = ("queued", "stalled", "waiting", "reconnecting")
"""Without a terminal, states worth a line of their own (with the queue place, if any)."""
BAR_AT = 70
"""Narrower terminals show no bar (the step count says as much); wide ones a longer one."""


def _columns(console: Console, label: str, steps: bool) -> list[ProgressColumn]:
    """The job's id whole (never cut), the bar, the count, then the details, which wrap
    onto more lines rather than push the id out."""
    job = TextColumn("{task.description}", table_column=Column(no_wrap=True, min_width=len(label)))
    detail = TextColumn("{task.fields[detail]}", table_column=Column(ratio=1, overflow="fold"))
    if not steps:
        return [SpinnerColumn(), job, TimeElapsedColumn(), detail]
    width = console.width
    bar = [BarColumn(bar_width=40 if width >= 120 else 20)] if width >= BAR_AT else []
    return [job, *bar, MofNCompleteColumn(), detail]


class JobProgress:
    """A bar for one job (`steps=True`: step of max_steps; else a spinner and elapsed time)
    with notes printed above it. Use as a context manager."""

    def __init__(self, console: Console, label: str, steps: bool) -> None:
        self._console = console
        self._live = console.is_terminal
        self.state = StepState()
        self._steps = steps
        self._bucket = -1
        self._bar = Progress(*_columns(console, label, steps), console=console)
        self._task: TaskID = self._bar.add_task(label, total=None, detail="", start=True)
        self._lock = threading.Lock()
        """The bar is refreshed from the stream and from the status poller."""
        self._said = ""

    def __enter__(self) -> JobProgress:
        if self._live:
            self._bar.start()
        return self

    def __exit__(self, *_: object) -> None:
        if self._live:
            self._bar.stop()

    def note(self, line: Text | str) -> None:
        """A line above the bar (or in order, without a terminal). On a terminal a long
        line wraps at spaces, so that an id in it stays whole; into a pipe it stays one line."""
        self._console.print(line, soft_wrap=not self._live)

    def refresh(self) -> None:
        with self._lock:
            st = self.state
            total = st.max_steps if self._steps and st.max_steps else None
            self._bar.update(self._task, completed=st.step, total=total, detail=st.detail())
            if self._live:
                return
            # Without a terminal: a line when the job's state changes in words (queued with
            # its place, running, finalising), and at each tenth of the steps.
            doing = st.doing()
            if doing != self._said and (st.phase == "finalising" or st.status.startswith(TOLD)):
                self._said = doing
                self.note(doing)
            if total:
                bucket = min(10, st.step * 10 // total)
                if bucket != self._bucket:
                    self._bucket = bucket
                    self.note(f"step {integer(st.step)}/{integer(total)}  {st.detail()}")

    def waiting(self, why: str) -> None:
        """The API went away: say so where the bar is, then carry on when it is back."""
        self.state.status = why
        self.refresh()
