"""`/backends` bodies: every installed tokenizer and model plugin, working or not."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from model_trainer.core.contracts.model import ModelSize as NamedSize
from model_trainer.core.json_types import JsonObject
from model_trainer.infra.plugins import PluginRecord, PluginStatus


class ModelSize(BaseModel):
    """A named size of a model family: its shape and, where the size sets them, its context,
    dropout and family options (a request's own values win; its options merge over these)."""

    model_config = ConfigDict(extra="forbid")

    n_layer: int
    n_head: int
    n_embd: int
    max_seq_len: int | None = None
    dropout: float | None = None
    options: JsonObject = {}

    @classmethod
    def of(cls, size: NamedSize) -> ModelSize:
        return cls(
            n_layer=size.n_layer,
            n_head=size.n_head,
            n_embd=size.n_embd,
            max_seq_len=size.max_seq_len,
            dropout=size.dropout,
            options=size.options,
        )


class BackendPublic(BaseModel):
    """One plugin: where it comes from, whether it works (and why not), its named sizes
    (models) and the JSON schema of its `options`, from which forms are built."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["tokenizer", "model"]
    name: str
    distribution: str
    version: str
    status: PluginStatus
    reason: str | None
    sizes: dict[str, ModelSize] | None
    options_schema: JsonObject | None
    trains: Annotated[
        bool,
        Field(
            description="Whether a training request may name it (once it works, see "
            "`status`): false for a tokenizer method that only registers tokenizers made "
            "elsewhere (`hf`: a model folder's, which a fine-tune brings)"
        ),
    ]
    passed_over: list[str]
    """Other distributions that provide this name and lost to `PLUGINS__PREFER`."""

    @classmethod
    def from_record(
        cls,
        kind: Literal["tokenizer", "model"],
        record: PluginRecord,
        sizes: dict[str, ModelSize],
        trains: bool,
    ) -> BackendPublic:
        return cls(
            kind=kind,
            name=record.name,
            distribution=record.distribution,
            version=record.version,
            status=record.status,
            reason=record.reason,
            sizes=sizes if kind == "model" else None,
            options_schema=record.options_schema,
            trains=trains,
            passed_over=record.passed_over,
        )


class BackendsPublic(BaseModel):
    """Tokenizer plugins, then model plugins, each by name."""

    model_config = ConfigDict(extra="forbid")

    data: list[BackendPublic]
    count: int
