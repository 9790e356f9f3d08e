"""Downloads written whole or not at all: into a new `NAME.<random>.part` beside the
target, renamed when complete.

The partial file is created exclusively under a name of its own (`mkstemp`: O_EXCL,
O_NOFOLLOW), so a file or symlink someone planted at a name we might use is never written
through.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from rich.progress import DownloadColumn, Progress, TransferSpeedColumn

from model_trainer.cli.session import SESSION, fail
from model_trainer.client.api import DownloadSink
from model_trainer.client.text import size
from model_trainer.client.views import ArtifactsView


class _FileSink(DownloadSink):
    def __init__(self, handle: int, progress: Progress) -> None:
        self._fd = handle
        self._progress = progress
        self._task = progress.add_task("download", total=None)

    def start(self, length: int | None) -> None:
        self._progress.update(self._task, total=length)

    def write(self, chunk: bytes) -> None:
        view = memoryview(chunk)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        self._progress.advance(self._task, len(chunk))


def default_name(artifact_id: str, path: str | None, is_file: bool) -> Path:
    """A file keeps its name; a folder arrives as `<id>-<path, / as ->.tar` (the whole
    artifact as `<id>.tar`), so that no two downloads of one run share a name."""
    inside = (path or "").strip("/")
    if not inside:
        return Path(f"{artifact_id}.tar")
    if is_file:
        return Path(inside.rsplit("/", 1)[-1])
    return Path(f"{artifact_id}-{inside.replace('/', '-')}.tar")


def _is_file(kind: str, artifact_id: str, path: str | None) -> bool:
    """Whether `path` names one file of the artifact (else a folder, or nothing: the
    download itself then says so)."""
    inside = (path or "").strip("/")
    if not inside or (path or "").endswith("/"):
        return False
    with SESSION.client() as client:
        listing = client.get(ArtifactsView, f"/artifacts/{kind}/{artifact_id}")
    return any(f.path == inside for f in listing.files)


def download_artifact(
    kind: str, artifact_id: str, path: str | None, output: Path | None, force: bool
) -> None:
    """Fetch an artifact (or one of its files) to `output`; a folder arrives as a tar."""
    name = default_name(artifact_id, path, _is_file(kind, artifact_id, path))
    target = output or name
    if target.is_dir():
        target = target / name
    if os.path.lexists(target) and not force:  # a link counts, even to nothing
        fail(f"{target} exists (--force replaces it)", "FILE_EXISTS")
    params: dict[str, str | int] = {"path": path} if path else {}
    columns = (DownloadColumn(), TransferSpeedColumn())
    fd, partial = _open_partial(target)
    done = False
    try:
        with Progress(*columns, console=SESSION.err, transient=True) as progress:
            sink = _FileSink(fd, progress)
            with SESSION.client() as client:
                client.download(f"/artifacts/{kind}/{artifact_id}/download", params, sink)
        os.fsync(fd)
        os.close(fd)
        fd = -1
        partial.replace(target)  # replaces a link at `target` itself, never what it names
        done = True
    except OSError as exc:  # a full disk, a folder in the way: say so, leave nothing behind
        fail(f"cannot write {target}: {exc.strerror or exc}", "FILE_NOT_WRITABLE")
    finally:
        if fd >= 0:
            os.close(fd)
        if not done:
            partial.unlink(missing_ok=True)
    SESSION.out.print(f"{target} ({size(target.stat().st_size)})")


def _open_partial(target: Path) -> tuple[int, Path]:
    """A new, empty file in `target`'s folder, open for writing, and its name."""
    try:
        fd, name = tempfile.mkstemp(prefix=f"{target.name}.", suffix=".part", dir=target.parent)
    except OSError as exc:
        fail(f"cannot write in {target.parent}: {exc.strerror or exc}", "FILE_NOT_WRITABLE")
    # mkstemp's 0600 suits a partial file; the download reads like any file the user writes.
    mask = os.umask(0)
    os.umask(mask)
    os.fchmod(fd, 0o644 & ~mask)
    return fd, Path(name)
