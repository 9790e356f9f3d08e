"""Browse and download artifact folders without ever leaving them.

One rule decides what a listing shows and a download serves: regular files inside the
artifact folder, not hidden (no part starting with a dot), reached without any symlink.
"""

from __future__ import annotations

import os
import stat
import tarfile
from collections.abc import Generator
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.ids import validate_id
from model_trainer.infra.paths import plain_path, walk_visible
from model_trainer.infra.storage import storage
from model_trainer.jobs.layout import ArtifactLayout

CHUNK_BYTES = 1 << 20
"""What an archive holds in memory at once, whatever the sizes of its files."""

_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
"""Never through a symlink, and never blocking on a FIFO swapped in after the walk."""


class ArtifactKind(StrEnum):
    """The kinds of artifact, as the API's paths name them."""

    TOKENIZERS = "tokenizers"
    MODELS = "models"


class ArtifactFile(BaseModel):
    """One file of an artifact folder."""

    model_config = ConfigDict(extra="forbid")

    path: str
    bytes: int


class ArtifactStore:
    """Artifact folders by kind and id."""

    def __init__(self, layout: ArtifactLayout) -> None:
        self._layout = layout

    def folder(self, kind: ArtifactKind, artifact_id: str, pull: bool = True) -> Path:
        """The artifact's local folder. With a shared store, `pull` first brings this
        process's copy of it up to date (only what changed is downloaded)."""
        artifact_id = validate_id(artifact_id, "artifact")
        if kind is ArtifactKind.TOKENIZERS:
            folder = self._layout.tokenizer(artifact_id).path
        else:
            folder = self._layout.run(artifact_id).path
        store = storage()
        if pull:
            store.pull_folder(folder)
        elif store.shared and not folder.exists() and store.listing(folder):
            folder.mkdir(parents=True)  # in the store; its files come down as they are asked
        if folder.is_symlink() or not folder.is_dir():
            raise AppError(ErrorCode.NOT_FOUND, f"{kind.value} '{artifact_id}' does not exist")
        return folder

    def files(self, kind: ArtifactKind, artifact_id: str) -> list[ArtifactFile]:
        """Exactly the files a whole-folder download would serve. With a shared store, the
        store's own listing: a listing downloads nothing (a running run's checkpoints
        change at every save)."""
        listed = storage().listing(self.folder(kind, artifact_id, pull=False))
        if listed is not None:
            return [ArtifactFile(path=path, bytes=size) for path, size in listed]
        return [
            ArtifactFile(path="/".join(parts), bytes=info.st_size)
            for parts, _, info in walk_visible(self.folder(kind, artifact_id))
            if stat.S_ISREG(info.st_mode)
        ]

    def resolve(self, kind: ArtifactKind, artifact_id: str, path: str | None) -> Path:
        """A file or folder inside the artifact; a symlink on the way is as good as missing.
        With a shared store only what is asked for is downloaded: one file, or a folder."""
        folder = self.folder(kind, artifact_id, pull=not path)
        if not path:
            return folder
        _bring(folder, path)
        target = plain_path(folder, path, "path")
        if target is None:
            raise AppError(ErrorCode.NOT_FOUND, f"'{path}' is not in {kind.value} '{artifact_id}'")
        return target

    def archive(self, folder: Path, name: str) -> Generator[bytes, None, None]:
        """A tar of `folder`'s files under `name/`, produced as it is read; nothing on disk."""
        for parts, dir_fd, info in walk_visible(folder):
            if not stat.S_ISREG(info.st_mode):
                continue
            try:
                fd = os.open(parts[-1], _FILE_FLAGS, dir_fd=dir_fd)
            except OSError:
                continue  # removed, or swapped for a symlink, since the walk saw it
            try:
                yield from _member(fd, "/".join((name, *parts)))
            finally:
                os.close(fd)
        yield bytes(2 * tarfile.BLOCKSIZE)


def _bring(folder: Path, path: str) -> None:
    """With a shared store, download what `path` names under `folder` (a file, else a
    folder) before it is resolved; a name the resolver would refuse anyway is left to it."""
    store = storage()
    pieces = [piece for piece in path.split("/") if piece not in ("", ".")]
    if not store.shared or not pieces or any(p == ".." or p.startswith(".") for p in pieces):
        return
    candidate = folder.joinpath(*pieces)
    if not store.pull(candidate):
        store.pull_folder(candidate)


def _member(fd: int, arcname: str) -> Generator[bytes, None, None]:
    """One tar member: header, the bytes in chunks, padding to the next block."""
    # The size comes from the open descriptor: a file replaced by a rename meanwhile is
    # still the old one here, so header and bytes agree.
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        return
    member = tarfile.TarInfo(arcname)
    member.size = info.st_size
    member.mtime = int(info.st_mtime)
    member.mode = stat.S_IMODE(info.st_mode)
    yield member.tobuf(tarfile.PAX_FORMAT)
    left = info.st_size
    while left:
        chunk = os.read(fd, min(CHUNK_BYTES, left))
        if not chunk:
            # The header already promised the size: stop rather than send a corrupt member.
            raise AppError(ErrorCode.DATA_INVALID, f"'{arcname}' shrank while being archived")
        left -= len(chunk)
        yield chunk
    if padding := -info.st_size % tarfile.BLOCKSIZE:
        yield bytes(padding)
