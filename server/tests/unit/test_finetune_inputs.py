"""What a fine-tuning run reads from outside and must not trust: a folder's `config.json`
(numbers that overflow, shapes the family does not model, a config changed between start and
resume), LoRA targets whose weights are tied, and the worker's peak-FLOPs child failing or
hanging."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch
from pydantic import TypeAdapter

from model_trainer.core.contracts.model import Architecture
from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.json_types import JsonObject
from model_trainer.core.logging import configure_logging
from model_trainer.core.settings import Settings
from model_trainer.jobs.layout import ModelFolder
from model_trainer.plugin_hf import config_float
from model_trainer.plugins.gpt2 import Gpt2Backend
from model_trainer.plugins.llama import LlamaBackend
from model_trainer.plugins.qwen2 import Qwen2Backend
from model_trainer.training.config import FinetuneMethod
from model_trainer.training.loop import peak
from model_trainer.training.loop.lora import LoraSettings, lora_parameter_count
from model_trainer.training.run.finetune import check_weights
from model_trainer.training.run.manifest import FinetuneInfo, WeightsOrigin
from model_trainer.worker import main as worker_main

CONFIG: TypeAdapter[JsonObject] = TypeAdapter(JsonObject)
GPT2 = Architecture(
    family="gpt2", n_layer=2, n_head=2, n_embd=64, max_seq_len=32, vocab_size=100, dropout=0.0
)

GPT2_HF: JsonObject = {
    "model_type": "gpt2",
    "n_layer": 2,
    "n_head": 2,
    "n_embd": 64,
    "n_positions": 32,
    "vocab_size": 100,
    "n_inner": None,
    "resid_pdrop": 0.1,
}
"""As Hugging Face's `gpt2/config.json` writes it (an MLP width of null: 4 x n_embd)."""

LLAMA_HF: JsonObject = {
    "model_type": "llama",
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "hidden_size": 64,
    "intermediate_size": 128,
    "max_position_embeddings": 64,
    "vocab_size": 100,
    "head_dim": 16,
    "attention_bias": False,
    "mlp_bias": False,
    "rope_scaling": None,
    "rope_theta": 10000.0,
    "tie_word_embeddings": False,
}
"""As an ordinary Llama checkpoint (TinyLlama, Llama 3.2 without scaling) writes it."""


def _refused(config: JsonObject, backend: Gpt2Backend | LlamaBackend, key: str) -> None:
    with pytest.raises(AppError) as refused:
        backend.architecture_of(config)
    assert refused.value.code is ErrorCode.CONFIG_INVALID
    assert f"'{key}'" in refused.value.message


def test_a_number_too_large_for_a_float_is_refused_naming_its_key() -> None:
    huge = CONFIG.validate_json('{"resid_pdrop": 1' + "0" * 400 + "}")
    with pytest.raises(AppError) as refused:
        config_float(huge, "resid_pdrop", 0.0)
    assert refused.value.code is ErrorCode.CONFIG_INVALID
    assert "'resid_pdrop'" in refused.value.message
    _refused(GPT2_HF | huge, Gpt2Backend(), "resid_pdrop")
    _refused(LLAMA_HF | {"rms_norm_eps": 10**400}, LlamaBackend(), "rms_norm_eps")
    assert config_float({"x": 3}, "x", 0.0) == 3.0
    assert config_float({}, "x", 0.5) == 0.5


def test_ordinary_checkpoints_of_the_modelled_shapes_are_read() -> None:
    gpt2 = Gpt2Backend().architecture_of(GPT2_HF)
    assert gpt2 is not None and gpt2.n_embd == 64
    assert Gpt2Backend().architecture_of(GPT2_HF | {"n_inner": 256}) is not None
    llama = LlamaBackend().architecture_of(LLAMA_HF)
    assert llama is not None and llama.options["n_kv_head"] == 2
    v5 = {k: v for k, v in LLAMA_HF.items() if k not in ("rope_scaling", "rope_theta")}
    v5["rope_parameters"] = {"rope_type": "default", "rope_theta": 500000.0}
    assert LlamaBackend().architecture_of(v5) is not None
    qwen2 = LLAMA_HF | {"model_type": "qwen2", "use_sliding_window": False}
    assert Qwen2Backend().architecture_of(qwen2) is not None


def test_shapes_the_family_does_not_model_are_refused_naming_the_key() -> None:
    _refused(GPT2_HF | {"n_inner": 4096}, Gpt2Backend(), "n_inner")
    _refused(GPT2_HF | {"tie_word_embeddings": False}, Gpt2Backend(), "tie_word_embeddings")
    _refused(GPT2_HF | {"add_cross_attention": True}, Gpt2Backend(), "add_cross_attention")
    llama = LlamaBackend()
    _refused(LLAMA_HF | {"head_dim": 32}, llama, "head_dim")
    _refused(LLAMA_HF | {"attention_bias": True}, llama, "attention_bias")
    _refused(LLAMA_HF | {"mlp_bias": True}, llama, "mlp_bias")
    scaled: JsonObject = {"rope_type": "llama3", "factor": 8.0}
    _refused(LLAMA_HF | {"rope_scaling": scaled}, llama, "rope_type")
    _refused(LLAMA_HF | {"rope_scaling": {"type": "linear", "factor": 2.0}}, llama, "rope_type")
    linear: JsonObject = {"rope_type": "linear", "factor": 2.0, "rope_theta": 10000.0}
    _refused(LLAMA_HF | {"rope_parameters": linear}, llama, "rope_type")
    qwen2 = LLAMA_HF | {"model_type": "qwen2", "head_dim": 8}
    with pytest.raises(AppError, match="'head_dim'"):
        Qwen2Backend().architecture_of(qwen2)


def _lora_count(backend: Gpt2Backend | LlamaBackend, arch: Architecture, targets: list[str]) -> int:
    with torch.device("meta"):  # as admission counts them
        return lora_parameter_count(backend.build(arch).module, LoraSettings(2, 4, 0.0, targets))


@pytest.mark.parametrize("targets", [["lm_head"], ["wte"], ["c_attn", "wte"]])
def test_lora_refuses_gpt2s_tied_embeddings(targets: list[str]) -> None:
    with pytest.raises(AppError) as refused:
        _lora_count(Gpt2Backend(), GPT2, targets)
    assert refused.value.code is ErrorCode.CONFIG_INVALID
    assert refused.value.message.startswith("finetune.target_modules")
    assert "tied" in refused.value.message


def test_lora_refuses_llamas_embeddings_only_when_tied() -> None:
    def arch(tied: bool) -> Architecture:
        options: JsonObject = {"tie_word_embeddings": tied}
        return Architecture(
            family="llama",
            n_layer=2,
            n_head=2,
            n_embd=64,
            max_seq_len=32,
            vocab_size=100,
            dropout=0.0,
            options=options,
        )

    for target in ("lm_head", "embed_tokens"):
        with pytest.raises(AppError, match=r"finetune\.target_modules: "):
            _lora_count(LlamaBackend(), arch(True), [target])
        assert _lora_count(LlamaBackend(), arch(False), [target]) > 0
    assert _lora_count(LlamaBackend(), arch(True), ["q_proj"]) > 0
    assert _lora_count(Gpt2Backend(), GPT2, ["c_attn", "wpe"]) > 0


def _folder(tmp_path: Path, config: JsonObject) -> ModelFolder:
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "model.safetensors").write_bytes(b"weights")
    return ModelFolder(tmp_path)


def _info(origin: WeightsOrigin) -> FinetuneInfo:
    return FinetuneInfo(origin=origin, method=FinetuneMethod.FULL, trainable_parameters=1)


def test_a_resume_refuses_a_changed_config_as_changed_weights(tmp_path: Path) -> None:
    folder = _folder(tmp_path, GPT2_HF)
    info = _info(WeightsOrigin(path="m", model_type="gpt2"))
    check_weights(folder, info)
    assert info.origin.weights_files == ["config.json", "model.safetensors"]
    assert info.origin.weights_sha256 is not None
    check_weights(folder, info)  # unchanged: resumes
    _folder(tmp_path, GPT2_HF | {"n_inner": 4096})
    with pytest.raises(AppError) as refused:
        check_weights(folder, info)
    assert refused.value.code is ErrorCode.CHECKPOINT_MISMATCH
    _folder(tmp_path, GPT2_HF)
    (tmp_path / "model.safetensors").write_bytes(b"other weights")
    with pytest.raises(AppError) as again:
        check_weights(folder, info)
    assert again.value.code is ErrorCode.CHECKPOINT_MISMATCH


def test_a_run_recorded_before_the_config_was_hashed_resumes_as_then(tmp_path: Path) -> None:
    import hashlib

    folder = _folder(tmp_path, GPT2_HF)
    old = WeightsOrigin(
        path="m",
        model_type="gpt2",
        weights_files=["model.safetensors"],
        weights_sha256=hashlib.sha256(b"weights").hexdigest(),
    )
    check_weights(folder, _info(old))  # the weights alone, as that run recorded them


def _field(err: str, event: str, key: str) -> str:
    """`key` of the first JSON log line on stderr that records `event`."""
    for line in err.splitlines():
        record = CONFIG.validate_json(line) if line.startswith("{") else {}
        value = record.get(key)
        if record.get("event") == event and isinstance(value, str):
            return value
    raise AssertionError(f"no {event} with a {key} in {err!r}")


def _fail(cache: Path, threads: int) -> dict[str, float]:
    raise RuntimeError(f"no peak for {cache.name} on {threads} threads")


def _hang(cache: Path, threads: int) -> dict[str, float]:
    time.sleep(600)
    return {}


def test_a_failing_peak_child_logs_why_and_the_worker_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    configure_logging("INFO", "test")
    settings = Settings(artifacts_root=tmp_path)
    monkeypatch.setattr(peak, "measure_for_worker", _fail)
    assert worker_main._measure_peaks(settings) == {}
    err = capfd.readouterr().err
    assert "RuntimeError: no peak for" in _field(err, "peak_flops_measure_failed", "error")
    assert "Traceback" in _field(err, "peak_flops_measure_failed", "exception")
    assert "status 1" in _field(err, "peak_flops_not_measured", "reason")


def test_a_hung_peak_child_is_killed_after_the_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    configure_logging("INFO", "test")
    settings = Settings(artifacts_root=tmp_path)
    monkeypatch.setattr(peak, "measure_for_worker", _hang)
    started = time.monotonic()
    assert worker_main._measure_peaks(settings, timeout_s=1.0) == {}
    assert time.monotonic() - started < 30
    reason = _field(capfd.readouterr().err, "peak_flops_not_measured", "reason")
    assert "did not answer within 1 s" in reason
