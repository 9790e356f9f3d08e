"""The `model-trainer` command: the API's client for people and scripts, and the services."""

from model_trainer.cli.app import main

__all__ = ["main"]
