"""An export generates through a default `transformers` pipeline, within its context."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import torch
from pydantic import TypeAdapter
from transformers import pipeline, set_seed

from model_trainer.core.contracts.model import Architecture
from model_trainer.core.contracts.tokenizer import TokenizerConfig, TokenizerTrainRequest
from model_trainer.plugins.gpt2 import Gpt2Backend
from model_trainer.plugins.tokenizers.char import CharBackend

CONTEXT = 32
FIELDS: TypeAdapter[dict[str, object]] = TypeAdapter(dict[str, object])
PRINTABLE = "".join(chr(c) for c in range(32, 127))
TEXT = "".join(f"the cat sat on mat {i % 7}, then ran home. {PRINTABLE}\n" for i in range(50))
"""Many characters, so that a random model rarely samples the end of text and stops early."""


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("export")
    corpus, tok_dir, out = work / "train.txt", work / "tok", work / "export"
    corpus.write_text(TEXT, encoding="utf-8")
    tok_dir.mkdir()
    chars = CharBackend()
    artifact = chars.train(
        TokenizerConfig(method="char", vocab_size=128, min_frequency=1),
        TokenizerTrainRequest(train_file=corpus, out_dir=tok_dir, threads=1, seed=1),
    )
    arch = Architecture(
        family="gpt2",
        n_layer=1,
        n_head=2,
        n_embd=32,
        max_seq_len=CONTEXT,
        vocab_size=artifact.vocab_size,
        dropout=0.0,
    )
    torch.manual_seed(0)
    backend = Gpt2Backend()
    backend.export(backend.build(arch), arch, out)
    chars.export_hf(tok_dir, {}, out, CONTEXT)
    return out


def test_generation_config_keeps_the_library_defaults(export_dir: Path) -> None:
    config = FIELDS.validate_json((export_dir / "generation_config.json").read_bytes())
    assert "max_new_tokens" not in config and "do_sample" not in config, config
    assert config["max_length"] == CONTEXT
    tok_config = FIELDS.validate_json((export_dir / "tokenizer_config.json").read_bytes())
    assert tok_config["model_max_length"] == CONTEXT


def test_a_default_pipeline_call_stays_within_the_context(export_dir: Path) -> None:
    generator = pipeline("text-generation", model=str(export_dir))
    for seed in range(8):  # a random model: some samples run on past the context
        set_seed(seed)
        out = generator("the cat", return_tensors=True)
        assert len(out[0]["generated_token_ids"]) <= CONTEXT
    set_seed(0)
    text = generator("the cat")[0]["generated_text"]
    assert isinstance(text, str) and text.startswith("the cat")
    # A prompt longer than the context, cut to leave room for what is asked
    long = generator(TEXT[:200], truncation=True, max_new_tokens=8, handle_long_generation="hole")
    assert isinstance(long[0]["generated_text"], str)


@pytest.mark.parametrize(
    "name",
    [
        "model.safetensors",
        "config.json",
        "generation_config.json",
        "tokenizer.json",
        "tokenizer_config.json",
    ],
)
def test_exported_files_are_as_readable_as_ordinary_files(
    export_dir: Path, tmp_path: Path, name: str
) -> None:
    plain = tmp_path / "plain"
    plain.write_bytes(b"")
    assert _mode(export_dir / name) == _mode(plain)
