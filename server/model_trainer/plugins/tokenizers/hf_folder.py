"""The tokenizer of a Hugging Face model folder, as it came: `tokenizer.json` with its
`tokenizer_config.json`. A run that fine-tunes the folder's model registers it (method
`hf`); it is never trained here."""

from __future__ import annotations

import shutil
from pathlib import Path

from pydantic import BaseModel, TypeAdapter, ValidationError

from model_trainer.plugin import (
    TOKENIZER_CONFIG,
    TOKENIZER_JSON,
    AppError,
    ErrorCode,
    HandleMethods,
    HfTokenizerHandle,
    JsonObject,
    JsonValue,
    NoOptions,
    TokenizerArtifact,
    TokenizerConfig,
    TokenizerHandle,
    TokenizerTrainRequest,
    write_json,
    write_tokenizer_config,
)

SPECIAL_TOKENS_MAP = "special_tokens_map.json"
_CONFIG: TypeAdapter[JsonObject] = TypeAdapter(JsonObject)


def _stored_config(artifact_dir: Path) -> JsonObject:
    """The stored `tokenizer_config.json` ({} when the folder had none); one that is not a
    JSON object is refused, not read as empty (it was checked when the folder came in)."""
    path = artifact_dir / TOKENIZER_CONFIG
    if not path.is_file():
        return {}
    try:
        return _CONFIG.validate_json(path.read_bytes())
    except ValidationError:
        raise AppError(
            ErrorCode.DATA_INVALID, f"{TOKENIZER_CONFIG} of the tokenizer is not a JSON object"
        ) from None


def _token_text(value: JsonValue) -> str | None:
    """A special token as `tokenizer_config.json` gives it: text, or the AddedToken form
    `{"__type": "AddedToken", "content": "<unk>", ...}`."""
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else None


def _not_trained() -> AppError:
    return AppError(
        ErrorCode.CONFIG_INVALID,
        "method: 'hf' tokenizers come with a model folder a run fine-tunes; they are not "
        "trained (pick bpe, sentencepiece or char)",
    )


class HfFolderBackend(HandleMethods):
    """`TokenizerBackend` of a tokenizer that came with a model folder (`model.init_from`)."""

    def name(self) -> str:
        return "hf"

    def trains(self) -> bool:
        """Never: a run that fine-tunes a model folder registers the folder's tokenizer."""
        return False

    def options_model(self) -> type[BaseModel]:
        return NoOptions

    def check(self, config: TokenizerConfig) -> TokenizerConfig:
        raise _not_trained()

    def train(self, config: TokenizerConfig, request: TokenizerTrainRequest) -> TokenizerArtifact:
        raise _not_trained()

    def load(self, artifact_dir: Path) -> TokenizerHandle:
        unk = _token_text(_stored_config(artifact_dir).get("unk_token"))
        return HfTokenizerHandle.from_dir(artifact_dir, unk)

    def export_hf(
        self, artifact_dir: Path, options: JsonObject, out_dir: Path, max_len: int
    ) -> list[str]:
        """The files as they came, with `model_max_length` set to the run's context."""
        out_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(artifact_dir / TOKENIZER_JSON, out_dir / TOKENIZER_JSON)
        files = [TOKENIZER_JSON]
        if (artifact_dir / SPECIAL_TOKENS_MAP).is_file():
            shutil.copyfile(artifact_dir / SPECIAL_TOKENS_MAP, out_dir / SPECIAL_TOKENS_MAP)
            files.append(SPECIAL_TOKENS_MAP)
        stored = _stored_config(artifact_dir)
        if not stored:
            return [*files, write_tokenizer_config(out_dir, max_len, {})]
        write_json(out_dir / TOKENIZER_CONFIG, stored | {"model_max_length": max_len})
        return [*files, TOKENIZER_CONFIG]
