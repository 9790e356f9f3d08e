"""Bits per byte of an evaluation job pinned to a figure known by hand: a run's export with
every weight zeroed predicts each token with probability 1 / V, so the job (`POST
/runs/{id}/evaluate`, through the worker) must report a loss of ln V per token and
tokens * log2 V / bytes bits per byte, on any machine."""

from __future__ import annotations

import math
import time

import pytest
import torch
from fastapi.testclient import TestClient
from pydantic import BaseModel, ConfigDict
from safetensors.torch import load_file, save_file

from model_trainer.api.schemas.runs import EvalPublic, RunPublic, RunQueued
from model_trainer.core.settings import Settings

from .conftest import run_reaching, trained_tokenizer

pytestmark = pytest.mark.timeout(600)

CORPUS = "pinned_bpb.txt"
# Characters of one, two and three UTF-8 bytes: bits per byte divides by bytes.
TEXT = "".join(f"naïve café {i % 7} — über straße\n" for i in range(30))


class _Config(BaseModel):
    """The one field of the export's `config.json` the figure needs."""

    model_config = ConfigDict(extra="ignore")

    vocab_size: int


def _zeroed_run(api: TestClient, settings: Settings) -> str:
    """A char-tokenized GPT-2 run on `TEXT`, its export's weights then set to zero."""
    (settings.corpus_root / CORPUS).write_text(TEXT, encoding="utf-8")
    body = {"method": "char", "vocab_size": 100, "min_frequency": 1, "corpus_path": CORPUS}
    tokenizer = trained_tokenizer(api, body)
    assert tokenizer.status == "completed", tokenizer.message
    model = {"family": "gpt2", "n_layer": 1, "n_head": 2, "n_embd": 16, "max_seq_len": 32}
    trainer = {"max_steps": 2, "batch_size": 2, "eval_steps": 1, "compile": "off"}
    data = {"tokenizer_id": tokenizer.tokenizer_id, "corpus_path": CORPUS}
    request: dict[str, object] = {"model": model, "data": data, "trainer": trainer}
    response = api.post("/runs/train", json=request)
    assert response.status_code == 202, response.text
    run_id = RunQueued.model_validate_json(response.content).run_id
    run = run_reaching(api, run_id, {"completed", "failed", "cancelled"})
    assert run.status == "completed", run.message
    weights = settings.artifacts_root / "models" / run_id / "export" / "model.safetensors"
    zeroed = {name: torch.zeros_like(t) for name, t in load_file(str(weights)).items()}
    save_file(zeroed, str(weights), metadata={"format": "pt"})
    return run_id


def _evaluated(api: TestClient, run_id: str) -> EvalPublic:
    body = {"corpus_path": CORPUS}
    assert api.post(f"/runs/{run_id}/evaluate", json=body).status_code == 202
    deadline = time.monotonic() + 300
    while True:
        result = EvalPublic.model_validate_json(api.get(f"/runs/{run_id}/eval").content)
        if result.status in ("completed", "failed", "cancelled"):
            assert result.status == "completed", result.error
            return result
        assert time.monotonic() < deadline, f"{result.status}: {result.message}"
        time.sleep(0.3)


def test_a_uniform_model_scores_log2_of_its_vocabulary_per_token(
    api: TestClient, stack_settings: Settings
) -> None:
    run_id = _zeroed_run(api, stack_settings)
    export = stack_settings.artifacts_root / "models" / run_id / "export"
    vocab = _Config.model_validate_json((export / "config.json").read_bytes()).vocab_size
    metrics = _evaluated(api, run_id).metrics
    assert metrics is not None and metrics.bits_per_byte is not None
    size = len(TEXT.encode("utf-8"))
    assert metrics.tokens == len(TEXT) and size > len(TEXT)  # one token per character
    assert math.isclose(metrics.loss, math.log(vocab), rel_tol=1e-6), (metrics.loss, vocab)
    expected = len(TEXT) * math.log2(vocab) / size
    assert math.isclose(metrics.bits_per_byte, expected, rel_tol=1e-6), (metrics, expected)
    run = RunPublic.model_validate_json(api.get(f"/runs/{run_id}").content)
    assert run.eval is not None and run.eval.bits_per_byte == metrics.bits_per_byte
