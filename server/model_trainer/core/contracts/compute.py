"""The compute provider contract: where work runs and with how many threads."""

from __future__ import annotations

from typing import Literal, Protocol

ComputeKind = Literal["local-cpu", "local-cuda", "local-mps", "cloud"]


class ComputeProvider(Protocol):
    """Describes the compute a job runs on and the environment it needs."""

    def kind(self) -> ComputeKind: ...

    def threads(self) -> int: ...

    def env(self) -> dict[str, str]:
        """Variables to set before numeric libraries load (OMP_NUM_THREADS, ...)."""
        ...
