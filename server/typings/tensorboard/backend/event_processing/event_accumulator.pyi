# TensorBoard's own reader of event files, as far as the tests use it.
from dataclasses import dataclass

SCALARS: str

@dataclass(frozen=True)
class ScalarEvent:
    wall_time: float
    step: int
    value: float

class EventAccumulator:
    def __init__(
        self,
        path: str,
        size_guidance: dict[str, int] | None = None,
        compression_bps: tuple[int, ...] = ...,
        purge_orphaned_data: bool = True,
    ) -> None: ...
    def Reload(self) -> EventAccumulator: ...
    def Tags(self) -> dict[str, list[str] | bool]: ...
    def Scalars(self, tag: str) -> list[ScalarEvent]: ...
    def FirstEventTimestamp(self) -> float: ...
