"""Ids the user typed, checked before they become part of a URL.

An id the API could not have made (empty, holding `/`, `?` or `..`) would otherwise reach
another route or a redirect (`/runs/` answers 307), and the answer would not say what was
wrong. The form is the API's own (`core/ids.py`), so the two never disagree.
"""

from __future__ import annotations

from model_trainer.client.errors import ApiError
from model_trainer.core.errors import AppError
from model_trainer.core.ids import validate_id

EXAMPLES = {"run": "run-mxbohr60-518c2ca3", "tokenizer": "tok-mxboho3g-eb6cc53f"}


def checked_id(value: str, what: str) -> str:
    """`value` if it has the form of a `what` id; else NOT_FOUND, as the API would answer."""
    try:
        return validate_id(value, what)
    except AppError as exc:
        example = f" ({what} ids look like {EXAMPLES[what]})" if what in EXAMPLES else ""
        raise ApiError(exc.code, f"{value[:80]!r} is not a {what} id{example}") from None
