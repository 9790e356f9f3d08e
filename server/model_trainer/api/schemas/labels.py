"""`PATCH /runs/{id}` body: a change to a run's name, notes or tags."""

from __future__ import annotations

from model_trainer.training.labels import RunLabelsPatch

__all__ = ["RunLabelsPatch"]
