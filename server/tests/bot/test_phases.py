"""A run's phase and queue place as the owner reads them: `finalising` after the last step
(with no ETA), the place in the queue while a run waits (its reason only when it is plain
words), in the status, the list of runs, the summary and the news of the last step."""

from __future__ import annotations

from datetime import UTC, datetime

from model_trainer.bot.format import event_alert, run_line, status_message
from model_trainer.bot.summary import LossHistory, summary_message
from model_trainer.client.views import QueuePlaceView, RunMetricsView, RunView, TokenizerRefView
from model_trainer.core.job_status import JobStatus
from model_trainer.training.loop.progress import Phase, Progress
from model_trainer.training.run.events import TrainProgress

RUN = "run-mx38ugys-8e179610"
BLOCKER = "run-mx38ugyz-00c0ffee"


def _run(
    status: JobStatus,
    step: int,
    phase: Phase | None = None,
    queue: QueuePlaceView | None = None,
) -> RunView:
    return RunView(
        run_id=RUN,
        status=status,
        queue=queue,
        progress=Progress(step=step, max_steps=1000, train_loss=2.5, eta_s=200.0, phase=phase),
        metrics=RunMetricsView(best_val_loss=2.25, best_step=500),
        parameters=1_234_567,
        tokenizer=TokenizerRefView(tokenizer_id="tok-x", method="bpe", vocab_size=50),
        config={"model": {"family": "gpt2"}, "trainer": {"checkpoint_interval": 250}},
        created_at=datetime.now(UTC),
    )


def _fields(run: RunView) -> dict[str, str]:
    return {f.name: f.value for f in status_message(run, None).fields}


def test_finalising_shows_in_the_status_without_an_eta() -> None:
    training = _fields(_run(JobStatus.RUNNING, 620, "training"))
    assert training["Status"] == "running" and training["ETA"] == "3m 20s"
    finalising = _fields(_run(JobStatus.RUNNING, 1000, "finalising"))
    assert finalising["Status"] == "running (finalising)"
    assert "ETA" not in finalising, "no ETA after the last step"
    assert "(finalising)" in run_line(_run(JobStatus.RUNNING, 1000, "finalising"))
    evaluating = _fields(_run(JobStatus.RUNNING, 500, "evaluating"))
    assert evaluating["Status"] == "running (evaluating)" and "ETA" in evaluating


def test_a_waiting_run_shows_its_place_in_the_queue() -> None:
    place = QueuePlaceView(
        position=2, ahead=1, waiting_for=f"a free worker (1 live, busy with {BLOCKER})"
    )
    fields = _fields(_run(JobStatus.QUEUED, 0, queue=place))
    assert fields["Status"] == "queued (2nd in line)"
    assert (
        fields["Queue"]
        == f"2nd in line (1 ahead), waiting for a free worker (1 live, busy with {BLOCKER})"
    )
    assert "queued (2nd in line)" in run_line(_run(JobStatus.QUEUED, 0, queue=place))
    odd = QueuePlaceView(position=1, ahead=0, waiting_for="a worker at /srv/secret/path?x=1")
    assert _fields(_run(JobStatus.QUEUED, 0, queue=odd))["Queue"] == "1st in line"


def test_the_summary_says_finalising_and_drops_the_eta() -> None:
    history = LossHistory()
    history.train = [(1.0, 3.0), (1000.0, 2.5)]
    message = summary_message(_run(JobStatus.RUNNING, 1000, "finalising"), history)
    assert "finalising" in message.description
    assert {f.name: f.value for f in message.fields}["ETA"] == "—"
    training = summary_message(_run(JobStatus.RUNNING, 600, "training"), history)
    assert "finalising" not in training.description
    assert {f.name: f.value for f in training.fields}["ETA"] == "3m 20s"


def test_the_last_step_is_news_other_progress_is_not() -> None:
    def progress(step: int, phase: Phase) -> TrainProgress:
        return TrainProgress(
            request_id=RUN, step=step, max_steps=1000, tokens_seen=1, train_loss=2.0,
            lr=1e-3, tokens_per_s=10.0, eta_s=5.0, phase=phase,
        )  # fmt: skip

    assert event_alert(progress(999, "training"), None) is None
    alert = event_alert(progress(1000, "finalising"), None)
    assert alert is not None and alert.message.title == "Run finalising"
    assert alert.line.startswith(f"`{RUN}` finished its 1,000 steps; finalising")
    assert "no ETA" in alert.line
