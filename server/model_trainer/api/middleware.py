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


def _refusal(request: Request, api_key: str | None, max_body: int) -> Response | None:
    """An error response when the request must not reach a route, else None."""
    if api_key and request.url.path not in OPEN_PATHS:
        given = request.headers.get(API_KEY_HEADER, "")
        if not hmac.compare_digest(given.encode(), api_key.encode()):
            return error_response(
                401, ErrorCode.UNAUTHORIZED, f"missing or wrong {API_KEY_HEADER} header"
            )
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_body:
        return error_response(413, "PAYLOAD_TOO_LARGE", f"request body over {max_body} bytes")
    if request.headers.get("transfer-encoding", "").lower() == "chunked":
        return error_response(411, "LENGTH_REQUIRED", "send a Content-Length header")
    return None


def request_context(
    api_key: str | None, max_body: int
) -> Callable[[Request, CallNext], Awaitable[Response]]:
    """Middleware: bind a request id, enforce key and size limits, never leak a traceback."""

    async def middleware(request: Request, call_next: CallNext) -> Response:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = incoming if _SAFE_ID.fullmatch(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        clear_context()
        bind_context(request_id=request_id)
        try:
            refused = _refusal(request, api_key, max_body)
            if refused is not None:
                refused.headers[REQUEST_ID_HEADER] = request_id
                return refused
            try:
                response: Response = await call_next(request)
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
