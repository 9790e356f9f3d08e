"""The tokenizer backend contract and the typed values that cross it."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from model_trainer.core.json_types import JsonObject


class TokenizerMethod(StrEnum):
    """The methods this package ships; plugins add others by name (any string)."""

    BPE = "bpe"
    SENTENCEPIECE = "sentencepiece"
    CHAR = "char"


class TokenizerConfig(BaseModel):
    """What to train: the method, the knobs every method shares, and the method's own
    options (already checked by its `options_model`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: str
    vocab_size: Annotated[int, Field(ge=2)]
    min_frequency: Annotated[int, Field(ge=1)] = 2
    options: JsonObject = {}
    special_tokens: list[str] = []


class SpecialTokens(BaseModel):
    """A tokenizer's special ids, which an export records so that generation stops
    and pads where the tokenizer does (None: the tokenizer has no such token)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bos_id: int | None = None
    eos_id: int | None = None
    pad_id: int | None = None


class TokenizerTrainRequest(BaseModel):
    """Where the training text is, where files go, and how many threads to use."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    train_file: Path
    out_dir: Path
    threads: Annotated[int, Field(ge=1)]
    seed: int


class TokenizerArtifact(BaseModel):
    """Files a backend wrote; `main_file` is the one its library loads."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    main_file: str
    files: list[str]
    vocab_size: int


class TokenizerInfo(BaseModel):
    """What a loaded tokenizer says about itself."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    vocab_size: int
    unk_id: int | None
    special_tokens: list[str]


@runtime_checkable
class TokenizerHandle(Protocol):
    """A loaded tokenizer, ready to encode and decode."""

    def info(self) -> TokenizerInfo: ...

    def encode_batch(self, texts: list[str]) -> list[list[int]]: ...

    def decode(self, ids: list[int]) -> str: ...

    def id_to_token(self, token_id: int) -> str: ...


@runtime_checkable
class TokenizerBackend(Protocol):
    """A plugin that trains, loads and exports one tokenizer method (its `name`)."""

    def name(self) -> str:
        """The method, as requests name it (the plugin's entry-point name)."""
        ...

    def options_model(self) -> type[BaseModel]:
        """The pydantic model (`extra="forbid"`) of this method's own `options`."""
        ...

    def train(self, config: TokenizerConfig, request: TokenizerTrainRequest) -> TokenizerArtifact:
        """Train on `request.train_file` and write the standard files into `request.out_dir`."""
        ...

    def load(self, artifact_dir: Path) -> TokenizerHandle: ...

    def export_hf(
        self, artifact_dir: Path, options: JsonObject, out_dir: Path, max_len: int
    ) -> list[str]:
        """Write what `AutoTokenizer` loads (`tokenizer.json`, `tokenizer_config.json`) for
        the tokenizer trained with `options` into `out_dir`; returns the file names."""
        ...

    def inspect(self, handle: TokenizerHandle) -> TokenizerInfo: ...

    def encode(self, handle: TokenizerHandle, text: str) -> list[int]: ...

    def decode(self, handle: TokenizerHandle, ids: list[int]) -> str: ...


class HandleMethods:
    """The contract's `inspect`, `encode` and `decode`, which only ask the handle; a backend
    inherits them unless it knows better."""

    def inspect(self, handle: TokenizerHandle) -> TokenizerInfo:
        return handle.info()

    def encode(self, handle: TokenizerHandle, text: str) -> list[int]:
        return handle.encode_batch([text])[0]

    def decode(self, handle: TokenizerHandle, ids: list[int]) -> str:
        return handle.decode(ids)


TOKENIZER_METHODS = (
    "name",
    "options_model",
    "train",
    "load",
    "export_hf",
    "inspect",
    "encode",
    "decode",
)
"""What a tokenizer plugin must have, named when one lacks some."""
