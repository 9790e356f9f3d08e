"""`/artifacts/{kind}/{id}`: list an artifact's files and download one or all of them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import iterate_in_threadpool
from starlette.responses import MalformedRangeHeader, RangeNotSatisfiable
from starlette.types import Receive, Scope, Send

from model_trainer.api.deps import ArtifactsDep
from model_trainer.api.errors import error_response
from model_trainer.api.schemas.common import GUARDED, ErrorBody, Responses, error_responses
from model_trainer.core.errors import HTTP_STATUS, ErrorCode
from model_trainer.orchestrators.artifacts import ArtifactFile, ArtifactKind


class ArtifactListing(BaseModel):
    """The files of one artifact folder."""

    model_config = ConfigDict(extra="forbid")

    kind: ArtifactKind
    id: str
    files: list[ArtifactFile]
    count: int


def list_files(kind: ArtifactKind, artifact_id: str, artifacts: ArtifactsDep) -> ArtifactListing:
    """Every file of the artifact, with sizes."""
    files = artifacts.files(kind, artifact_id)
    return ArtifactListing(kind=kind, id=artifact_id, files=files, count=len(files))


class _RangeRefused(Exception):
    """A `Range` the file cannot answer, carrying the error response to send instead."""

    def __init__(self, answer: Response) -> None:
        super().__init__(answer.status_code)
        self.answer = answer


def _range_refusal(code: ErrorCode, message: str) -> _RangeRefused:
    return _RangeRefused(error_response(HTTP_STATUS[code], code, message))


class FileDownload(FileResponse):
    """Starlette's file answer (ranges, `HEAD`, length), whose refused `Range` answers in the
    API's error shape, not Starlette's plain text; a 416 keeps `Content-Range: bytes */size`."""

    @classmethod
    def _parse_range_header(cls, http_range: str, file_size: int) -> list[tuple[int, int]]:
        try:
            return super()._parse_range_header(http_range, file_size)
        except MalformedRangeHeader as exc:
            raise _range_refusal(
                ErrorCode.RANGE_INVALID, f"the Range header cannot be read: {exc.content}"
            ) from exc
        except RangeNotSatisfiable as exc:
            refused = _range_refusal(
                ErrorCode.RANGE_NOT_SATISFIABLE,
                f"the range starts past the end of the file ({exc.max_size} bytes)",
            )
            refused.answer.headers["Content-Range"] = f"bytes */{exc.max_size}"
            raise refused from exc

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except _RangeRefused as refused:
            # Raised while the range was read, before anything was sent.
            await refused.answer(scope, receive, send)


def download(
    kind: ArtifactKind,
    artifact_id: str,
    artifacts: ArtifactsDep,
    path: Annotated[str | None, Query(max_length=1024)] = None,
) -> Response:
    """One file, or a folder (the whole artifact when `path` is absent) as a tar archive."""
    target = artifacts.resolve(kind, artifact_id, path)
    if target.is_file():
        return FileDownload(target, filename=target.name, media_type="application/octet-stream")
    name = artifact_id if target == artifacts.folder(kind, artifact_id) else target.name
    return StreamingResponse(
        _pull(artifacts.archive(target, name)),
        media_type="application/x-tar",
        headers={"Content-Disposition": _attachment(f"{name}.tar")},
    )


async def _pull(chunks: Generator[bytes, None, None]) -> AsyncIterator[bytes]:
    """The archive's chunks, read in a worker thread; its files close as soon as streaming ends."""
    try:
        async for chunk in iterate_in_threadpool(chunks):
            yield chunk
    finally:
        # A client that drops the connection ends the stream here (or when the response is
        # collected): close now rather than leave descriptors to the garbage collector.
        chunks.close()


def _attachment(filename: str) -> str:
    """`Content-Disposition` as Starlette writes it for files, RFC 6266 for other names."""
    quoted = quote(filename, errors="surrogateescape")
    if quoted != filename:
        return f"attachment; filename*=utf-8''{quoted}"
    return f'attachment; filename="{filename}"'


BINARY: dict[str, object] = {"schema": {"type": "string", "format": "binary"}}
DOWNLOAD_RESPONSES: Responses = {
    200: {
        "description": "The file's bytes, or a tar of the folder",
        "content": {"application/octet-stream": BINARY, "application/x-tar": BINARY},
    },
    206: {
        "description": "The requested part of the file (`Range`)",
        "content": {"application/octet-stream": BINARY},
    },
    400: {
        "model": ErrorBody,
        "description": "The path is unusable or outside the artifact, or the `Range` header "
        "cannot be read (`RANGE_INVALID`)",
    },
    416: {
        "model": ErrorBody,
        "description": "The `Range` starts past the end of the file (`RANGE_NOT_SATISFIABLE`)",
    },
}

# Every route may answer 401 or 421 (key, host), 404 (no such artifact), 422 (parameters) and 500.
router = APIRouter(
    prefix="/artifacts", tags=["artifacts"], responses=error_responses(*GUARDED, 404, 422, 500)
)
router.add_api_route(
    "/{kind}/{artifact_id}", list_files, methods=["GET"], operation_id="artifacts-list"
)
router.add_api_route(
    "/{kind}/{artifact_id}/download",
    download,
    methods=["GET"],
    operation_id="artifacts-download",
    # Either a FileResponse or a StreamingResponse; the schema comes from DOWNLOAD_RESPONSES.
    response_class=StreamingResponse,
    responses=DOWNLOAD_RESPONSES,
)
