"""The API's errors as one exception; a client prints `code: message` and nothing more."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, ValidationError

UNREACHABLE = "API_UNREACHABLE"
"""No answer at all: nothing listens at the address, or the connection dropped."""
BAD_ANSWER = "BAD_RESPONSE"
"""An answer that is not this API's (a proxy's error page, another service)."""
URL_INVALID = "API_URL_INVALID"
"""The API's address (--api-url, API_BASE_URL) is not an http(s) URL."""


class ErrorBody(BaseModel):
    """The body of every error the API sends."""

    model_config = ConfigDict(extra="ignore")

    code: str
    message: str
    request_id: str | None = None


class ApiError(Exception):
    """An error answered by the API (`status` > 0) or met on the way to it (`status` 0)."""

    def __init__(
        self, code: str, message: str, status: int = 0, request_id: str | None = None
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.request_id = request_id

    def one_line(self) -> str:
        """`CODE: message` with the request id when there is one (for bug reports)."""
        text = " ".join(f"{self.code}: {self.message}".split())
        return f"{text} (request {self.request_id})" if self.request_id else text


def error_from_answer(status: int, body: bytes, request_id: str | None) -> ApiError:
    """Read the API's error body; anything else becomes BAD_RESPONSE naming the status."""
    try:
        parsed = ErrorBody.model_validate_json(body)
    except ValidationError:
        snippet = body[:120].decode("utf-8", errors="replace").strip()
        detail = f": {snippet}" if snippet else ""
        return ApiError(BAD_ANSWER, f"HTTP {status} without an API error body{detail}", status)
    return ApiError(parsed.code, parsed.message, status, parsed.request_id or request_id)
