"""Early stopping: end a run whose validation loss stopped improving.

The count of evaluations without a better loss is not kept anywhere: it follows from the
step of the best loss (saved in every checkpoint) and the evaluation interval, so a resumed
run counts on exactly as an uninterrupted one would.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StoppedEarly(BaseModel):
    """Why a run ended before `max_steps`: `patience` evaluations without a better val loss
    after the best one (`best_val_loss` at `best_step`), at `at_step`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    patience: int
    best_step: int
    best_val_loss: float
    at_step: int

    @property
    def message(self) -> str:
        return (
            f"stopped early: val loss did not improve for {self.patience} evaluations "
            f"(best {self.best_val_loss:.4f} at step {self.best_step})"
        )


def evaluations_since_best(step: int, best_step: int | None, eval_interval: int) -> int:
    """Evaluations after the best one, up to and including the one at `step` (evaluations
    happen at every multiple of `eval_interval`); 0 before there is a best."""
    if best_step is None:
        return 0
    return step // eval_interval - best_step // eval_interval


def early_stop(
    patience: int | None,
    step: int,
    best_step: int | None,
    best_val_loss: float | None,
    eval_interval: int,
) -> StoppedEarly | None:
    """The record of an early stop when the evaluation at `step` reaches the patience."""
    if patience is None or best_step is None or best_val_loss is None:
        return None
    if evaluations_since_best(step, best_step, eval_interval) < patience:
        return None
    return StoppedEarly(
        patience=patience, best_step=best_step, best_val_loss=best_val_loss, at_step=step
    )
