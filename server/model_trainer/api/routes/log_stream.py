"""A job's `logs.jsonl` as server-sent events: shared by the run and tokenizer routes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Annotated

from fastapi import Header
from sse_starlette import EventSourceResponse, ServerSentEvent

from model_trainer.api.schemas.common import Responses, error_responses

LINE_NUMBER = r"^[0-9]{1,15}$"
"""An event id: a line number in ASCII digits (`str.isdigit` also admits '²')."""
PING_S = 15
"""A comment line this often keeps proxies from closing a quiet stream."""

LastEventId = Annotated[
    str | None,
    Header(
        pattern=LINE_NUMBER,
        description="The id of the last event seen (a line number); resumes after it",
    ),
]


_SSE_LINE_BREAKS = str.maketrans({"\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\u0085"})


def sse_json(data: str) -> str:
    """JSON `data` safe for an event stream: U+2028, U+2029 and U+0085 written as `\\uXXXX`
    escapes (JSON allows them raw, only ever inside a string, so the value is unchanged).
    The format itself ends lines only at CR and LF, but many readers (httpx's
    `iter_lines`, Python's `str.splitlines`) also break there and would cut the event."""
    return data.translate(_SSE_LINE_BREAKS)


def resume_after(last_event_id: str | None) -> int:
    return int(last_event_id) if last_event_id else 0


async def _log_events(
    lines: AsyncGenerator[tuple[int, str], None],
) -> AsyncIterator[ServerSentEvent]:
    """Each complete line as an event whose id is its line number, until the job ends."""
    async with aclosing(lines):  # a client that leaves stops following at once
        async for line_no, line in lines:
            yield ServerSentEvent(data=sse_json(line), id=str(line_no), event="log")
            # A backlog is sent without waiting on anything, so the event loop would not
            # learn that the client left (and the server would keep writing to a dead
            # socket, warning each time) until the whole backlog was out: let it look.
            await asyncio.sleep(0)


def log_stream(lines: AsyncGenerator[tuple[int, str], None]) -> EventSourceResponse:
    return EventSourceResponse(_log_events(lines), ping=PING_S)


def stream_responses(noun: str) -> Responses:
    """The schema's description of a log stream of a `noun` (run, tokenizer)."""
    event: dict[str, object] = {
        "type": "object",
        "description": f"One line of the {noun}'s `logs.jsonl`; `id` is its line number",
        "properties": {
            "event": {"const": "log"},
            "id": {"type": "string", "pattern": "^[0-9]+$"},
            "data": {"type": "string"},
        },
        "required": ["event", "id", "data"],
    }
    return {
        200: {
            "description": f"Server-sent events, one per log line, until the {noun} has ended",
            # Before OpenAPI 3.2 an event stream's `schema` describes each event.
            "content": {"text/event-stream": {"schema": event}},
        },
        **error_responses(404),
    }
