"""`/artifacts/{kind}/{id}`: list an artifact's files and download one or all of them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict
from starlette.background import BackgroundTask

from model_trainer.api.deps import ArtifactsDep
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
        return FileResponse(target, filename=target.name)
    name = artifact_id if target == artifacts.folder(kind, artifact_id) else target.name
    archive = artifacts.archive(target, name)
    return FileResponse(
        archive,
        filename=f"{name}.tar",
        media_type="application/x-tar",
        background=BackgroundTask(archive.unlink, missing_ok=True),
    )


router = APIRouter(prefix="/artifacts", tags=["artifacts"])
router.add_api_route(
    "/{kind}/{artifact_id}", list_files, methods=["GET"], operation_id="artifacts-list"
)
router.add_api_route(
    "/{kind}/{artifact_id}/download",
    download,
    methods=["GET"],
    operation_id="artifacts-download",
    response_class=FileResponse,
)
