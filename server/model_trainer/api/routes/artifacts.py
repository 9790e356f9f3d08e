"""`/artifacts/{kind}/{id}`: list an artifact's files and download one or all of them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict
from starlette.background import BackgroundTask

from model_trainer.api.deps import ArtifactsDep
from model_trainer.api.schemas.common import Responses, error_responses
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


def download(
    kind: ArtifactKind,
    artifact_id: str,
    artifacts: ArtifactsDep,
    path: Annotated[str | None, Query(max_length=1024)] = None,
) -> FileResponse:
    """One file, or a folder (the whole artifact when `path` is absent) as a tar archive."""
    target = artifacts.resolve(kind, artifact_id, path)
    if target.is_file():
        return FileResponse(target, filename=target.name, media_type="application/octet-stream")
    name = artifact_id if target == artifacts.folder(kind, artifact_id) else target.name
    archive = artifacts.archive(target, name)
    return FileResponse(
        archive,
        filename=f"{name}.tar",
        media_type="application/x-tar",
        background=BackgroundTask(archive.unlink, missing_ok=True),
    )


BINARY: dict[str, object] = {"schema": {"type": "string", "format": "binary"}}
DOWNLOAD_RESPONSES: Responses = {
    200: {
        "description": "The file's bytes, or a tar of the folder",
        "content": {"application/octet-stream": BINARY, "application/x-tar": BINARY},
    },
    **error_responses(400),
}

# Every route may answer 401 (API key), 404 (no such artifact), 422 (parameters) and 500.
router = APIRouter(
    prefix="/artifacts", tags=["artifacts"], responses=error_responses(401, 404, 422, 500)
)
router.add_api_route(
    "/{kind}/{artifact_id}", list_files, methods=["GET"], operation_id="artifacts-list"
)
router.add_api_route(
    "/{kind}/{artifact_id}/download",
    download,
    methods=["GET"],
    operation_id="artifacts-download",
    response_class=FileResponse,
    responses=DOWNLOAD_RESPONSES,
)
