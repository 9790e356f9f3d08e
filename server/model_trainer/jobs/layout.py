"""Where every artifact lives under `ARTIFACTS_ROOT`; no other module names a path in it.

artifacts/
├── tokenizers/<id>/   manifest.json, logs.jsonl, the backend's files, .work/ (scratch)
├── models/<id>/       manifest.json, logs.jsonl, metrics.jsonl, checkpoints/{last,best}.pt,
│                      export/ (staged as .export.tmp/), eval/{metrics.json,samples.jsonl}
└── datasets/<key>/    token ids shared by every run of one corpus, tokenizer and split
"""

from __future__ import annotations

from pathlib import Path

_MANIFEST = "manifest.json"
_LOGS = "logs.jsonl"


class JobFolder:
    """One job's folder: its manifest (the durable record) and its log."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def manifest(self) -> Path:
        return self.path / _MANIFEST

    @property
    def logs(self) -> Path:
        return self.path / _LOGS

    def relative(self, path: Path) -> str:
        """`path` as the manifest lists it: relative to the folder, with forward slashes."""
        return path.relative_to(self.path).as_posix()


class TokenizerFolder(JobFolder):
    """`tokenizers/<id>/`: the backend writes its files here."""

    @property
    def work(self) -> Path:
        """Scratch for the corpus split; removed when the job ends."""
        return self.path / ".work"


class RunFolder(JobFolder):
    """`models/<id>/`: a training run's metrics, checkpoints, export and evaluation."""

    @property
    def metrics(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def last_checkpoint(self) -> Path:
        return self.checkpoints / "last.pt"

    @property
    def best_checkpoint(self) -> Path:
        return self.checkpoints / "best.pt"

    @property
    def export(self) -> Path:
        """The Hugging Face export; it appears whole or not at all."""
        return self.path / "export"

    @property
    def export_staging(self) -> Path:
        """Where the export is written before it is renamed into place."""
        return self.path / ".export.tmp"

    @property
    def eval(self) -> Path:
        return self.path / "eval"

    @property
    def eval_metrics(self) -> Path:
        return self.eval / "metrics.json"

    @property
    def eval_samples(self) -> Path:
        return self.eval / "samples.jsonl"


class ArtifactLayout:
    """The folders under one artifacts root."""

    def __init__(self, artifacts_root: Path) -> None:
        self.root = artifacts_root

    @property
    def tokenizers(self) -> Path:
        """The index folder: one folder per tokenizer."""
        return self.root / "tokenizers"

    @property
    def runs(self) -> Path:
        """The index folder: one folder per training run."""
        return self.root / "models"

    @property
    def datasets(self) -> Path:
        """The cache of encoded datasets, shared by runs."""
        return self.root / "datasets"

    def tokenizer(self, tokenizer_id: str) -> TokenizerFolder:
        return TokenizerFolder(self.tokenizers / tokenizer_id)

    def run(self, run_id: str) -> RunFolder:
        return RunFolder(self.runs / run_id)
