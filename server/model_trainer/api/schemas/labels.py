"""`PATCH /runs/{id}` and `PATCH /tokenizers/{id}` body: a change to a name, notes or tags."""

from __future__ import annotations

from model_trainer.jobs.labels import LabelsPatch

__all__ = ["LabelsPatch"]
