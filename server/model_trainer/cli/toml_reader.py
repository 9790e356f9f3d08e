"""TOML text as a typed JSON object: `tomllib`'s `dict[str, Any]`, read as an `object` and
validated at once."""

from __future__ import annotations

import tomllib

from pydantic import TypeAdapter

from model_trainer.core.json_types import JsonObject

_JSON_OBJECT: TypeAdapter[JsonObject] = TypeAdapter(JsonObject)


def read_toml(text: str) -> JsonObject:
    """Raises `tomllib.TOMLDecodeError`, or pydantic's `ValidationError` for values JSON
    cannot hold (TOML dates and times)."""
    try:
        data: object = tomllib.loads(text)
    except RecursionError:
        # tomllib parses nested arrays and inline tables by recursion: a file nested a few
        # thousand deep exhausts Python's stack before it is found wrong.
        raise tomllib.TOMLDecodeError("arrays or tables nested too deeply") from None
    return _JSON_OBJECT.validate_python(data)
