"""Evaluation figures through the real stack: bits per byte (checked against a plain
computation with the exported model), document lengths, samples at each evaluation during
training, regressions against a baseline run, and early stopping."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from fastapi.testclient import TestClient

from model_trainer.api.schemas.common import ErrorBody
from model_trainer.api.schemas.runs import (
    EvalPublic,
    MetricsPublic,
    RunPublic,
    RunQueued,
    SamplesPublic,
)
from model_trainer.core.settings import Settings
from model_trainer.plugins.gpt2 import Gpt2Backend
from model_trainer.training.loop.checkpoint import BEST, LAST, Checkpointer

from .conftest import trained_tokenizer

pytestmark = pytest.mark.timeout(600)

MODEL = {"family": "gpt2", "n_layer": 1, "n_head": 2, "n_embd": 32, "max_seq_len": 32}
BLOCK = 32
# Characters of two and three bytes: bits per byte must divide by bytes, not characters.
LINES = [
    f"Line {i}: the café by the river — naïve friends met, {i * 7 % 13} times." for i in range(40)
]
TEXT = "\n".join(LINES) + "\n"


def _trainer(steps: int, **extra: object) -> dict[str, object]:
    return {
        "max_steps": steps,
        "batch_size": 4,
        "eval_interval": 20,
        "eval_steps": 2,
        "checkpoint_interval": 20,
        "log_interval": 5,
        "warmup_steps": 5,
        "compile": "off",
        **extra,
    }


def _submit(api: TestClient, tokenizer_id: str, trainer: dict[str, object], **top: object) -> str:
    data = {"tokenizer_id": tokenizer_id, "corpus_path": "story.txt", "holdout_strategy": "tail"}
    body = {"model": MODEL, "data": data, "trainer": trainer, **top}
    response = api.post("/runs/train", json=body)
    assert response.status_code == 202, response.text
    return RunQueued.model_validate_json(response.content).run_id


def _ended(api: TestClient, run_id: str) -> RunPublic:
    deadline = time.monotonic() + 400
    while True:
        run = RunPublic.model_validate_json(api.get(f"/runs/{run_id}").content)
        if run.status in ("completed", "failed", "cancelled"):
            return run
        assert time.monotonic() < deadline, f"run stuck in {run.status}: {run.message}"
        time.sleep(0.3)


def _evaluated(api: TestClient, run_id: str, body: dict[str, str]) -> EvalPublic:
    assert api.post(f"/runs/{run_id}/evaluate", json=body).status_code == 202
    deadline = time.monotonic() + 300
    while True:
        result = EvalPublic.model_validate_json(api.get(f"/runs/{run_id}/eval").content)
        if result.status in ("completed", "failed", "cancelled"):
            assert result.status == "completed", result.error
            return result
        assert time.monotonic() < deadline, f"{result.status}: {result.message}"
        time.sleep(0.3)


@pytest.fixture(scope="module")
def bpe(api: TestClient) -> str:
    body = {
        "method": "bpe",
        "vocab_size": 300,
        "min_frequency": 1,
        "corpus_path": "story.txt",
        "holdout_fraction": 0.1,
        "seed": 3,
    }
    view = trained_tokenizer(api, body)
    assert view.status == "completed", view.message
    return view.tokenizer_id


@pytest.fixture(scope="module")
def baseline(api: TestClient, bpe: str) -> RunPublic:
    """A run that trained longer than the one compared with it."""
    run = _ended(api, _submit(api, bpe, _trainer(60)))
    assert run.status == "completed", run.message
    return run


@pytest.fixture(scope="module")
def compared(api: TestClient, bpe: str, baseline: RunPublic) -> RunPublic:
    run_id = _submit(api, bpe, _trainer(20), baseline_run_id=baseline.run_id)
    run = _ended(api, run_id)
    assert run.status == "completed", run.message
    return run


INDEPENDENT = """
import math, sys
import torch
from tokenizers import Tokenizer
from torch.nn import functional as F
from transformers import AutoModelForCausalLM

export, path, block = sys.argv[1], sys.argv[2], int(sys.argv[3])
text = open(path, encoding="utf-8").read()
tokens = Tokenizer.from_file(export + "/tokenizer.json").encode(text, add_special_tokens=False).ids
model = AutoModelForCausalLM.from_pretrained(export).eval()
count = (len(tokens) - 1) // block
nll, predicted = 0.0, 0
with torch.no_grad():
    for w in range(count):
        window = torch.tensor(tokens[w * block : w * block + block + 1])
        logits = model(input_ids=window[None, :-1]).logits[0].double()
        nll += float(F.cross_entropy(logits, window[1:], reduction="sum"))
        predicted += block
print(repr(nll / predicted * len(tokens) / (math.log(2) * len(text.encode("utf-8")))))
"""
"""The summed per-token loss of the exported model, through transformers alone (in another
process: its types are not checked here), over the windows the evaluation reads (non-
overlapping, `BLOCK` predictions each), as bits per UTF-8 byte of the text."""


def _independent_bits_per_byte(export: Path, corpus: Path) -> float:
    result = subprocess.run(
        [sys.executable, "-c", INDEPENDENT, str(export), str(corpus), str(BLOCK)],
        capture_output=True,
        text=True,
        env=os.environ | {"HF_HUB_OFFLINE": "1"},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-800:]
    return float(result.stdout.strip().splitlines()[-1])


def test_bits_per_byte_and_lengths_of_an_evaluated_corpus(
    api: TestClient, compared: RunPublic, stack_settings: Settings
) -> None:
    corpus = stack_settings.corpus_root / "figures.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    assert len(TEXT.encode("utf-8")) > len(TEXT)
    result = _evaluated(api, compared.run_id, {"corpus_path": "figures.txt"})
    metrics = result.metrics
    assert metrics is not None and metrics.bits_per_byte is not None
    export = stack_settings.artifacts_root / "models" / compared.run_id / "export"
    expected = _independent_bits_per_byte(export, corpus)
    assert math.isclose(metrics.bits_per_byte, expected, rel_tol=1e-6), (metrics, expected)
    again = _evaluated(api, compared.run_id, {"corpus_path": "figures.txt"})
    assert again.metrics is not None and again.metrics.bits_per_byte == metrics.bits_per_byte
    stats = metrics.length_stats
    assert stats is not None and stats.documents == len(LINES)
    assert math.isclose(stats.mean_tokens * stats.documents, metrics.tokens)
    assert 0 < stats.p50_tokens <= stats.p95_tokens <= stats.max_tokens
    assert math.isclose(stats.tokens_per_char, metrics.tokens / len(TEXT))
    assert metrics.sample_stats is not None and 0 < metrics.sample_stats.distinct_1 <= 1
    assert metrics.regressions == []  # the baseline has no evaluation of this corpus
    run = RunPublic.model_validate_json(api.get(f"/runs/{compared.run_id}").content)
    assert run.eval is not None and run.eval.bits_per_byte == metrics.bits_per_byte
    assert run.eval.length_stats == stats
    # transformers warns about the attention mask as the evaluation samples: the warning is
    # the service's (its stderr), not a line of the run's log
    run_log = (export.parent / "logs.jsonl").read_text(encoding="utf-8")
    assert "evaluation_started" in run_log and "attention_mask" not in run_log


def test_samples_at_each_evaluation_and_bits_per_byte_in_metrics(
    api: TestClient, baseline: RunPublic
) -> None:
    samples = SamplesPublic.model_validate_json(api.get(f"/runs/{baseline.run_id}/samples").content)
    assert [row.step for row in samples.data] == [0, 20, 40, 60] and samples.count == 4
    for row in samples.data:
        assert len(row.samples) == 3 and all(s.prompt and s.text for s in row.samples)
        assert 0 < row.distinct_1 <= 1 and 0 < row.distinct_2 <= 1 and 0 <= row.repetition < 1
    assert baseline.metrics.sample_stats == samples.data[-1].stats
    metrics = MetricsPublic.model_validate_json(api.get(f"/runs/{baseline.run_id}/metrics").content)
    evals = [m for m in metrics.data if m.kind == "eval"]
    assert evals and all(m.val_bits_per_byte and m.val_bits_per_byte > 0 for m in evals)
    final = baseline.metrics
    assert final.final_val_bits_per_byte is not None and final.final_val_loss is not None
    assert final.final_val_bits_per_byte == evals[-1].val_bits_per_byte
    missing = api.get("/runs/run-00000000000000000000000000/samples")
    assert missing.status_code == 404


def test_regressions_against_a_baseline_that_trained_longer(
    api: TestClient, baseline: RunPublic, compared: RunPublic, bpe: str
) -> None:
    figures = {r.figure: r for r in compared.metrics.regressions}
    assert "loss" in figures and "bits_per_byte" in figures, compared.metrics
    loss = figures["loss"]
    assert (loss.value, loss.baseline) == (
        compared.metrics.final_val_loss,
        baseline.metrics.final_val_loss,
    )
    assert loss.baseline_run_id == baseline.run_id
    result = _evaluated(api, compared.run_id, {"split": "val"})
    assert result.metrics is not None
    worse = {r.figure: r for r in result.metrics.regressions}
    assert {"loss", "perplexity", "bits_per_byte"} <= set(worse), result.metrics.regressions
    assert worse["loss"].baseline == baseline.metrics.final_val_loss
    body: dict[str, object] = {
        "model": MODEL,
        "data": {"tokenizer_id": bpe, "corpus_path": "story.txt"},
        "trainer": _trainer(10),
        "baseline_run_id": "run-00000000000000000000000000",
    }
    unknown = api.post("/runs/train", json=body)
    assert unknown.status_code == 404, unknown.text
    refusal = ErrorBody.model_validate_json(unknown.content)
    assert refusal.code == "NOT_FOUND" and "baseline_run_id" in refusal.message


def test_a_run_whose_val_loss_stops_improving_stops_early_and_exports_its_best(
    api: TestClient, bpe: str, stack_settings: Settings
) -> None:
    # No weight moves by a representable amount at this learning rate: val loss is flat.
    flat = _trainer(
        400,
        learning_rate=1e-12,
        min_lr=0.0,
        warmup_steps=0,
        eval_interval=10,
        checkpoint_interval=10,
        early_stopping_patience=2,
    )
    run = _ended(api, _submit(api, bpe, flat))
    assert run.status == "completed", run.message
    assert run.progress.step == 30
    stop = run.stopped_early
    assert stop is not None and (stop.patience, stop.best_step, stop.at_step) == (2, 10, 30)
    assert run.message == (
        f"stopped early: val loss did not improve for 2 evaluations "
        f"(best {stop.best_val_loss:.4f} at step 10)"
    )
    folder = stack_settings.artifacts_root / "models" / run.run_id
    exported = dict(Gpt2Backend().load(folder / "export").module.named_parameters())
    arch = run.architecture
    checkpoints = Checkpointer(folder / "checkpoints")
    best, last = Gpt2Backend().build(arch), Gpt2Backend().build(arch)
    checkpoints.load_weights(BEST, best, arch)
    checkpoints.load_weights(LAST, last, arch)
    best_state = dict(best.module.named_parameters())
    last_state = dict(last.module.named_parameters())
    assert all(torch.equal(exported[k], best_state[k]) for k in best_state)
    assert not all(torch.equal(exported[k], last_state[k]) for k in last_state)
