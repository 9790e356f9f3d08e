"""Whether a request may reach a route at all: its id, the API key, and body limits."""

from __future__ import annotations

import hmac
import re
import uuid

from starlette.datastructures import Headers
from starlette.responses import Response

from model_trainer.api.errors import error_response
from model_trainer.core.errors import ErrorCode

REQUEST_ID_HEADER = "X-Request-ID"
API_KEY_HEADER = "X-Api-Key"
OPEN_PATHS = frozenset({"/healthz", "/", "/ui", "/docs", "/redoc", "/openapi.json"})
"""Paths that answer without an API key: the liveness probe, the way to the dashboard, and
the documentation pages with the schema they show (which hold no data; "Authorize" on the
page sends the key with the requests tried from it)."""
OPEN_PREFIXES = ("/ui/", "/docs-assets/")
"""The dashboard's files hold no data (the app asks for the key and sends it itself), nor do
the documentation pages' scripts and styles."""

_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_DIGITS = re.compile(r"[0-9]+")


def request_id_for(incoming: str) -> str:
    """The client's `X-Request-ID` when it is safe to echo and log, else a new one."""
    return incoming if _SAFE_ID.fullmatch(incoming) else uuid.uuid4().hex


def is_open(path: str) -> bool:
    """Whether `path` answers without an API key."""
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


def refusal(path: str, headers: Headers, api_key: str | None, max_body: int) -> Response | None:
    """An error response when the request must not reach a route, else None."""
    if api_key and not is_open(path):
        given = headers.get(API_KEY_HEADER, "")
        if not hmac.compare_digest(given.encode(), api_key.encode()):
            return error_response(
                401, ErrorCode.UNAUTHORIZED, f"missing or wrong {API_KEY_HEADER} header"
            )
    length = headers.get("content-length", "")
    # ASCII digits only: str.isdigit() also says yes to '²', which int() then refuses.
    if _DIGITS.fullmatch(length) and (len(length) > 18 or int(length) > max_body):
        return error_response(413, "PAYLOAD_TOO_LARGE", f"request body over {max_body} bytes")
    if headers.get("transfer-encoding", "").lower() == "chunked":
        return error_response(411, "LENGTH_REQUIRED", "send a Content-Length header")
    return None
