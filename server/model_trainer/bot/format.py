"""Events and runs as messages: a line for a batch, or an embed of their own.

Only numbers, statuses, run ids, and words checked against a strict pattern (a device, a
model family, an error code) go into a message. The free-form texts of the system (failure
messages, log lines, checkpoint and corpus paths) never do: they may quote corpus text that
no pattern recognises. A failure is told by its code and a fixed explanation of it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from model_trainer.bot.messages import Colour, Field, Message
from model_trainer.bot.watchlist import RunMark
from model_trainer.client.text import NONE, duration, ordinal, queue_words
from model_trainer.client.views import QueuePlaceView, RunMetricsView, RunView
from model_trainer.core.job_status import TERMINAL, JobStatus
from model_trainer.training.run.events import (
    CheckpointSaved,
    EvalCompleted,
    TrainCancelled,
    TrainCompleted,
    TrainFailed,
    TrainingEvent,
    TrainProgress,
    TrainQueued,
    TrainRequeued,
    TrainStarted,
)

ENDED_NOTE = "The run has ended, so the bot stopped watching it."
_SAFE_WORD = re.compile(r"[A-Za-z0-9_:.\-]{1,40}")
_SAFE_WORDS = re.compile(r"[A-Za-z0-9_:.,;()\- …]{1,160}")
"""What the API says a waiting job waits for: words, numbers, worker names and run ids."""
FINALISING_NOTE = "the final evaluation and the export; no ETA until it ends"

ERROR_HINTS: dict[str, str] = {
    "TRAINING_DIVERGED": "the loss became NaN or infinite; a lower learning rate usually helps",
    "MEMORY_LIMIT_EXCEEDED": "a training step needs more memory than its worker has",
    "WORKER_LOST": "its worker died more times than the run may be restarted",
    "STORAGE_FAILED": "the artifacts folder would not take writes (full or read-only)",
    "CORPUS_EMPTY": "its corpus holds no text",
    "CORPUS_NOT_UTF8": "a file of its corpus is not UTF-8",
    "DATA_INVALID": "a stored file it needs could not be read",
    "DATA_NOT_FOUND": "a file it needs is missing",
    "TOKENIZER_NOT_FOUND": "its tokenizer is missing",
    "TOKENIZER_NOT_READY": "its tokenizer is not finished",
    "CHECKPOINT_MISMATCH": "its checkpoint does not fit the run's model",
    "DEVICE_UNAVAILABLE": "the device it asks for is not there",
    "QUEUE_UNAVAILABLE": "Redis stopped answering",
    "CONFIG_INVALID": "its configuration was refused",
    "UNKNOWN_BACKEND": "its model family or tokenizer method is not installed",
    "PLUGIN_BROKEN": "the plugin it needs does not load",
    "INTERNAL_ERROR": "an unexpected error; its stack is in the run's log",
}
"""Fixed explanations of failure codes; anything else points to the run's log."""
LOG_HINT = "the details are in the run's log (dashboard)"

_STATUS_COLOUR = {
    JobStatus.QUEUED: Colour.MUTED,
    JobStatus.RUNNING: Colour.INFO,
    JobStatus.COMPLETED: Colour.SUCCESS,
    JobStatus.FAILED: Colour.FAILURE,
    JobStatus.CANCELLED: Colour.WARNING,
    JobStatus.STALLED: Colour.WARNING,
}


@dataclass(frozen=True)
class Alert:
    """News about a run: `line` in a batch, `message` when it goes alone."""

    line: str
    message: Message


def safe_word(value: str | None, fallback: str = "?") -> str:
    """`value` when it is a short plain word (a device, a family, a code), else `fallback`."""
    return value if value is not None and _SAFE_WORD.fullmatch(value) else fallback


def count(n: int | float | None) -> str:
    if n is None:
        return NONE
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= size:
            return f"{n / size:.3g}{suffix}"
    return f"{n:.3g}" if isinstance(n, float) else str(n)


def loss(value: float | None) -> str:
    return NONE if value is None else f"{value:.4g}"


def queue_place(queue: QueuePlaceView) -> str:
    """`2nd in line (1 ahead), waiting for a free worker (...)`: the CLI's words for it, the
    reason only when it is plain words (it names workers and runs; never free text)."""
    return queue_words(queue, reason=_SAFE_WORDS.fullmatch(queue.waiting_for) is not None)


def best_loss(metrics: RunMetricsView) -> str:
    """`2.346 at step 400`: the lowest val loss so far (while training too), and where."""
    step = metrics.best_step
    where = f" at step {step:,}" if metrics.best_val_loss is not None and step else ""
    return loss(metrics.best_val_loss) + where


def doing(run: RunView) -> str:
    """`running`, `running (finalising)`, `queued (2nd in line)`: the status and what it means
    now."""
    phase = run.progress.phase
    if run.status is JobStatus.RUNNING and phase and phase != "training":
        return f"{run.status.value} ({phase})"
    if run.queue is not None:
        return f"{run.status.value} ({ordinal(run.queue.position)} in line)"
    return run.status.value


def counting_down(run: RunView) -> bool:
    """Whether the run's ETA means anything: training, and not finalising."""
    return run.status is JobStatus.RUNNING and run.progress.phase != "finalising"


def steps(step: int, max_steps: int) -> str:
    """`450 of 1,000 steps (45%)`."""
    if max_steps <= 0:
        return f"{step:,} steps"
    return f"{step:,} of {max_steps:,} steps ({100 * step // max_steps}%)"


def failure(code: str | None) -> str:
    word = safe_word(code, "an unknown error")
    return f"{word}: {ERROR_HINTS.get(word, LOG_HINT)}"


def _alert(headline: str, line: str, colour: Colour, footer: str = "") -> Alert:
    return Alert(line, Message(title=headline, description=line, colour=colour, footer=footer))


def event_alert(event: TrainingEvent, before: RunMark | None) -> Alert | None:
    """The alert for an event (`before`: the run's mark before it); progress has none but
    at the last step (finalising), it feeds the periodic summary instead."""
    run = f"`{event.request_id}`"
    if isinstance(event, TrainProgress):
        return _finalising(event, run)
    if isinstance(event, TrainQueued):
        line = (
            f"{run} queued: {safe_word(event.family)}, {count(event.parameters)} parameters, "
            f"{event.max_steps:,} steps"
        )
        return _alert("Run queued", line, Colour.MUTED)
    if isinstance(event, TrainStarted):
        device = safe_word(event.device)
        if event.resumed_from_step > 0 or (before is not None and before.starts > 0):
            origin = before.checkpoint_step if before is not None else None
            origin = event.resumed_from_step or origin
            where = f"step {origin:,}" if origin else "its last checkpoint"
            return _alert("Run resumed", f"{run} resumed on {device} from {where}", Colour.INFO)
        line = (
            f"{run} started on {device}: {count(event.parameters)} parameters, "
            f"{event.max_steps:,} steps"
        )
        return _alert("Run started", line, Colour.INFO)
    if isinstance(event, CheckpointSaved):
        kind = "best checkpoint" if event.best else "checkpoint"
        return _alert(
            "Checkpoint saved", f"{run} {kind} saved at step {event.step:,}", Colour.MUTED
        )
    if isinstance(event, EvalCompleted):
        line = (
            f"{run} eval at step {event.step:,}: val loss {loss(event.val_loss)}, "
            f"perplexity {loss(event.val_perplexity)}, train loss {loss(event.train_loss)}"
        )
        return _alert("Evaluation", line, Colour.INFO)
    if isinstance(event, TrainCompleted):
        line = (
            f"{run} completed at step {event.step:,} in {duration(event.seconds)}: "
            f"best val loss {loss(event.best_val_loss)}, final {loss(event.final_val_loss)}"
        )
        return _alert("Run completed", line, Colour.SUCCESS, ENDED_NOTE)
    if isinstance(event, TrainFailed):
        cause = failure(event.error_code)
        kind = safe_word(event.failure_class, "").lower()
        line = f"{run} failed ({kind}) with {cause}" if kind else f"{run} failed with {cause}"
        return _alert("Run failed", line, Colour.FAILURE, ENDED_NOTE)
    if isinstance(event, TrainCancelled):
        line = f"{run} cancelled at step {event.step:,}"
        return _alert("Run cancelled", line, Colour.WARNING, ENDED_NOTE)
    return _requeued(event, run)


def _finalising(event: TrainProgress, run: str) -> Alert | None:
    """The last step's report is news (the rest of progress goes to the summary)."""
    if event.phase != "finalising":
        return None
    line = f"{run} finished its {event.max_steps:,} steps; finalising: {FINALISING_NOTE}"
    return _alert("Run finalising", line, Colour.INFO)


def _requeued(event: TrainRequeued, run: str) -> Alert:
    line = (
        f"{run} warm-stopped at step {event.step:,}: its worker was stopped; the run is "
        "queued again and resumes from its checkpoint"
    )
    return _alert("Run warm-stopped", line, Colour.WARNING)


def _config_int(run: RunView, section: str, key: str) -> int | None:
    part = run.config.get(section)
    value = part.get(key) if isinstance(part, dict) else None
    return value if isinstance(value, int) else None


def last_checkpoint(run: RunView, known: RunMark | None) -> str:
    """The step of the run's latest checkpoint: heard of, or implied by its interval (the
    loop saves one every `checkpoint_interval` steps and when it stops)."""
    step = run.progress.step
    found: list[int] = []
    if run.status in (JobStatus.COMPLETED, JobStatus.CANCELLED):
        found.append(step)
    interval = _config_int(run, "trainer", "checkpoint_interval")
    if interval:
        found.append(step - step % interval)
    if known is not None and known.checkpoint_step:
        found.append(known.checkpoint_step)
    best = max((s for s in found if s > 0), default=0)
    return f"step {best:,}" if best else "none yet"


def _speed(tokens_per_s: float | None) -> str:
    return f"{count(tokens_per_s)} tokens per s" if tokens_per_s else NONE


def status_message(
    run: RunView, known: RunMark | None, headline: str | None = None, description: str = ""
) -> Message:
    """Everything a person asks of a run at a glance, from the API's answer (fields with
    nothing to say yet are left out: this is read on a phone)."""
    progress, metrics = run.progress, run.metrics
    fields = [
        Field("Status", doing(run)),
        Field("Progress", steps(progress.step, progress.max_steps)),
        Field("ETA", duration(progress.eta_s) if counting_down(run) else NONE),
        Field("Train loss", loss(progress.train_loss or metrics.final_train_loss)),
        Field("Val loss", loss(progress.val_loss or metrics.final_val_loss)),
        Field("Best val loss", best_loss(metrics)),
        Field("Last checkpoint", last_checkpoint(run, known)),
        Field("Speed", _speed(progress.tokens_per_s or metrics.tokens_per_s)),
        Field("Model", f"{safe_word(run.family)}, {count(run.parameters)} parameters"),
    ]
    if run.queue is not None:
        fields.insert(1, Field("Queue", queue_place(run.queue), inline=False))
    if run.error_code:
        fields.append(Field("Failure", failure(run.error_code), inline=False))
    shown = tuple(f for f in fields if f.value != NONE)
    title = f"{headline or 'Run'} · {run.run_id}"
    colour = _STATUS_COLOUR.get(run.status, Colour.INFO)
    return Message(title=title, description=description, fields=shown, colour=colour)


def run_line(run: RunView) -> str:
    """`run-…` · running (finalising) · 450 of 1,000 steps (45%)."""
    return f"`{run.run_id}` · {doing(run)} · {steps(run.progress.step, run.progress.max_steps)}"


def runs_message(
    runs: list[RunView], title: str = "Recent runs", empty: str = "No runs yet."
) -> Message:
    lines = [run_line(run) for run in runs]
    return Message(title=title, description="\n".join(lines) or empty, colour=Colour.INFO)


def mark_of(run: RunView, known: RunMark | None) -> RunMark:
    """The mark after telling the owner the run's state as the API gave it."""
    known = known or RunMark()
    step = max(run.progress.step, known.step)
    return RunMark(
        status=run.status, step=step, checkpoint_step=known.checkpoint_step, starts=known.starts
    )


def catch_up_alert(run: RunView, known: RunMark | None) -> Alert | None:
    """What changed since the bot last spoke of the run (None: nothing did)."""
    rid, status = f"`{run.run_id}`", run.status.value
    where = steps(run.progress.step, run.progress.max_steps)
    if run.status in TERMINAL and (known is None or known.status is not run.status):
        line = f"{rid} {status} while the bot was away: {where}"
        if run.error_code:
            line += f"; {failure(run.error_code)}"
        message = status_message(run, known, f"{status.capitalize()} while away", line)
        return Alert(line, message)
    if known is None or known.status is None:
        line = f"{rid} is {status}: {where}"
        return Alert(line, status_message(run, known, "Watching", line))
    if known.status is not run.status:
        line = f"{rid} is now {status} (was {known.status.value}): {where}"
        return Alert(line, status_message(run, known, f"Now {status}", line))
    if run.status is JobStatus.RUNNING and run.progress.step > known.step:
        line = f"{rid} still running: {where} (was at step {known.step:,})"
        return Alert(line, status_message(run, known, "Still running", line))
    return None
