"""Generation streamed as it is made: `POST /runs/{id}/generate` as server-sent events.

The API sends `token` events (text added since the previous one, never a broken character,
and the ids made since then), then one `done` with the whole answer, or an `error` with the
API's error body when the generation fails after the stream began. A refusal before it
began (unknown run, not ready, bad settings, a full pool) is raised as `ApiError`, as for
any other call.
"""

from __future__ import annotations

from collections.abc import Generator

from pydantic import ValidationError

from model_trainer.client.api import ApiClient, SseEvent
from model_trainer.client.errors import BAD_ANSWER, UNREACHABLE, ApiError
from model_trainer.client.views import View
from model_trainer.core.json_types import JsonObject


class TokenEvent(View):
    """New text, and the ids made since the previous event."""

    text: str
    ids: list[int]


class DoneEvent(View):
    """The whole answer, as a non-streamed call returns it."""

    run_id: str
    prompt: str
    text: str
    ids: list[int]
    count: int


class ErrorEvent(View):
    """The generation failed after the stream began."""

    code: str
    message: str
    request_id: str | None = None

    def as_error(self) -> ApiError:
        return ApiError(self.code, self.message, request_id=self.request_id)


GenerateEvent = TokenEvent | DoneEvent | ErrorEvent
_KINDS: dict[str, type[TokenEvent] | type[DoneEvent] | type[ErrorEvent]] = {
    "token": TokenEvent,
    "done": DoneEvent,
    "error": ErrorEvent,
}


def generate_stream(
    client: ApiClient, run_id: str, body: JsonObject
) -> Generator[GenerateEvent, None, None]:
    """The events of one streamed generation (`body` as for `POST /runs/{id}/generate`),
    ending with its `DoneEvent` or `ErrorEvent`; a stream that ends before either raises
    API_UNREACHABLE (the connection dropped), an event that is not one of these BAD_RESPONSE.
    Closing the generator early (`close()`, or leaving a `for` over it that is then
    dropped) closes the connection, which stops the generation."""
    for raw in client.post_events(f"/runs/{run_id}/generate", body):
        event = _typed(raw)
        if event is None:
            continue
        yield event
        if not isinstance(event, TokenEvent):
            return
    raise ApiError(UNREACHABLE, "the generation's stream ended before the generation did")


def _typed(raw: SseEvent) -> GenerateEvent | None:
    """The event as its model; None for a kind this client does not know (a newer API's)."""
    kind = _KINDS.get(raw.event)
    if kind is None:
        return None
    try:
        return kind.model_validate_json(raw.data)
    except ValidationError as exc:
        raise ApiError(BAD_ANSWER, f"a `{raw.event}` event the client cannot read: {exc}") from exc
