"""Event streams split into lines at CR LF, CR and LF only: text that holds other line
separators (U+2028, U+2029, U+0085) reaches the reader whole, and the server escapes them
in its JSON data anyway, for readers that split there."""

from __future__ import annotations

from pydantic import TypeAdapter

from model_trainer.api.routes.log_stream import sse_json
from model_trainer.client.api import SseEvent, event_lines, parse_sse

SEPARATORS = "a\u2028b\u2029c\x85d\x0be\x0cf\x1cg"
"""Everything `str.splitlines` breaks at, beside CR and LF."""
STREAM = f"event: token\r\ndata: {SEPARATORS}\r\rid: 7\rdata: x\n\ndata: y\r\n\r\ndata: end"
LINES = [
    "event: token",
    f"data: {SEPARATORS}",
    "",
    "id: 7",
    "data: x",
    "",
    "data: y",
    "",
    "data: end",
]
_TEXT: TypeAdapter[str] = TypeAdapter(str)
_OBJECT: TypeAdapter[dict[str, str]] = TypeAdapter(dict[str, str])


def test_lines_end_only_at_cr_lf_however_the_text_is_cut() -> None:
    assert list(event_lines([STREAM])) == LINES
    for first in range(len(STREAM) + 1):  # every cut into three chunks, a CR LF cut too
        for second in range(first, len(STREAM) + 1):
            chunks = [STREAM[:first], STREAM[first:second], STREAM[second:]]
            assert list(event_lines(chunks)) == LINES, (first, second)
    assert list(event_lines(["a\r", "", "\n", "b\r"])) == ["a", "b"]
    assert list(event_lines(["\r", "\n\r"])) == ["", ""]
    assert list(event_lines([])) == []


def test_events_keep_their_separators() -> None:
    assert list(parse_sse(event_lines([STREAM]))) == [
        SseEvent("token", "", SEPARATORS),
        SseEvent("message", "7", "x"),
        SseEvent("message", "", "y"),
    ]


def test_the_server_escapes_separators_in_json_data() -> None:
    raw = _OBJECT.dump_json({"text": SEPARATORS}).decode()  # as the routes write JSON
    assert "\u2028" in raw and "\x85" in raw  # left raw: valid JSON, not one line for all
    data = sse_json(raw)
    assert not {"\u2028", "\u2029", "\x85"} & set(data)
    assert "\\u2028" in data and "\\u0085" in data
    assert _OBJECT.validate_json(data) == {"text": SEPARATORS}
    assert _TEXT.validate_json(sse_json(_TEXT.dump_json(SEPARATORS).decode())) == SEPARATORS
    assert data.splitlines() == [data]  # one line, for any reader
