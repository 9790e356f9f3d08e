"""The tokenizer backend contract and the typed values that cross it."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from model_trainer.core.json_types import JsonObject
from model_trainer.core.logging import Log


class TokenizerMethod(StrEnum):
    """The methods this package ships; plugins add others by name (any string)."""

    BPE = "bpe"
    SENTENCEPIECE = "sentencepiece"
    CHAR = "char"


DEFAULT_MIN_FREQUENCY = 2
"""How often a token must be seen to be kept, where a method counts and nobody said."""


class TokenizerConfig(BaseModel):
    """What to train: the method, the knobs every method shares, and the method's own
    options (already checked by its `options_model`). `min_frequency` is None where the
    method does not use it (its `check` says so), or where nobody asked for a value."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: str
    vocab_size: Annotated[int, Field(ge=2)]
    min_frequency: Annotated[int, Field(ge=1)] | None = DEFAULT_MIN_FREQUENCY
    options: JsonObject = {}
    special_tokens: list[str] = []

    def applied_min_frequency(self) -> int:
        """The `min_frequency` a method that counts applies (the default for None)."""
        return DEFAULT_MIN_FREQUENCY if self.min_frequency is None else self.min_frequency

    def with_min_frequency(self, min_frequency: int | None) -> TokenizerConfig:
        """The same config with another `min_frequency` (None: the method does not use one)."""
        return TokenizerConfig(
            method=self.method,
            vocab_size=self.vocab_size,
            min_frequency=min_frequency,
            options=self.options,
            special_tokens=self.special_tokens,
        )


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
    """What a loaded tokenizer says about itself: its size, its unknown token's id, and its
    special tokens (each a token of the vocabulary, named as `id_to_token` names it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    vocab_size: int
    unk_id: int | None
    special_tokens: list[str]


@runtime_checkable
class TokenizerHandle(Protocol):
    """A loaded tokenizer, ready to encode and decode."""

    def info(self) -> TokenizerInfo: ...

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        """The ids of each text on its own, with no special tokens added."""
        ...

    def encode_continuations(self, texts: list[str]) -> list[list[int]]:
        """The ids of each text as the rest of a longer text cut just after a line end,
        where a non-blank character precedes the line end and another starts the text:
        `encode_batch([a + b])[0] == encode_batch([a])[0] + encode_continuations([b])[0]`
        for such a cut. A corpus is encoded in pieces cut that way where the text allows
        (the first with `encode_batch`, the rest with this), so the token stream does not
        depend on where the pieces end. A tokenizer that marks the start of a text (SentencePiece's
        leading `▁`, a prefix space) leaves the mark out here; one that does not, and
        whose tokens never span a line end, returns `encode_batch(texts)`."""
        ...

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

    def check(self, config: TokenizerConfig) -> TokenizerConfig:
        """Refuse, when a request arrives, what `train` could not do: raise
        `AppError(ErrorCode.CONFIG_INVALID, "<field>: ...")` naming the request's field (a
        `vocab_size` below the tokens the method always has, ...). Return the config as
        `train` will apply it, which the manifest records: a default filled in, and None
        for `min_frequency` if the method does not use it. `options` already passed
        `options_model`."""
        ...

    def train(self, config: TokenizerConfig, request: TokenizerTrainRequest) -> TokenizerArtifact:
        """Train on `request.train_file` and write the standard files into `request.out_dir`
        (`config` is what `check` returned). Special tokens take the lowest ids, from 0,
        before anything learned: the end-of-text token (which `export_hf` names as eos) and
        the unknown token, each if the method has one; `inspect` lists them."""
        ...

    def load(self, artifact_dir: Path) -> TokenizerHandle: ...

    def export_hf(
        self, artifact_dir: Path, options: JsonObject, out_dir: Path, max_len: int
    ) -> list[str]:
        """Write what `AutoTokenizer` loads (`tokenizer.json`, `tokenizer_config.json`) for
        the tokenizer trained with `options` into `out_dir`; returns the file names. The
        config names `bos_token`, `eos_token` and `pad_token` (and `unk_token` if there is
        one), each a special token of the trained tokenizer with the same id there and in
        the export: a run's export reads their ids back (`exported_special_tokens`) and
        the model family records them in `config.json` and `generation_config.json`, so
        generation stops at this tokenizer's end of text. A tokenizer with one document
        separator names it for all three."""
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


@runtime_checkable
class TrainingSaid(Protocol):
    """What a tokenizer plugin may add to `TokenizerBackend`: whether its method trains.
    A method that only registers tokenizers made elsewhere (`hf`, a model folder's) says
    False, and forms and `GET /backends` do not offer it for training; a plugin without
    `trains` trains."""

    def trains(self) -> bool: ...


def can_train(backend: TokenizerBackend) -> bool:
    """Whether `POST /tokenizers/train` may name the backend's method (see `TrainingSaid`)."""
    if not isinstance(backend, TrainingSaid):
        return True
    try:
        said: object = backend.trains()
    except Exception as exc:  # noqa: BLE001 - a plugin's own bug: logged, and not offered
        Log("core").warning(
            "plugin_trains_failed",
            plugin=type(backend).__name__,
            error=f"{type(exc).__name__}: {exc}",
        )
        return False
    return said is not False


TOKENIZER_METHODS = (
    "name",
    "options_model",
    "check",
    "train",
    "load",
    "export_hf",
    "inspect",
    "encode",
    "decode",
)
"""What a tokenizer plugin must have, named when one lacks some."""
