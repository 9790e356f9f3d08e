"""The artifact layout is a promise to everyone who reads the folders: its exact paths, and
manifests read back as written (absent is None, damaged is an error, old ones upgraded)."""

from __future__ import annotations

from pathlib import Path

import pytest

from model_trainer.core.contracts.events import utc_now
from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.job_status import JobStatus
from model_trainer.jobs.layout import ArtifactLayout
from model_trainer.tokenizers.manifest import (
    TOKENIZER_MANIFESTS,
    TokenizerManifest,
    TokenizerTrainConfig,
)
from model_trainer.training.loop.checkpoint import BEST, LAST
from model_trainer.training.run.kind import present_artifacts


def test_every_path_under_the_artifacts_root() -> None:
    layout = ArtifactLayout(Path("/a"))
    tok, run = layout.tokenizer("tok-1"), layout.run("run-1")
    paths = {
        "tokenizers": layout.tokenizers,
        "models": layout.runs,
        "datasets": layout.datasets,
        "tokenizers/tok-1": tok.path,
        "tokenizers/tok-1/manifest.json": tok.manifest,
        "tokenizers/tok-1/logs.jsonl": tok.logs,
        "tokenizers/tok-1/.work": tok.work,
        "models/run-1": run.path,
        "models/run-1/manifest.json": run.manifest,
        "models/run-1/logs.jsonl": run.logs,
        "models/run-1/metrics.jsonl": run.metrics,
        "models/run-1/checkpoints": run.checkpoints,
        "models/run-1/checkpoints/last.pt": run.last_checkpoint,
        "models/run-1/checkpoints/best.pt": run.best_checkpoint,
        "models/run-1/export": run.export,
        "models/run-1/.export.tmp": run.export_staging,
        "models/run-1/eval": run.eval,
        "models/run-1/eval/metrics.json": run.eval_metrics,
        "models/run-1/eval/samples.jsonl": run.eval_samples,
    }
    assert {name: path.relative_to("/a").as_posix() for name, path in paths.items()} == {
        name: name for name in paths
    }
    # The loop names its checkpoints inside the folder the layout gives it
    assert (run.checkpoints / LAST, run.checkpoints / BEST) == (
        run.last_checkpoint,
        run.best_checkpoint,
    )
    assert run.relative(run.last_checkpoint) == "checkpoints/last.pt"


def test_an_early_end_lists_the_files_there_are(tmp_path: Path) -> None:
    run = ArtifactLayout(tmp_path).run("run-1")
    assert present_artifacts(run) == ["manifest.json"]
    run.checkpoints.mkdir(parents=True)
    run.last_checkpoint.write_bytes(b"")
    run.logs.write_text("{}\n")
    assert present_artifacts(run) == ["checkpoints/last.pt", "logs.jsonl", "manifest.json"]


def _manifest() -> TokenizerManifest:
    config = TokenizerTrainConfig(method="char", vocab_size=50, corpus_path="story.txt")
    return TokenizerManifest(
        tokenizer_id="tok-1", status=JobStatus.QUEUED, config=config, created_at=utc_now()
    )


def test_manifests_read_back_absent_damaged_and_old(tmp_path: Path) -> None:
    folder = ArtifactLayout(tmp_path).tokenizer("tok-1")
    assert TOKENIZER_MANIFESTS.read(folder.manifest) is None
    written = _manifest()
    TOKENIZER_MANIFESTS.write(folder.manifest, written)
    assert TOKENIZER_MANIFESTS.read(folder.manifest) == written
    stored = folder.manifest.read_text(encoding="utf-8")
    # Before method options, sentencepiece's model type was a field of the config
    old = stored.replace('"options": {}', '"model_type": "bpe"')
    assert old != stored
    folder.manifest.write_text(old, encoding="utf-8")
    upgraded = TOKENIZER_MANIFESTS.read(folder.manifest)
    assert upgraded is not None and upgraded.config.options == {"model_type": "bpe"}
    folder.manifest.write_text(stored.replace('"status": "queued"', '"status": 7'))
    with pytest.raises(AppError) as caught:
        TOKENIZER_MANIFESTS.read(folder.manifest)
    assert caught.value.code is ErrorCode.DATA_INVALID
    assert caught.value.message == "tok-1/manifest.json is unreadable"
