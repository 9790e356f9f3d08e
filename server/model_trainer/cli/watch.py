"""Following a run or a tokenizer to its end: the bar, the notable lines, the verdict.

Shared by `runs train --follow`, `runs logs -f`, `tokenizers train --follow` and the demo.
Ctrl-C ends the following only; the job goes on in its worker.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console
from rich.text import Text

from model_trainer.cli.progress import JobProgress, LogRecord, parse_log_line
from model_trainer.cli.session import Exit
from model_trainer.client.api import ApiClient
from model_trainer.client.errors import ApiError
from model_trainer.client.follow import follow_events, patiently
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


def exit_status(status: JobStatus) -> Exit:
    if status is JobStatus.FAILED:
        return Exit.JOB_FAILED
    return Exit.JOB_CANCELLED if status is JobStatus.CANCELLED else Exit.OK


def _waiting(bar: JobProgress) -> Callable[[ApiError | None], None]:
    """What the bar says while the API is away."""

    def show(error: ApiError | None) -> None:
        bar.waiting(f"waiting for the API ({error.code})" if error else "reconnecting")

    return show


class RunWatch:
    """Follows one run's log stream and keeps the bar up to date."""

    def __init__(self, client: ApiClient, run_id: str, console: Console, every_line: bool):
        self.client = client
        self.run_id = run_id
        self.console = console
        self.every_line = every_line

    def _refetch(self) -> bool:
        self.view = self.client.get(RunView, f"/runs/{self.run_id}")
        return self.view.finished

    def follow(self) -> RunView:
        with JobProgress(self.console, self.run_id, steps=True) as bar:
            retry = _waiting(bar)
            patiently(self._refetch, retry)
            p = self.view.progress
            bar.state.step, bar.state.max_steps = p.step, p.max_steps
            bar.state.loss, bar.state.status = p.train_loss, str(self.view.status)
            bar.refresh()
            for event in follow_events(
                self.client,
                f"/runs/{self.run_id}/logs/stream",
                finished=self._refetch,
                on_retry=retry,
            ):
                self._show(bar, parse_log_line(event.data))
            bar.state.status = str(self.view.status)
            bar.refresh()
        return self.view

    def _show(self, bar: JobProgress, record: LogRecord) -> None:
        st = bar.state
        if record.event == "train_progress":
            st.status = "running"
            st.step = int(record.number("step") or st.step)
            st.max_steps = int(record.number("max_steps") or st.max_steps)
            st.loss = record.number("loss")
            st.tokens_per_s = record.number("tokens_per_s")
            st.eta_s = record.number("eta_s")
        elif record.event in ("run_job_started", "run_started"):
            st.status = "running"
        if self.every_line or record.event in NOTABLE or record.level in ("warning", "error"):
            if record.event != "train_progress" or self.every_line:
                bar.note(record.text())
        bar.refresh()


def summarize_run(view: RunView, console: Console) -> None:
    m = view.metrics
    if view.status is JobStatus.COMPLETED:
        parts = [f"{view.run_id} completed at step {view.progress.step}"]
        if m.final_val_loss is not None:
            parts.append(f"val loss {m.final_val_loss:.4f}")
        if m.final_val_perplexity is not None:
            parts.append(f"perplexity {m.final_val_perplexity:.2f}")
        if m.best_val_loss is not None:
            parts.append(f"best {m.best_val_loss:.4f} at step {m.best_step}")
        console.print(Text(", ".join(parts), style="green"), soft_wrap=True)
        return
    code = f"{view.error_code}: " if view.error_code else ""
    style = "red" if view.status is JobStatus.FAILED else "yellow"
    text = f"{view.run_id} {view.status}: {code}{view.message or ''}".rstrip()
    console.print(Text(text, style=style), soft_wrap=True)


class TokenizerWatch:
    """Follows one tokenizer job: a spinner with its phase, then its holdout stats."""

    def __init__(self, client: ApiClient, tokenizer_id: str, console: Console, every_line: bool):
        self.client = client
        self.tokenizer_id = tokenizer_id
        self.console = console
        self.every_line = every_line

    def _refetch(self) -> bool:
        self.view = self.client.get(TokenizerView, f"/tokenizers/{self.tokenizer_id}")
        return self.view.finished

    def follow(self) -> TokenizerView:
        with JobProgress(self.console, self.tokenizer_id, steps=False) as bar:
            retry = _waiting(bar)
            patiently(self._refetch, retry)
            bar.state.status = str(self.view.status)
            bar.refresh()
            for event in follow_events(
                self.client,
                f"/tokenizers/{self.tokenizer_id}/logs/stream",
                finished=self._refetch,
                on_retry=retry,
            ):
                record = parse_log_line(event.data)
                if record.event.startswith("tokenizer_") or record.event == "corpus_split":
                    bar.state.status = record.event.removeprefix("tokenizer_").replace("_", " ")
                shown = record.event in NOTABLE or record.level in ("warning", "error")
                if self.every_line or shown:
                    bar.note(record.text())
                bar.refresh()
            bar.state.status = str(self.view.status)
            bar.refresh()
        return self.view


def summarize_tokenizer(view: TokenizerView, console: Console) -> None:
    st = view.stats
    if view.status is JobStatus.COMPLETED and st is not None:
        parts = [f"{view.tokenizer_id} completed: vocab {st.vocab_size}"]
        if st.tokens_per_char is not None:
            parts.append(f"{st.tokens_per_char:.3f} tokens/char")
        if st.tokens_per_word is not None:
            parts.append(f"{st.tokens_per_word:.2f} tokens/word")
        if st.unknown_token_rate:
            parts.append(f"{st.unknown_token_rate:.2%} unknown")
        console.print(Text(", ".join(parts) + " on the holdout", style="green"), soft_wrap=True)
        return
    code = f"{view.error_code}: " if view.error_code else ""
    style = "red" if view.status is JobStatus.FAILED else "yellow"
    text = f"{view.tokenizer_id} {view.status}: {code}{view.message or ''}".rstrip()
    console.print(Text(text, style=style), soft_wrap=True)
