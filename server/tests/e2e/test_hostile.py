"""What a hostile or careless client found, each request sent again as it was found.

Every request here once made a run unusable, slipped past a limit, trained a cancelled run,
or reached a 500; each now gets a clear answer (or the right outcome) and nothing is lost.
"""

from __future__ import annotations

import json
import time

import pytest
from fastapi.testclient import TestClient

from model_trainer.api.app import create_app
from model_trainer.api.routes.artifacts import ArtifactListing
from model_trainer.api.schemas.backends import BackendsPublic
from model_trainer.api.schemas.common import ErrorBody
from model_trainer.api.schemas.runs import GeneratePublic, RunPublic, RunQueued, RunsPublic
from model_trainer.api.schemas.tokenizers import TokenizerPublic, TokenizerQueued
from model_trainer.core.contracts.model import Architecture
from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.job_status import JobError, JobStatus
from model_trainer.core.logging import configure_logging
from model_trainer.core.settings import Settings, WorkerSettings
from model_trainer.infra.job_state import JobStateStore
from model_trainer.infra.machine import memory_bytes
from model_trainer.infra.redis_store import RedisStore
from model_trainer.infra.rq_queue import WORKERS_ALIVE_INDEX
from model_trainer.infra.workers import DeviceCapacity, WorkerCapacity, WorkerDirectory
from model_trainer.plugins.gpt2 import Gpt2Backend
from model_trainer.services import RECONCILER, build_registry
from model_trainer.training.run.budget import step_memory

from .conftest import run_reaching
from .test_runs_api import TINY_MODEL, _start, char_tokenizer, finished_run

__all__ = ["char_tokenizer", "finished_run"]  # the fixtures, shared with test_runs_api

pytestmark = pytest.mark.timeout(300)

JSON = {"Content-Type": "application/json"}


def _code(body: bytes) -> str:
    return ErrorBody.model_validate_json(body).code


def _run_body(tokenizer_id: str, **trainer: object) -> dict[str, object]:
    return {
        "model": dict(TINY_MODEL),
        "data": {"tokenizer_id": tokenizer_id, "corpus_path": "story.txt"},
        "trainer": {"max_steps": 10, "batch_size": 4, **trainer},
    }


def test_non_finite_numbers_are_refused_before_anything_is_recorded(
    api: TestClient, char_tokenizer: str, stack_settings: Settings
) -> None:
    models = stack_settings.artifacts_root / "models"
    before = set(models.iterdir()) if models.is_dir() else set()
    template = json.dumps(_run_body(char_tokenizer, grad_clip="X"))
    for raw in ("Infinity", "-Infinity", "NaN", "1e400"):
        answer = api.post("/runs/train", content=template.replace('"X"', raw), headers=JSON)
        assert answer.status_code == 422, (raw, answer.text)
        assert _code(answer.content) == "CONFIG_INVALID"
        assert "trainer.grad_clip" in answer.text and "finite" in answer.text
    tokenizer = (
        '{"method": "char", "vocab_size": 50, "corpus_path": "story.txt", "holdout_fraction": NaN}'
    )
    answer = api.post("/tokenizers/train", content=tokenizer, headers=JSON)
    assert answer.status_code == 422 and "holdout_fraction" in answer.text
    sample = '{"prompt": "a", "temperature": Infinity}'
    answer = api.post(f"/runs/{'run-00000000-00000000'}/generate", content=sample, headers=JSON)
    assert answer.status_code == 422 and "temperature" in answer.text
    assert (set(models.iterdir()) if models.is_dir() else set()) == before


def test_an_unreadable_manifest_is_reported_once_and_skipped(
    api: TestClient,
    finished_run: str,
    stack_settings: Settings,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # What the old API stored for `grad_clip: Infinity`: the value written as null.
    poisoned = "run-00000000-0000dead"
    folder = stack_settings.artifacts_root / "models" / poisoned
    folder.mkdir()
    stored = (folder.parent / finished_run / "manifest.json").read_text(encoding="utf-8")
    assert '"grad_clip": 1.0' in stored and '"status": "completed"' in stored
    stored = stored.replace('"grad_clip": 1.0', '"grad_clip": null').replace(finished_run, poisoned)
    stored = stored.replace('"status": "completed"', '"status": "running"')
    (folder / "manifest.json").write_text(stored, encoding="utf-8")
    store = RedisStore(stack_settings.redis_url)
    state = JobStateStore(store, "runs")
    state.create(poisoned, time.time())
    state.set_status(poisoned, JobStatus.RUNNING)
    configure_logging("INFO", "test")
    capsys.readouterr()
    try:
        for _ in range(3):  # a dashboard polling the list
            listing = RunsPublic.model_validate_json(api.get("/runs").content)
            assert finished_run in {r.run_id for r in listing.data}
        one = api.get(f"/runs/{poisoned}")
        assert one.status_code == 400 and "manifest.json is unreadable" in one.text
        registry = build_registry(stack_settings)
        with registry.container() as container:
            reconciler = container.get(RECONCILER)
            for _ in range(3):  # the maintenance loop, with its start-up scan
                reconciler.reconcile(scan_artifacts=True)
        registry.close()
        reports = [line for line in capsys.readouterr().err.splitlines() if poisoned in line]
        assert len(reports) == 1 and "record_unreadable_skipped" in reports[0], reports
    finally:
        state.set_status(poisoned, JobStatus.FAILED)
        store.close()
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()


def test_limits_that_reflect_the_machine(api: TestClient, char_tokenizer: str) -> None:
    huge_model = _run_body(char_tokenizer)
    huge_model["model"] = TINY_MODEL | {
        "n_layer": 1,
        "n_head": 1,
        "n_embd": 8192,
        "max_seq_len": 32768,
    }
    answer = api.post("/runs/train", json=huge_model)
    assert answer.status_code == 422 and _code(answer.content) == "MEMORY_LIMIT_EXCEEDED"
    assert "GiB" in answer.text and "batch_size" in answer.text
    huge_step = _run_body(char_tokenizer, batch_size=4096, grad_accum_steps=1024)
    huge_step["model"] = TINY_MODEL | {"max_seq_len": 32768}
    answer = api.post("/runs/train", json=huge_step)
    assert answer.status_code == 422
    assert _code(answer.content) == "TOKENS_PER_STEP_LIMIT_EXCEEDED", answer.text
    assert "137,438,953,472 tokens" in answer.text


def test_mps_is_refused_while_no_live_worker_offers_it(
    api: TestClient, char_tokenizer: str
) -> None:
    # A CUDA run is not refused: it waits on CUDA's queue (test_capability_queues.py).
    answer = api.post("/runs/train", json=_run_body(char_tokenizer, device="mps"))
    if answer.status_code == 202:
        pytest.skip("a live worker here offers MPS")
    assert answer.status_code == 422 and _code(answer.content) == "DEVICE_UNAVAILABLE"


def test_the_worker_checks_memory_again_before_building_the_model(
    api: TestClient, char_tokenizer: str, stack_settings: Settings
) -> None:
    """A worker that says it has ten times this machine's memory lets the API accept a step
    that the real worker (this machine) cannot hold: the real one refuses before building."""
    store = RedisStore(stack_settings.redis_url)
    big = 10 * memory_bytes()
    roomy = WorkerCapacity(
        name="roomy-stand-in",
        memory_bytes=big,
        threads=2,
        devices=[DeviceCapacity(kind="cpu", name="cpu", memory_bytes=big)],
    )
    WorkerDirectory(store, 300).publish(roomy)
    store.index_add(WORKERS_ALIVE_INDEX, roomy.name, time.time() + 300)
    model = TINY_MODEL | {"n_layer": 4, "n_embd": 256, "max_seq_len": 256}
    arch = Architecture(
        family="gpt2", n_layer=4, n_head=2, n_embd=256, max_seq_len=256, vocab_size=100, dropout=0
    )
    per_window = step_memory(arch, Gpt2Backend(), 1).activation_bytes
    batch = int(1.5 * memory_bytes() / per_window) + 1
    assert batch <= 4096, "this machine has more memory than the test can exceed"
    body = _run_body(char_tokenizer, batch_size=batch)
    body["model"] = model
    try:
        answer = api.post("/runs/train", json=body)
        assert answer.status_code == 202, answer.text
        run_id = RunQueued.model_validate_json(answer.content).run_id
    finally:
        store.index_remove(WORKERS_ALIVE_INDEX, roomy.name)
        store.close()
    try:
        run = run_reaching(api, run_id, {"completed", "failed", "cancelled"}, timeout=60)
    finally:
        api.post(f"/runs/{run_id}/cancel")  # never leave the worker busy with it
    assert run.status == "failed" and run.error_code == "MEMORY_LIMIT_EXCEEDED", run.message
    assert run.message is not None and "this worker" in run.message
    assert not [a for a in run.artifacts if a.startswith("checkpoints")]


def test_cancelling_a_queued_run_ends_it_before_anything_runs(
    api: TestClient, char_tokenizer: str, stack_settings: Settings
) -> None:
    busy = _start(api, char_tokenizer, 100_000)  # holds the session's only worker
    queued = _start(api, char_tokenizer, 50)
    try:
        run_reaching(api, busy, {"running"}, timeout=180)
        answer = api.post(f"/runs/{queued}/cancel")
        assert answer.status_code == 200
        run = RunPublic.model_validate_json(answer.content)
        assert run.status == "cancelled" and run.message == "cancelled before it started"
    finally:
        api.post(f"/runs/{busy}/cancel")
    stopped = run_reaching(api, busy, {"cancelled", "completed", "failed"}, timeout=60)
    assert stopped.status == "cancelled"
    assert "checkpoints/last.pt" in stopped.artifacts  # what it saved is listed
    time.sleep(2.0)  # the worker now takes the cancelled run's job: it must return at once
    folder = stack_settings.artifacts_root / "models" / queued
    run = RunPublic.model_validate_json(api.get(f"/runs/{queued}").content)
    assert run.status == "cancelled" and run.progress.step == 0
    assert not (folder / "checkpoints").exists() and not (folder / "export").exists()
    assert not (folder / "metrics.jsonl").exists()
    assert api.post(f"/runs/{queued}/cancel").status_code == 409


def test_tiny_temperatures_sample_greedily(api: TestClient, finished_run: str) -> None:
    greedy = {"prompt": "The ", "max_new_tokens": 8, "temperature": 0}
    expected = GeneratePublic.model_validate_json(
        api.post(f"/runs/{finished_run}/generate", json=greedy).content
    )
    for temperature in (1e-300, 5e-324):
        answer = api.post(
            f"/runs/{finished_run}/generate", json=greedy | {"temperature": temperature}
        )
        assert answer.status_code == 200, answer.text
        assert GeneratePublic.model_validate_json(answer.content).ids == expected.ids


@pytest.mark.parametrize("last_id", ["²", "¹²", "12³", "9" * 5000, "-1", "1.5"])
def test_last_event_ids_that_are_not_line_numbers(
    api: TestClient, finished_run: str, last_id: str
) -> None:
    headers = {b"Last-Event-ID": last_id.encode("utf-8")}
    answer = api.get(f"/runs/{finished_run}/logs/stream", headers=headers)
    assert answer.status_code == 422, answer.text
    assert _code(answer.content) == "CONFIG_INVALID" and "last-event-id" in answer.text.lower()


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 10_000 + b"]" * 10_000,
        b'{"method": "bpe", "vocab_size": 300, "corpus_path": "story\xff.txt"}',
        b'{"method": "bpe", "vocab_size": ' + b"9" * 5000 + b', "corpus_path": "story.txt"}',
        b'{"method": "bpe", ',
    ],
    ids=["10000-deep", "invalid-utf8", "5000-digits", "malformed"],
)
def test_bodies_that_are_not_json_get_one_code(api: TestClient, body: bytes) -> None:
    answer = api.post("/tokenizers/train", content=body, headers=JSON)
    assert answer.status_code == 400, answer.text
    assert _code(answer.content) == "BODY_NOT_JSON"


def test_a_content_length_of_non_ascii_digits(api: TestClient) -> None:
    answer = api.get("/runs", headers=[(b"Content-Length", "²".encode())])
    assert answer.status_code < 500


def test_queue_outage_does_not_tell_the_client_where_redis_is(
    stack_settings: Settings,
) -> None:
    settings = Settings(
        redis_url="redis://127.0.0.1:1/0",
        artifacts_root=stack_settings.artifacts_root,
        corpus_root=stack_settings.corpus_root,
        worker=WorkerSettings(queue_name="nowhere"),
    )
    registry = build_registry(settings)
    with TestClient(create_app(registry), base_url="http://localhost") as client:
        for path in ("/runs", "/tokenizers", "/readyz"):
            answer = client.get(path)
            assert answer.status_code == 503, answer.text
            assert "127.0.0.1" not in answer.text and ":1" not in answer.text
            assert "queue is unavailable" in answer.text
    registry.close()


def test_a_tokenizer_without_holdout_reports_no_ratios(api: TestClient) -> None:
    body = {
        "method": "char",
        "vocab_size": 100,
        "corpus_path": "story.txt",
        "holdout_fraction": 0,
    }
    answer = api.post("/tokenizers/train", json=body)
    assert answer.status_code == 202, answer.text
    tokenizer_id = TokenizerQueued.model_validate_json(answer.content).tokenizer_id
    deadline = time.monotonic() + 120
    while (view := _tokenizer_view(api, tokenizer_id)).status not in ("completed", "failed"):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert view.status == "completed" and view.stats is not None
    assert view.stats.holdout_lines == 0 and view.stats.vocab_size > 10
    assert view.stats.tokens_per_char is None and view.stats.coverage is None


def _tokenizer_view(api: TestClient, tokenizer_id: str) -> TokenizerPublic:
    return TokenizerPublic.model_validate_json(api.get(f"/tokenizers/{tokenizer_id}").content)


def test_a_failure_the_manifest_could_not_record_still_shows_its_code(
    api: TestClient, stack_settings: Settings, finished_run: str
) -> None:
    """On a full disk the ending cannot write the manifest; Redis still has the error, so the
    API shows the failure with its code, not a bare `failed`."""
    lost = "run-00000000-0000f011"
    folder = stack_settings.artifacts_root / "models" / lost
    folder.mkdir()
    stored = (folder.parent / finished_run / "manifest.json").read_text(encoding="utf-8")
    stored = stored.replace('"status": "completed"', '"status": "running"')
    (folder / "manifest.json").write_text(stored.replace(finished_run, lost), encoding="utf-8")
    store = RedisStore(stack_settings.redis_url)
    state = JobStateStore(store, "runs")
    state.create(lost, time.time())
    full = AppError(ErrorCode.STORAGE_FAILED, "cannot write checkpoint: the disk is full")
    try:
        state.set_status(lost, JobStatus.FAILED, full.message, JobError.of(full))
        run = RunPublic.model_validate_json(api.get(f"/runs/{lost}").content)
        assert run.status == "failed" and run.error_code == "STORAGE_FAILED"
        assert run.failure_class == "FATAL" and run.message == full.message
    finally:
        store.close()
        (folder / "manifest.json").unlink()
        folder.rmdir()


def test_gzip_is_sent_only_when_the_client_accepts_it(api: TestClient) -> None:
    # /backends carries every plugin's options schema: well over the 1 kB threshold.
    for accept, compressed in (
        ("gzip", True),
        ("br, gzip;q=0.5", True),
        ("gzip;q=0", False),
        ("gzip; q=0.000, identity", False),
        ("identity, *;q=0", False),
        ("*;q=0.5, gzip;q=0", False),
        ("gzip;q=banana", False),
        ("identity", False),
    ):
        answer = api.get("/backends", headers={"Accept-Encoding": accept})
        assert answer.status_code == 200, accept
        assert ("content-encoding" in answer.headers) == compressed, accept
        assert BackendsPublic.model_validate_json(answer.content).count > 0, accept


def test_head_answers_every_get_route_with_its_head_alone(
    api: TestClient, char_tokenizer: str, finished_run: str
) -> None:
    for path in (
        "/healthz",
        "/readyz",
        "/runs",
        f"/runs/{finished_run}/logs/stream",
        f"/artifacts/tokenizers/{char_tokenizer}/download",
        "/runs/run-00000000-00000000",
    ):
        get = api.get(path)
        head = api.head(path)
        assert head.status_code == get.status_code != 405, path
        assert head.content == b"", path
        assert head.headers["content-type"] == get.headers["content-type"], path
        assert head.headers.get("content-length") == get.headers.get("content-length"), path
        assert head.headers["x-request-id"], path


def test_range_refusals_answer_in_the_error_shape(api: TestClient, char_tokenizer: str) -> None:
    listing = api.get(f"/artifacts/tokenizers/{char_tokenizer}")
    first = ArtifactListing.model_validate_json(listing.content).files[0]
    size = first.bytes
    url = f"/artifacts/tokenizers/{char_tokenizer}/download?path={first.path}"
    part = api.get(url, headers={"Range": "bytes=0-9"})
    assert part.status_code == 206 and len(part.content) == 10
    past = api.get(url, headers={"Range": f"bytes={size}-"})
    assert past.status_code == 416 and past.headers["content-range"] == f"bytes */{size}"
    assert _code(past.content) == "RANGE_NOT_SATISFIABLE"
    assert ErrorBody.model_validate_json(past.content).request_id == past.headers["x-request-id"]
    for unreadable in ("lines=0-9", "bytes", "bytes=9-2", "bytes=x-y"):
        refused = api.get(url, headers={"Range": unreadable})
        assert refused.status_code == 400, unreadable
        assert _code(refused.content) == "RANGE_INVALID", unreadable
        assert refused.headers["content-type"] == "application/json", unreadable
