"""FastAPI's request validation errors, read into plain words.

FastAPI hands them over as a sequence of untyped dicts: this module reads them as `object`s,
narrows each field it reads, and hands on only strings.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TypeGuard

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

Problem = tuple[bool, str]
"""(whether the body was not JSON at all, what is wrong in the client's terms)."""

_REQUEST_INVALID: type[RequestValidationError] = RequestValidationError
"""FastAPI's class, named once: only its constructor, which this module never calls, takes
`Any`."""


def describe(exc: Exception) -> Problem | None:
    """What a `RequestValidationError` says; None for any other exception."""
    if not isinstance(exc, _REQUEST_INVALID):
        return None
    reported: Sequence[object] = exc.errors()
    errors = [_fields(error) for error in reported]
    for error in errors:
        if error.get("type") == "json_invalid":
            reason = _fields(error.get("ctx")).get("error", "malformed")
            return True, f"the body is not valid JSON: {reason}"
    parts: list[str] = []
    for error in errors[:5]:
        loc = _texts(error.get("loc"))
        # Only the first part says where (body, query, path); a later one is a field's name.
        if loc and loc[0] in ("body", "query", "path"):
            loc = loc[1:]
        message = str(error.get("msg", "invalid"))
        if error.get("type") == "value_error":
            # A cross-field check's own sentence (it names its fields); pydantic's prefix and
            # a bare "body" say nothing more.
            message = message.removeprefix("Value error, ")
            if not loc:
                parts.append(message)
                continue
        parts.append(f"{'.'.join(loc) or 'body'}: {message}")
    return False, "; ".join(parts) or "invalid request"


def install(app: FastAPI, handler: Callable[[Request, Exception], Awaitable[JSONResponse]]) -> None:
    """Route FastAPI's validation errors to `handler`."""
    app.add_exception_handler(_REQUEST_INVALID, handler)


def _is_mapping(value: object) -> TypeGuard[Mapping[object, object]]:
    return isinstance(value, Mapping)


def _is_sequence(value: object) -> TypeGuard[Sequence[object]]:
    return isinstance(value, (list, tuple))


def _fields(value: object) -> Mapping[object, object]:
    """An error's fields (or its `ctx`): FastAPI's are dicts; anything else has none."""
    return value if _is_mapping(value) else {}


def _texts(value: object) -> list[str]:
    """An error's `loc` (a tuple of names and indexes) as strings."""
    return [str(part) for part in value] if _is_sequence(value) else []
