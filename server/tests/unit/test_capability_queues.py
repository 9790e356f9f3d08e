"""Queues by worker capability without a stack: how `WORKER__QUEUES` is read, what a worker
serves by default or refuses to serve, the queue names, and which queue a run goes on."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from pydantic_settings import SettingsError

from model_trainer.cli.failures import settings_problem
from model_trainer.core.contracts.queue import Capability
from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.settings import Settings, WorkerSettings
from model_trainer.infra.machine import served_capabilities
from model_trainer.infra.rq_queue import queue_name_for
from model_trainer.infra.workers import WorkerCapacity
from model_trainer.orchestrators.runs import run_capability
from model_trainer.training.config import DataSpec, ModelSpec, RunConfig, TrainerSpec


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("cpu", ["cpu"]),
        ("cuda", ["cuda"]),
        ("cpu,cuda", ["cpu", "cuda"]),
        (" cuda , cpu ", ["cuda", "cpu"]),
        ('["cpu", "cuda"]', ["cpu", "cuda"]),
        ("cpu,cpu", ["cpu"]),
        ("", None),
    ],
)
def test_worker_queues_read_as_a_comma_list_or_json(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: list[str] | None
) -> None:
    monkeypatch.setenv("WORKER__QUEUES", raw)
    assert Settings().worker.queues == expected


def test_worker_queues_are_unset_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORKER__QUEUES", raising=False)
    assert Settings().worker.queues is None
    assert WorkerSettings(queues=["cuda"]).queues == ["cuda"]


@pytest.mark.parametrize(
    ("raw", "said"),
    [
        ("gpu", "WORKER__QUEUES__0: Input should be 'cpu' or 'cuda'"),
        ("cpu,", "WORKER__QUEUES__1: Input should be 'cpu' or 'cuda'"),
        ("[cpu", "WORKER__QUEUES: Value error, not a JSON list of names"),
        ("[]", "WORKER__QUEUES: Value error, name at least one of cpu, cuda"),
    ],
)
def test_a_bad_worker_queues_names_the_setting_and_the_reason(
    monkeypatch: pytest.MonkeyPatch, raw: str, said: str
) -> None:
    monkeypatch.setenv("WORKER__QUEUES", raw)
    with pytest.raises((ValidationError, SettingsError)) as caught:
        Settings()
    assert isinstance(caught.value, ValidationError | SettingsError)
    assert settings_problem(caught.value).startswith(said)


def test_a_worker_serves_cuda_by_default_only_where_there_is_a_gpu() -> None:
    assert served_capabilities(None, has_cuda=False) == ["cpu"]
    assert served_capabilities(None, has_cuda=True) == ["cuda", "cpu"]  # the GPU's work first
    assert served_capabilities(["cpu", "cuda"], has_cuda=True) == ["cuda", "cpu"]
    assert served_capabilities(["cpu"], has_cuda=True) == ["cpu"]
    assert served_capabilities(["cuda"], has_cuda=True) == ["cuda"]


def test_a_worker_told_to_serve_cuda_without_a_gpu_refuses() -> None:
    asks: list[list[Capability]] = [["cuda"], ["cpu", "cuda"]]
    for asked in asks:
        with pytest.raises(AppError) as refused:
            served_capabilities(asked, has_cuda=False)
        assert refused.value.code is ErrorCode.DEVICE_UNAVAILABLE
        assert (
            "WORKER__QUEUES" in refused.value.message and "no CUDA device" in refused.value.message
        )


def test_cpu_work_keeps_the_base_queue_and_cuda_work_has_its_own() -> None:
    assert queue_name_for("model-trainer", "cpu") == "model-trainer"  # as before: compatible
    assert queue_name_for("model-trainer", "cuda") == "model-trainer-cuda"


def test_only_a_run_that_asks_for_cuda_goes_on_the_cuda_queue() -> None:
    def config(device: str) -> RunConfig:
        return RunConfig(
            model=ModelSpec(size="nano"),
            data=DataSpec(tokenizer_id="tok_x", corpus_path="story.txt"),
            trainer=TrainerSpec.model_validate_json(f'{{"device": "{device}"}}'),
        )

    assert run_capability(config("cuda")) == "cuda"
    for device in ("cpu", "auto", "mps"):
        assert run_capability(config(device)) == "cpu"


def test_a_worker_that_does_not_say_what_it_serves_serves_cpu() -> None:
    older = WorkerCapacity.model_validate_json(
        '{"name": "old.1", "memory_bytes": 1, "threads": 1, "devices": []}'
    )
    assert older.serves == ["cpu"]  # it listens on the base queue, CPU's
