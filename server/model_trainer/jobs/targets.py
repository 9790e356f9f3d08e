"""The job functions RQ runs, by the dotted names it imports them by.

The functions live in `worker/jobs.py`, above every layer that enqueues them; a test imports
each name and checks that it is a function of one `str`.
"""

from __future__ import annotations

from enum import StrEnum


class JobTarget(StrEnum):
    """A module-level job function in `model_trainer.worker.jobs`."""

    TRAIN_TOKENIZER = "model_trainer.worker.jobs.train_tokenizer"
    TRAIN_MODEL = "model_trainer.worker.jobs.train_model"
    EVALUATE_MODEL = "model_trainer.worker.jobs.evaluate_model"
