"""Following a run or a tokenizer to its end: the bar, the notable lines, the verdict.

Shared by `runs train --follow`, `runs logs -f`, `tokenizers train --follow` and the demo.
Ctrl-C ends the following only; the job goes on in its worker.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.text import Text

from model_trainer.cli.progress import JobProgress, LogRecord, StepState, parse_log_line
from model_trainer.cli.session import SESSION, Exit, print_json
from model_trainer.client.api import ApiClient
from model_trainer.client.errors import ApiError
from model_trainer.client.follow import follow_events, patiently
from model_trainer.client.text import figure, integer, percent
from model_trainer.client.views import RunView, TokenizerView
from model_trainer.core.job_status import JobStatus

NOTABLE = frozenset(
    {
        "run_started",
        "run_resuming",
        "precision_chosen",
        "checkpoint_saved",
        "eval_completed",
        "run_requeued",
        "tokenizer_started",
        "corpus_split",
        "tokenizer_trained",
        "holdout_measured",
    }
)
"""Records worth a line under `--follow` (every record is shown by `logs -f`)."""

V = TypeVar("V", RunView, TokenizerView)

POLL_S = 2.0
"""How often a follower asks for the job's state besides its log: a waiting job writes no
log, yet its place in the queue changes, and a run's phase is in its state only."""


def exit_status(status: JobStatus) -> Exit:
    if status is JobStatus.FAILED:
        return Exit.JOB_FAILED
    return Exit.JOB_CANCELLED if status is JobStatus.CANCELLED else Exit.OK


def _waiting(bar: JobProgress) -> Callable[[ApiError | None], None]:
    """What the bar says while the API is away."""

    def show(error: ApiError | None) -> None:
        bar.waiting(f"waiting for the API ({error.code})" if error else "reconnecting")

    return show


class JobWatch(Generic[V]):
    """Follows one job's log stream to its end, keeping a bar and printing what matters;
    the kinds differ only in what a record does to the bar and how the end reads."""

    view: V
    """The job as the API last answered (read at the start and at each end of the stream)."""

    def __init__(
        self,
        client: ApiClient,
        path: str,
        view_type: type[V],
        console: Console,
        every_line: bool,
        steps: bool,
    ) -> None:
        self.client = client
        self.path = path
        self.job_id = path.rsplit("/", 1)[-1]
        self.console = console
        self._view_type: type[V] = view_type
        self._every_line = every_line
        self._steps = steps
        self.state = "running"
        """The job's status as last heard (what Ctrl-C says it still is)."""

    def _refetch(self) -> bool:
        self.view = self.client.get(self._view_type, self.path)
        self.state = str(self.view.status)
        return self.view.finished

    def follow(self) -> V:
        with JobProgress(self.console, self.job_id, steps=self._steps) as bar:
            retry = _waiting(bar)
            patiently(self._refetch, retry)
            self.started(bar.state)
            self.polled(bar.state, self.view)
            bar.refresh()
            stop = threading.Event()
            poller = threading.Thread(target=self._poll, args=(bar, stop), daemon=True)
            poller.start()
            try:
                for event in follow_events(
                    self.client, f"{self.path}/logs/stream", self._refetch, on_retry=retry
                ):
                    record = parse_log_line(event.data)
                    self.track(bar.state, record)
                    shown = record.event in NOTABLE or record.level in ("warning", "error")
                    if self._every_line or shown:
                        bar.note(record.text())
                    bar.refresh()
            finally:
                stop.set()
            poller.join(timeout=POLL_S + 1)
            bar.state.status, bar.state.queue = str(self.view.status), None
            bar.refresh()
        return self.view

    def _poll(self, bar: JobProgress, stop: threading.Event) -> None:
        """Every `POLL_S`, the job's queue place and phase onto the bar (quietly: while the
        API is away the stream says so)."""
        while not stop.wait(POLL_S):
            try:
                view = self.client.get(self._view_type, self.path)
            except ApiError:
                continue
            if stop.is_set() or view.finished:
                return
            self.state = str(view.status)
            self.polled(bar.state, view)
            bar.refresh()

    def polled(self, state: StepState, view: V) -> None:
        """What the job's state (as the API answers it) changes on the bar."""
        state.queue = view.queue
        if view.queue is not None or state.status.startswith(("queued", "stalled")):
            state.status = str(view.status)

    def started(self, state: StepState) -> None:
        """The bar before the first record, from the job's status."""
        state.status = str(self.view.status)

    def track(self, state: StepState, record: LogRecord) -> None:
        """What one log record changes on the bar."""

    def completed(self, view: V) -> str:
        raise NotImplementedError

    def summarize(self, view: V) -> None:
        """The verdict: the headline numbers, or the status with the code and message."""
        if view.status is JobStatus.COMPLETED:
            text, style = self.completed(view), "green"
        else:
            code = f"{view.error_code}: " if view.error_code else ""
            text = f"{self.job_id} {view.status}: {code}{view.message or ''}".rstrip()
            style = "red" if view.status is JobStatus.FAILED else "yellow"
        self.console.print(Text(text, style=style), soft_wrap=not self.console.is_terminal)


class RunWatch(JobWatch[RunView]):
    """A run: step of max_steps, loss, tokens/s and ETA from its `train_progress` records."""

    def __init__(self, client: ApiClient, run_id: str, console: Console, every_line: bool):
        super().__init__(client, f"/runs/{run_id}", RunView, console, every_line, steps=True)

    def started(self, state: StepState) -> None:
        p = self.view.progress
        state.step, state.max_steps = p.step, p.max_steps
        state.loss, state.status = p.train_loss, str(self.view.status)

    def polled(self, state: StepState, view: RunView) -> None:
        super().polled(state, view)
        if view.status is JobStatus.RUNNING:
            state.status = "running"
            state.phase = view.progress.phase or state.phase

    def track(self, state: StepState, record: LogRecord) -> None:
        if record.event == "train_progress":
            state.status = "running"
            state.step = int(record.number("step") or state.step)
            state.max_steps = int(record.number("max_steps") or state.max_steps)
            state.loss = record.number("loss")
            state.tokens_per_s = record.number("tokens_per_s")
            state.mfu = record.number("mfu")
            state.eta_s = record.number("eta_s")
            # After the last step come the final evaluation and the export: no ETA then.
            done = state.max_steps and state.step >= state.max_steps
            state.phase = "finalising" if done else "training"
        elif record.event in ("run_job_started", "run_started"):
            state.status, state.phase, state.queue = "running", "preparing", None

    def completed(self, view: RunView) -> str:
        m = view.metrics
        parts = [f"{view.run_id} completed at step {integer(view.progress.step)}"]
        if m.final_val_loss is not None:
            parts.append(f"val loss {figure(m.final_val_loss)}")
        if m.final_val_perplexity is not None:
            parts.append(f"perplexity {figure(m.final_val_perplexity)}")
        if m.best_val_loss is not None and m.best_step is not None:
            parts.append(f"best {figure(m.best_val_loss)} at step {integer(m.best_step)}")
        if view.stopped_early is not None:
            parts.append(f"stopped early (no better val loss in {view.stopped_early.patience})")
        return ", ".join(parts)


class TokenizerWatch(JobWatch[TokenizerView]):
    """A tokenizer job: a spinner with its phase, then its holdout stats."""

    def __init__(self, client: ApiClient, tokenizer_id: str, console: Console, every_line: bool):
        path = f"/tokenizers/{tokenizer_id}"
        super().__init__(client, path, TokenizerView, console, every_line, steps=False)

    def track(self, state: StepState, record: LogRecord) -> None:
        if record.event.startswith("tokenizer_") or record.event == "corpus_split":
            state.status = record.event.removeprefix("tokenizer_").replace("_", " ")

    def completed(self, view: TokenizerView) -> str:
        st = view.stats
        if st is None:
            return f"{view.tokenizer_id} completed"
        parts = [f"{view.tokenizer_id} completed: vocab {integer(st.vocab_size)}"]
        if st.tokens_per_char is not None:
            parts.append(f"{figure(st.tokens_per_char)} tokens/char")
        if st.tokens_per_word is not None:
            parts.append(f"{figure(st.tokens_per_word)} tokens/word")
        if st.unknown_token_rate:
            parts.append(f"{percent(st.unknown_token_rate)} unknown")
        return ", ".join(parts) + " on the holdout"


def watch_to_end(watch: JobWatch[V], json_out: bool, hints: str = "") -> NoReturn:
    """`--follow`: the bar to the end, then the verdict (and the job's JSON with `--json`),
    and the exit status that says how the job ended. Ctrl-C says how to go on (`hints`)."""
    try:
        view = watch.follow()
    except KeyboardInterrupt:
        # Wrapped at spaces on a terminal: the ids stay whole, to be copied.
        state = watch.state if watch.state in ("queued", "stalled") else "running"
        SESSION.err.print(Text(f"stopped watching; {watch.job_id} is still {state}{hints}"))
        raise typer.Exit(Exit.INTERRUPTED) from None
    if json_out:
        print_json(watch.client.call("GET", watch.path))
    watch.summarize(view)
    raise typer.Exit(exit_status(view.status))
