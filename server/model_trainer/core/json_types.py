"""JSON-shaped values, typed all the way down.

pydantic's own recursive alias, so that models can hold these values (it builds their
schema) and mypy checks them all the same.
"""

from __future__ import annotations

from pydantic import JsonValue

JsonScalar = str | int | float | bool | None
JsonObject = dict[str, JsonValue]

__all__ = ["JsonObject", "JsonScalar", "JsonValue"]
