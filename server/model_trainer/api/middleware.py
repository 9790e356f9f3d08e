"""Request correlation, API-key check, and the last line of defence for unexpected errors."""

from __future__ import annotations

import hmac
import re
import uuid
from collections.abc import Awaitable, Callable

from fastapi import Request, Response

from model_trainer.api.errors import error_response, request_id_var
from model_trainer.core.errors import ErrorCode
from model_trainer.core.logging import Log, bind_context, clear_context

REQUEST_ID_HEADER = "X-Request-ID"
API_KEY_HEADER = "X-Api-Key"
OPEN_PATHS = frozenset({"/healthz"})
"""Paths that answer without an API key (liveness probes)."""

_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_log = Log("api")

CallNext = Callable[[Request], Awaitable[Response]]


def request_context(api_key: str | None) -> Callable[[Request, CallNext], Awaitable[Response]]:
    """Middleware: bind a request id, enforce the key if one is set, never leak a traceback."""

    async def middleware(request: Request, call_next: CallNext) -> Response:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = incoming if _SAFE_ID.fullmatch(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        clear_context()
        bind_context(request_id=request_id)
        try:
            if api_key and request.url.path not in OPEN_PATHS:
                given = request.headers.get(API_KEY_HEADER, "")
                if not hmac.compare_digest(given.encode(), api_key.encode()):
                    response: Response = error_response(
                        401, ErrorCode.UNAUTHORIZED, f"missing or wrong {API_KEY_HEADER} header"
                    )
                    response.headers[REQUEST_ID_HEADER] = request_id
                    return response
            try:
                response = await call_next(request)
            except Exception:  # noqa: BLE001 - logged below; this is the top-level boundary
                # The one place an unexpected error stops: logged with its stack, answered
                # with a sanitised body; the process keeps serving.
                _log.exception("request_crashed", path=request.url.path, method=request.method)
                response = error_response(500, ErrorCode.INTERNAL_ERROR, "internal error")
            response.headers[REQUEST_ID_HEADER] = request_id
            return response
        finally:
            request_id_var.reset(token)

    return middleware
