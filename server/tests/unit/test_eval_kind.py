"""An evaluation's job id names its folder under its run, without a scan; the start-up scan
finds every evaluation on disk; its log lines go to its run's log."""

from __future__ import annotations

from pathlib import Path

import pytest

from model_trainer.core.contracts.events import utc_now
from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.infra.job_state import JobStateStore
from model_trainer.infra.redis_store import RedisStore
from model_trainer.jobs.layout import ArtifactLayout
from model_trainer.training.inference.eval_job import (
    EvalKind,
    EvalManifest,
    eval_job_id,
    split_job_id,
)

RUN, EVL = "run-mxbohr60-518c2ca3", "evl-mxbohs00-0badcafe"


@pytest.fixture()
def kind(tmp_path: Path) -> EvalKind:
    # The client connects on first use; these tests never reach Redis
    state = JobStateStore(RedisStore("redis://127.0.0.1:9/0"), "evals")
    return EvalKind(ArtifactLayout(tmp_path), state)


def test_the_job_id_names_run_and_evaluation() -> None:
    job_id = eval_job_id(RUN, EVL)
    assert job_id == f"{RUN}_{EVL}" and split_job_id(job_id) == (RUN, EVL)
    for bad in ("not json", f"{RUN}_", f"_{EVL}"):
        with pytest.raises(AppError) as caught:
            split_job_id(bad)
        assert caught.value.code is ErrorCode.NOT_FOUND


def test_folder_manifest_and_log(kind: EvalKind, tmp_path: Path) -> None:
    folder = kind.folder(eval_job_id(RUN, EVL))
    run = tmp_path / "models" / RUN
    assert folder.path == run / "eval" / EVL
    assert (folder.manifest, folder.metrics, folder.samples) == (
        run / "eval" / EVL / "manifest.json",
        run / "eval" / EVL / "metrics.json",
        run / "eval" / EVL / "samples.jsonl",
    )
    assert folder.logs == run / "logs.jsonl"  # the run's log stream shows its evaluations


def test_manifests_round_trip_and_the_scan_finds_them(kind: EvalKind) -> None:
    assert kind.on_disk() == [] and kind.read(eval_job_id(RUN, EVL)) is None
    manifest = EvalManifest(eval_id=EVL, run_id=RUN, split="val", created_at=utc_now())
    kind.write(manifest)
    assert kind.read(kind.job_id(manifest)) == manifest
    kind.layout.run(RUN).eval_metrics.write_text("{}")  # an old evaluation: no manifest
    assert kind.on_disk() == [eval_job_id(RUN, EVL)]
