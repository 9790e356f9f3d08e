"""Turn every failure into `{"code", "message", "request_id"}` with the right status.

FastAPI's validation errors are untyped; `api/validation.py` reads them into words.
"""

from __future__ import annotations

import time
from contextvars import ContextVar

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from model_trainer.api import validation
from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.logging import Log

request_id_var: ContextVar[str] = ContextVar("request_id", default="-")
_log = Log("api")

EXPECTED_REFUSALS = frozenset({ErrorCode.SERVER_BUSY, ErrorCode.NOT_READY})
"""5xx answers that are the service working as designed, logged as `RefusalLog` says."""
REFUSAL_LOG_INTERVAL_S = 10.0
"""At most one `request_refused` line per code in this long."""

_HTTP_CODES: dict[int, str] = {
    401: ErrorCode.UNAUTHORIZED,
    404: ErrorCode.NOT_FOUND,
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
}


def error_response(status: int, code: str, message: str) -> JSONResponse:
    """An `ErrorBody` (the schema's name for it) with this request's id."""
    body: dict[str, str] = {"code": code, "message": message, "request_id": request_id_var.get()}
    return JSONResponse(status_code=status, content=body)


def _unreadable_body(cause: BaseException | None) -> str:
    """Why a body that FastAPI could not parse is not JSON we read, in the client's terms."""
    if isinstance(cause, RecursionError):
        return "the body is nested too deeply to be read as JSON"
    if isinstance(cause, UnicodeDecodeError):
        return "the body is not valid UTF-8, so it is not JSON"
    if isinstance(cause, ValueError):
        return "the body holds a number too long to read (more than 4300 digits)"
    return "the body could not be read as JSON"


class RefusalLog:
    """Refusals that are the service working as designed (a full pool, no worker yet) are
    no failure: at most one warning per code each `interval_s`, counting those it held back,
    so that a burst of them cannot bury the errors that need someone."""

    def __init__(self, interval_s: float = REFUSAL_LOG_INTERVAL_S) -> None:
        self._interval_s = interval_s
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def refused(self, exc: AppError, now: float) -> None:
        code = str(exc.code)
        last = self._last.get(code)
        if last is not None and now - last < self._interval_s:
            self._held[code] = self._held.get(code, 0) + 1
            return
        self._last[code] = now
        held = self._held.pop(code, 0)
        _log.warning(
            "request_refused",
            error_code=code,
            message=exc.message,
            detail=exc.detail,
            suppressed=held,
        )


_refusals = RefusalLog()


async def _app_error(_request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, AppError):
        raise exc
    if exc.code in EXPECTED_REFUSALS:
        _refusals.refused(exc, time.monotonic())
    elif exc.http_status >= 500:
        _log.error(
            "request_failed", error_code=str(exc.code), message=exc.message, detail=exc.detail
        )
    response = error_response(exc.http_status, exc.code, exc.message)
    if exc.retry_after_s is not None:
        response.headers["Retry-After"] = str(exc.retry_after_s)
    return response


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    problem = validation.describe(exc)
    if problem is None:
        raise exc
    not_json, message = problem
    if not_json:
        return error_response(400, ErrorCode.BODY_NOT_JSON, message)
    return error_response(422, ErrorCode.CONFIG_INVALID, message)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, StarletteHTTPException):
        raise exc
    if exc.status_code == 400:
        # FastAPI answers 400 only when it cannot parse a body as JSON (too deep, not UTF-8,
        # a number past Python's digit limit): one code for every unreadable body.
        return error_response(400, ErrorCode.BODY_NOT_JSON, _unreadable_body(exc.__cause__))
    code = _HTTP_CODES.get(exc.status_code, f"HTTP_{exc.status_code}")
    return error_response(exc.status_code, code, str(exc.detail))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    validation.install(app, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
