"""The local machine as a compute provider: explicit thread counts for every native pool."""

from __future__ import annotations

import os

from model_trainer.core.contracts.compute import ComputeKind


class LocalCompute:
    """Runs work on this machine's CPU with a fixed number of threads."""

    def __init__(self, threads: int) -> None:
        self._threads = threads

    def kind(self) -> ComputeKind:
        return "local-cpu"

    def threads(self) -> int:
        return self._threads

    def env(self) -> dict[str, str]:
        n = str(self._threads)
        return {
            "OMP_NUM_THREADS": n,
            "MKL_NUM_THREADS": n,
            "OPENBLAS_NUM_THREADS": n,
            "RAYON_NUM_THREADS": n,
            "TOKENIZERS_PARALLELISM": "true",
        }

    def apply(self) -> None:
        """Export `env()` into this process; call before numeric libraries start threads."""
        os.environ.update(self.env())
