"""Where every artifact lives under `ARTIFACTS_ROOT`; no other module names a path in it.

artifacts/
├── tokenizers/<id>/   manifest.json, labels.json, logs.jsonl, the backend's files,
│                      .work/ (scratch)
├── models/<id>/       manifest.json, labels.json, logs.jsonl, metrics.jsonl, samples.jsonl,
│                      checkpoints/{last,best}.pt, events.out.tfevents.model-trainer
│                      (metrics.jsonl for TensorBoard),
│                      export/ (staged as .export.tmp/; a LoRA run's adapters alone in
│                      export/adapter/ when asked), eval/{metrics.json,samples.jsonl}
│                      .ranks/ (scratch of a run in several processes)
│                      eval/<evl-id>/ (one evaluation: manifest.json, metrics.json,
│                      samples.jsonl; eval/metrics.json alone is from before evaluations
│                      were jobs)
├── datasets/<key>/    token ids shared by every run of one corpus, tokenizer and split:
│                      train.bin, val.bin, dataset.json (written last); <key>.lock beside it
├── cache/             peak-flops.json: each machine's measured matmul peak (for MFU)
└── logs/              the services' own logs when the CLI starts the stack
"""

from __future__ import annotations

from pathlib import Path

_MANIFEST = "manifest.json"
_LOGS = "logs.jsonl"
LAST_CHECKPOINT = "last.pt"
"""The checkpoint a run resumes from, written every `checkpoint_interval` steps."""
BEST_CHECKPOINT = "best.pt"
"""The checkpoint of the lowest validation loss so far."""
TENSORBOARD_EVENTS = "events.out.tfevents.model-trainer"
"""A run's TensorBoard event file: one per run at a fixed name, rebuilt at each start (see
`training/run/tensorboard.py`); TensorBoard finds any file whose name holds `tfevents`."""
ADAPTER = "adapter"
"""A LoRA run's adapters alone, in its export (what `PeftModel.from_pretrained` loads)."""
HF_CONFIG = "config.json"
"""The model config of a Hugging Face folder (an export, or a folder under `MODELS_ROOT`)."""
WEIGHT_SUFFIXES = (".safetensors", ".bin")
"""The files of a Hugging Face folder that hold its weights (one, or shards)."""


class ModelFolder:
    """A Hugging Face model folder: a run's export, or one under `MODELS_ROOT` to fine-tune."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def config(self) -> Path:
        return self.path / HF_CONFIG

    def weights(self) -> list[Path]:
        """The weight files (safetensors, or PyTorch's format), sorted by name."""
        if not self.path.is_dir():
            return []
        found = [p for p in self.path.iterdir() if p.is_file() and p.suffix in WEIGHT_SUFFIXES]
        return sorted(found)


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

    def trash(self, token: str) -> Path:
        """Where the folder is renamed while it is deleted: a hidden sibling, which no
        listing, reconciler or shared store looks at."""
        return self.path.with_name(f".deleting-{self.path.name}-{token}")


class LabelledFolder(JobFolder):
    """The folder of a job people name and tag: a run's or a tokenizer's."""

    @property
    def labels(self) -> Path:
        """The job's current name, notes and tags, written by the API alone (a worker
        rewrites the manifest, and would undo an edit made meanwhile)."""
        return self.path / "labels.json"


class TokenizerFolder(LabelledFolder):
    """`tokenizers/<id>/`: the backend writes its files here."""

    @property
    def work(self) -> Path:
        """Scratch for the corpus split; removed when the job ends."""
        return self.path / ".work"


class RunFolder(LabelledFolder):
    """`models/<id>/`: a training run's metrics, checkpoints, export and evaluation."""

    @property
    def metrics(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def samples(self) -> Path:
        """The samples generated at each evaluation during training, one line each."""
        return self.path / "samples.jsonl"

    @property
    def tensorboard(self) -> Path:
        """Directly in the run's folder, so `tensorboard --logdir <root>/models` shows each
        run as one, named by its id."""
        return self.path / TENSORBOARD_EVENTS

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def last_checkpoint(self) -> Path:
        return self.checkpoints / LAST_CHECKPOINT

    @property
    def best_checkpoint(self) -> Path:
        return self.checkpoints / BEST_CHECKPOINT

    @property
    def kept(self) -> list[Path]:
        """What a run leaves besides its manifest and export: log, metrics, checkpoints."""
        return [self.logs, self.metrics, self.last_checkpoint, self.best_checkpoint]

    @property
    def export(self) -> Path:
        """The Hugging Face export; it appears whole or not at all."""
        return self.path / "export"

    @property
    def export_staging(self) -> Path:
        """Where the export is written before it is renamed into place."""
        return self.path / ".export.tmp"

    @property
    def export_replaced(self) -> Path:
        """Where an earlier export waits, whole, while a new one is renamed into place."""
        return self.path / ".export.old"

    @property
    def ranks(self) -> Path:
        """Scratch of a run trained by several processes: their plan, rank 0's reports,
        the worker's stop request (rewritten at each start)."""
        return self.path / ".ranks"

    @property
    def adapter(self) -> Path:
        """A LoRA run's adapters alone, when it was asked to export them."""
        return self.export / ADAPTER

    @property
    def adapter_staging(self) -> Path:
        return self.export_staging / ADAPTER

    @property
    def eval(self) -> Path:
        return self.path / "eval"

    @property
    def eval_metrics(self) -> Path:
        return self.eval / "metrics.json"

    @property
    def eval_samples(self) -> Path:
        return self.eval / "samples.jsonl"

    def evaluation(self, eval_id: str) -> EvalFolder:
        return EvalFolder(self.eval / eval_id, self)

    def evaluations(self) -> list[str]:
        """The ids of the run's evaluations that have a manifest, oldest first (ids sort by
        creation)."""
        return sorted(path.parent.name for path in self.eval.glob(f"*/{_MANIFEST}"))


class EvalFolder(JobFolder):
    """`models/<run>/eval/<evl-id>/`: one evaluation's manifest and results; it logs into
    its run's `logs.jsonl`, so the run's log stream shows the evaluation."""

    def __init__(self, path: Path, run: RunFolder) -> None:
        super().__init__(path)
        self.run = run

    @property
    def logs(self) -> Path:
        return self.run.logs

    @property
    def metrics(self) -> Path:
        return self.path / "metrics.json"

    @property
    def samples(self) -> Path:
        return self.path / "samples.jsonl"


class DatasetFolder:
    """`datasets/<key>/`: one corpus encoded by one tokenizer, split one way."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def train(self) -> Path:
        return self.path / "train.bin"

    @property
    def val(self) -> Path:
        return self.path / "val.bin"

    @property
    def info(self) -> Path:
        """What the dataset holds; written last, so its presence marks the folder complete."""
        return self.path / "dataset.json"

    @property
    def work(self) -> Path:
        """Scratch for the corpus split while the ids are encoded."""
        return self.path / ".split"


class DatasetCache:
    """`datasets/`: one folder per key, and beside it the lock its builder holds."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def folder(self, key: str) -> DatasetFolder:
        return DatasetFolder(self.root / key)

    def lock(self, key: str) -> Path:
        return self.root / f"{key}.lock"


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

    @property
    def peak_flops(self) -> Path:
        """Each machine's measured peak FLOP/s, by host, device, threads and precision."""
        return self.root / "cache" / "peak-flops.json"

    @property
    def service_logs(self) -> Path:
        """The log files of the API and workers the CLI starts (`model-trainer up`)."""
        return self.root / "logs"

    def tokenizer(self, tokenizer_id: str) -> TokenizerFolder:
        return TokenizerFolder(self.tokenizers / tokenizer_id)

    def run(self, run_id: str) -> RunFolder:
        return RunFolder(self.runs / run_id)
