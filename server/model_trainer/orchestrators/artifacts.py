"""Browse and download artifact folders without ever leaving them."""

from __future__ import annotations

import tarfile
import tempfile
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.ids import validate_id
from model_trainer.infra.paths import resolve_inside


class ArtifactKind(StrEnum):
    """Folders under `ARTIFACTS_ROOT` that hold one artifact per id."""

    TOKENIZERS = "tokenizers"
    MODELS = "models"


class ArtifactFile(BaseModel):
    """One file of an artifact folder."""

    model_config = ConfigDict(extra="forbid")

    path: str
    bytes: int


def _visible(path: Path, folder: Path) -> bool:
    """Temporary and scratch files (names starting with a dot) are not artifacts."""
    return not any(part.startswith(".") for part in path.relative_to(folder).parts)


class ArtifactStore:
    """Artifact folders by kind and id."""

    def __init__(self, artifacts_root: Path) -> None:
        self._root = artifacts_root

    def folder(self, kind: ArtifactKind, artifact_id: str) -> Path:
        folder = self._root / kind.value / validate_id(artifact_id, "artifact")
        if not folder.is_dir():
            raise AppError(ErrorCode.NOT_FOUND, f"{kind.value} '{artifact_id}' does not exist")
        return folder

    def files(self, kind: ArtifactKind, artifact_id: str) -> list[ArtifactFile]:
        folder = self.folder(kind, artifact_id)
        return [
            ArtifactFile(path=str(p.relative_to(folder)), bytes=p.stat().st_size)
            for p in sorted(folder.rglob("*"))
            if p.is_file() and _visible(p, folder)
        ]

    def resolve(self, kind: ArtifactKind, artifact_id: str, path: str | None) -> Path:
        """A file or folder inside the artifact; anything else is refused."""
        folder = self.folder(kind, artifact_id)
        if not path:
            return folder
        target = resolve_inside(folder, path, "path")
        if not target.exists() or not _visible(target, folder.resolve()):
            raise AppError(ErrorCode.NOT_FOUND, f"'{path}' is not in {kind.value} '{artifact_id}'")
        return target

    def archive(self, folder: Path, name: str) -> Path:
        """A tar of `folder`'s visible files in a temporary file (the caller deletes it)."""
        handle = tempfile.NamedTemporaryFile(prefix="artifact-", suffix=".tar", delete=False)
        handle.close()
        base = folder.resolve()
        with tarfile.open(handle.name, "w") as tar:
            for path in sorted(base.rglob("*")):
                if path.is_file() and not path.is_symlink() and _visible(path, base):
                    tar.add(path, arcname=f"{name}/{path.relative_to(base)}")
        return Path(handle.name)
