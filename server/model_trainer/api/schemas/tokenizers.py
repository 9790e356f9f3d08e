"""`/tokenizers` bodies: TokenizerCreate in, TokenizerPublic out."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from model_trainer.core.job_status import JobStatus
from model_trainer.core.request_model import RequestModel
from model_trainer.orchestrators.queue_place import QueuePlace
from model_trainer.orchestrators.tokenizers import TokenizerView
from model_trainer.tokenizers.manifest import (
    CorpusInfo,
    Durations,
    TokenizerTrainConfig,
)
from model_trainer.tokenizers.stats import TokenizerStats

TokenizerCreate = TokenizerTrainConfig


class TokenizerQueued(BaseModel):
    """The answer to a training request: the id to poll."""

    model_config = ConfigDict(extra="forbid")

    tokenizer_id: str
    status: JobStatus


class TokenizerPublic(BaseModel):
    """One tokenizer: its status, stats once trained, and why it failed if it did."""

    model_config = ConfigDict(extra="forbid")

    tokenizer_id: str
    status: JobStatus
    method: str
    config: TokenizerTrainConfig
    stats: TokenizerStats | None
    message: str | None
    error_code: str | None
    failure_class: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    last_heartbeat: float | None
    corpus: CorpusInfo | None
    files: list[str]
    durations: Durations
    name: Annotated[
        str | None,
        Field(description="The tokenizer's current name (`config` keeps the submitted)"),
    ]
    notes: Annotated[str | None, Field(description="The tokenizer's current notes")]
    tags: Annotated[list[str], Field(description="The tokenizer's current tags")]
    queue: Annotated[
        QueuePlace | None,
        Field(description="Its place in the queue while it waits for a worker (else null)"),
    ] = None

    @classmethod
    def from_view(cls, view: TokenizerView) -> TokenizerPublic:
        m = view.manifest
        return cls(
            tokenizer_id=m.tokenizer_id,
            status=m.status,
            method=m.config.method,
            config=m.config,
            stats=m.stats,
            message=view.message,
            error_code=m.error.code if m.error else None,
            failure_class=str(m.error.failure_class) if m.error else None,
            created_at=m.created_at,
            started_at=m.started_at,
            finished_at=m.finished_at,
            last_heartbeat=view.heartbeat,
            corpus=m.corpus,
            files=m.files,
            durations=m.durations,
            name=view.labels.name,
            notes=view.labels.notes,
            tags=view.labels.tags,
            queue=view.queue,
        )


class TokenizersPublic(BaseModel):
    """A page of tokenizers, newest first (those the filters pick)."""

    model_config = ConfigDict(extra="forbid")

    data: list[TokenizerPublic]
    count: int


class EncodeRequest(RequestModel):
    """Text to encode."""

    model_config = ConfigDict(extra="forbid")

    text: Annotated[str, Field(max_length=1_000_000)]


class EncodePublic(BaseModel):
    """Token ids and the token strings they stand for."""

    model_config = ConfigDict(extra="forbid")

    tokenizer_id: str
    ids: list[int]
    tokens: list[str]
    count: int
