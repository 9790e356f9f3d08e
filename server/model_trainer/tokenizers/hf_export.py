"""Tokenizer files for a Hugging Face model folder, loadable by `AutoTokenizer` as is.

Each tokenizer plugin writes its own export; these are the pieces plugins share (through
`model_trainer.plugin`), and what a run reads back from an export. `tokenizer.json`
tokenizers are saved under a temporary name and renamed, and copied on export.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from pydantic import BaseModel, ConfigDict, TypeAdapter
from tokenizers import Tokenizer

from model_trainer.core.contracts.tokenizer import SpecialTokens, TokenizerArtifact
from model_trainer.core.json_types import JsonObject, JsonValue
from model_trainer.infra.atomic import move_into_place, write_json
from model_trainer.tokenizers.hf_handle import TOKENIZER_JSON

TOKENIZER_CONFIG = "tokenizer_config.json"


class NoOptions(BaseModel):
    """A method with no options of its own: `options` must be empty."""

    model_config = ConfigDict(extra="forbid")


def save_tokenizer_json(tokenizer: Tokenizer, out_dir: Path) -> TokenizerArtifact:
    """Save a trained `tokenizers.Tokenizer` as `out_dir/tokenizer.json` (under a temporary
    name, then renamed, so a crash leaves nothing that looks complete); the artifact a
    tokenizer plugin's `train` returns, its vocabulary counting the added tokens."""
    tmp = out_dir / f".{TOKENIZER_JSON}.tmp"
    tokenizer.save(str(tmp))
    move_into_place(tmp, out_dir / TOKENIZER_JSON)
    return TokenizerArtifact(
        main_file=TOKENIZER_JSON,
        files=[TOKENIZER_JSON],
        vocab_size=tokenizer.get_vocab_size(with_added_tokens=True),
    )


def write_tokenizer_config(out_dir: Path, max_len: int, specials: dict[str, str]) -> str:
    """`tokenizer_config.json` naming `PreTrainedTokenizerFast`, with the special tokens
    (`bos_token`, `eos_token`, ...) and `model_max_length`, so `truncation=True` works."""
    config: JsonObject = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": max_len,
        "clean_up_tokenization_spaces": False,
    }
    config |= dict(specials)
    write_json(out_dir / TOKENIZER_CONFIG, config)
    return TOKENIZER_CONFIG


def export_tokenizer_json(
    artifact_dir: Path, out_dir: Path, max_len: int, specials: dict[str, str]
) -> list[str]:
    """Copy a `tokenizer.json` tokenizer and write its config; returns the file names."""
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(artifact_dir / TOKENIZER_JSON, out_dir / TOKENIZER_JSON)
    return [TOKENIZER_JSON, write_tokenizer_config(out_dir, max_len, specials)]


_CONFIG: TypeAdapter[JsonObject] = TypeAdapter(JsonObject)


def special_token_text(value: JsonValue) -> str | None:
    """The text of a special token as `tokenizer_config.json` gives it: a string, or the
    AddedToken form `{"__type": "AddedToken", "content": "</s>", ...}` (or `{"content": ...}`)."""
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else None


def exported_special_tokens(out_dir: Path) -> SpecialTokens:
    """The ids of the bos, eos and pad tokens a tokenizer export names in its
    `tokenizer_config.json`, looked up in its `tokenizer.json` (what a model export records)."""
    config = _CONFIG.validate_json((out_dir / TOKENIZER_CONFIG).read_bytes())
    tokenizer = Tokenizer.from_file(str(out_dir / TOKENIZER_JSON))

    def id_of(key: str) -> int | None:
        token = special_token_text(config.get(key))
        return tokenizer.token_to_id(token) if token is not None else None

    return SpecialTokens(
        bos_id=id_of("bos_token"), eos_id=id_of("eos_token"), pad_id=id_of("pad_token")
    )
