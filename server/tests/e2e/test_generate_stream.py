"""Generation streamed as server-sent events, over real HTTP: uvicorn serves the API in this
process, so the tests can read the generation pool's own state (places taken, work stopped).

The pool has one thread and no waiting line, so a second request while one is admitted is
refused: the tests see exactly when a stream holds its place and when it has given it back.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import torch
import uvicorn

from model_trainer.api.app import create_app
from model_trainer.client.api import ApiClient
from model_trainer.client.errors import ApiError
from model_trainer.client.stream import DoneEvent, ErrorEvent, TokenEvent, generate_stream
from model_trainer.core.contracts.model import Architecture
from model_trainer.core.json_types import JsonObject
from model_trainer.core.settings import ApiSettings, Settings
from model_trainer.infra.atomic import write_model
from model_trainer.infra.inference_pool import InferencePool
from model_trainer.plugins.gpt2 import Gpt2Backend
from model_trainer.services import GENERATION_POOL, build_registry
from model_trainer.training.run.manifest import RunManifest

from .processes import free_port
from .test_runs_api import char_tokenizer, finished_run

__all__ = ["char_tokenizer", "finished_run"]  # the fixtures, shared with test_runs_api

pytestmark = pytest.mark.timeout(300)

SLOW = "run-00000000-00005201"
"""A wider untrained model: a long generation of it takes about a minute."""
BROKEN = "run-00000000-00005202"
"""The test run with every weight NaN: it loads, and fails at its first token."""
UNEXPORTED = "run-00000000-00005203"
"""The test run without its export: not ready to sample."""
CRASHING = "run-00000000-00005204"
"""The test run whose export has 8 positions, where its manifest says more: it crashes
(an index out of range, no error of the API's own) once the text outgrows them."""
WAIT_S = 300.0
"""Generous bound for the server to act on what a test did (never a speed assertion)."""


@dataclass(frozen=True)
class Served:
    base: str
    pool: InferencePool


def plant_run(
    settings: Settings,
    source: str,
    run_id: str,
    wide: bool,
    nan: bool,
    positions: int | None = None,
) -> None:
    """A copy of `source` under `run_id` whose export is an untrained model (4 layers of
    width 256 when `wide`, NaN weights when `nan`, only `positions` positions when given)."""
    models = settings.artifacts_root / "models"
    folder = models / run_id
    if folder.exists():
        return
    shutil.copytree(models / source, folder)
    manifest = RunManifest.model_validate_json((folder / "manifest.json").read_bytes())
    arch = manifest.architecture
    if wide:
        arch = Architecture(
            family=arch.family,
            n_layer=4,
            n_head=4,
            n_embd=256,
            max_seq_len=256,
            vocab_size=arch.vocab_size,
            dropout=0.0,
            options=arch.options,
        )
    exported = arch
    if positions is not None:
        exported = Architecture(
            family=arch.family,
            n_layer=arch.n_layer,
            n_head=arch.n_head,
            n_embd=arch.n_embd,
            max_seq_len=positions,
            vocab_size=arch.vocab_size,
            dropout=arch.dropout,
            options=arch.options,
        )
    backend = Gpt2Backend()
    torch.manual_seed(0)
    model = backend.build(exported)
    if nan:
        with torch.no_grad():
            for weight in model.module.parameters():
                weight.fill_(float("nan"))
    shutil.rmtree(folder / "export")
    backend.export(model, exported, folder / "export")
    manifest.run_id, manifest.architecture = run_id, arch
    write_model(folder / "manifest.json", manifest)


@pytest.fixture(scope="module")
def served(stack_settings: Settings, finished_run: str) -> Iterator[Served]:
    """The API under uvicorn on a free port, with a one-place generation pool."""
    plant_run(stack_settings, finished_run, SLOW, wide=True, nan=False)
    plant_run(stack_settings, finished_run, BROKEN, wide=False, nan=True)
    plant_run(stack_settings, finished_run, UNEXPORTED, wide=False, nan=False)
    plant_run(stack_settings, finished_run, CRASHING, wide=False, nan=False, positions=8)
    shutil.rmtree(stack_settings.artifacts_root / "models" / UNEXPORTED / "export")
    settings = Settings(
        redis_url=stack_settings.redis_url,
        artifacts_root=stack_settings.artifacts_root,
        corpus_root=stack_settings.corpus_root,
        models_root=stack_settings.models_root,
        worker=stack_settings.worker,
        api=ApiSettings(inference_workers=1, inference_queue=0),
    )
    registry = build_registry(settings)
    with registry.container() as container:
        pool = container.get(GENERATION_POOL)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(registry), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT_S
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the API did not start"
        time.sleep(0.05)
    try:
        yield Served(f"http://127.0.0.1:{port}", pool)
    finally:
        server.should_exit = True
        thread.join(timeout=WAIT_S)
        registry.close()


def _body(max_new_tokens: int, seed: int) -> JsonObject:
    return {"prompt": "The ", "max_new_tokens": max_new_tokens, "temperature": 0.9, "seed": seed}


def _freed(pool: InferencePool) -> None:
    """Until every place of the pool is given back."""
    deadline = time.monotonic() + WAIT_S
    while pool.admitted:
        assert time.monotonic() < deadline, f"{pool.admitted} places still taken"
        time.sleep(0.05)


@pytest.mark.parametrize("long", [False, True], ids=["test-run", "wide-model"])
def test_streamed_pieces_join_to_the_text_of_the_same_seed(
    served: Served, finished_run: str, long: bool
) -> None:
    # The wide model makes its 100 tokens over many slices, so many pieces are joined.
    run_id, body = (SLOW, _body(100, 5)) if long else (finished_run, _body(60, 7))
    answer = httpx.post(f"{served.base}/runs/{run_id}/generate", json=body, timeout=WAIT_S)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    whole = DoneEvent.model_validate_json(answer.content)
    with ApiClient(served.base) as client:
        events = list(generate_stream(client, run_id, body))
    tokens = [e for e in events if isinstance(e, TokenEvent)]
    assert events[:-1] == tokens and tokens and all(t.ids for t in tokens)
    assert events[-1] == whole
    assert "".join(t.text for t in tokens) == whole.text
    assert [i for t in tokens for i in t.ids] == whole.ids
    if long:
        assert len(tokens) > 1
    _freed(served.pool)


def test_stream_true_in_the_body_also_streams(served: Served, finished_run: str) -> None:
    body = _body(8, 1) | {"stream": True}
    answer = httpx.post(f"{served.base}/runs/{finished_run}/generate", json=body, timeout=WAIT_S)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/event-stream")
    assert "event: token" in answer.text and "event: done" in answer.text


def _refusal(base: str, run_id: str, body: JsonObject) -> ApiError:
    with ApiClient(base) as client, pytest.raises(ApiError) as refused:
        list(generate_stream(client, run_id, body))
    return refused.value


def test_refusals_before_the_stream_are_plain_http_errors(
    served: Served, finished_run: str
) -> None:
    missing = _refusal(served.base, "run-00000000-00009999", _body(8, 0))
    assert (missing.status, missing.code) == (404, "NOT_FOUND")
    not_ready = _refusal(served.base, UNEXPORTED, _body(8, 0))
    assert (not_ready.status, not_ready.code) == (409, "RUN_NOT_READY")
    invalid = _refusal(served.base, finished_run, _body(0, 0))
    assert (invalid.status, invalid.code) == (422, "CONFIG_INVALID")
    assert "max_new_tokens" in invalid.message
    with ApiClient(served.base) as client:
        long = generate_stream(client, SLOW, _body(4096, 0))
        assert isinstance(next(long), TokenEvent)  # admitted: the pool's one place taken
        busy = _refusal(served.base, finished_run, _body(8, 0))
        assert (busy.status, busy.code) == (503, "SERVER_BUSY")
        answer = httpx.post(
            f"{served.base}/runs/{finished_run}/generate",
            json=_body(8, 0),
            headers={"Accept": "text/event-stream"},
            timeout=WAIT_S,
        )
        assert answer.status_code == 503 and int(answer.headers["retry-after"]) >= 1
        assert answer.headers["content-type"].startswith("application/json")
        long.close()
    _freed(served.pool)


def test_a_failure_after_the_start_is_an_error_event(served: Served) -> None:
    with ApiClient(served.base) as client:
        events = list(generate_stream(client, BROKEN, _body(16, 0)))
    error = events[-1]
    assert isinstance(error, ErrorEvent), events
    assert error.code == "DATA_INVALID" and "NaN" in error.message, error
    assert error.request_id
    assert all(isinstance(e, TokenEvent) for e in events[:-1])
    # The answer then ends as any other does: read to its end, no broken transfer.
    headers = {"Accept": "text/event-stream"}
    url = f"{served.base}/runs/{BROKEN}/generate"
    with httpx.stream("POST", url, json=_body(16, 0), headers=headers, timeout=WAIT_S) as raw:
        assert raw.status_code == 200
        text = raw.read().decode()
    assert text.rstrip("\r\n").rpartition("\n")[2].startswith("data: {"), text
    assert "event: error" in text
    _freed(served.pool)


def test_a_crash_after_the_start_is_an_internal_error_and_the_answer_ends(
    served: Served,
) -> None:
    with ApiClient(served.base) as client:
        events = list(generate_stream(client, CRASHING, _body(16, 0)))
    error = events[-1]
    assert isinstance(error, ErrorEvent), events
    assert (error.code, error.message) == ("INTERNAL_ERROR", "internal error"), error
    assert error.request_id
    # Ended as any answer: the last chunk sent, so reading to the end raises nothing.
    headers = {"Accept": "text/event-stream"}
    url = f"{served.base}/runs/{CRASHING}/generate"
    with httpx.stream("POST", url, json=_body(16, 0), headers=headers, timeout=WAIT_S) as raw:
        assert raw.status_code == 200
        text = raw.read().decode()
    assert "event: error" in text and "INTERNAL_ERROR" in text, text
    _freed(served.pool)


def test_line_separators_in_the_text_reach_the_client_whole(
    served: Served, finished_run: str
) -> None:
    # Line separators other than CR and LF: JSON may hold them raw, some readers split there.
    prompt = "The a\u2028b\u2029c\x85d "
    body = _body(12, 4) | {"prompt": prompt}
    raw = httpx.post(
        f"{served.base}/runs/{finished_run}/generate",
        json=body,
        headers={"Accept": "text/event-stream"},
        timeout=WAIT_S,
    )
    assert raw.status_code == 200, raw.text
    assert not {"\u2028", "\u2029", "\x85"} & set(raw.text)  # escaped in the JSON data
    assert "\\u2028" in raw.text
    with ApiClient(served.base) as client:
        events = list(generate_stream(client, finished_run, body))
    done = events[-1]
    assert isinstance(done, DoneEvent), events
    assert done.prompt == prompt and done.count == 12
    assert "".join(e.text for e in events if isinstance(e, TokenEvent)) == done.text
    _freed(served.pool)


def test_a_client_that_leaves_after_the_first_token_frees_its_place(served: Served) -> None:
    stopped = served.pool.stopped
    with ApiClient(served.base) as client:
        stream = generate_stream(client, SLOW, _body(4096, 3))
        first = next(stream)
        assert isinstance(first, TokenEvent) and first.ids
        assert served.pool.admitted == 1
        stream.close()  # leaves: the connection closes with the answer half sent
    _freed(served.pool)
    assert served.pool.stopped == stopped + 1  # stopped for the client, not finished
    with ApiClient(served.base) as client:  # and the place is there for the next one
        events = list(generate_stream(client, SLOW, _body(4, 3)))
    assert isinstance(events[-1], DoneEvent) and events[-1].count == 4
