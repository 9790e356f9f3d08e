"""The tokenizer backend contract and the typed values that cross it."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field


class TokenizerMethod(StrEnum):
    """Tokenizer algorithms a backend may implement."""

    BPE = "bpe"
    SENTENCEPIECE = "sentencepiece"
    CHAR = "char"


SentencePieceModelType = Literal["unigram", "bpe"]


class TokenizerConfig(BaseModel):
    """What to train: the algorithm and its knobs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: TokenizerMethod
    vocab_size: Annotated[int, Field(ge=2)]
    min_frequency: Annotated[int, Field(ge=1)] = 2
    model_type: SentencePieceModelType | None = None
    special_tokens: list[str] = []


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
    """A plugin that trains and loads one family of tokenizers."""

    def name(self) -> str: ...

    def supported_methods(self) -> frozenset[TokenizerMethod]: ...

    def train(self, config: TokenizerConfig, request: TokenizerTrainRequest) -> TokenizerArtifact:
        """Train on `request.train_file` and write the standard files into `request.out_dir`."""
        ...

    def load(self, artifact_dir: Path) -> TokenizerHandle: ...

    def inspect(self, handle: TokenizerHandle) -> TokenizerInfo: ...

    def encode(self, handle: TokenizerHandle, text: str) -> list[int]: ...

    def decode(self, handle: TokenizerHandle, ids: list[int]) -> str: ...
