"""The parts of fine-tuning that need no stack: the request's rules, the memory estimate of
a LoRA run, a folder's tokenizer registered once, and a LoRA checkpoint holding only what
trains."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch
from pydantic import ValidationError
from tokenizers import Tokenizer, models, pre_tokenizers, trainers

from model_trainer.core.contracts.model import Architecture
from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.jobs.layout import ArtifactLayout
from model_trainer.plugins.gpt2 import Gpt2Backend
from model_trainer.tokenizers.imported import import_tokenizer
from model_trainer.tokenizers.registry import discover_tokenizers
from model_trainer.training.config import FinetuneSpec, RunConfig
from model_trainer.training.loop.lora import LoraAdapter, LoraSettings
from model_trainer.training.loop.torch_state import LoadedState, save_state
from model_trainer.training.run.budget import step_memory

ARCH = Architecture(
    family="gpt2", n_layer=2, n_head=2, n_embd=64, max_seq_len=32, vocab_size=100, dropout=0.0
)


def test_the_request_rules() -> None:
    data = '"data": {"corpus_path": "a.txt"'
    with pytest.raises(ValidationError, match="tokenizer_id is required"):
        RunConfig.model_validate_json("{" + data + "}}")
    with pytest.raises(ValidationError, match="needs model.init_from"):
        RunConfig.model_validate_json(
            "{" + data + ', "tokenizer_id": "tok-1"}, "finetune": {"method": "lora"}}'
        )
    with pytest.raises(ValidationError, match="exactly one of run_id and path"):
        RunConfig.model_validate_json('{"model": {"init_from": {}}, ' + data + "}}")
    with pytest.raises(ValidationError, match="need method 'lora'"):
        FinetuneSpec.model_validate_json('{"export_adapter": true}')
    ok = RunConfig.model_validate_json('{"model": {"init_from": {"path": "m"}}, ' + data + "}}")
    assert ok.data.tokenizer_id is None and ok.finetune.method == "full"


def test_a_lora_run_counts_frozen_weights_at_four_bytes() -> None:
    backend = Gpt2Backend()
    full = step_memory(ARCH, backend, 4)
    lora = step_memory(ARCH, backend, 4, lora_parameters=1000)
    base = backend.parameter_count(ARCH)
    assert full.state_bytes == 16 * base
    assert lora.parameters == base + 1000 and lora.state_bytes == 4 * base + 16 * 1000
    assert lora.activation_bytes == full.activation_bytes


def _folder(path: Path) -> Path:
    tokenizer = Tokenizer(models.BPE())
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.pre_tokenizer = byte_level
    specials: list[str] = ["<|endoftext|>"]
    trainer = trainers.BpeTrainer(
        vocab_size=280, special_tokens=specials, initial_alphabet=byte_level.alphabet()
    )
    lines: list[str] = ["the king and queen"] * 20
    tokenizer.train_from_iterator(lines, trainer)
    path.mkdir(parents=True)
    tokenizer.save(str(path / "tokenizer.json"))
    return path


def test_a_folders_tokenizer_is_registered_once(tmp_path: Path) -> None:
    layout, registry = ArtifactLayout(tmp_path / "artifacts"), discover_tokenizers({})
    first = import_tokenizer(layout, registry, _folder(tmp_path / "a"), "a")
    assert first.config.method == "hf" and first.stats is not None
    assert first.imported_from is not None and first.imported_from.path == "a"
    handle = registry.get("hf").load(layout.tokenizer(first.tokenizer_id).path)
    assert handle.encode_batch(["the king"])[0]
    again = import_tokenizer(layout, registry, _folder(tmp_path / "b"), "b")
    assert again.tokenizer_id == first.tokenizer_id  # the same tokenizer.json
    with pytest.raises(AppError) as refused:
        import_tokenizer(layout, registry, tmp_path, "empty")
    assert refused.value.code is ErrorCode.DATA_INVALID


def test_a_lora_checkpoint_holds_the_adapters_alone(tmp_path: Path) -> None:
    backend = Gpt2Backend()
    model = backend.build(ARCH).module
    adapter = LoraAdapter.attach(model, LoraSettings(2, 4, 0.0, ["c_attn"]))
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert adapter.trainable_parameters() == 2 * 2 * (64 + 192)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad])
    buffer = io.BytesIO()
    save_state(buffer, model, optimizer, torch.zeros(1), {}, trainable_only=True)
    (tmp_path / "last.pt").write_bytes(buffer.getvalue())
    other = backend.build(ARCH).module
    LoraAdapter.attach(other, LoraSettings(2, 4, 0.0, ["c_attn"]))
    LoadedState(tmp_path / "last.pt").load_model(other, trainable_only=True)
    for name, value in other.named_parameters():
        if name in trainable:
            assert torch.equal(value, dict(model.named_parameters())[name])
    wider = backend.build(ARCH).module
    LoraAdapter.attach(wider, LoraSettings(2, 4, 0.0, ["c_attn", "c_fc"]))
    with pytest.raises(AppError) as refused:
        LoadedState(tmp_path / "last.pt").load_model(wider, trainable_only=True)
    assert refused.value.code is ErrorCode.CHECKPOINT_MISMATCH
    with pytest.raises(AppError) as unknown:
        LoraAdapter.attach(backend.build(ARCH).module, LoraSettings(2, 4, 0.0, ["nope"]))
    assert unknown.value.message.startswith("finetune.target_modules")
