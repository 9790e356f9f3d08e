"""The evaluation job: loss, perplexity and tokens per character, plus seeded samples."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Self

import torch
from pydantic import BaseModel, ConfigDict, model_validator

from model_trainer.core.contracts.events import utc_now
from model_trainer.core.contracts.model import LanguageModel
from model_trainer.core.contracts.tokenizer import TokenizerHandle
from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.logging import Log, job_log_file
from model_trainer.core.settings import Settings
from model_trainer.infra.atomic import write_model, write_text
from model_trainer.infra.paths import corpus_files
from model_trainer.jobs.layout import ArtifactLayout, RunFolder
from model_trainer.tokenizers.manifest import TOKENIZER_MANIFESTS
from model_trainer.tokenizers.registry import TokenizerRegistry
from model_trainer.training.config import EvalRequest
from model_trainer.training.data.dataset import load_tokens, prepare_dataset
from model_trainer.training.data.sampler import to_long_tensor
from model_trainer.training.inference.generation import sample
from model_trainer.training.loop.device import set_threads
from model_trainer.training.loop.loop import mean_loss
from model_trainer.training.model_registry import ModelRegistry
from model_trainer.training.run.manifest import RUN_MANIFESTS, EvalSplit, EvalSummary, RunManifest

PROMPTS = ["", "The ", "\n", "Once upon a time", "ROMEO:", "def "]
"""Fixed prompts for qualitative samples; the same for every run so runs compare."""
SAMPLE_TOKENS = 64
SAMPLE_SEED = 1234


class Sample(BaseModel):
    """One seeded generation from a fixed prompt (a line of `eval/samples.jsonl`)."""

    model_config = ConfigDict(extra="forbid")

    prompt: str
    seed: int
    completion: str


class EvalMetrics(BaseModel):
    """`eval/metrics.json`."""

    model_config = ConfigDict(extra="forbid")

    run_id: str
    split: EvalSplit
    corpus_path: str | None
    """The corpus evaluated when `split` is "corpus"."""
    loss: float
    perplexity: float
    tokens: int
    chars: int
    tokens_per_char: float
    windows: int
    finished_at: datetime

    @model_validator(mode="after")
    def _corpus_is_no_split(self) -> Self:
        """Label files written before "corpus" existed, which said "val" for a corpus."""
        if self.corpus_path is not None:
            self.split = "corpus"
        return self


class RunEvaluator:
    """Evaluates a completed run's exported model."""

    def __init__(
        self, settings: Settings, tokenizers: TokenizerRegistry, models: ModelRegistry
    ) -> None:
        self._settings = settings
        self._tokenizers = tokenizers
        self._models = models
        self._layout = ArtifactLayout(settings.artifacts_root)

    def run(self, request: EvalRequest) -> EvalMetrics:
        folder = self._layout.run(request.run_id)
        manifest = RUN_MANIFESTS.read(folder.manifest)
        if manifest is None:
            raise AppError(ErrorCode.NOT_FOUND, f"run {request.run_id} has no manifest")
        log = Log("training", run_id=request.run_id, job_id=request.run_id)
        with job_log_file(folder.logs):
            set_threads(self._settings.worker.threads)
            tok_folder = self._layout.tokenizer(manifest.tokenizer.tokenizer_id)
            tok = TOKENIZER_MANIFESTS.read(tok_folder.manifest)
            if tok is None:
                raise AppError(ErrorCode.TOKENIZER_NOT_FOUND, "the run's tokenizer is gone")
            handle = self._tokenizers.get(tok.config.method).load(tok_folder.path)
            model = self._models.get(manifest.architecture.family).load(folder.export)
            tokens, chars = self._tokens(request, manifest, handle, log)
            block = min(manifest.architecture.max_seq_len, len(tokens) - 1)
            loss, windows = mean_loss(model, tokens, block)
            metrics = EvalMetrics(
                run_id=request.run_id,
                split="corpus" if request.corpus_path is not None else request.split,
                corpus_path=request.corpus_path,
                loss=loss,
                perplexity=math.exp(min(loss, 50.0)),
                tokens=len(tokens),
                chars=chars,
                tokens_per_char=len(tokens) / chars if chars else 0.0,
                windows=windows,
                finished_at=utc_now(),
            )
            self._write(folder, metrics, model, handle, manifest.architecture.max_seq_len)
            manifest.eval = EvalSummary(
                split=metrics.split,
                corpus_path=metrics.corpus_path,
                loss=loss,
                perplexity=metrics.perplexity,
                tokens_per_char=metrics.tokens_per_char,
                tokens=metrics.tokens,
                finished_at=metrics.finished_at,
            )
            RUN_MANIFESTS.write(folder.manifest, manifest)
            log.info(
                "evaluation_completed",
                loss=loss,
                perplexity=metrics.perplexity,
                split=metrics.split,
                corpus_path=metrics.corpus_path,
            )
        return metrics

    def _tokens(
        self, request: EvalRequest, manifest: RunManifest, handle: TokenizerHandle, log: Log
    ) -> tuple[torch.Tensor, int]:
        data = manifest.config.data
        if request.corpus_path is not None:
            # Another corpus is evaluated whole: nothing held out, everything lands in "train".
            corpus, fraction, use_val = request.corpus_path, 0.0, False
        else:
            corpus, fraction, use_val = (
                data.corpus_path,
                data.holdout_fraction,
                request.split == "val",
            )
        dataset = prepare_dataset(
            files=corpus_files(self._settings.corpus_root, corpus),
            corpus_root=self._settings.corpus_root,
            handle=handle,
            tokenizer_id=manifest.tokenizer.tokenizer_id,
            holdout_fraction=fraction,
            holdout_strategy=data.holdout_strategy,
            seed=manifest.config.trainer.seed,
            cache_root=self._layout.datasets,
            log=log,
        )
        path = dataset.val_path() if use_val else dataset.train_path()
        chars = dataset.info.val_chars if use_val else dataset.info.train_chars
        return to_long_tensor(load_tokens(path, dataset.info.dtype)), chars

    def _write(
        self,
        folder: RunFolder,
        metrics: EvalMetrics,
        model: LanguageModel,
        handle: TokenizerHandle,
        max_seq_len: int,
    ) -> None:
        lines: list[str] = []
        for i, prompt in enumerate(PROMPTS):
            prompt_ids = handle.encode_batch([prompt])[0] if prompt else []
            ids = sample(model, prompt_ids, SAMPLE_TOKENS, 0.8, 40, SAMPLE_SEED + i, max_seq_len)
            record = Sample(prompt=prompt, seed=SAMPLE_SEED + i, completion=handle.decode(ids))
            lines.append(record.model_dump_json())
        write_text(folder.eval_samples, "\n".join(lines) + "\n")
        write_model(folder.eval_metrics, metrics)
