"""The CLI's words for a run's state: the bar after the last step (`finalising`, no ETA),
a waiting job's place in its queue (the same words the bot uses), and `runs show` with the
best val loss of a run still training."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from rich.console import Console

from model_trainer.cli.progress import JobProgress, StepState
from model_trainer.cli.run_report import run_rows
from model_trainer.client.text import queue_words
from model_trainer.client.views import QueuePlaceView, RunMetricsView, RunView, TokenizerRefView
from model_trainer.core.job_status import JobStatus
from model_trainer.training.loop.progress import Progress

PLACE = QueuePlaceView(position=2, ahead=1, waiting_for="a free worker (1 live, busy with run-a)")


def test_the_bar_says_finalising_with_no_eta_after_the_last_step() -> None:
    training = StepState(step=990, max_steps=1000, loss=2.0, eta_s=65.0, status="running")
    training.phase = "training"
    assert training.detail() == "loss 2.000  ETA 1m 05s"
    finalising = StepState(step=1000, max_steps=1000, loss=2.0, eta_s=65.0, status="running")
    finalising.phase = "finalising"
    assert finalising.doing() == "finalising"
    assert finalising.detail() == "finalising  loss 2.000"
    assert "ETA" not in finalising.detail()  # an ETA left over from the last step is not shown


def test_without_a_terminal_finalising_gets_a_line_of_its_own() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=120)
    with JobProgress(console, "run-x", steps=True) as bar:
        bar.state = StepState(step=1000, max_steps=1000, eta_s=30.0, status="running")
        bar.state.phase = "finalising"
        bar.refresh()
        bar.refresh()  # said once, not at every refresh
    lines = out.getvalue().splitlines()
    assert lines.count("finalising") == 1, lines
    assert lines[-1] == "step 1,000/1,000  finalising", lines
    assert "ETA" not in out.getvalue()


def test_a_waiting_job_reads_its_place_in_the_queue() -> None:
    words = "2nd in line (1 ahead), waiting for a free worker (1 live, busy with run-a)"
    assert queue_words(PLACE) == words
    assert queue_words(PLACE, reason=False) == "2nd in line (1 ahead)"
    state = StepState(status="queued", queue=PLACE)
    assert state.doing() == f"queued: {words}"
    first = QueuePlaceView(position=1, ahead=0, waiting_for="a worker that serves cuda")
    assert queue_words(first) == "1st in line, waiting for a worker that serves cuda"
    many = QueuePlaceView(position=1203, ahead=1202, waiting_for="a free worker")
    assert queue_words(many) == "1,203rd in line (1,202 ahead), waiting for a free worker"


def _training(metrics: RunMetricsView) -> RunView:
    return RunView(
        run_id="run-live",
        status=JobStatus.RUNNING,
        progress=Progress(step=450, max_steps=1000, val_loss=2.5, phase="training"),
        metrics=metrics,
        parameters=1_234_567,
        tokenizer=TokenizerRefView(tokenizer_id="tok-x", method="char", vocab_size=50),
        config={},
        created_at=datetime.now(UTC),
    )


def test_runs_show_gives_the_best_val_loss_of_a_run_still_training() -> None:
    run = _training(RunMetricsView(best_val_loss=2.3456, best_step=400))
    rows = {name: str(value) for name, value in run_rows(run)}
    assert rows["best val loss"] == "2.346 at step 400"
    assert rows["val loss"] == "2.500"
    none_yet = _training(RunMetricsView())
    assert {name: str(value) for name, value in run_rows(none_yet)}["best val loss"] == "—"
