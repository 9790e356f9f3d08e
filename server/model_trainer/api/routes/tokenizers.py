"""`/tokenizers`: train, list, inspect and try out tokenizers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response, StreamingResponse
from sse_starlette import EventSourceResponse

from model_trainer.api.deps import DeletionDep, EncodePoolDep, TokenizerLogsDep, TokenizersDep
from model_trainer.api.routes.log_stream import (
    LastEventId,
    log_stream,
    resume_after,
    stream_responses,
)
from model_trainer.api.schemas.common import BODY_ERRORS, GUARDED, error_responses
from model_trainer.api.schemas.labels import LabelsPatch
from model_trainer.api.schemas.tokenizers import (
    EncodePublic,
    EncodeRequest,
    TokenizerCreate,
    TokenizerPublic,
    TokenizerQueued,
    TokenizersPublic,
)
from model_trainer.core.job_status import JobStatus
from model_trainer.orchestrators.tokenizers import TokenizerQuery


def train_tokenizer(body: TokenizerCreate, tokenizers: TokenizersDep) -> TokenizerQueued:
    """Queue a tokenizer training job and return its id at once."""
    manifest = tokenizers.enqueue_training(body)
    return TokenizerQueued(tokenizer_id=manifest.tokenizer_id, status=manifest.status)


def list_tokenizers(
    tokenizers: TokenizersDep,
    status: Annotated[JobStatus | None, Query(description="Only tokenizers in this status")] = None,
    tag: Annotated[
        str | None, Query(max_length=200, description="Only tokenizers with this tag (any case)")
    ] = None,
    method: Annotated[
        str | None, Query(max_length=200, description="Only tokenizers of this method (any case)")
    ] = None,
    q: Annotated[
        str | None,
        Query(max_length=200, description="Only tokenizers whose name or id holds this (any case)"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> TokenizersPublic:
    """Tokenizers, newest first; the filters combine (an empty one is no filter)."""
    query = TokenizerQuery(status, tag or None, method or None, q or None, limit)
    data = [TokenizerPublic.from_view(v) for v in tokenizers.find(query)]
    return TokenizersPublic(data=data, count=len(data))


def get_tokenizer(tokenizer_id: str, tokenizers: TokenizersDep) -> TokenizerPublic:
    """Status, stats and, if it failed, why."""
    return TokenizerPublic.from_view(tokenizers.get(tokenizer_id))


def relabel_tokenizer(
    tokenizer_id: str, body: LabelsPatch, tokenizers: TokenizersDep
) -> TokenizerPublic:
    """Change the tokenizer's name, notes or tags, in any status (an imported one too): a
    field left out stays, null clears it (`config` keeps what was submitted)."""
    return TokenizerPublic.from_view(tokenizers.relabel(tokenizer_id, body))


def delete_tokenizer(tokenizer_id: str, deletion: DeletionDep) -> Response:
    """Delete a tokenizer no run uses: its folder, live state and stored objects. 409
    `TOKENIZER_IN_USE` (naming runs that use it) or `TOKENIZER_ACTIVE` (its job has not
    ended)."""
    deletion.delete_tokenizer(tokenizer_id)
    return Response(status_code=204)


async def encode(
    tokenizer_id: str, body: EncodeRequest, tokenizers: TokenizersDep, pool: EncodePoolDep
) -> EncodePublic:
    """Encode text with a trained tokenizer: ids and the token strings they stand for (on
    the API's small encode pool; 503 with `Retry-After` when it is full)."""

    def encode_text() -> tuple[list[int], list[str]]:
        return tokenizers.encode(tokenizer_id, body.text)

    encoded = await pool.run(encode_text)  # unpacked apart: mypy sees Any in `a, b = await`
    ids, tokens = encoded
    return EncodePublic(tokenizer_id=tokenizer_id, ids=ids, tokens=tokens, count=len(ids))


def stream_logs(
    tokenizer_id: str,
    tokenizers: TokenizersDep,
    logs: TokenizerLogsDep,
    last_event_id: LastEventId = None,
) -> EventSourceResponse:
    """Server-sent events, one per log line; `Last-Event-ID` resumes after that line."""
    path = tokenizers.log_path(tokenizer_id)
    return log_stream(logs.follow(tokenizer_id, path, resume_after(last_event_id)))


# Every route may answer 401 or 421 (key, host), 422 (parameters), 500 and 503 (Redis); the rest are
# declared per route so the schema lists what each one can answer.
router = APIRouter(
    prefix="/tokenizers", tags=["tokenizers"], responses=error_responses(*GUARDED, 422, 500, 503)
)
router.add_api_route(
    "/train",
    train_tokenizer,
    methods=["POST"],
    status_code=202,
    operation_id="tokenizers-train",
    responses=error_responses(*BODY_ERRORS, 404, 429, 507),
)
router.add_api_route("", list_tokenizers, methods=["GET"], operation_id="tokenizers-list")
router.add_api_route(
    "/{tokenizer_id}",
    get_tokenizer,
    methods=["GET"],
    operation_id="tokenizers-get",
    responses=error_responses(400, 404),
)
router.add_api_route(
    "/{tokenizer_id}",
    relabel_tokenizer,
    methods=["PATCH"],
    operation_id="tokenizers-relabel",
    responses=error_responses(*BODY_ERRORS, 404),
)
router.add_api_route(
    "/{tokenizer_id}",
    delete_tokenizer,
    methods=["DELETE"],
    status_code=204,
    operation_id="tokenizers-delete",
    responses=error_responses(404, 409),
)
router.add_api_route(
    "/{tokenizer_id}/encode",
    encode,
    methods=["POST"],
    operation_id="tokenizers-encode",
    responses=error_responses(*BODY_ERRORS, 404, 409),
)
router.add_api_route(
    "/{tokenizer_id}/logs/stream",
    stream_logs,
    methods=["GET"],
    operation_id="tokenizers-logs-stream",
    # Not JSON: FastAPI then leaves the 200 to `responses` (see the runs' stream).
    response_class=StreamingResponse,
    responses=stream_responses("tokenizer"),
)
