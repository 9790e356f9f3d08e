"""A completed run planted on disk with nothing but its manifest and `metrics.jsonl`, for
tests of what the API reads from a run's files."""

from __future__ import annotations

from pathlib import Path

from model_trainer.core.contracts.events import utc_now
from model_trainer.core.contracts.model import Architecture
from model_trainer.core.job_status import JobStatus
from model_trainer.infra.atomic import write_model
from model_trainer.training.config import DataSpec, RunConfig
from model_trainer.training.run.manifest import RunManifest, TokenizerRef


def plant_run(artifacts_root: Path, run_id: str, metrics: str) -> Path:
    """The run's folder, its metrics file holding `metrics` (JSON lines)."""
    folder = artifacts_root / "models" / run_id
    folder.mkdir(parents=True)
    arch = Architecture(
        family="gpt2", n_layer=1, n_head=1, n_embd=8, max_seq_len=4, vocab_size=5, dropout=0.0
    )
    manifest = RunManifest(
        run_id=run_id,
        status=JobStatus.COMPLETED,
        config=RunConfig(data=DataSpec(tokenizer_id="tok", corpus_path="story.txt")),
        tokenizer=TokenizerRef(tokenizer_id="tok", method="char", vocab_size=5),
        architecture=arch,
        parameters=1,
        created_at=utc_now(),
    )
    write_model(folder / "manifest.json", manifest)
    (folder / "metrics.jsonl").write_text(metrics, encoding="utf-8")
    return folder
