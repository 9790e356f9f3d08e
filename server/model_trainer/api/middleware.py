"""Request correlation, API-key check, and the last line of defence for unexpected errors.

A plain ASGI middleware rather than Starlette's `BaseHTTPMiddleware`, which runs the rest of
the app in a task of its own and pipes every response (each event of a log stream, too)
through a memory stream: a cost paid on every request. ASGI scopes and messages are dicts
of `Any`, so this module is exempt from `disallow_any_expr` in pyproject.
"""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from model_trainer.api.admission import REQUEST_ID_HEADER, refusal, request_id_for
from model_trainer.api.deps import bind_registry, unbind_registry
from model_trainer.api.errors import error_response, request_id_var
from model_trainer.core.container import Registry
from model_trainer.core.errors import ErrorCode
from model_trainer.core.logging import Log, bind_context, clear_context

_log = Log("api")


class RequestContext:
    """Bind a request id (and the app's registry), enforce key and size limits, and never
    leak a traceback; every response carries `X-Request-ID`."""

    def __init__(
        self, app: ASGIApp, registry: Registry, api_key: str | None, max_body: int
    ) -> None:
        self._app = app
        self._registry = registry
        self._api_key = api_key
        self._max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        incoming = headers.get(REQUEST_ID_HEADER, "")
        request_id = request_id_for(incoming)
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        token = request_id_var.set(request_id)
        bound = bind_registry(self._registry)
        clear_context()
        bind_context(request_id=request_id)
        try:
            path: str = scope["path"]
            refused = refusal(path, headers, self._api_key, self._max_body)
            if refused is not None:
                await refused(scope, receive, send_with_id)
                return
            try:
                await self._app(scope, receive, send_with_id)
            except Exception:  # noqa: BLE001 - logged below; this is the top-level boundary
                # The one place an unexpected error stops: logged with its stack, answered
                # with a sanitised body; the process keeps serving. Once the response has
                # started nothing more can be said: the server closes the connection.
                _log.exception("request_crashed", path=path, method=str(scope["method"]))
                if not started:
                    crashed = error_response(500, ErrorCode.INTERNAL_ERROR, "internal error")
                    await crashed(scope, receive, send_with_id)
        finally:
            unbind_registry(bound)
            request_id_var.reset(token)
