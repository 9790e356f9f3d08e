"""The storage contract against a real S3-compatible server: two processes' caches meet only
through the store, objects appear whole, and a store that is away fails with one clear code."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from model_trainer.core.contracts.events import utc_now
from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.job_status import JobStatus
from model_trainer.core.settings import Settings, StoreSettings
from model_trainer.infra.job_state import JobStateStore
from model_trainer.infra.redis_store import RedisStore
from model_trainer.infra.storage import LocalFolder, open_storage, use_storage
from model_trainer.infra.storage.objects import ObjectStorage
from model_trainer.jobs.layout import ArtifactLayout
from model_trainer.jobs.lifecycle import JobLifecycle
from model_trainer.jobs.stopping import StopRequest
from model_trainer.tokenizers.manifest import (
    TOKENIZER_MANIFESTS,
    TokenizerManifest,
    TokenizerTrainConfig,
)

from .store_server import StoreServer
from .test_lifecycle import WORKER, Body, Note, NoteKind, Queue

QUICK = StoreSettings(attempts=2, first_delay_s=0.05, max_delay_s=0.1)


def _host(tmp_path: Path, name: str, store: StoreServer) -> ObjectStorage:
    return ObjectStorage(f"s3://{store.bucket}/unit", tmp_path / name, QUICK)


def test_settings_choose_the_store_by_url(tmp_path: Path) -> None:
    remote = Settings(artifacts_root=Path("s3://bucket/a/b"), artifacts_cache=tmp_path / "c")
    assert remote.artifacts_url == "s3://bucket/a/b"
    assert remote.artifacts_folder == tmp_path / "c"
    assert isinstance(open_storage(remote), ObjectStorage)
    local = Settings(artifacts_root=tmp_path / "artifacts")
    assert local.artifacts_url is None and local.artifacts_folder == tmp_path / "artifacts"
    chosen = open_storage(local)
    assert isinstance(chosen, LocalFolder) and not chosen.shared


def test_a_local_folder_copies_nothing(tmp_path: Path) -> None:
    folder = LocalFolder(tmp_path)
    (tmp_path / "models" / "r1").mkdir(parents=True)
    (tmp_path / "models" / ".staging").mkdir()
    manifest = tmp_path / "models" / "r1" / "manifest.json"
    folder.push([manifest])
    folder.pull_folder(tmp_path / "models")
    assert not folder.pull(manifest)
    assert folder.folders(tmp_path / "models") == ["r1"]
    assert sorted(p.name for p in tmp_path.rglob("*")) == [".staging", "models", "r1"]


def test_two_caches_meet_through_the_store(tmp_path: Path, store: StoreServer) -> None:
    a, b = _host(tmp_path, "a", store), _host(tmp_path, "b", store)
    run = a.root / "models" / "r1"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.pt").write_bytes(os.urandom(3 << 20))
    (run / "manifest.json").write_text('{"step": 1}')
    (run / ".export.tmp").mkdir()
    (run / ".export.tmp" / "model.safetensors").write_bytes(b"half")
    started = time.monotonic()
    a.push_folder(run, last=run / "manifest.json")
    pushed_s = time.monotonic() - started
    keys = sorted(store.client().find(f"{store.bucket}/unit/"))
    prefix = f"{store.bucket}/unit/models/r1/"
    assert keys == [f"{prefix}checkpoints/last.pt", f"{prefix}manifest.json"]  # nothing hidden
    assert pushed_s < 30

    assert b.folders(b.root / "models") == ["r1"]
    assert b.pull(b.root / "models" / "r1" / "manifest.json")
    assert (b.root / "models" / "r1" / "manifest.json").read_text() == '{"step": 1}'
    b.pull_folder(b.root / "models" / "r1")
    copied = b.root / "models" / "r1" / "checkpoints" / "last.pt"
    assert copied.read_bytes() == (run / "checkpoints" / "last.pt").read_bytes()
    assert not [p for p in b.root.rglob(".*")]  # downloads are renamed into place
    assert not b.pull(b.root / "models" / "r2" / "manifest.json")

    (run / "manifest.json").write_text('{"step": 2}')  # a newer copy replaces the older
    a.push([run / "manifest.json"])
    assert b.pull(b.root / "models" / "r1" / "manifest.json")
    assert (b.root / "models" / "r1" / "manifest.json").read_text() == '{"step": 2}'


def test_a_store_away_fails_clearly_and_keeps_the_last_whole_object(
    tmp_path: Path, store: StoreServer
) -> None:
    a = _host(tmp_path, "a", store)
    manifest = a.root / "tokenizers" / "t1" / "manifest.json"
    manifest.parent.mkdir(parents=True)
    manifest.write_text("first")
    a.push([manifest])
    store.stop()
    manifest.write_text("second, never half-written")
    started = time.monotonic()
    with pytest.raises(AppError) as caught:
        a.push([manifest])
    assert caught.value.code is ErrorCode.STORE_UNAVAILABLE
    assert time.monotonic() - started < 30  # two tries, not a hang
    with pytest.raises(AppError):
        a.pull(manifest)
    store.start()
    assert store.client().cat_file(f"{store.bucket}/unit/tokenizers/t1/manifest.json") == b"first"
    a.push([manifest])  # the change is still to be pushed, and goes now
    assert store.client().cat_file(f"{store.bucket}/unit/tokenizers/t1/manifest.json") == (
        b"second, never half-written"
    )


def test_manifests_are_pushed_when_written_and_pulled_when_read(
    tmp_path: Path, store: StoreServer
) -> None:
    a, b = _host(tmp_path, "a", store), _host(tmp_path, "b", store)
    config = TokenizerTrainConfig(method="char", vocab_size=50, corpus_path="story.txt")
    written = TokenizerManifest(
        tokenizer_id="tok-1", status=JobStatus.QUEUED, config=config, created_at=utc_now()
    )
    try:
        use_storage(a)  # one process writes ...
        TOKENIZER_MANIFESTS.write(ArtifactLayout(a.root).tokenizer("tok-1").manifest, written)
        use_storage(b)  # ... another, sharing only the store, reads
        elsewhere = ArtifactLayout(b.root).tokenizer("tok-1").manifest
        assert TOKENIZER_MANIFESTS.read(elsewhere) == written
    finally:
        use_storage(LocalFolder(Path("artifacts")))


class UnfetchedKind(NoteKind):
    """A kind whose inputs are in a store that does not answer."""

    def fetch(self, manifest: Note) -> None:
        raise AppError(ErrorCode.STORE_UNAVAILABLE, "the artifact store did not answer (test)")


@pytest.fixture()
def notes(redis_url: str) -> Iterator[JobStateStore]:
    redis = RedisStore(redis_url)
    yield JobStateStore(redis, f"store-notes{time.time_ns()}")
    redis.close()


def test_a_job_whose_inputs_cannot_be_fetched_is_left_stalled_not_failed(
    tmp_path: Path, notes: JobStateStore
) -> None:
    """The store away is passing: nothing of the job is failed or written, it is shown
    `stalled` with the store's message, and its lease is free for the delivery that the
    reconcilers make once its heartbeat lapses."""
    state = notes
    kind, body = UnfetchedKind(tmp_path, state), Body(iter([]))
    lifecycle = JobLifecycle(kind, body, WORKER, Queue(state), StopRequest())
    job_id = f"note-{time.time_ns()}"
    kind.write(Note(note_id=job_id, status=JobStatus.QUEUED, created_at=utc_now()))
    state.create(job_id, time.time())
    lifecycle.run(job_id)
    kept = kind.read(job_id)
    assert body.runs == 0 and kept is not None and kept.status is JobStatus.QUEUED
    snapshot = state.snapshot(job_id)
    assert snapshot.status is JobStatus.STALLED
    assert "the artifact store did not answer" in (snapshot.message or "")
    assert state.acquire_lease(job_id, "another-worker", 5.0)
