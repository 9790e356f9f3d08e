"""Text UTF-8 cannot hold (a file name's bytes that are not UTF-8, which Python reads as lone
surrogates) never crashes a record: writing it is one clear failure, and a failure quoting
it is recorded in words that manifests and Redis can hold."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from model_trainer.core.contracts.events import utc_now
from model_trainer.core.errors import AppError, ErrorCode, FailureClass
from model_trainer.core.job_status import JobStatus
from model_trainer.infra.atomic import write_json, write_model
from model_trainer.infra.job_state import JobStateStore
from model_trainer.infra.redis_store import RedisStore
from model_trainer.jobs.endings import JobEndings
from model_trainer.jobs.layout import ArtifactLayout
from model_trainer.tokenizers.kind import TokenizerKind
from model_trainer.tokenizers.manifest import TokenizerManifest, TokenizerTrainConfig

NAME = "caf\udce9.txt"
"""How Python reads the Latin-1 name b'caf\\xe9.txt'."""


class Inputs(BaseModel):
    corpus: str
    files: list[str]


def test_a_record_that_cannot_be_utf8_is_bad_input_naming_where(tmp_path: Path) -> None:
    with pytest.raises(AppError) as caught:
        write_model(tmp_path / "manifest.json", Inputs(corpus="old", files=["a.txt", NAME]))
    error = caught.value
    assert (error.code, error.failure_class) == (ErrorCode.DATA_INVALID, FailureClass.USER_INPUT)
    assert error.message.startswith("cannot write manifest.json: ") and "in files" in error.message
    error.message.encode("utf-8")  # the message itself can be recorded
    with pytest.raises(AppError) as json_caught:
        write_json(tmp_path / "config.json", {"files": [NAME]})
    assert "near '" in json_caught.value.message and "caf\\xe9.txt" in json_caught.value.message
    assert list(tmp_path.iterdir()) == []  # nothing half-written


class StrictStore(RedisStore):
    """Keeps values in a dict, refusing what Redis's client cannot encode, as it does."""

    def __init__(self) -> None:
        super().__init__("redis://127.0.0.1:1/0")
        self.values: dict[str, str] = {}

    def set_many(self, values: dict[str, str]) -> None:
        for key, value in values.items():
            value.encode("utf-8")
            self.values[key] = value

    def set_add(self, key: str, member: str) -> None:
        pass

    def set_remove(self, key: str, member: str) -> None:
        pass


def test_a_failure_quoting_such_a_name_is_recorded_once(tmp_path: Path) -> None:
    store = StrictStore()
    kind = TokenizerKind(ArtifactLayout(tmp_path), JobStateStore(store, "tokenizers"))
    config = TokenizerTrainConfig(method="char", vocab_size=10, corpus_path="old")
    manifest = TokenizerManifest(
        tokenizer_id="tok-1", status=JobStatus.RUNNING, config=config, created_at=utc_now()
    )
    failure = AppError(ErrorCode.CORPUS_NOT_UTF8, f"corpus file '{NAME}' is not valid UTF-8")
    JobEndings(kind).fail(manifest, failure, kind.log("tok-1"))
    recorded = kind.read("tok-1")
    assert recorded is not None and recorded.error is not None
    assert recorded.status is JobStatus.FAILED
    assert recorded.error.message == "corpus file 'caf\\xe9.txt' is not valid UTF-8"
    assert store.values["tokenizers:msg:tok-1"] == recorded.error.message
    assert store.values["tokenizers:status:tok-1"] == "failed"
