"""What a tokenizer job was asked to do and what it produced, as stored in `manifest.json`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from model_trainer.core.contracts.tokenizer import DEFAULT_MIN_FREQUENCY, TokenizerConfig
from model_trainer.core.job_status import JobError, JobStatus
from model_trainer.core.json_types import JsonObject
from model_trainer.core.request_model import MAX_TOKEN_ID, PLUGIN_NAME
from model_trainer.jobs.labels import LabelName, LabelNotes, LabelTags
from model_trainer.jobs.manifest import ManifestFile
from model_trainer.tokenizers.records import CorpusText
from model_trainer.tokenizers.stats import TokenizerStats


class TokenizerTrainConfig(CorpusText):
    """A request to train a tokenizer (the body of `POST /tokenizers/train`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: Annotated[
        str,
        Field(
            pattern=PLUGIN_NAME,
            description="A tokenizer plugin's name (`GET /backends`), e.g. bpe, sentencepiece",
        ),
    ]
    vocab_size: Annotated[
        int, Field(ge=2, le=MAX_TOKEN_ID, description="Largest vocabulary to build.")
    ]
    min_frequency: Annotated[
        int | None,
        Field(
            ge=1,
            le=MAX_TOKEN_ID,
            description="Fewest occurrences for a token to be kept, for methods that count "
            "(null: the default, 2); recorded as null for a method that does not use it.",
        ),
    ] = DEFAULT_MIN_FREQUENCY
    corpus_path: Annotated[str, Field(min_length=1, max_length=1024)]
    holdout_fraction: Annotated[float, Field(ge=0.0, le=0.5)] = 0.1
    seed: Annotated[int, Field(ge=0, le=2**32 - 1)] = 42
    options: Annotated[
        JsonObject,
        Field(description="The method's own options, as its schema in `GET /backends` says"),
    ] = {}
    name: Annotated[LabelName | None, Field(description="What people call the tokenizer")] = None
    notes: LabelNotes | None = None
    tags: LabelTags = []

    def with_options(self, options: JsonObject) -> TokenizerTrainConfig:
        """The same request with its options as the method's model checked and filled them."""
        return TokenizerTrainConfig(
            method=self.method,
            vocab_size=self.vocab_size,
            min_frequency=self.min_frequency,
            corpus_path=self.corpus_path,
            holdout_fraction=self.holdout_fraction,
            seed=self.seed,
            options=options,
            text_field=self.text_field,
            text_template=self.text_template,
            min_length=self.min_length,
            name=self.name,
            notes=self.notes,
            tags=self.tags,
        )

    def as_applied(self, applied: TokenizerConfig) -> TokenizerTrainConfig:
        """The same request with what the method's `check` says it will apply."""
        return TokenizerTrainConfig(
            method=self.method,
            vocab_size=applied.vocab_size,
            min_frequency=applied.min_frequency,
            corpus_path=self.corpus_path,
            holdout_fraction=self.holdout_fraction,
            seed=self.seed,
            options=applied.options,
            text_field=self.text_field,
            text_template=self.text_template,
            min_length=self.min_length,
            name=self.name,
            notes=self.notes,
            tags=self.tags,
        )

    def backend_config(self) -> TokenizerConfig:
        return TokenizerConfig(
            method=self.method,
            vocab_size=self.vocab_size,
            min_frequency=self.min_frequency,
            options=self.options,
        )


class CorpusInfo(BaseModel):
    """The text a tokenizer was trained on, identified by content hash."""

    model_config = ConfigDict(extra="forbid")

    path: str
    files: list[str]
    bytes: int
    sha256: str
    train_lines: int
    holdout_lines: int
    train_records: int | None = None
    """Records of structured files (None when the corpus is plain text only)."""
    holdout_records: int | None = None


class Durations(BaseModel):
    """Seconds spent in each phase of the job."""

    model_config = ConfigDict(extra="forbid")

    split_s: float = 0.0
    train_s: float = 0.0
    stats_s: float = 0.0
    total_s: float = 0.0


class ImportedFrom(BaseModel):
    """A tokenizer that came with a model folder under `MODELS_ROOT` rather than trained."""

    model_config = ConfigDict(extra="forbid")

    path: str
    """The model folder, relative to `MODELS_ROOT`."""
    sha256: str
    """Of its `tokenizer.json`: a folder with the same tokenizer reuses this record."""


class TokenizerManifest(BaseModel):
    """The durable record of one tokenizer; rewritten atomically at each state change."""

    model_config = ConfigDict(extra="forbid")

    tokenizer_id: str
    status: JobStatus
    config: TokenizerTrainConfig
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    backend: str | None = None
    threads: int | None = None
    corpus: CorpusInfo | None = None
    stats: TokenizerStats | None = None
    files: list[str] = []
    main_file: str | None = None
    durations: Durations = Durations()
    versions: dict[str, str] = {}
    error: JobError | None = None
    imported_from: ImportedFrom | None = None


_JSON_OBJECT: TypeAdapter[JsonObject] = TypeAdapter(JsonObject)


def _upgraded(raw: str) -> JsonObject:
    """A manifest from before method options: `config.model_type` became
    `config.options.model_type`, so tokenizers trained then stay usable."""
    try:
        stored = _JSON_OBJECT.validate_json(raw)
    except ValidationError:
        return {}
    config = stored.get("config")
    if isinstance(config, dict) and "model_type" in config:
        model_type = config.pop("model_type")
        if model_type is not None:
            config["options"] = {"model_type": model_type}
    return stored


TOKENIZER_MANIFESTS = ManifestFile(TokenizerManifest, upgrade=_upgraded)
"""Reads and writes `tokenizers/<id>/manifest.json`, older versions included."""
