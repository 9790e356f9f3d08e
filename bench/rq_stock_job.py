"""The baseline's job module, written as RQ's documentation would: torch imported at the top.

RQ's stock forking worker never imports a job's module itself, so every work horse it forks
imports this one (and torch) again before the job function can run.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

TORCH = torch.__version__


def record_start(out: str) -> None:
    """Write the moment the job function started (seconds since the epoch) to `out`."""
    Path(out).write_text(f"{time.time():.6f}", encoding="utf-8")
