"""Schemathesis against the live OpenAPI schema of a real server: no 5xx, no response that
breaks the schema it declares, and every error a JSON `{code, message, request_id}` with the
same id in `X-Request-ID`.

The server is `model-trainer api` under uvicorn on a free port, with a Redis database,
artifact and corpus folders and a queue of its own. Before fuzzing, a tokenizer and a tiny
run are trained in this process (as a worker would) and one of each is left queued, so the
fuzzer also meets real ids, files, models and results; no worker consumes the queue, so the
jobs that fuzzed requests enqueue never run. A heartbeat stands in for a worker so `/readyz`
answers 200 (its 503 is declared in the schema).

Measured on 2 cores: 2,253 cases (coverage and fuzzing phases, seed below, at most 100
generated examples per operation) in about 35 s, after about 6 s of start-up and training.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from model_trainer.api.schemas.runs import EvalQueued, RunQueued
from model_trainer.api.schemas.tokenizers import TokenizerQueued
from model_trainer.core.logging import configure_logging
from model_trainer.core.settings import LimitSettings, Settings, WorkerSettings
from model_trainer.infra.redis_store import RedisStore
from model_trainer.infra.rq_queue import WORKERS_ALIVE_INDEX
from model_trainer.services import RUN_EVALUATOR, RUN_TRAINER, TOKENIZER_TRAINER, build_registry
from model_trainer.training.inference.eval_job import eval_job_id

from .conftest import story
from .fuzzing import (
    Binding,
    FuzzPlan,
    OperationPlan,
    all_operations,
    number_fields,
    raw_request,
    run_schemathesis,
    with_raw_number,
)

pytestmark = pytest.mark.timeout(300)

SEED = 20240611
"""Fixed, with hypothesis derandomized: CI sends the same cases every time."""
MAX_EXAMPLES = 100
FUZZ_DB = 9
"""A Redis database of the fuzzer's own on the session's private server."""

_log = logging.getLogger(__name__)

TINY_RUN: dict[str, object] = {
    "model": {"size": "nano", "n_layer": 1, "n_head": 2, "n_embd": 32, "max_seq_len": 32},
    "trainer": {"max_steps": 4, "batch_size": 4, "eval_interval": 4, "eval_steps": 1},
}


@dataclass(frozen=True)
class Seeds:
    """Real objects for the fuzzer to find: one finished and one queued of each kind."""

    tokenizer_done: str
    tokenizer_queued: str
    run_done: str
    run_queued: str


@pytest.fixture(scope="module")
def fuzz_settings(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("fuzz")
    corpus = root / "corpus"
    (corpus / "books").mkdir(parents=True)
    (corpus / "empty").mkdir()
    (corpus / "story.txt").write_text(story(300, 7), encoding="utf-8")
    (corpus / "books" / "part.txt").write_text(story(100, 8), encoding="utf-8")
    return Settings(
        redis_url=urlsplit(redis_url)._replace(path=f"/{FUZZ_DB}").geturl(),
        artifacts_root=root / "artifacts",
        corpus_root=corpus,
        worker=WorkerSettings(queue_name="fuzz", threads=2),
        limits=LimitSettings(max_new_tokens=256),
    )


def _api_log(settings: Settings) -> Path:
    return settings.artifacts_root.parent / "api.log"


@pytest.fixture(scope="module")
def server(fuzz_settings: Settings) -> Iterator[str]:
    """`model-trainer api` in a process of its own; yields its base URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    root = fuzz_settings.artifacts_root.parent
    # The caller's API key (if any) stays out: the fuzzer sends none.
    env = {k: v for k, v in os.environ.items() if not k.startswith("SECURITY__")} | {
        "REDIS_URL": fuzz_settings.redis_url,
        "ARTIFACTS_ROOT": str(fuzz_settings.artifacts_root),
        "CORPUS_ROOT": str(fuzz_settings.corpus_root),
        "WORKER__QUEUE_NAME": fuzz_settings.worker.queue_name,
        "LIMITS__MAX_NEW_TOKENS": str(fuzz_settings.limits.max_new_tokens),
    }
    log = _api_log(fuzz_settings).open("wb")
    command = [sys.executable, "-m", "model_trainer", "api", "--host", "127.0.0.1"]
    proc = subprocess.Popen(
        [*command, "--port", str(port)], env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, _api_log(fuzz_settings).read_text(encoding="utf-8")
            assert time.monotonic() < deadline, "the API did not start"
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def seeds(server: str, fuzz_settings: Settings) -> Seeds:
    """Train through the API's own requests and the worker's own services, in this process."""
    configure_logging("INFO", "fuzz-seeds")  # as a worker does: jobs then write logs.jsonl
    registry = build_registry(fuzz_settings)
    try:
        with httpx.Client(base_url=server, timeout=30) as api:

            def tokenizer() -> str:
                body = {"method": "bpe", "vocab_size": 300, "corpus_path": "story.txt"}
                answer = api.post("/tokenizers/train", json=body)
                assert answer.status_code == 202, answer.text
                return TokenizerQueued.model_validate_json(answer.content).tokenizer_id

            def run(tokenizer_id: str) -> str:
                data = {"tokenizer_id": tokenizer_id, "corpus_path": "story.txt"}
                answer = api.post("/runs/train", json=TINY_RUN | {"data": data})
                assert answer.status_code == 202, answer.text
                return RunQueued.model_validate_json(answer.content).run_id

            done = tokenizer()
            with registry.container() as container:
                container.get(TOKENIZER_TRAINER).run(done)
            queued = tokenizer()
            run_done = run(done)
            with registry.container() as container:
                container.get(RUN_TRAINER).run(run_done)
                # Queued through the API (its record), run here (no worker takes the queue)
                default: dict[str, str] = {}
                evaluate = api.post(f"/runs/{run_done}/evaluate", json=default)
                assert evaluate.status_code == 202, evaluate.text
                eval_id = EvalQueued.model_validate_json(evaluate.content).eval_id
                container.get(RUN_EVALUATOR).run(eval_job_id(run_done, eval_id))
            seeded = Seeds(done, queued, run_done, run(done))
            for path in ("/tokenizers/" + done, "/runs/" + run_done):
                assert '"completed"' in api.get(path).text, path
            assert '"count":0' not in api.get(f"/runs/{run_done}/logs").text
    finally:
        registry.close()
    # A worker's heartbeat, dated an hour ahead so it outlives the test: `/readyz` says ready.
    store = RedisStore(fuzz_settings.redis_url)
    store.index_add(WORKERS_ALIVE_INDEX, "fuzz-stand-in", time.time() + 3600)
    store.close()
    return seeded


def _plan(server: str, seeds: Seeds, home: Path) -> FuzzPlan:
    corpora = Binding("corpora")
    return FuzzPlan(
        schema_url=f"{server}/openapi.json",
        seed=SEED,
        max_examples=MAX_EXAMPLES,
        request_timeout_s=20,
        hypothesis_home=home,
        dictionaries={
            "tokenizers": [seeds.tokenizer_done, seeds.tokenizer_queued],
            "runs": [seeds.run_done, seeds.run_queued],
            "ended_runs": [seeds.run_done],
            "ended_tokenizers": [seeds.tokenizer_done],
            "artifacts": [seeds.tokenizer_done, seeds.run_done],
            "corpora": ["story.txt", "books", "empty", "missing.txt", "../story.txt", "x" * 300],
            "folders": ["", "books", "empty", "books/..", "story.txt", "missing", "../", "x" * 300],
            "files": ["manifest.json", "export", "export/config.json", "../manifest.json", ".work"],
        },
        parameters={
            "path.tokenizer_id": Binding("tokenizers"),
            "path.run_id": Binding("runs"),
            "path.artifact_id": Binding("artifacts"),
            "query.path": Binding("files"),
            "body.corpus_path": corpora,
            "body.data.corpus_path": corpora,
            "body.data.tokenizer_id": Binding("tokenizers"),
        },
        operations={
            # `query.path` names artifact files elsewhere; here, corpus folders.
            "corpus-list": OperationPlan(parameters={"query.path": Binding("folders")}),
            # Every case of these reaches the trained model or tokenizer.
            "runs-generate": OperationPlan(fixed={"path.run_id": seeds.run_done}),
            "tokenizers-encode": OperationPlan(fixed={"path.tokenizer_id": seeds.tokenizer_done}),
            # Deleting a seed would leave every later case of it a 404: a run that was never
            # made, and the finished tokenizer, which the finished run keeps in use (409).
            "runs-delete": OperationPlan(fixed={"path.run_id": "run-00000000-00000000"}),
            "tokenizers-delete": OperationPlan(fixed={"path.tokenizer_id": seeds.tokenizer_done}),
            # A stream lasts as long as its run: only the finished run may be streamed (never
            # ids from other responses, which include queued runs), and since even its stream
            # takes a second or two to close, only a few times.
            "runs-logs-stream": OperationPlan(
                parameters={"path.run_id": Binding("ended_runs", 0.3)},
                max_examples=5,
                reuse_responses=False,
            ),
            "tokenizers-logs-stream": OperationPlan(
                parameters={"path.tokenizer_id": Binding("ended_tokenizers", 0.3)},
                max_examples=5,
                reuse_responses=False,
            ),
        },
    )


def test_schemathesis_finds_nothing(
    server: str, seeds: Seeds, tmp_path: Path, fuzz_settings: Settings
) -> None:
    started = time.monotonic()
    report = run_schemathesis(_plan(server, seeds, tmp_path / "hypothesis"))
    elapsed = time.monotonic() - started
    summary = (
        f"{report.cases} cases, {report.responses} responses over {len(report.operations)} "
        f"operations in {elapsed:.0f} s; statuses {dict(sorted(report.statuses.items()))}; "
        f"phases {report.phases}; slowest {report.slowest(3)}"
    )
    _log.info("fuzz: %s", summary)
    # The end of each logged stack names the exception.
    crashes = [
        "crash: ..." + line[-400:]
        for line in _api_log(fuzz_settings).read_text(encoding="utf-8").splitlines()
        if "request_crashed" in line
    ]
    problems = [f"{key}\n{detail}" for key, detail in sorted(report.failures.items())]
    assert not problems, summary + "\n\n" + "\n\n".join(problems + crashes[:3])
    assert not report.errors, summary + "\n" + "\n".join(report.errors)
    assert not crashes, "\n".join(crashes[:3])
    assert set(report.operations) == report.declared, summary
    assert report.responses > 1000, summary


NON_FINITE = ("Infinity", "-Infinity", "NaN", "1e400", "-1e400")
ODD_DIGITS = ("²", "¹²", "12³", "٣", "9" * 5000)
"""Characters `str.isdigit` accepts but `int` refuses, and a number past `int`'s digit limit."""
JSON_BODY = {"Content-Type": "application/json"}
HEADERS = ("Last-Event-ID", "X-Request-ID", "X-Api-Key", "Content-Length")


def _bases(seeds: Seeds) -> dict[str, str]:
    """A valid body per JSON operation, to which one non-finite number is added at a time."""
    run = json.dumps(
        TINY_RUN | {"data": {"tokenizer_id": seeds.tokenizer_done, "corpus_path": "story.txt"}}
    )
    return {
        "tokenizers-train": '{"method": "bpe", "vocab_size": 300, "corpus_path": "story.txt"}',
        "tokenizers-encode": '{"text": "a"}',
        "runs-train": run,
        "runs-estimate": run,
        "runs-evaluate": "{}",
        "runs-generate": '{"prompt": "a", "max_new_tokens": 2}',
    }


def test_non_finite_numbers_and_odd_digits_in_headers(server: str, seeds: Seeds) -> None:
    """Every number field of every body, sent as each non-finite JSON number, is refused with
    a 422 naming it; every operation with odd digits in its headers answers below 500."""
    spec = httpx.get(f"{server}/openapi.json", timeout=10).text
    ids = {"run_id": seeds.run_done, "tokenizer_id": seeds.tokenizer_done, "kind": "models"}
    ids["artifact_id"] = seeds.run_done
    sent = 0
    numbers = {f"{op.operation_id}:{f}" for op in number_fields(spec) for f in op.fields}
    assert {"runs-train:trainer.grad_clip", "runs-generate:temperature"} <= numbers, numbers
    with httpx.Client(base_url=server, timeout=30) as api:
        for operation in number_fields(spec):
            base = _bases(seeds)[operation.operation_id]
            url = operation.path.format(**ids)
            for field_path in operation.fields:
                for raw in NON_FINITE:
                    body = with_raw_number(base, field_path, raw)
                    answer = api.post(
                        url, content=body, headers={"Content-Type": "application/json"}
                    )
                    sent += 1
                    assert answer.status_code == 422, (url, field_path, raw, answer.text)
                    assert field_path.split(".")[-1] in answer.text, (field_path, answer.text)
        for operation in all_operations(spec):
            url = operation.path.format(**ids)
            for header in HEADERS:
                for value in ODD_DIGITS:
                    status = raw_request(server, operation.method, url, header, value)
                    sent += 1
                    assert status < 500, (operation.method, url, header, value[:10], status)
    assert sent > 400, sent
