"""Runs through the real stack: train, watch live, evaluate, sample, export, cancel, refuse."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import time

import pytest
from fastapi.testclient import TestClient

from model_trainer.api.schemas.common import ErrorBody
from model_trainer.api.schemas.runs import (
    EvalPublic,
    EvalQueued,
    GeneratePublic,
    LogsPublic,
    MetricsPublic,
    RunPublic,
    RunQueued,
)
from model_trainer.core.settings import Settings
from model_trainer.training.model_registry import discover_models
from model_trainer.training.run.events import EVENT_ADAPTER, TrainCompleted, TrainProgress

from .conftest import run_reaching, trained_tokenizer

pytestmark = pytest.mark.timeout(300)

TINY_MODEL = {
    "family": "gpt2",
    "size": "nano",
    "n_layer": 1,
    "n_head": 2,
    "n_embd": 32,
    "max_seq_len": 32,
    "dropout": 0.0,
}


def _path(value: str) -> dict[str, str]:
    return {"path": value}


def _tokenizer(api: TestClient, method: str, corpus: str = "story.txt") -> str:
    body = {
        "method": method,
        "vocab_size": 300 if method != "char" else 100,
        "min_frequency": 1,
        "corpus_path": corpus,
        "holdout_fraction": 0.1,
        "seed": 3,
    }
    view = trained_tokenizer(api, body)
    assert view.status == "completed", view.message
    return view.tokenizer_id


def _start(
    api: TestClient,
    tokenizer_id: str,
    steps: int,
    corpus: str = "story.txt",
    model: dict[str, object] = TINY_MODEL,
    compile_choice: str = "auto",
) -> str:
    body = {
        "model": model,
        "data": {
            "tokenizer_id": tokenizer_id,
            "corpus_path": corpus,
            "holdout_fraction": 0.1,
            "holdout_strategy": "tail",
        },
        "trainer": {
            "max_steps": steps,
            "batch_size": 4,
            "eval_interval": 20,
            "eval_steps": 2,
            "checkpoint_interval": 20,
            "log_interval": 5,
            "warmup_steps": 5,
            "compile": compile_choice,
        },
    }
    response = api.post("/runs/train", json=body)
    assert response.status_code == 202, response.text
    return RunQueued.model_validate_json(response.content).run_id


def _sse_ids(api: TestClient, run_id: str, last_id: str | None, limit: int) -> list[int]:
    headers = {"Last-Event-ID": last_id} if last_id else {}
    ids: list[int] = []
    with api.stream("GET", f"/runs/{run_id}/logs/stream", headers=headers) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("id:"):
                ids.append(int(line[3:].strip()))
                if len(ids) >= limit:
                    break
    return ids


@pytest.fixture(scope="module")
def char_tokenizer(api: TestClient) -> str:
    return _tokenizer(api, "char")


@pytest.fixture(scope="module")
def finished_run(api: TestClient, char_tokenizer: str) -> str:
    run_id = _start(api, char_tokenizer, 40)
    run = run_reaching(api, run_id, {"completed", "failed", "cancelled"}, timeout=180)
    assert run.status == "completed", run.message
    return run_id


def test_completed_run_reports_progress_metrics_and_artifacts(
    api: TestClient, finished_run: str, stack_settings: Settings
) -> None:
    run = RunPublic.model_validate_json(api.get(f"/runs/{finished_run}").content)
    assert run.progress.step == 40 and run.metrics.final_val_loss is not None
    assert run.device is not None and run.dataset is not None and run.dataset.dtype == "uint16"
    assert run.device.precision in ("fp32", "bf16") and run.device.precision_reason  # auto resolved
    metrics = MetricsPublic.model_validate_json(api.get(f"/runs/{finished_run}/metrics").content)
    evals = [m for m in metrics.data if m.kind == "eval"]
    assert [m.step for m in evals] == [0, 20, 40]
    assert evals[-1].val_loss is not None and evals[0].val_loss is not None
    assert evals[-1].val_loss < evals[0].val_loss
    times = [m.time for m in metrics.data if m.time is not None]  # written as each was logged
    assert len(times) == metrics.count and times == sorted(times), times
    assert metrics.after == 0 and metrics.next_after == metrics.count
    logs = LogsPublic.model_validate_json(api.get(f"/runs/{finished_run}/logs?tail=5").content)
    assert logs.count == 5
    folder = stack_settings.artifacts_root / "models" / finished_run
    for name in [
        "manifest.json",
        "logs.jsonl",
        "metrics.jsonl",
        "checkpoints/last.pt",
        "checkpoints/best.pt",
        "export/config.json",
        "export/model.safetensors",
        "export/generation_config.json",
        "export/tokenizer.json",
    ]:
        assert (folder / name).is_file(), name
    assert not list(folder.rglob(".*")), "temporary files left behind"


def test_sse_resumes_after_last_event_id_without_gaps(api: TestClient, finished_run: str) -> None:
    first = _sse_ids(api, finished_run, None, 5)
    rest = _sse_ids(api, finished_run, str(first[-1]), 100_000)
    ids = first + rest
    assert ids == list(range(1, len(ids) + 1))
    lines = LogsPublic.model_validate_json(api.get(f"/runs/{finished_run}/logs?tail=10000").content)
    assert len(ids) == lines.count


def test_export_loads_with_transformers_in_another_process(
    finished_run: str, stack_settings: Settings
) -> None:
    export = stack_settings.artifacts_root / "models" / finished_run / "export"
    probe = (
        "import sys\nfrom transformers import AutoModelForCausalLM, AutoTokenizer\n"
        "m = AutoModelForCausalLM.from_pretrained(sys.argv[1])\n"
        "t = AutoTokenizer.from_pretrained(sys.argv[1])\n"
        "ids = t('The king', return_tensors='pt').input_ids\n"
        "out = m.generate(ids, max_new_tokens=8, do_sample=False)\n"
        "assert out.shape[1] == ids.shape[1] + 8\n"
        "print(t.decode(out[0]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, str(export)],
        capture_output=True,
        text=True,
        env=os.environ | {"HF_HUB_OFFLINE": "1"},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-500:]
    assert result.stdout.startswith("The king")


def test_generation_is_seeded(api: TestClient, finished_run: str) -> None:
    body = {"prompt": "The ", "max_new_tokens": 12, "temperature": 0.9, "top_k": 10, "seed": 5}
    first = GeneratePublic.model_validate_json(
        api.post(f"/runs/{finished_run}/generate", json=body).content
    )
    again = GeneratePublic.model_validate_json(
        api.post(f"/runs/{finished_run}/generate", json=body).content
    )
    assert first.count == 12 and first.ids == again.ids and first.text == again.text


def test_evaluation_writes_metrics_and_samples(api: TestClient, finished_run: str) -> None:
    assert api.get(f"/runs/{finished_run}/eval").status_code == 404
    default: dict[str, str] = {}
    queued = api.post(f"/runs/{finished_run}/evaluate", json=default)
    assert queued.status_code == 202
    eval_id = EvalQueued.model_validate_json(queued.content).eval_id
    result = _ended_eval(api, finished_run)
    assert result.status == "completed" and result.eval_id == eval_id and result.error is None
    assert result.metrics is not None
    assert result.metrics.perplexity > 1 and 0 < result.metrics.tokens_per_char <= 1.01
    assert result.metrics.split == "val" and result.metrics.corpus_path is None
    assert len(result.samples) >= 3
    books: dict[str, str] = {"corpus_path": "books"}
    other = api.post(f"/runs/{finished_run}/evaluate", json=books)
    assert other.status_code == 202
    other_id = EvalQueued.model_validate_json(other.content).eval_id
    # Once the evaluation has ended, the run's summary follows it: the job writes
    # eval/metrics.json, then the run's manifest, and only then ends.
    result = _ended_eval(api, finished_run)
    assert (result.eval_id, result.status) == (other_id, "completed"), result
    assert result.metrics is not None
    assert result.metrics.split == "corpus" and result.metrics.corpus_path == "books"
    run = RunPublic.model_validate_json(api.get(f"/runs/{finished_run}").content)
    assert run.eval is not None
    assert (run.eval.split, run.eval.corpus_path) == ("corpus", "books")


def test_a_failed_evaluation_is_reported_with_its_code(
    api: TestClient, finished_run: str, stack_settings: Settings
) -> None:
    (stack_settings.corpus_root / "not-text.txt").write_bytes(b"\xff\xfe\x00 not UTF-8 \xc3")
    body: dict[str, str] = {"corpus_path": "not-text.txt"}
    queued = api.post(f"/runs/{finished_run}/evaluate", json=body)
    assert queued.status_code == 202
    eval_id = EvalQueued.model_validate_json(queued.content).eval_id
    result = _ended_eval(api, finished_run)
    assert (result.eval_id, result.status, result.metrics) == (eval_id, "failed", None)
    assert result.error is not None and result.error.code == "CORPUS_NOT_UTF8", result.error
    assert "not-text.txt" in result.error.message
    run = RunPublic.model_validate_json(api.get(f"/runs/{finished_run}").content)
    assert run.status == "completed"  # a failed evaluation leaves its run as it was


def test_an_evaluation_from_before_evaluations_were_jobs_reads_completed(
    api: TestClient, finished_run: str, stack_settings: Settings
) -> None:
    models = stack_settings.artifacts_root / "models"
    old_id = "run-00000000-0000beef"
    old = models / old_id
    (old / "eval").mkdir(parents=True)
    manifest = (models / finished_run / "manifest.json").read_text(encoding="utf-8")
    (old / "manifest.json").write_text(manifest.replace(finished_run, old_id), encoding="utf-8")
    metrics = {
        "run_id": old_id,
        "split": "val",
        "corpus_path": None,
        "loss": 2.0,
        "perplexity": 7.389,
        "tokens": 100,
        "chars": 100,
        "tokens_per_char": 1.0,
        "windows": 3,
        "finished_at": "2026-01-01T00:00:00Z",
    }
    (old / "eval" / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    sample = {"prompt": "The ", "seed": 1234, "completion": "end"}
    (old / "eval" / "samples.jsonl").write_text(json.dumps(sample) + "\n", encoding="utf-8")
    result = EvalPublic.model_validate_json(api.get(f"/runs/{old_id}/eval").content)
    assert (result.status, result.eval_id, result.error) == ("completed", None, None)
    assert result.metrics is not None and result.metrics.loss == 2.0
    assert [s.completion for s in result.samples] == ["end"]


def _ended_eval(api: TestClient, run_id: str) -> EvalPublic:
    """The run's latest evaluation, once it has ended."""
    deadline = time.monotonic() + 120
    while True:
        result = EvalPublic.model_validate_json(api.get(f"/runs/{run_id}/eval").content)
        if result.status in ("completed", "failed", "cancelled"):
            return result
        assert time.monotonic() < deadline, f"{result.status}: {result.message}"
        time.sleep(0.2)


def test_artifacts_list_download_and_refuse_escapes(api: TestClient, finished_run: str) -> None:
    listing = api.get(f"/artifacts/models/{finished_run}")
    assert listing.status_code == 200
    assert "export/config.json" in listing.text
    one = api.get(f"/artifacts/models/{finished_run}/download", params=_path("export/config.json"))
    assert one.status_code == 200 and b"n_layer" in one.content
    whole = api.get(f"/artifacts/models/{finished_run}/download", params=_path("export"))
    with tarfile.open(fileobj=io.BytesIO(whole.content)) as tar:
        assert "export/model.safetensors" in tar.getnames()
    for escape in ["../../../../etc/hostname", "/etc/hostname", "export/../../x"]:
        bad = api.get(f"/artifacts/models/{finished_run}/download", params=_path(escape))
        assert bad.status_code in (400, 404), escape
        assert ErrorBody.model_validate_json(bad.content).code
    assert api.get("/artifacts/models/..%2F..%2Fetc").status_code == 404


def test_cancel_stops_a_running_run(api: TestClient, char_tokenizer: str) -> None:
    run_id = _start(api, char_tokenizer, 100_000)
    run_reaching(api, run_id, {"running"}, timeout=180)
    time.sleep(1.0)
    assert api.post(f"/runs/{run_id}/cancel").status_code == 200
    run = run_reaching(api, run_id, {"cancelled", "completed", "failed"}, timeout=60)
    assert run.status == "cancelled"
    again = api.post(f"/runs/{run_id}/cancel")
    assert again.status_code == 409
    assert ErrorBody.model_validate_json(again.content).code == "RUN_NOT_ACTIVE"


@pytest.mark.parametrize("method", ["bpe", "sentencepiece"])
def test_other_tokenizers_train_and_export(
    api: TestClient, method: str, stack_settings: Settings
) -> None:
    run_id = _start(api, _tokenizer(api, method, "books"), 10, corpus="books")
    run = run_reaching(api, run_id, {"completed", "failed", "cancelled"}, timeout=180)
    assert run.status == "completed", run.message
    export = stack_settings.artifacts_root / "models" / run_id / "export"
    assert (export / "tokenizer.json").is_file() and (export / "tokenizer_config.json").is_file()


BUILT_IN_FAMILIES = [
    r.name for r in discover_models({}).records() if r.distribution == "model-trainer"
]


@pytest.mark.parametrize("family", BUILT_IN_FAMILIES)
def test_each_built_in_family_trains_compiled_on_cpu(
    api: TestClient, char_tokenizer: str, family: str
) -> None:
    """`compile: on` goes through torch.compile in the worker; the default does so on CUDA."""
    model = {"family": family, "n_layer": 1, "n_head": 2, "n_embd": 32, "max_seq_len": 32}
    run_id = _start(api, char_tokenizer, 3, model=model, compile_choice="on")
    run = run_reaching(api, run_id, {"completed", "failed", "cancelled"}, timeout=280)
    assert run.status == "completed", run.message


def test_bad_requests_are_refused_before_queueing(api: TestClient, char_tokenizer: str) -> None:
    def refused(patch: dict[str, dict[str, object]]) -> tuple[int, str]:
        body: dict[str, dict[str, object]] = {
            "model": dict(TINY_MODEL),
            "data": {"tokenizer_id": char_tokenizer, "corpus_path": "story.txt"},
            "trainer": {"max_steps": 5},
        }
        for part, values in patch.items():
            body[part] = body.get(part, {}) | values
        response = api.post("/runs/train", json=body)
        return response.status_code, ErrorBody.model_validate_json(response.content).code

    assert refused({"data": {"tokenizer_id": "tok-00000000-00000000"}}) == (
        404,
        "TOKENIZER_NOT_FOUND",
    )
    assert refused({"data": {"tokenizer_id": "../etc"}})[0] == 404
    assert refused({"data": {"corpus_path": "../outside.txt"}}) == (400, "PATH_OUTSIDE_ROOT")
    assert refused({"model": {"size": "galactic"}}) == (422, "CONFIG_INVALID")
    assert refused({"model": {"n_embd": 30, "n_head": 4}}) == (422, "CONFIG_INVALID")
    assert refused({"trainer": {"max_steps": 0}}) == (422, "CONFIG_INVALID")
    assert refused({"trainer": {"learning_rate": 1e-4, "min_lr": 1e-3}}) == (422, "CONFIG_INVALID")
    assert refused({"model": {"surprise": 1}}) == (422, "CONFIG_INVALID")
    huge: dict[str, object] = {"n_layer": 96, "n_head": 96, "n_embd": 12288}
    assert refused({"model": huge}) == (422, "PARAMETER_LIMIT_EXCEEDED")
    for field in ("warmup_steps", "eval_interval", "checkpoint_interval", "log_interval"):
        assert refused({"trainer": {field: 10**4000}}) == (422, "CONFIG_INVALID"), field
    far = api.get(f"/runs/{char_tokenizer}/metrics", params={"after": str(10**4000)})
    assert far.status_code == 422 and len(far.content) < 2000
    assert api.get("/runs/run-00000000-00000000").status_code == 404


@pytest.mark.parametrize("family", ["llama", "qwen2"])
@pytest.mark.parametrize(
    ("model", "field"),
    [
        ({"n_head": 4, "n_embd": 64, "options": {"n_kv_head": 3}}, "model.options.n_kv_head"),
        ({"n_head": 4, "n_embd": 36}, "model.n_embd"),  # a head 9 wide: RoPE rotates pairs
    ],
)
def test_a_rotary_family_refuses_what_it_cannot_build_naming_the_field(
    api: TestClient, char_tokenizer: str, family: str, model: dict[str, object], field: str
) -> None:
    body = {
        "model": {"family": family, "size": "nano", "n_layer": 1, "max_seq_len": 32} | model,
        "data": {"tokenizer_id": char_tokenizer, "corpus_path": "story.txt"},
        "trainer": {"max_steps": 5},
    }
    response = api.post("/runs/train", json=body)
    assert response.status_code == 422, response.text
    error = ErrorBody.model_validate_json(response.content)
    assert error.code == "CONFIG_INVALID" and error.message.startswith(f"{field}: ")


def test_events_parse_with_the_published_schema() -> None:
    raw = TrainProgress(
        request_id="r",
        step=1,
        max_steps=2,
        tokens_seen=3,
        train_loss=1.0,
        lr=0.1,
        tokens_per_s=5.0,
        eta_s=None,
    ).model_dump_json()
    assert isinstance(EVENT_ADAPTER.validate_json(raw), TrainProgress)
    done = TrainCompleted(
        request_id="r", step=2, final_val_loss=None, best_val_loss=None, seconds=1.0
    )
    assert EVENT_ADAPTER.validate_json(done.model_dump_json()).type == "trainer.train.completed.v1"
