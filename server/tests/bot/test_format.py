"""Events and runs as the owner reads them: each lifecycle event's line, a resumption, the
status of a run (last checkpoint from its interval), and what catch-up says."""

from __future__ import annotations

from datetime import UTC, datetime

from model_trainer.bot.format import catch_up_alert, event_alert, last_checkpoint, status_message
from model_trainer.bot.watchlist import RunMark, advance
from model_trainer.client.views import RunMetricsView, RunView, TokenizerRefView
from model_trainer.core.job_status import JobStatus
from model_trainer.training.loop.progress import Progress
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

RUN = "run-mx38ugys-8e179610"


def _run(status: JobStatus, step: int, error_code: str | None = None) -> RunView:
    return RunView(
        run_id=RUN,
        status=status,
        progress=Progress(step=step, max_steps=1000, train_loss=2.5, eta_s=200.0),
        metrics=RunMetricsView(best_val_loss=2.25, best_step=500),
        parameters=1_234_567,
        tokenizer=TokenizerRefView(tokenizer_id="tok-x", method="bpe", vocab_size=50),
        config={"model": {"family": "gpt2"}, "trainer": {"checkpoint_interval": 250}},
        created_at=datetime.now(UTC),
        error_code=error_code,
    )


def test_every_lifecycle_event_has_its_line_and_progress_has_none() -> None:
    events: list[TrainingEvent] = [
        TrainQueued(request_id=RUN, family="gpt2", parameters=1_234_567, max_steps=1000),
        TrainStarted(request_id=RUN, max_steps=1000, device="cuda:0", parameters=1_234_567),
        TrainProgress(
            request_id=RUN,
            step=10,
            max_steps=1000,
            tokens_seen=1,
            train_loss=3.0,
            lr=1e-3,
            tokens_per_s=1.0,
            eta_s=1.0,
        ),
        EvalCompleted(request_id=RUN, step=250, train_loss=2.5, val_loss=2.6, val_perplexity=13.5),
        CheckpointSaved(request_id=RUN, step=250, path="/x/last.pt", best=False),
        TrainRequeued(request_id=RUN, step=300, message="/x/y"),
        TrainStarted(request_id=RUN, max_steps=1000, device="cpu", parameters=1_234_567),
        TrainFailed(
            request_id=RUN, error_code="TRAINING_DIVERGED", failure_class="FATAL", message=""
        ),
        TrainCancelled(request_id=RUN, step=400),
        TrainCompleted(
            request_id=RUN, step=1000, final_val_loss=2.1, best_val_loss=2.0, seconds=3725
        ),
    ]
    mark: RunMark | None = None
    lines: list[str] = []
    for event in events:
        alert = event_alert(event, mark)
        mark = advance(mark, event)
        if alert is not None:
            lines.append(alert.line.removeprefix(f"`{RUN}` "))
    assert lines == [
        "queued: gpt2, 1.23M parameters, 1,000 steps",
        "started on cuda:0: 1.23M parameters, 1,000 steps",
        "eval at step 250: val loss 2.6, perplexity 13.5, train loss 2.5",
        "checkpoint saved at step 250",
        "warm-stopped at step 300: its worker was stopped; the run is queued again and resumes "
        "from its checkpoint",
        "resumed on cpu from step 300",
        "failed (fatal) with TRAINING_DIVERGED: the loss became NaN or infinite; a lower "
        "learning rate usually helps",
        "cancelled at step 400",
        "completed at step 1,000 in 1h 02m: best val loss 2, final 2.1",
    ]


def test_status_shows_what_a_person_asks_and_the_last_checkpoint() -> None:
    running = _run(JobStatus.RUNNING, 620)
    fields = {f.name: f.value for f in status_message(running, None).fields}
    assert fields["Progress"] == "620 of 1,000 steps (62%)"
    assert fields["ETA"] == "3m 20s" and fields["Best val loss"] == "2.25 at step 500"
    assert fields["Last checkpoint"] == "step 500" and fields["Model"] == "gpt2, 1.23M parameters"
    assert "Val loss" not in fields, "nothing to say yet: left out"
    heard = RunMark(status=JobStatus.RUNNING, step=610, checkpoint_step=610)
    assert last_checkpoint(running, heard) == "step 610"
    assert last_checkpoint(_run(JobStatus.RUNNING, 100), None) == "none yet"
    failed = status_message(_run(JobStatus.FAILED, 10, "WORKER_LOST"), None)
    assert "WORKER_LOST: its worker died" in failed.fields[-1].value


def test_catch_up_says_what_changed_and_nothing_when_nothing_did() -> None:
    told = RunMark(status=JobStatus.RUNNING, step=300)
    done = catch_up_alert(_run(JobStatus.COMPLETED, 1000), told)
    assert done is not None and "completed while the bot was away" in done.line
    assert done.message.title == f"Completed while away · {RUN}"
    moved = catch_up_alert(_run(JobStatus.RUNNING, 450), told)
    assert (
        moved is not None
        and "still running: 450 of 1,000 steps (45%) (was at step 300)" in moved.line
    )
    assert catch_up_alert(_run(JobStatus.RUNNING, 300), told) is None
    fresh = catch_up_alert(_run(JobStatus.QUEUED, 0), None)
    assert fresh is not None and fresh.message.title == f"Watching · {RUN}"
