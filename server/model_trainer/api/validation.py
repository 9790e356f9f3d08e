"""FastAPI's request validation errors, read into plain words.

FastAPI hands them over as a sequence of untyped dicts (and types its exception class with
`Any`), so this module is the one exempt from `disallow_any_expr` in pyproject for them; it
reads them defensively and hands on only strings.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

Problem = tuple[bool, str]
"""(whether the body was not JSON at all, what is wrong in the client's terms)."""


def describe(exc: Exception) -> Problem | None:
    """What a `RequestValidationError` says; None for any other exception."""
    if not isinstance(exc, RequestValidationError):
        return None
    errors = exc.errors()
    for error in errors:
        if error.get("type") == "json_invalid":
            reason = error.get("ctx", {}).get("error", "malformed")
            return True, f"the body is not valid JSON: {reason}"
    parts: list[str] = []
    for error in errors[:5]:
        loc = [str(p) for p in error.get("loc", ())]
        # Only the first part says where (body, query, path); a later one is a field's name.
        if loc and loc[0] in ("body", "query", "path"):
            loc = loc[1:]
        where = ".".join(loc) or "body"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return False, "; ".join(parts) or "invalid request"


def install(app: FastAPI, handler: Callable[[Request, Exception], Awaitable[JSONResponse]]) -> None:
    """Route FastAPI's validation errors to `handler`."""
    app.add_exception_handler(RequestValidationError, handler)
