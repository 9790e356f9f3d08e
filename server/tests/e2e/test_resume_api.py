"""Runs that ended, resumed through the real stack: a cancelled run and a failed one
continue from their last checkpoint to the weights an uninterrupted run reaches; a completed
run is extended and exports again; what cannot be resumed is refused."""

from __future__ import annotations

import shutil
import time

import pytest
import torch
from fastapi.testclient import TestClient
from safetensors.torch import load_file

from model_trainer.api.schemas.common import ErrorBody
from model_trainer.api.schemas.runs import (
    GeneratePublic,
    MetricsPublic,
    RunPublic,
    RunQueued,
)
from model_trainer.core.settings import Settings
from model_trainer.jobs.layout import ArtifactLayout, RunFolder

from .conftest import trained_tokenizer

pytestmark = pytest.mark.timeout(900)

LONG_STEPS = 300
"""Long enough that a cancel (or a fault) lands well before the end."""


def _tokenizer(api: TestClient) -> str:
    body = {"method": "char", "vocab_size": 100, "min_frequency": 1, "corpus_path": "story.txt"}
    view = trained_tokenizer(api, body)
    assert view.status == "completed", view.message
    return view.tokenizer_id


def _body(tokenizer_id: str, **trainer: int) -> dict[str, object]:
    """A tiny run; evaluated at the start and the end only (a resumed start evaluates
    again at its step when one is due there)."""
    steps = trainer.get("max_steps", LONG_STEPS)
    return {
        "model": {"size": "nano", "n_layer": 1, "n_head": 2, "n_embd": 32, "max_seq_len": 32},
        "data": {"tokenizer_id": tokenizer_id, "corpus_path": "story.txt"},
        "trainer": {
            "max_steps": steps,
            "batch_size": 4,
            "eval_interval": steps,
            "eval_steps": 2,
            "checkpoint_interval": 10,
            "log_interval": 10,
            "seed": 5,
            "precision": "fp32",  # both runs compute alike, whatever a busy machine times
            "compile": "off",
        }
        | trainer,
    }


def _submit(api: TestClient, body: dict[str, object]) -> str:
    response = api.post("/runs/train", json=body)
    assert response.status_code == 202, response.text
    return RunQueued.model_validate_json(response.content).run_id


def _run(api: TestClient, run_id: str) -> RunPublic:
    return RunPublic.model_validate_json(api.get(f"/runs/{run_id}").content)


def _wait(api: TestClient, run_id: str, done: set[str], at_step: int = 0) -> RunPublic:
    deadline = time.monotonic() + 800
    while True:
        run = _run(api, run_id)
        if run.status in done or (at_step and run.progress.step >= at_step):
            return run
        assert time.monotonic() < deadline, f"{run.status}: {run.message}"
        time.sleep(0.05)


def _resume(api: TestClient, run_id: str, body: dict[str, int] | None = None) -> RunQueued:
    response = api.post(f"/runs/{run_id}/resume", json=body)
    assert response.status_code == 202, response.text
    return RunQueued.model_validate_json(response.content)


def _refused(api: TestClient, run_id: str, body: dict[str, int] | None, status: int) -> str:
    response = api.post(f"/runs/{run_id}/resume", json=body)
    assert response.status_code == status, response.text
    error = ErrorBody.model_validate_json(response.content)
    return f"{error.code}: {error.message}"


def _folder(settings: Settings, run_id: str) -> RunFolder:
    return ArtifactLayout(settings.artifacts_root).run(run_id)


def _weights(settings: Settings, run_id: str) -> dict[str, torch.Tensor]:
    return load_file(str(_folder(settings, run_id).export / "model.safetensors"))


def _same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    """Compared as the crash-resume tests compare them."""
    assert a.keys() == b.keys()
    for name in a:
        assert torch.allclose(a[name], b[name], atol=1e-5), name


def _train_steps(api: TestClient, run_id: str) -> list[int]:
    metrics = MetricsPublic.model_validate_json(api.get(f"/runs/{run_id}/metrics").content)
    return [m.step for m in metrics.data if m.kind == "train"]


@pytest.fixture(scope="module")
def tokenizer_id(api: TestClient) -> str:
    return _tokenizer(api)


@pytest.fixture(scope="module")
def whole(api: TestClient, tokenizer_id: str) -> str:
    """The long run, uninterrupted: what a resumed one must end with."""
    run_id = _submit(api, _body(tokenizer_id))
    run = _wait(api, run_id, {"completed", "failed", "cancelled"})
    assert run.status == "completed", run.message
    return run_id


def test_cancelled_run_resumes_to_the_uninterrupted_weights(
    api: TestClient, stack_settings: Settings, tokenizer_id: str, whole: str
) -> None:
    run_id = _submit(api, _body(tokenizer_id))
    _wait(api, run_id, {"completed", "failed"}, at_step=10)
    assert api.post(f"/runs/{run_id}/cancel").status_code == 200
    cancelled = _wait(api, run_id, {"cancelled", "completed", "failed"})
    assert cancelled.status == "cancelled", cancelled.message
    stopped_at = cancelled.progress.step
    assert 0 < stopped_at < LONG_STEPS

    queued = _resume(api, run_id)
    assert queued.run_id == run_id and queued.status == "queued"
    again = _run(api, run_id)
    assert again.error_code is None and again.finished_at is None
    final = _wait(api, run_id, {"completed", "failed", "cancelled"})
    assert final.status == "completed", final.message
    assert final.progress.step == LONG_STEPS and final.progress.phase is None
    steps = _train_steps(api, run_id)
    assert steps == sorted(set(steps)) and steps[-1] == LONG_STEPS  # no step twice
    _same_weights(_weights(stack_settings, whole), _weights(stack_settings, run_id))


def test_failed_run_resumes_from_its_last_checkpoint(
    api: TestClient, stack_settings: Settings, tokenizer_id: str, whole: str
) -> None:
    run_id = _submit(api, _body(tokenizer_id))
    folder = _folder(stack_settings, run_id)
    _wait(api, run_id, {"completed", "failed"}, at_step=20)
    # A directory where the next checkpoint is written first: saving it fails the run
    blocker = folder.checkpoints / ".last.pt.tmp"
    while True:
        try:
            blocker.mkdir()
            break
        except FileExistsError:  # the checkpoint being written this moment: it is renamed
            time.sleep(0.001)
    failed = _wait(api, run_id, {"failed", "completed", "cancelled"})
    assert failed.status == "failed", failed.message
    assert folder.last_checkpoint.is_file()  # the checkpoint before the fault

    shutil.rmtree(blocker)
    assert _resume(api, run_id).status == "queued"
    final = _wait(api, run_id, {"completed", "failed", "cancelled"})
    assert final.status == "completed", final.message
    assert final.error_code is None and final.last_error is not None  # the history stays
    steps = _train_steps(api, run_id)
    assert steps == sorted(set(steps)) and steps[-1] == LONG_STEPS
    _same_weights(_weights(stack_settings, whole), _weights(stack_settings, run_id))


def test_completed_run_extends_and_exports_again(
    api: TestClient, stack_settings: Settings, tokenizer_id: str
) -> None:
    run_id = _submit(api, _body(tokenizer_id, max_steps=40, eval_interval=20))
    done = _wait(api, run_id, {"completed", "failed", "cancelled"})
    assert done.status == "completed", done.message
    before = _weights(stack_settings, run_id)
    sample = {"prompt": "The", "max_new_tokens": 4, "temperature": 0}
    assert api.post(f"/runs/{run_id}/generate", json=sample).status_code == 200

    assert "max_steps" in _refused(api, run_id, None, 422)  # required to extend
    assert "max_steps" in _refused(api, run_id, {"max_steps": 40}, 422)  # not more
    queued = _resume(api, run_id, {"max_steps": 80})
    assert queued.run_id == run_id and queued.status == "queued"
    extending = _run(api, run_id)
    assert extending.config.trainer.max_steps == 80 and extending.progress.max_steps == 80

    final = _wait(api, run_id, {"completed", "failed", "cancelled"})
    assert final.status == "completed", final.message
    assert final.progress.step == 80 and final.config.trainer.max_steps == 80
    steps = _train_steps(api, run_id)
    assert steps == sorted(set(steps)) and steps[-1] == 80
    after = _weights(stack_settings, run_id)
    assert before.keys() == after.keys()
    assert any(not torch.equal(before[name], after[name]) for name in before)
    assert not _folder(stack_settings, run_id).export_replaced.exists()
    served = api.post(f"/runs/{run_id}/generate", json=sample)  # the new export loads
    assert served.status_code == 200, served.text
    assert GeneratePublic.model_validate_json(served.content).count == 4


def test_resume_refused_while_the_run_is_active(
    api: TestClient, stack_settings: Settings, tokenizer_id: str
) -> None:
    run_id = _submit(api, _body(tokenizer_id, max_steps=200_000))
    _wait(api, run_id, {"completed", "failed"}, at_step=20)
    assert _refused(api, run_id, None, 409).startswith("RUN_ACTIVE")
    assert api.post(f"/runs/{run_id}/cancel").status_code == 200
    cancelled = _wait(api, run_id, {"cancelled", "completed", "failed"})
    assert cancelled.status == "cancelled", cancelled.message

    refusal = _refused(api, run_id, {"max_steps": 5}, 422)  # fewer than it has done
    assert refusal.startswith("CONFIG_INVALID") and "max_steps" in refusal
    limit = stack_settings.limits.max_steps
    assert "max_steps" in _refused(api, run_id, {"max_steps": limit + 1}, 422)
    assert "max_steps" in _refused(api, run_id, {"max_steps": 0}, 422)
    assert _refused(api, "run-00000000-00000000", None, 404).startswith("NOT_FOUND")
    assert _run(api, run_id).status == "cancelled"  # nothing changed
