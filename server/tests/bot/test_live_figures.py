"""What the bot says of a run while it trains or waits: the best val loss so far and its
step (in the status and the periodic summary), and a waiting run's place in the queue in
the very words of the CLI."""

from __future__ import annotations

from datetime import UTC, datetime

from model_trainer.bot.format import status_message
from model_trainer.bot.summary import LossHistory, summary_message
from model_trainer.cli.progress import StepState
from model_trainer.client.text import queue_words
from model_trainer.client.views import QueuePlaceView, RunMetricsView, RunView, TokenizerRefView
from model_trainer.core.job_status import JobStatus
from model_trainer.training.loop.progress import Progress


def _run(
    status: JobStatus, metrics: RunMetricsView, queue: QueuePlaceView | None = None
) -> RunView:
    return RunView(
        run_id="run-mx38ugys-8e179610",
        status=status,
        queue=queue,
        progress=Progress(step=450, max_steps=1000, val_loss=2.4, phase="training"),
        metrics=metrics,
        parameters=1_234_567,
        tokenizer=TokenizerRefView(tokenizer_id="tok-x", method="bpe", vocab_size=50),
        config={"model": {"family": "gpt2"}},
        created_at=datetime.now(UTC),
    )


def test_the_summary_and_the_status_give_the_best_so_far_and_its_step() -> None:
    run = _run(JobStatus.RUNNING, RunMetricsView(best_val_loss=2.3456, best_step=1400))
    summary = {f.name: f.value for f in summary_message(run, LossHistory()).fields}
    assert summary["Best val loss"] == "2.346 at step 1,400"
    status = {f.name: f.value for f in status_message(run, None).fields}
    assert status["Best val loss"] == "2.346 at step 1,400"
    unknown = _run(JobStatus.RUNNING, RunMetricsView())
    assert {f.name: f.value for f in summary_message(unknown, LossHistory()).fields}[
        "Best val loss"
    ] == "—"
    assert "Best val loss" not in {f.name for f in status_message(unknown, None).fields}


def test_a_waiting_run_has_the_clis_words_for_its_place() -> None:
    place = QueuePlaceView(position=3, ahead=2, waiting_for="a free worker (1 live, busy)")
    fields = {
        f.name: f.value
        for f in status_message(_run(JobStatus.QUEUED, RunMetricsView(), place), None).fields
    }
    cli = StepState(status="queued", queue=place).doing()
    assert fields["Queue"] == queue_words(place)
    assert cli == f"queued: {fields['Queue']}"
    assert fields["Queue"] == "3rd in line (2 ahead), waiting for a free worker (1 live, busy)"
    # a reason that is not plain words stays out of chat; the rest reads the same
    odd = QueuePlaceView(position=3, ahead=2, waiting_for="a worker at /srv/x?y=1")
    odd_fields = status_message(_run(JobStatus.QUEUED, RunMetricsView(), odd), None).fields
    assert {f.name: f.value for f in odd_fields}["Queue"] == "3rd in line (2 ahead)"
