"""Fine-tuning through the real stack: a tiny GPT-2 trained on one corpus, then trained
further on another, every weight or LoRA adapters; a Hugging Face folder under MODELS_ROOT
fine-tuned; and what such requests may not ask for."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from transformers import GPT2Config, GPT2LMHeadModel

from model_trainer.api.schemas.common import ErrorBody
from model_trainer.api.schemas.runs import (
    EvalPublic,
    EvalQueued,
    MetricsPublic,
    RunPublic,
    RunQueued,
)
from model_trainer.api.schemas.tokenizers import (
    EncodePublic,
    TokenizerPublic,
    TokenizerQueued,
)
from model_trainer.cli.run_report import run_rows
from model_trainer.client.views import RunView
from model_trainer.core.settings import Settings
from model_trainer.plugins.llama import LORA_TARGETS

from .conftest import WORDS, model_folder_tokenizer, trained_tokenizer

pytestmark = pytest.mark.timeout(600)

SHAPE = {"family": "gpt2", "n_layer": 2, "n_head": 4, "n_embd": 128, "max_seq_len": 32}
TRAINER = {
    "batch_size": 8,
    "eval_interval": 50,
    "eval_steps": 4,
    "checkpoint_interval": 50,
    "log_interval": 10,
    "warmup_steps": 10,
    "precision": "fp32",
    "seed": 5,
}
CORPUS_B = "finetune-b.txt"


def _reversed_story(lines: int) -> str:
    """Text unlike `story`'s, from the same characters: its words spelled backwards, in
    another order, lower case."""
    out: list[str] = []
    for i in range(lines):
        n = 4 + i % 6
        words = [WORDS[(i * 7 + j * 3) % len(WORDS)][::-1] for j in range(n)]
        out.append(" ".join(words) + ".")
    return "\n".join(out) + "\n"


def _wait(api: TestClient, run_id: str, timeout: float = 300) -> RunPublic:
    deadline = time.monotonic() + timeout
    while True:
        run = RunPublic.model_validate_json(api.get(f"/runs/{run_id}").content)
        if run.status in ("completed", "failed", "cancelled"):
            assert run.status == "completed", run.message
            return run
        assert time.monotonic() < deadline, f"run stuck in {run.status}: {run.message}"
        time.sleep(0.2)


def _train(api: TestClient, body: dict[str, object]) -> RunPublic:
    response = api.post("/runs/train", json=body)
    assert response.status_code == 202, response.text
    return _wait(api, RunQueued.model_validate_json(response.content).run_id)


def _refusal(api: TestClient, body: dict[str, object]) -> tuple[int, ErrorBody]:
    response = api.post("/runs/train", json=body)
    return response.status_code, ErrorBody.model_validate_json(response.content)


def _evals(api: TestClient, run_id: str) -> list[float]:
    metrics = MetricsPublic.model_validate_json(api.get(f"/runs/{run_id}/metrics").content)
    return [m.val_loss for m in metrics.data if m.kind == "eval" and m.val_loss is not None]


@pytest.fixture(scope="module")
def corpus_b(stack_settings: Settings) -> str:
    (stack_settings.corpus_root / CORPUS_B).write_text(_reversed_story(1200), encoding="utf-8")
    return CORPUS_B


@pytest.fixture(scope="module")
def char_tokenizer(api: TestClient) -> str:
    body = {"method": "char", "vocab_size": 100, "min_frequency": 1, "corpus_path": "story.txt"}
    view = trained_tokenizer(api, body)
    assert view.status == "completed", view.message
    return view.tokenizer_id


@pytest.fixture(scope="module")
def base_run(api: TestClient, char_tokenizer: str) -> str:
    """A tiny GPT-2 trained on corpus A (`story.txt`)."""
    body: dict[str, object] = {
        "model": SHAPE,
        "data": {"tokenizer_id": char_tokenizer, "corpus_path": "story.txt"},
        "trainer": TRAINER | {"max_steps": 200, "learning_rate": 3e-3},
    }
    return _train(api, body).run_id


@pytest.fixture(scope="module")
def base_loss_on_b(api: TestClient, base_run: str, corpus_b: str) -> float:
    """The base model's loss on the whole of corpus B, from the evaluation endpoint."""
    body: dict[str, str] = {"corpus_path": corpus_b}
    queued = api.post(f"/runs/{base_run}/evaluate", json=body)
    assert queued.status_code == 202, queued.text
    EvalQueued.model_validate_json(queued.content)
    deadline = time.monotonic() + 120
    while True:
        result = EvalPublic.model_validate_json(api.get(f"/runs/{base_run}/eval").content)
        if result.status in ("completed", "failed"):
            assert result.metrics is not None, result.message
            return result.metrics.loss
        assert time.monotonic() < deadline
        time.sleep(0.2)


def _finetune(base_run: str, corpus_b: str, finetune: dict[str, object]) -> dict[str, object]:
    return {
        "model": {"init_from": {"run_id": base_run}},
        "data": {"corpus_path": corpus_b, "holdout_strategy": "tail"},
        "trainer": TRAINER | {"max_steps": 100, "learning_rate": 3e-3},
        "finetune": finetune,
    }


def test_full_finetune_lowers_the_loss_on_the_new_corpus(
    api: TestClient, base_run: str, corpus_b: str, base_loss_on_b: float
) -> None:
    run = _train(api, _finetune(base_run, corpus_b, {"method": "full"}))
    base = RunPublic.model_validate_json(api.get(f"/runs/{base_run}").content)
    assert run.finetune is not None and run.finetune.method == "full"
    assert run.finetune.origin.run_id == base_run and run.finetune.origin.weights_sha256
    assert run.finetune.trainable_parameters == run.parameters == base.parameters
    assert run.tokenizer.tokenizer_id == base.tokenizer.tokenizer_id
    assert run.config.data.tokenizer_id == base.tokenizer.tokenizer_id  # recorded as used
    losses = _evals(api, run.run_id)
    print(f"full: base on B {base_loss_on_b:.4f}; val {losses[0]:.4f} -> {losses[-1]:.4f}")
    assert losses[-1] < losses[0] - 0.1 and losses[-1] < base_loss_on_b - 0.1


def test_lora_trains_few_parameters_and_exports_merged_and_alone(
    api: TestClient,
    base_run: str,
    corpus_b: str,
    base_loss_on_b: float,
    stack_settings: Settings,
) -> None:
    spec = {"method": "lora", "rank": 2, "alpha": 16, "export_adapter": True}
    run = _train(api, _finetune(base_run, corpus_b, spec))
    ft = run.finetune
    assert ft is not None and ft.method == "lora" and ft.lora is not None
    assert ft.lora.target_modules == ["c_attn", "c_proj", "c_fc"]  # GPT-2's defaults
    share = ft.trainable_parameters / run.parameters
    losses = _evals(api, run.run_id)
    print(
        f"lora: {ft.trainable_parameters:,} of {run.parameters:,} parameters train "
        f"({share:.2%}); base on B {base_loss_on_b:.4f}; val {losses[0]:.4f} -> {losses[-1]:.4f}"
    )
    assert share < 0.05
    assert losses[-1] < losses[0] - 0.1 and losses[-1] < base_loss_on_b - 0.1
    assert "export/adapter/adapter_config.json" in run.artifacts
    root = stack_settings.artifacts_root / "models"
    _load_in_fresh_process(root / base_run / "export", root / run.run_id / "export")


LOAD = """
import sys, torch
from peft import PeftModel
from transformers import AutoModelForCausalLM
base_dir, export_dir = sys.argv[1], sys.argv[2]
merged = AutoModelForCausalLM.from_pretrained(export_dir, local_files_only=True).eval()
base = AutoModelForCausalLM.from_pretrained(base_dir, local_files_only=True)
adapted = PeftModel.from_pretrained(base, export_dir + "/adapter").eval()
ids = torch.arange(1, 25).unsqueeze(0) % 30 + 1  # within the 32 positions
with torch.no_grad():
    a, b = merged(input_ids=ids).logits, adapted(input_ids=ids).logits
assert torch.allclose(a, b, atol=1e-4), (a - b).abs().max()
print("loaded", type(merged).__name__, type(adapted).__name__)
"""


def _load_in_fresh_process(base_export: Path, export: Path) -> None:
    """The merged export with `AutoModelForCausalLM`, and the base with the adapters through
    `PeftModel.from_pretrained`, in a new interpreter: both give the same logits."""
    done = subprocess.run(
        [sys.executable, "-c", LOAD, str(base_export), str(export)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "loaded GPT2LMHeadModel PeftModel" in done.stdout


def _hf_folder(folder: Path, text: str) -> None:
    """What people have: `save_pretrained` of a tiny GPT-2 and a BPE `tokenizer.json`."""
    tokenizer = model_folder_tokenizer(folder, text)
    config = GPT2Config(
        vocab_size=tokenizer.get_vocab_size(),
        n_positions=128,
        n_embd=64,
        n_layer=2,
        n_head=2,
        bos_token_id=0,
        eos_token_id=0,
    )
    GPT2LMHeadModel(config).save_pretrained(str(folder))


def test_a_folder_under_models_root_fine_tunes_with_its_tokenizer(
    api: TestClient, stack_settings: Settings, corpus_b: str
) -> None:
    text = (stack_settings.corpus_root / corpus_b).read_text(encoding="utf-8")
    _hf_folder(stack_settings.models_root / "people" / "tiny-gpt2", text)
    body: dict[str, object] = {
        "model": {"init_from": {"path": "people/tiny-gpt2"}, "max_seq_len": 24},
        "data": {"corpus_path": corpus_b},
        "trainer": TRAINER | {"max_steps": 20, "eval_interval": 20},
        "finetune": {"method": "lora", "rank": 4},
    }
    run = _train(api, body)
    assert run.finetune is not None and run.finetune.origin.path == "people/tiny-gpt2"
    assert run.finetune.origin.model_type == "gpt2"
    assert run.architecture.max_seq_len == 24 and run.architecture.n_embd == 64
    tokenizer_id = run.tokenizer.tokenizer_id
    tok = TokenizerPublic.model_validate_json(api.get(f"/tokenizers/{tokenizer_id}").content)
    assert tok.status == "completed" and tok.method == "hf"
    listed = api.get("/tokenizers").text
    assert tokenizer_id in listed  # listed with the others
    text_body: dict[str, str] = {"text": "eht gnik"}
    encoded = api.post(f"/tokenizers/{tokenizer_id}/encode", json=text_body)
    assert encoded.status_code == 200, encoded.text
    assert EncodePublic.model_validate_json(encoded.content).count > 0
    # The same folder again: its tokenizer is the one registered, and naming it is fine.
    body["data"] = {"corpus_path": corpus_b, "tokenizer_id": tokenizer_id}
    again = _train(api, body)
    assert again.tokenizer.tokenizer_id == tokenizer_id


def test_what_a_finetune_may_not_ask(
    api: TestClient,
    stack_settings: Settings,
    base_run: str,
    char_tokenizer: str,
    corpus_b: str,
) -> None:
    weird = stack_settings.models_root / "weird"
    weird.mkdir(parents=True, exist_ok=True)
    (weird / "config.json").write_text('{"model_type": "mamba-ish"}', encoding="utf-8")
    data: dict[str, object] = {"corpus_path": corpus_b}
    status, error = _refusal(api, {"model": {"init_from": {"path": "weird"}}, "data": data})
    assert (status, error.code) == (422, "UNKNOWN_BACKEND") and "mamba-ish" in error.message
    status, error = _refusal(api, {"model": {"init_from": {"path": "../corpus"}}, "data": data})
    assert (status, error.code) == (400, "PATH_OUTSIDE_ROOT"), error.message
    _numbers_of_a_folder_are_checked(api, stack_settings, data)
    other = _other_tokenizer(api)
    mismatched = {"corpus_path": corpus_b, "tokenizer_id": other}
    status, error = _refusal(
        api, {"model": {"init_from": {"run_id": base_run}}, "data": mismatched}
    )
    assert (status, error.code) == (422, "TOKENIZER_MISMATCH"), error.message
    assert char_tokenizer in error.message
    deeper = {"init_from": {"run_id": base_run}, "n_layer": 4}
    status, error = _refusal(api, {"model": deeper, "data": data})
    assert (status, error.code) == (422, "CONFIG_INVALID")
    assert error.message.startswith("model.n_layer"), error.message
    assert error.request_id
    longer = {"init_from": {"run_id": base_run}, "max_seq_len": 64}
    status, error = _refusal(api, {"model": longer, "data": data})
    assert (status, error.code) == (422, "CONFIG_INVALID") and "model.max_seq_len" in error.message
    lora_alone: dict[str, object] = {
        "data": {"tokenizer_id": char_tokenizer, **data},
        "finetune": {"method": "lora"},
    }
    status, error = _refusal(api, lora_alone)
    assert (status, error.code) == (422, "CONFIG_INVALID"), error.message


HOSTILE_CONFIGS = {
    "no-heads": ('"n_head": 0, "n_embd": 64, "vocab_size": 50', "model.n_head"),
    "deep": ('"n_head": 2, "n_layer": 100000000, "n_embd": 64, "vocab_size": 50', "model.n_layer"),
    "negative-vocab": ('"n_head": 2, "n_embd": 64, "vocab_size": -5', "vocab_size -5"),
}
"""config.json numbers that would divide by zero, allocate forever or index backwards."""


def _numbers_of_a_folder_are_checked(
    api: TestClient, settings: Settings, data: dict[str, object]
) -> None:
    for name, (fields, named) in HOSTILE_CONFIGS.items():
        folder = settings.models_root / name
        folder.mkdir(parents=True, exist_ok=True)
        config = '{"model_type": "gpt2", "n_layer": 2, "n_positions": 64, ' + fields + "}"
        # later keys win in JSON objects as Python reads them, so "deep" overrides n_layer
        (folder / "config.json").write_text(config, encoding="utf-8")
        body = {"model": {"init_from": {"path": name}}, "data": data}
        status, error = _refusal(api, body)
        assert (status, error.code) == (400, "DATA_INVALID"), error.message
        assert named in error.message and name in error.message


def _other_tokenizer(api: TestClient) -> str:
    body = {"method": "char", "vocab_size": 90, "min_frequency": 1, "corpus_path": CORPUS_B}
    response = api.post("/tokenizers/train", json=body)
    assert response.status_code == 202, response.text
    return TokenizerQueued.model_validate_json(response.content).tokenizer_id


LLAMA = {
    "family": "llama",
    "n_layer": 2,
    "n_head": 4,
    "n_embd": 64,
    "max_seq_len": 32,
    "options": {"n_kv_head": 2},
}


def test_a_llama_export_fine_tunes_with_lora_and_runs_show_names_its_lineage(
    api: TestClient, char_tokenizer: str, corpus_b: str
) -> None:
    """The fine-tune path for a rotary family, end to end: a tiny Llama trained on corpus A,
    then LoRA on its own default targets (every projection) on corpus B, lowering B's val
    loss; `runs show` says where the weights came from and what of them trained."""
    base = _train(
        api,
        {
            "model": LLAMA,
            "data": {"tokenizer_id": char_tokenizer, "corpus_path": "story.txt"},
            "trainer": TRAINER | {"max_steps": 100, "learning_rate": 3e-3},
        },
    )
    spec = {"method": "lora", "rank": 2, "alpha": 16}
    run = _train(api, _finetune(base.run_id, corpus_b, spec))
    ft = run.finetune
    assert run.architecture.family == "llama" and ft is not None and ft.lora is not None
    assert ft.origin.run_id == base.run_id and ft.origin.weights_sha256
    assert ft.lora.target_modules == LORA_TARGETS
    assert ft.trainable_parameters / run.parameters < 0.05
    losses = _evals(api, run.run_id)
    assert losses[-1] < losses[0] - 0.1
    shown = RunView.model_validate_json(api.get(f"/runs/{run.run_id}").content)
    rows = {name: str(value) for name, value in run_rows(shown)}
    assert rows["from"].startswith(f"run {base.run_id} (llama, sha256 ")
    assert rows["trains"].startswith("lora, ") and "rank 2, alpha 16, q_proj" in rows["trains"]
