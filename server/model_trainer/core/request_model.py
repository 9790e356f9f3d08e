"""The base of every request body: unknown fields and non-finite numbers are refused."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypedDict

from pydantic import BaseModel, ConfigDict, ValidationError

PLUGIN_NAME = r"^[a-z][a-z0-9_.-]{0,63}$"
"""A tokenizer method or model family: an entry-point name, lower case."""


MAX_STEP_COUNT = 1_000_000_000
"""Bound of every count of steps in a request (the limit a service sets is usually lower):
a number past it is a typo or an attack, and would overflow where torch or numpy take it."""
MAX_TOKEN_ID = 2**31 - 1
"""Bound of vocabulary sizes and token counts: ids are signed 32-bit in tokenizers' runtimes."""
MAX_RECORD_OFFSET = 2**53 - 1
"""Bound of offsets into a run's records: the largest integer a JavaScript client holds."""


class RequestModel(BaseModel):
    """What a client sends (and what is stored from it).

    JSON parsers accept `Infinity`, `NaN` and `1e400`, but a stored manifest cannot hold them
    (they would be written as `null` and never read back), and no setting means anything at
    infinity: such numbers are refused with a 422 before anything is recorded.
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Problem(TypedDict):
    """What is read of pydantic's `ErrorDetails` (whose `input` and `ctx` are `Any`)."""

    loc: tuple[int | str, ...]
    msg: str


def problems(exc: ValidationError, prefix: str, most: int = 5) -> str:
    """`prefix.field: message` for the first `most` problems pydantic found, joined."""
    found: Sequence[Problem] = exc.errors()
    return "; ".join(
        f"{prefix}.{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}"
        for e in found[:most]
    )
