"""The example plugin package through the real stack: listed, trained, exported, refused; and
the built-in families beside it in the listing."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel

from model_trainer.api.schemas.backends import BackendPublic, BackendsPublic, ModelSize
from model_trainer.api.schemas.common import ErrorBody
from model_trainer.api.schemas.runs import RunPublic, RunQueued
from model_trainer.api.schemas.tokenizers import TokenizerPublic, TokenizerQueued
from model_trainer.core.json_types import JsonObject
from model_trainer.core.settings import Settings

pytestmark = pytest.mark.timeout(300)

EXAMPLE_DISTRIBUTION = "model-trainer-extras"
NEOX = {
    "family": "gpt_neox",
    "size": "nano-lean",  # sets `intermediate_size`, kept under the request's options
    "n_layer": 1,
    "n_head": 2,
    "n_embd": 32,
    "max_seq_len": 32,
    "dropout": 0.0,
    "options": {"rotary_pct": 0.5, "use_parallel_residual": False},
}
NEW_TOKENS = 5
GENERATE = (
    "import json, sys\nfrom transformers import AutoModelForCausalLM, AutoTokenizer\n"
    "m = AutoModelForCausalLM.from_pretrained(sys.argv[1], local_files_only=True)\n"
    "t = AutoTokenizer.from_pretrained(sys.argv[1], local_files_only=True)\n"
    "ids = t('The king', return_tensors='pt').input_ids\n"
    "n = int(sys.argv[2])\n"
    "out = m.generate(ids, max_new_tokens=n, min_new_tokens=n, do_sample=False)\n"
    "print(json.dumps({'model': type(m).__name__, 'prompt': ids.shape[1],\n"
    "                  'total': out.shape[1], 'text': t.decode(out[0])}))\n"
)


class Generated(BaseModel):
    """What the child process printed after generating from the export."""

    model: str
    prompt: int
    total: int
    text: str


def _tokenizer_body(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "method": "wordpiece",
        "vocab_size": 300,
        "min_frequency": 1,
        "corpus_path": "story.txt",
        "holdout_fraction": 0.1,
        "seed": 3,
        "options": {"lowercase": False},
    }
    return base | overrides


def _run_body(tokenizer_id: str, model: dict[str, object]) -> dict[str, object]:
    return {
        "model": model,
        "data": {"tokenizer_id": tokenizer_id, "corpus_path": "story.txt"},
        "trainer": {
            "max_steps": 10,
            "batch_size": 4,
            "eval_interval": 10,
            "eval_steps": 2,
            "checkpoint_interval": 10,
            "log_interval": 5,
            "warmup_steps": 2,
        },
    }


def _error(api: TestClient, path: str, body: dict[str, object]) -> ErrorBody:
    response = api.post(path, json=body)
    assert response.status_code == 422, response.text
    return ErrorBody.model_validate_json(response.content)


def _backend(listing: BackendsPublic, kind: str, name: str) -> BackendPublic:
    return next(b for b in listing.data if b.kind == kind and b.name == name)


def _properties(backend: BackendPublic) -> set[str]:
    """The option names in a plugin's options schema."""
    assert backend.options_schema is not None
    properties = backend.options_schema.get("properties")
    assert isinstance(properties, dict)
    return set(properties)


def test_backends_lists_the_example_plugins(api: TestClient) -> None:
    listing = BackendsPublic.model_validate_json(api.get("/backends").content)
    wordpiece = _backend(listing, "tokenizer", "wordpiece")
    neox = _backend(listing, "model", "gpt_neox")
    for backend in (wordpiece, neox):
        assert backend.status == "ok" and backend.reason is None
        assert backend.distribution == EXAMPLE_DISTRIBUTION and backend.version == "0.1.0"
    assert _properties(wordpiece) == {"lowercase", "continuing_subword_prefix"}
    assert _properties(neox) == {"rotary_pct", "use_parallel_residual", "intermediate_size"}
    assert neox.sizes is not None
    assert neox.sizes["nano"] == ModelSize(n_layer=4, n_head=4, n_embd=128)
    lean = ModelSize(n_layer=4, n_head=4, n_embd=128, options={"intermediate_size": 256})
    assert neox.sizes["nano-lean"] == lean
    assert set(neox.sizes) == {"nano", "nano-lean", "tiny", "small"}


def test_backends_lists_the_built_in_rotary_families(api: TestClient) -> None:
    listing = BackendsPublic.model_validate_json(api.get("/backends").content)
    shared = {"n_kv_head", "intermediate_size", "rope_theta", "tie_word_embeddings", "rms_norm_eps"}
    for name in ("llama", "qwen2"):
        family = _backend(listing, "model", name)
        assert family.status == "ok" and family.distribution == "model-trainer"
        assert _properties(family) == shared
        assert family.sizes is not None and set(family.sizes) == {"nano", "tiny", "mini", "small"}
        nano: JsonObject = {"n_kv_head": 2, "intermediate_size": 384}
        assert family.sizes["nano"] == ModelSize(n_layer=4, n_head=4, n_embd=128, options=nano)
        assert (family.sizes["small"].n_layer, family.sizes["small"].n_embd) == (12, 768)


def test_unknown_method_and_options_are_refused(api: TestClient) -> None:
    unknown = _error(api, "/tokenizers/train", _tokenizer_body(method="nope"))
    assert unknown.code == "UNKNOWN_BACKEND"
    assert all(n in unknown.message for n in ("bpe", "char", "sentencepiece", "wordpiece"))
    bad = _error(api, "/tokenizers/train", _tokenizer_body(options={"casefold": True}))
    assert bad.code == "CONFIG_INVALID" and "options.casefold" in bad.message


def _wait_tokenizer(api: TestClient, tokenizer_id: str) -> TokenizerPublic:
    deadline = time.monotonic() + 120
    while True:
        view = TokenizerPublic.model_validate_json(api.get(f"/tokenizers/{tokenizer_id}").content)
        if view.status in ("completed", "failed"):
            return view
        assert time.monotonic() < deadline
        time.sleep(0.2)


def _wait_run(api: TestClient, run_id: str) -> RunPublic:
    deadline = time.monotonic() + 180
    while True:
        run = RunPublic.model_validate_json(api.get(f"/runs/{run_id}").content)
        if run.status in ("completed", "failed", "cancelled"):
            return run
        assert time.monotonic() < deadline, f"run stuck in {run.status}: {run.message}"
        time.sleep(0.2)


def test_wordpiece_and_gpt_neox_train_and_export_for_transformers(
    api: TestClient, stack_settings: Settings
) -> None:
    response = api.post("/tokenizers/train", json=_tokenizer_body())
    assert response.status_code == 202, response.text
    tokenizer_id = TokenizerQueued.model_validate_json(response.content).tokenizer_id
    tokenizer = _wait_tokenizer(api, tokenizer_id)
    assert tokenizer.status == "completed", tokenizer.message

    bad = _error(api, "/runs/train", _run_body(tokenizer_id, NEOX | {"options": {"bogus": 1}}))
    assert bad.code == "CONFIG_INVALID" and "model.options.bogus" in bad.message

    response = api.post("/runs/train", json=_run_body(tokenizer_id, NEOX))
    assert response.status_code == 202, response.text
    run = _wait_run(api, RunQueued.model_validate_json(response.content).run_id)
    assert run.status == "completed", run.message
    assert run.architecture.family == "gpt_neox" and run.progress.step == 10
    # The request's options, over the size's (`nano-lean` sets `intermediate_size`).
    merged = {"rotary_pct": 0.5, "use_parallel_residual": False, "intermediate_size": 256}
    assert run.architecture.options == merged

    export = stack_settings.artifacts_root / "models" / run.run_id / "export"
    done = subprocess.run(
        [sys.executable, "-c", GENERATE, str(export), str(NEW_TOKENS)],
        capture_output=True,
        text=True,
        env=os.environ | {"HF_HUB_OFFLINE": "1"},
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-800:]
    generated = Generated.model_validate_json(done.stdout.strip().splitlines()[-1])
    assert generated.model == "GPTNeoXForCausalLM"
    assert generated.total == generated.prompt + NEW_TOKENS
    assert generated.text.startswith("The king")
