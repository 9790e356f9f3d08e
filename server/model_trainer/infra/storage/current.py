"""The one storage a process uses, chosen from its settings at start-up.

It is process-wide, as the logging set-up is: manifests are read and written in many places
(`jobs/manifest.py` is the one that touches the file), and each of them must sync with the
same store.
"""

from __future__ import annotations

from pathlib import Path

from model_trainer.core.contracts.storage import ArtifactStorage
from model_trainer.core.settings import Settings
from model_trainer.infra.storage.local import LocalFolder

_current: list[ArtifactStorage] = []


def open_storage(settings: Settings) -> ArtifactStorage:
    """The local folder, or the object store named by `ARTIFACTS_ROOT=s3://...` with this
    process's cache (`ARTIFACTS_CACHE`)."""
    url = settings.artifacts_url
    if url is None:
        return LocalFolder(settings.artifacts_root)
    # s3fs and botocore (a third of a second) load only where object storage is used
    from model_trainer.infra.storage.objects import ObjectStorage

    return ObjectStorage(url, settings.artifacts_cache, settings.store)


def use_storage(chosen: ArtifactStorage) -> ArtifactStorage:
    """Make `chosen` the process's storage (the composition root calls this)."""
    _current[:] = [chosen]
    return chosen


def storage() -> ArtifactStorage:
    """The process's storage; a local folder (no syncing) until one is chosen."""
    if not _current:
        _current.append(LocalFolder(Path("artifacts")))
    return _current[0]
