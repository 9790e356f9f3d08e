"""`ApiClient`: the API's endpoints as typed calls over one httpx connection pool.

Every call either returns what the API answered or raises `ApiError` with the API's own
`code` and `message` (or API_UNREACHABLE / BAD_RESPONSE when the API itself did not answer,
API_URL_INVALID when its address is not one), so a command never shows a traceback for
something the user can fix.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import httpx
from pydantic import ValidationError

from model_trainer.client.errors import (
    BAD_ANSWER,
    UNREACHABLE,
    URL_INVALID,
    ApiError,
    error_from_answer,
)
from model_trainer.client.views import View
from model_trainer.core.json_types import JsonValue

V = TypeVar("V", bound=View)

TIMEOUT_S = 30.0
"""Ordinary calls; generation on a busy API can take a while, so not less."""
STREAM_READ_TIMEOUT_S = 60.0
"""A log stream sends a ping every 15 s: four missed pings mean the connection is dead."""
RETRYABLE_STATUS = frozenset({502, 503, 504})
"""Answers that say "not now" rather than "no" (a proxy between restarts, a busy pool)."""

Params = dict[str, str | int]

_LINE_END = re.compile(r"\r\n|\r|\n")
"""The event-stream format's line ends, and only these: `str.splitlines` (and so httpx's
`iter_lines`) also breaks at U+2028, U+2029, U+0085 and others, which text may hold."""


@dataclass(frozen=True)
class Answer:
    """A successful answer: its status and raw JSON body (printed as is by `--json`)."""

    status: int
    body: bytes

    def parse(self, model: type[V]) -> V:
        try:
            return model.model_validate_json(self.body)
        except ValidationError as exc:
            raise ApiError(
                BAD_ANSWER, f"the API's answer does not match {model.__name__}: {exc}"
            ) from exc


@dataclass(frozen=True)
class StreamEvent:
    """One server-sent event: its id (a log line number) and data (the line)."""

    id: int
    data: str


@dataclass(frozen=True)
class SseEvent:
    """One server-sent event as sent: its type (`message` when unnamed), its id ("" when
    it has none) and its data."""

    event: str
    id: str
    data: str


class ApiClient:
    """The API at `base_url`, with `X-Api-Key` on every call when a key is set."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        timeout_s: float = TIMEOUT_S,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = _checked_url(base_url).rstrip("/")
        headers = {"Accept": "application/json"}
        if api_key:
            headers["X-Api-Key"] = api_key
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout_s, transport=transport
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def call(
        self,
        method: str,
        path: str,
        body: JsonValue | None = None,
        params: Params | None = None,
    ) -> Answer:
        """One call; raises `ApiError` for anything but a 2xx answer."""
        content = None
        headers: dict[str, str] = {}
        if body is not None:
            # NaN and Infinity (a TOML file may hold them) go out as JSON's extensions: the
            # API refuses them with an error that names the field.
            content = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            response = self._http.request(
                method, path, content=content, params=params, headers=headers
            )
        except httpx.HTTPError as exc:
            raise self.unreachable(exc) from exc
        if response.is_success:
            return Answer(response.status_code, response.content)
        raise error_from_answer(
            response.status_code, response.content, _request_id(response.headers)
        )

    def get(self, model: type[V], path: str, params: Params | None = None) -> V:
        return self.call("GET", path, params=params).parse(model)

    def post(self, model: type[V], path: str, body: JsonValue | None = None) -> V:
        return self.call("POST", path, body).parse(model)

    def unreachable(self, exc: httpx.HTTPError) -> ApiError:
        reason = str(exc) or type(exc).__name__
        return ApiError(UNREACHABLE, f"no answer from {self.base_url} ({reason})")

    def events(self, path: str, last_id: int = 0) -> Iterator[StreamEvent]:
        """Server-sent events of `path` after event `last_id`, until the server ends them."""
        headers = {"Accept": "text/event-stream"}
        if last_id:
            headers["Last-Event-ID"] = str(last_id)
        yield from _parse_events(self._event_lines("GET", path, headers, None))

    def post_events(self, path: str, body: JsonValue) -> Iterator[SseEvent]:
        """POST `body` asking for server-sent events (`Accept: text/event-stream`); every
        event until the server ends them. An answer that is not a stream raises `ApiError`."""
        headers = {"Accept": "text/event-stream", "Content-Type": "application/json"}
        yield from parse_sse(self._event_lines("POST", path, headers, json.dumps(body).encode()))

    def _event_lines(
        self, method: str, path: str, headers: dict[str, str], content: bytes | None
    ) -> Iterator[str]:
        timeout = httpx.Timeout(TIMEOUT_S, read=STREAM_READ_TIMEOUT_S)
        try:
            with self._http.stream(
                method, path, headers=headers, content=content, timeout=timeout
            ) as response:
                if not response.is_success:
                    response.read()
                    raise error_from_answer(
                        response.status_code,
                        response.content,
                        _request_id(response.headers),
                    )
                yield from event_lines(response.iter_text())
        except httpx.HTTPError as exc:
            raise self.unreachable(exc) from exc

    def download(self, path: str, params: Params, sink: DownloadSink) -> None:
        """Stream a download's bytes into `sink` as they arrive."""
        try:
            with self._http.stream("GET", path, params=params, timeout=STREAM_READ_TIMEOUT_S) as r:
                if not r.is_success:
                    r.read()
                    raise error_from_answer(r.status_code, r.content, _request_id(r.headers))
                length = r.headers["content-length"] if "content-length" in r.headers else ""
                sink.start(int(length) if length.isdigit() else None)
                for chunk in r.iter_bytes():
                    sink.write(chunk)
        except httpx.HTTPError as exc:
            raise self.unreachable(exc) from exc


class DownloadSink:
    """Where a download goes; `start` learns the length when the server sends one."""

    def start(self, length: int | None) -> None:
        raise NotImplementedError

    def write(self, chunk: bytes) -> None:
        raise NotImplementedError


def _checked_url(base_url: str) -> str:
    """`base_url` if it is an http(s) address: httpx would raise InvalidURL, no HTTPError."""
    try:
        url = httpx.URL(base_url)
    except httpx.InvalidURL as exc:
        raise ApiError(URL_INVALID, f"{base_url!r} is not a URL ({exc})") from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise ApiError(URL_INVALID, f"{base_url!r} is not an http:// or https:// address")
    return base_url


def _request_id(headers: httpx.Headers) -> str | None:
    # Headers.get is typed Any; indexing is typed str.
    return headers["x-request-id"] if "x-request-id" in headers else None


def event_lines(chunks: Iterable[str]) -> Iterator[str]:
    """The lines of an event stream arriving as text `chunks`, split at CR LF, CR or LF
    wherever the chunks themselves break; a last line without its end is kept."""
    pending = ""
    for chunk in chunks:
        pending += chunk
        # A CR last may be the first half of a CR LF cut by the chunking: the next chunk
        # tells, so it stays pending.
        end = len(pending) - 1 if pending.endswith("\r") else len(pending)
        start = 0
        for match in _LINE_END.finditer(pending, 0, end):
            yield pending[start : match.start()]
            start = match.end()
        pending = pending[start:]
    if pending:  # at most one line end is left, a CR at the very end
        yield pending.removesuffix("\r")


def parse_sse(lines: Iterator[str]) -> Iterator[SseEvent]:
    """The event-stream format: `event:`, `id:` and `data:` lines, a blank line ends an
    event; comments (`:` pings) and other fields are skipped, as are events without data."""
    name, event_id = "", ""
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield SseEvent(name or "message", event_id, "\n".join(data))
            name, event_id, data = "", "", []
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("id:"):
            event_id = line[3:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))


def _parse_events(lines: Iterator[str]) -> Iterator[StreamEvent]:
    """The events of a log stream: those whose id is a line number."""
    for event in parse_sse(lines):
        if event.id.isdigit():
            yield StreamEvent(int(event.id), event.data)
