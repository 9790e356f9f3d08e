"""A model folder's tokenizer registered as a completed `hf` tokenizer: refused whole when
its files are bad (nothing left behind), registered once under an id of its content even when
requests race, its special tokens read in the AddedToken form or from the model's configs,
and no symbolic link followed out of the folder."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers, trainers

from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.ids import validate_id
from model_trainer.core.json_types import JsonObject
from model_trainer.jobs.layout import ArtifactLayout
from model_trainer.tokenizers.hf_export import exported_special_tokens
from model_trainer.tokenizers.imported import import_tokenizer
from model_trainer.tokenizers.registry import TokenizerRegistry, discover_tokenizers

EOS = "<|endoftext|>"


def _json(value: JsonObject) -> str:
    return json.dumps(value)


def _tokenizer_json() -> str:
    tokenizer = Tokenizer(models.BPE())
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.pre_tokenizer = byte_level
    specials: list[str] = [EOS, "<s>"]
    trainer = trainers.BpeTrainer(
        vocab_size=280, special_tokens=specials, initial_alphabet=byte_level.alphabet()
    )
    lines: list[str] = ["the king and queen"] * 20
    tokenizer.train_from_iterator(lines, trainer)
    return tokenizer.to_str()


TOKENIZER_JSON = _tokenizer_json()


def _folder(path: Path, config: str | None = None, tokenizer: str = TOKENIZER_JSON) -> Path:
    path.mkdir(parents=True)
    (path / "tokenizer.json").write_text(tokenizer, encoding="utf-8")
    if config is not None:
        (path / "tokenizer_config.json").write_text(config, encoding="utf-8")
    return path


def _setup(tmp_path: Path) -> tuple[ArtifactLayout, TokenizerRegistry]:
    return ArtifactLayout(tmp_path / "artifacts"), discover_tokenizers({})


def _refused(layout: ArtifactLayout, registry: TokenizerRegistry, folder: Path) -> str:
    with pytest.raises(AppError) as refused:
        import_tokenizer(layout, registry, folder, folder.name)
    assert refused.value.code is ErrorCode.DATA_INVALID
    root = layout.tokenizers
    assert not (root.is_dir() and list(root.iterdir()))  # nothing left behind
    return refused.value.message


def test_a_bad_tokenizer_json_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    layout, registry = _setup(tmp_path)
    bad = '{"version": "1.0", "model": {"type": "Nope"}}'
    for _ in range(2):  # a retry adds nothing either
        message = _refused(layout, registry, _folder(tmp_path / "bad", tokenizer=bad))
        assert message.startswith("model.init_from: 'bad' tokenizer.json")
        (tmp_path / "bad" / "tokenizer.json").unlink()
        (tmp_path / "bad").rmdir()
    one = Tokenizer(models.WordLevel({"a": 0}, unk_token="a")).to_str()
    assert "at least 2" in _refused(layout, registry, _folder(tmp_path / "one", tokenizer=one))
    latin = _folder(tmp_path / "latin")
    (latin / "tokenizer.json").write_bytes(b"\xff")
    assert "not UTF-8" in _refused(layout, registry, latin)


def test_a_malformed_tokenizer_config_is_refused(tmp_path: Path) -> None:
    layout, registry = _setup(tmp_path)
    message = _refused(layout, registry, _folder(tmp_path / "m", config="{not json"))
    assert "tokenizer_config.json is not a JSON object" in message
    message = _refused(layout, registry, _folder(tmp_path / "n", config='{"eos_token": 3}'))
    assert "eos_token" in message


def test_the_id_comes_from_the_content_and_racers_share_it(tmp_path: Path) -> None:
    layout, registry = _setup(tmp_path)
    one = import_tokenizer(layout, registry, _folder(tmp_path / "a"), "a")
    assert validate_id(one.tokenizer_id, "tokenizer") == one.tokenizer_id
    assert import_tokenizer(layout, registry, _folder(tmp_path / "b"), "b") == one
    other = _folder(tmp_path / "c", config=_json({"eos_token": EOS}))
    assert import_tokenizer(layout, registry, other, "c").tokenizer_id != one.tokenizer_id
    racing = _folder(tmp_path / "d", config=_json({"eos_token": "<s>"}))
    found: list[str] = []
    start = threading.Barrier(8)

    def run() -> None:
        start.wait()
        found.append(import_tokenizer(layout, registry, racing, "d").tokenizer_id)

    threads = [threading.Thread(target=run) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(found)) == 1 and len(found) == 8
    assert sorted(p.name for p in layout.tokenizers.iterdir()) == sorted(
        {one.tokenizer_id, found[0], import_tokenizer(layout, registry, other, "c").tokenizer_id}
    )


def _exported(layout: ArtifactLayout, registry: TokenizerRegistry, folder: Path) -> Path:
    manifest = import_tokenizer(layout, registry, folder, folder.name)
    out = folder.parent / f"{folder.name}-export"
    registry.get("hf").export_hf(layout.tokenizer(manifest.tokenizer_id).path, {}, out, 64)
    return out


def test_special_tokens_in_the_added_token_form(tmp_path: Path) -> None:
    layout, registry = _setup(tmp_path)
    added: JsonObject = {"__type": "AddedToken", "content": EOS, "lstrip": False, "special": True}
    config = _json({"eos_token": added, "bos_token": {"content": "<s>"}})
    special = exported_special_tokens(_exported(layout, registry, _folder(tmp_path / "f", config)))
    tokenizer = Tokenizer.from_str(TOKENIZER_JSON)
    assert special.eos_id == tokenizer.token_to_id(EOS) is not None
    assert special.bos_id == tokenizer.token_to_id("<s>") is not None


def test_bos_and_eos_fall_back_to_the_model_configs(tmp_path: Path) -> None:
    layout, registry = _setup(tmp_path)
    tokenizer = Tokenizer.from_str(TOKENIZER_JSON)
    eos, bos = tokenizer.token_to_id(EOS), tokenizer.token_to_id("<s>")
    folder = _folder(tmp_path / "g", config=_json({"model_max_length": 8}))
    (folder / "generation_config.json").write_text(_json({"eos_token_id": [eos, 7]}))
    (folder / "config.json").write_text(_json({"bos_token_id": bos, "eos_token_id": 5}))
    special = exported_special_tokens(_exported(layout, registry, folder))
    assert (special.bos_id, special.eos_id) == (bos, eos)
    odd = _folder(tmp_path / "odd")
    (odd / "config.json").write_text(_json({"bos_token_id": -1, "eos_token_id": 2**40}))
    assert exported_special_tokens(_exported(layout, registry, odd)).eos_id is None
    bare = _folder(tmp_path / "h")
    (bare / "config.json").write_text(_json({"eos_token_id": eos}))
    assert exported_special_tokens(_exported(layout, registry, bare)).eos_id == eos


def test_symbolic_links_are_refused(tmp_path: Path) -> None:
    layout, registry = _setup(tmp_path)
    outside = _folder(tmp_path / "outside", config="{}")
    linked = tmp_path / "models" / "linked"
    linked.mkdir(parents=True)
    (linked / "tokenizer.json").symlink_to(outside / "tokenizer.json")
    assert "symbolic link" in _refused(layout, registry, linked)
    (linked / "tokenizer.json").unlink()
    (linked / "tokenizer.json").write_text(TOKENIZER_JSON, encoding="utf-8")
    (linked / "tokenizer_config.json").symlink_to(outside / "tokenizer_config.json")
    assert "tokenizer_config.json is a symbolic link" in _refused(layout, registry, linked)
