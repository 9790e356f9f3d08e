"""`ARTIFACTS_ROOT=s3://bucket/prefix`: S3-compatible object storage behind a local cache.

Keys mirror the cache: `<cache>/models/<id>/manifest.json` is `bucket/prefix/models/<id>/
manifest.json`. One PUT makes one object appear whole; a file is downloaded to a hidden
temporary name and renamed, so local readers never see half of one either. Every call is
retried with a doubling wait; when the tries are spent it fails `STORE_UNAVAILABLE`.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple, TypeVar

from s3fs import S3FileSystem

from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.logging import Log
from model_trainer.core.settings import STORE_SCHEME, StoreSettings
from model_trainer.infra.backoff import delays

T = TypeVar("T")

_log = Log("core", component="store")


class _Stamp(NamedTuple):
    """What a file was when this process last synced it, and the object it matched."""

    etag: str
    mtime_ns: int
    size: int


def _local_stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_mtime_ns, st.st_size)


class ObjectStorage:
    """The store is the record; `root` is this process's cache of it."""

    def __init__(self, url: str, cache: Path, settings: StoreSettings) -> None:
        self._prefix = url.removeprefix(STORE_SCHEME).strip("/")
        self._root = Path(os.path.abspath(cache))
        self._settings = settings
        self._lock = threading.Lock()
        self._synced: dict[str, _Stamp] = {}
        self._looked: dict[str, float] = {}
        self._client: tuple[int, S3FileSystem] | None = None
        # A fork while another thread (the worker's maintenance) holds the lock would leave
        # the work horse's copy locked for ever: the child starts with a fresh one.
        os.register_at_fork(after_in_child=self._after_fork)

    def _after_fork(self) -> None:
        self._lock = threading.Lock()

    @property
    def root(self) -> Path:
        return self._root

    @property
    def shared(self) -> bool:
        return True

    def _fs(self) -> S3FileSystem:
        """A client of this process: one made before a fork is bound to the parent's event
        loop, so a work horse makes its own."""
        with self._lock:
            if self._client is None or self._client[0] != os.getpid():
                endpoint = os.environ.get("AWS_ENDPOINT_URL") or None
                fs = S3FileSystem(
                    endpoint_url=endpoint,
                    skip_instance_cache=True,
                    use_listings_cache=False,
                    config_kwargs={
                        "connect_timeout": 5,
                        "read_timeout": 60,
                        "retries": {"max_attempts": 1},
                    },
                )
                fs.retries = 1  # the waits are ours (`_call`): a stopped store is seen soon
                self._client = (os.getpid(), fs)
            return self._client[1]

    def key(self, path: Path) -> str | None:
        """The object's key of a local path; None outside the cache or hidden (scratch,
        staging, temporary names are never shared)."""
        absolute = Path(os.path.abspath(path))
        if not absolute.is_relative_to(self._root):
            return None
        relative = absolute.relative_to(self._root)
        if any(part.startswith(".") for part in relative.parts):
            return None
        return f"{self._prefix}/{relative.as_posix()}" if relative.parts else self._prefix

    def _call(self, what: str, call: Callable[[], T]) -> T:
        """`call()`, retried on any failure of the store but a missing object."""
        settings = self._settings
        waits = delays(settings.first_delay_s, settings.max_delay_s)
        for attempt in range(1, settings.attempts + 1):
            try:
                return call()
            except FileNotFoundError:
                raise
            except Exception as exc:  # noqa: BLE001 - the client's errors are many; all retried
                reason = f"{type(exc).__name__}: {exc}"
                if attempt == settings.attempts:
                    _log.error("store_unavailable", what=what, attempts=attempt, error=reason)
                    message = f"the artifact store did not answer ({what})"
                    raise AppError(ErrorCode.STORE_UNAVAILABLE, message, detail=reason) from exc
                delay = next(waits)
                _log.warning("store_retrying", what=what, attempt=attempt, retry_in_s=delay)
                time.sleep(delay)
        raise AssertionError("unreachable: the loop returns or raises")

    def push(self, paths: list[Path]) -> None:
        for path in paths:
            self._upload(path)

    def _upload(self, path: Path) -> None:
        key, stamp = self.key(path), _local_stamp(path)
        if key is None or stamp is None or not path.is_file():
            return
        synced = self._synced.get(key)
        if synced is not None and (synced.mtime_ns, synced.size) == stamp:
            return  # this very file is in the store already
        fs = self._fs()
        try:
            self._call(f"upload {key}", lambda: fs.put_file(str(path), key))
        except FileNotFoundError as exc:  # the bucket itself is missing
            message = f"the artifact store has no bucket for {key}"
            _log.error("store_bucket_missing", key=key)
            raise AppError(ErrorCode.STORE_UNAVAILABLE, message) from exc
        etag = self._call(f"look up {key}", lambda: fs.info(key)).get("ETag")
        self._synced[key] = _Stamp(str(etag), *stamp)

    def push_folder(self, folder: Path, last: Path | None = None) -> None:
        if not folder.is_dir() or self.key(folder) is None:
            return
        files = [
            path
            for path in sorted(folder.rglob("*"))
            if path != last and path.is_file() and not path.is_symlink()
        ]
        self.push([*files, *([last] if last is not None else [])])

    def pull(self, path: Path, max_age_s: float = 0.0) -> bool:
        key = self.key(path)
        if key is None:
            return path.is_file()
        now = time.monotonic()
        if max_age_s > 0 and now - self._looked.get(key, -max_age_s) < max_age_s:
            return path.is_file()
        fs = self._fs()
        try:
            info = self._call(f"look up {key}", lambda: fs.info(key))
        except FileNotFoundError:
            self._looked[key] = now
            return self._gone(key, path)
        self._fetch(key, path, str(info.get("ETag")))
        self._looked[key] = now
        return True

    def _gone(self, key: str, path: Path) -> bool:
        """The store has no `key`: a local file that is just what this process last synced
        with it was removed from the store by another (its job deleted), and goes here too,
        so this host stops showing it. A file written here since, or never synced (about to
        be pushed), stays. True when a local file remains."""
        synced = self._synced.pop(key, None)
        if synced is not None and _local_stamp(path) == (synced.mtime_ns, synced.size):
            path.unlink(missing_ok=True)
            _log.info("store_object_removed_elsewhere", key=key)
            return False
        return path.is_file()

    def pull_folder(self, folder: Path) -> None:
        prefix = self.key(folder)
        if prefix is None:
            return
        for name, info in self._found(prefix):
            relative = name.removeprefix(self._prefix).strip("/")
            path = self._root / relative
            if self.key(path) == name and info.get("type", "file") == "file":
                self._fetch(name, path, str(info.get("ETag")))

    def _found(self, prefix: str) -> list[tuple[str, dict[str, object]]]:
        """Every object under `prefix` with what the store says of it, sorted by key."""
        fs = self._fs()
        try:
            found = self._call(f"list {prefix}", lambda: fs.find(prefix, detail=True))
        except FileNotFoundError:
            return []
        return sorted(found.items())

    def _fetch(self, key: str, path: Path, etag: str) -> None:
        """Download `key` unless the local file is the one last synced with that object."""
        synced = self._synced.get(key)
        stamp = _local_stamp(path)
        if synced is not None and synced.etag == etag and stamp == (synced.mtime_ns, synced.size):
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.pull")
        fs = self._fs()
        try:
            self._call(f"download {key}", lambda: fs.get_file(key, str(temporary)))
            os.replace(temporary, path)
        except FileNotFoundError:
            return  # removed since it was listed: the local file stays as it was
        finally:
            temporary.unlink(missing_ok=True)
        fresh = _local_stamp(path)
        if fresh is not None:
            self._synced[key] = _Stamp(etag, *fresh)

    def remove_folder(self, folder: Path, first: Path | None = None) -> None:
        prefix = self.key(folder)
        if prefix is None:
            return
        keys = [name for name, _ in self._found(prefix)]
        head = self.key(first) if first is not None else None
        if head is not None and head in keys:  # first: the job vanishes for every reader
            keys.remove(head)
            keys.insert(0, head)
        for key in keys:
            self._delete(key)

    def _delete(self, key: str) -> None:
        fs = self._fs()
        try:
            self._call(f"delete {key}", lambda: fs.rm_file(key))
        except FileNotFoundError:
            pass  # deleted by another process meanwhile
        self._synced.pop(key, None)
        self._looked.pop(key, None)

    def listing(self, folder: Path) -> list[tuple[str, int]] | None:
        prefix = self.key(folder)
        if prefix is None:
            return []
        files: list[tuple[str, int]] = []
        for name, info in self._found(prefix):
            relative = name.removeprefix(prefix).strip("/")
            size = info.get("size")
            if relative and self.key(folder / relative) == name and isinstance(size, int):
                files.append((relative, size))
        return files

    def folders(self, index: Path) -> list[str]:
        names = {f.name for f in index.iterdir()} if index.is_dir() else set()
        prefix = self.key(index)
        if prefix is not None:
            fs = self._fs()
            try:
                listed = self._call(f"list {prefix}", lambda: fs.ls(prefix))
            except FileNotFoundError:
                listed = []
            names.update(entry.rstrip("/").rsplit("/", 1)[-1] for entry in listed)
        return sorted(name for name in names if not name.startswith("."))
