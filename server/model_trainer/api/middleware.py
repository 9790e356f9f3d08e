"""Request correlation, admission (host, API key, body), headers every answer carries, HEAD
for every GET route, negotiated gzip, and the last line of defence for unexpected errors.

A plain ASGI middleware rather than Starlette's `BaseHTTPMiddleware`, which runs the rest of
the app in a task of its own and pipes every response (each event of a log stream, too)
through a memory stream: a cost paid on every request. ASGI scopes and messages are dicts
of `Any`: their fields are read through `_text`, which hands on only strings.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.gzip import GZipMiddleware, IdentityResponder
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from model_trainer.api.admission import (
    REQUEST_ID_HEADER,
    accepts_gzip,
    answered_hosts,
    refusal,
    request_id_for,
)
from model_trainer.api.deps import bind_registry, unbind_registry
from model_trainer.api.errors import error_response, request_id_var
from model_trainer.core.container import Registry
from model_trainer.core.errors import ErrorCode
from model_trainer.core.logging import Log, bind_context, clear_context

_log = Log("api")

ANSWER_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"),
)
"""On every answer unless its route set its own: no guessing of types, no framing, and
nothing loaded by a JSON body or a file opened in a browser. The pages (`/ui/`, `/docs`,
`/redoc`) set a policy of their own that lets them run, and still forbids framing."""


class RequestContext:
    """Bind a request id (and the app's registry), enforce host, key and size limits, answer
    HEAD like GET without the body, and never leak a traceback; every response carries
    `X-Request-ID` and `ANSWER_HEADERS`."""

    def __init__(
        self,
        app: ASGIApp,
        registry: Registry,
        api_key: str | None,
        max_body: int,
        allowed_hosts: Iterable[str] = (),
    ) -> None:
        self._app = app
        self._registry = registry
        self._api_key = api_key
        self._max_body = max_body
        self._hosts = answered_hosts(allowed_hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if _text(scope, "type") != "http":
            await self._app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        incoming = headers.get(REQUEST_ID_HEADER, "")
        request_id = request_id_for(incoming)
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if _text(message, "type") == "http.response.start":
                started = True
                answer = MutableHeaders(scope=message)
                answer[REQUEST_ID_HEADER] = request_id
                for name, value in ANSWER_HEADERS:
                    answer.setdefault(name, value)
            await send(message)

        if _text(scope, "method") == "HEAD":
            # Routes are declared for GET: they answer HEAD as GET, and the body goes nowhere.
            scope = {**scope, "method": "GET"}
            send_out = _head_only(send_with_id)
        else:
            send_out = send_with_id
        token = request_id_var.set(request_id)
        bound = bind_registry(self._registry)
        clear_context()
        bind_context(request_id=request_id)
        try:
            path = _text(scope, "path")
            refused = refusal(path, headers, self._api_key, self._max_body, self._hosts)
            if refused is not None:
                await refused(scope, receive, send_out)
                return
            try:
                await self._app(scope, receive, send_out)
            except Exception:  # noqa: BLE001 - logged below; this is the top-level boundary
                # The one place an unexpected error stops: logged with its stack, answered
                # with a sanitised body; the process keeps serving. Once the response has
                # started nothing more can be said: the server closes the connection.
                _log.exception("request_crashed", path=path, method=_text(scope, "method"))
                if not started:
                    crashed = error_response(500, ErrorCode.INTERNAL_ERROR, "internal error")
                    await crashed(scope, receive, send_out)
        finally:
            unbind_registry(bound)
            request_id_var.reset(token)


def _text(event: Scope | Message, key: str) -> str:
    """A text field of an ASGI scope or message (`type`, `method`, `path`); "" if it is not
    text, which the ASGI spec rules out."""
    value: object = event.get(key)
    return value if isinstance(value, str) else ""


def _head_only(send: Send) -> Send:
    """A `send` that passes the head of an answer on and ends the answer there: the body the
    GET route goes on to produce is dropped. Once the answer is complete the server reports
    the client gone, so a streaming answer (a log stream, an archive) stops at once."""

    async def send_head(message: Message) -> None:
        if _text(message, "type") == "http.response.start":
            await send(message)
            end: dict[str, object] = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(end)

    return send_head


class NegotiatedGZip(GZipMiddleware):
    """Starlette's gzip, but only when `Accept-Encoding` allows it: Starlette compresses for
    any header that mentions gzip, even `gzip;q=0`, which asks for anything but gzip."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if _text(scope, "type") == "http" and not accepts_gzip(
            Headers(scope=scope).get("accept-encoding", "")
        ):
            plain = IdentityResponder(
                self.app, self.minimum_size, exclude_content_types=self.exclude_content_types
            )
            await plain(scope, receive, send)
            return
        await super().__call__(scope, receive, send)
