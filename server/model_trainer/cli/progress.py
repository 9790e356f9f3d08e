"""Live progress of a job in the terminal, fed by its log stream.

A run's log carries a `train_progress` record per logged step (step, loss, tokens/s, ETA)
and a record for each evaluation, checkpoint and ending; the bar follows the first kind and
prints the others above itself. On a terminal the bar redraws in place; anywhere else (a
pipe, a CI log) a plain line is written at every tenth of the run instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import TypeAdapter, ValidationError
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from model_trainer.client.text import duration
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
        """`12:03:04 warning event key=value ...` for people."""
        line = Text(self.time[11:19] + " " if len(self.time) >= 19 else "", style="dim")
        line.append(self.event, style=LEVEL_STYLE.get(self.level, "bold"))
        for key, value in self.fields.items():
            if key not in QUIET_FIELDS and value is not None:
                line.append(f" {key}=", style="dim")
                line.append(_short(value))
        return line


def _short(value: JsonValue) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
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

    def detail(self) -> str:
        parts = [self.status] if self.status != "running" else []
        if self.loss is not None:
            parts.append(f"loss {self.loss:.4f}")
        if self.tokens_per_s:
            parts.append(f"{self.tokens_per_s:,.0f} tok/s")
        if self.mfu is not None:
            parts.append(f"MFU {self.mfu:.2%}")
        if self.eta_s is not None and self.status == "running":
            parts.append(f"ETA {duration(self.eta_s)}")
        return "  ".join(parts)


class JobProgress:
    """A bar for one job (`steps=True`: step of max_steps; else a spinner and elapsed time)
    with notes printed above it. Use as a context manager."""

    def __init__(self, console: Console, label: str, steps: bool) -> None:
        self._console = console
        self._live = console.is_terminal
        self.state = StepState()
        self._steps = steps
        self._bucket = -1
        columns = (
            [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()]
            if steps
            else [SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn()]
        )
        self._bar = Progress(
            *columns, TextColumn("{task.fields[detail]}"), console=console, transient=False
        )
        self._task: TaskID = self._bar.add_task(label, total=None, detail="", start=True)

    def __enter__(self) -> JobProgress:
        if self._live:
            self._bar.start()
        return self

    def __exit__(self, *_: object) -> None:
        if self._live:
            self._bar.stop()

    def note(self, line: Text | str) -> None:
        """A line above the bar (or in order, without a terminal)."""
        self._console.print(line, soft_wrap=True)

    def refresh(self) -> None:
        st = self.state
        total = st.max_steps if self._steps and st.max_steps else None
        self._bar.update(self._task, completed=st.step, total=total, detail=st.detail())
        if not self._live and total:
            bucket = min(10, st.step * 10 // total)
            if bucket != self._bucket:
                self._bucket = bucket
                self.note(f"step {st.step}/{total}  {st.detail()}")

    def waiting(self, why: str) -> None:
        """The API went away: say so where the bar is, then carry on when it is back."""
        if not self._live and why != self.state.status:
            self.note(why)
        self.state.status = why
        self.refresh()
