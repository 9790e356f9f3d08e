"""The evaluation job's body: loss, perplexity, bits per byte and the text's document lengths,
plus seeded samples and their diversity, compared with the baseline run's when the run names
one (the lifecycle takes its lease, heartbeats, and records how it ended)."""

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
from model_trainer.core.job_status import JobStatus
from model_trainer.core.logging import Log
from model_trainer.core.settings import Settings
from model_trainer.infra.atomic import write_model, write_text
from model_trainer.infra.paths import corpus_files
from model_trainer.jobs.kind import Ending
from model_trainer.jobs.layout import ArtifactLayout, EvalFolder, RunFolder
from model_trainer.jobs.lifecycle import JobBody, JobContext
from model_trainer.tokenizers.manifest import TOKENIZER_MANIFESTS
from model_trainer.tokenizers.registry import TokenizerRegistry
from model_trainer.training.data.dataset import load_tokens, prepare_dataset
from model_trainer.training.data.sampler import to_long_tensor
from model_trainer.training.inference.eval_job import EvalKind, EvalManifest
from model_trainer.training.inference.generation import sample, start_token
from model_trainer.training.inference.lengths import document_lengths
from model_trainer.training.loop.device import set_threads
from model_trainer.training.loop.loop import mean_loss
from model_trainer.training.loop.sample_stats import SampleStats, sample_stats
from model_trainer.training.model_registry import ModelRegistry
from model_trainer.training.run.eval_figures import decoded_bytes, run_regressions
from model_trainer.training.run.figures import (
    Figures,
    LengthStats,
    Regression,
    bits_per_byte,
    length_stats,
)
from model_trainer.training.run.manifest import RUN_MANIFESTS, EvalSplit, EvalSummary, RunManifest

PROMPTS = ["", "The ", "\n", "Once upon a time", "ROMEO:", "def "]
"""Fixed prompts for qualitative samples; the same for every run so runs compare."""
SAMPLE_TOKENS = 64
SAMPLE_SEED = 1234


class EvaluatedText(BaseModel):
    """The token ids of the evaluated text, and its size in characters and UTF-8 bytes."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    ids: torch.Tensor
    chars: int
    bytes: int


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
    bits_per_byte: float | None = None
    """Bits per UTF-8 byte of the evaluated text (None in results from before it was)."""
    length_stats: LengthStats | None = None
    sample_stats: SampleStats | None = None
    """Of the samples below, averaged over them."""
    regressions: list[Regression] = []
    """Figures worse than the baseline run's (`baseline_run_id`) on the same text."""

    @model_validator(mode="after")
    def _corpus_is_no_split(self) -> Self:
        """Label files written before "corpus" existed, which said "val" for a corpus."""
        if self.corpus_path is not None:
            self.split = "corpus"
        return self


class RunEvaluation(JobBody[EvalManifest]):
    """Evaluates a completed run's exported model; the lifecycle records how it ended."""

    def __init__(
        self,
        settings: Settings,
        tokenizers: TokenizerRegistry,
        models: ModelRegistry,
        kind: EvalKind,
    ) -> None:
        self._settings = settings
        self._tokenizers = tokenizers
        self._models = models
        self._kind = kind
        self._layout = ArtifactLayout(settings.artifacts_folder)

    def run(self, manifest: EvalManifest, job: JobContext) -> Ending:
        folder = self._layout.run(manifest.run_id)
        run = RUN_MANIFESTS.read(folder.manifest)
        if run is None:
            raise AppError(ErrorCode.NOT_FOUND, f"run {manifest.run_id} has no manifest")
        manifest.status, manifest.started_at = JobStatus.RUNNING, utc_now()
        self._kind.write(manifest)
        self._kind.state.set_status(job.job_id, JobStatus.RUNNING, "evaluating")
        job.log.info("evaluation_started", split=manifest.split, corpus_path=manifest.corpus_path)
        set_threads(self._settings.worker.threads)
        tok_folder = self._layout.tokenizer(run.tokenizer.tokenizer_id)
        tok = TOKENIZER_MANIFESTS.read(tok_folder.manifest)
        if tok is None:
            raise AppError(ErrorCode.TOKENIZER_NOT_FOUND, "the run's tokenizer is gone")
        handle = self._tokenizers.get(tok.config.method).load(tok_folder.path)
        model = self._models.get(run.architecture.family).load(folder.export)
        text = self._tokens(manifest, run, handle, job.log)
        if len(text.ids) < 2:
            raise AppError(ErrorCode.DATA_INVALID, "the evaluated text has fewer than 2 tokens")
        block = min(run.architecture.max_seq_len, len(text.ids) - 1)
        loss, windows = mean_loss(model, text.ids, block)
        tokens = len(text.ids)
        samples, stats = self._samples(model, handle, run, start_token(folder.export))
        metrics = EvalMetrics(
            run_id=manifest.run_id,
            split=manifest.split,
            corpus_path=manifest.corpus_path,
            loss=loss,
            perplexity=math.exp(min(loss, 50.0)),
            tokens=tokens,
            chars=text.chars,
            tokens_per_char=tokens / text.chars if text.chars else 0.0,
            windows=windows,
            finished_at=utc_now(),
            bits_per_byte=bits_per_byte(loss, tokens, text.bytes),
            length_stats=length_stats(document_lengths(text.ids, handle), tokens, text.chars),
            sample_stats=stats,
        )
        metrics.regressions = self._regressions(run, metrics)
        self._write(self._kind.folder(job.job_id), metrics, samples)
        self._summarise(folder, metrics)
        message = f"loss {loss:.4f}, perplexity {metrics.perplexity:.2f}"
        if metrics.bits_per_byte is not None:
            message += f", {metrics.bits_per_byte:.4f} bits per byte"
        return Ending(status=JobStatus.COMPLETED, message=message)

    def _regressions(self, run: RunManifest, metrics: EvalMetrics) -> list[Regression]:
        figures = Figures(
            loss=metrics.loss,
            perplexity=metrics.perplexity,
            bits_per_byte=metrics.bits_per_byte,
            sample_stats=metrics.sample_stats,
        )
        baseline = run.config.baseline_run_id
        return run_regressions(self._layout, baseline, figures, metrics.split, metrics.corpus_path)

    def _summarise(self, folder: RunFolder, metrics: EvalMetrics) -> None:
        """The run's manifest carries the latest evaluation's figures (read afresh: the
        evaluation took a while, and the run's record may have changed meanwhile)."""
        run = RUN_MANIFESTS.read(folder.manifest)
        if run is None:
            return
        run.eval = EvalSummary(
            split=metrics.split,
            corpus_path=metrics.corpus_path,
            loss=metrics.loss,
            perplexity=metrics.perplexity,
            tokens_per_char=metrics.tokens_per_char,
            tokens=metrics.tokens,
            finished_at=metrics.finished_at,
            bits_per_byte=metrics.bits_per_byte,
            length_stats=metrics.length_stats,
            sample_stats=metrics.sample_stats,
            regressions=metrics.regressions,
        )
        RUN_MANIFESTS.write(folder.manifest, run)

    def _tokens(
        self, request: EvalManifest, manifest: RunManifest, handle: TokenizerHandle, log: Log
    ) -> EvaluatedText:
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
            text=data.text_spec(),  # another corpus is read as the run's own was
        )
        info = dataset.info
        path = dataset.val_path() if use_val else dataset.train_path()
        tokens = load_tokens(path, info.dtype)
        size = info.val_bytes if use_val else info.train_bytes
        if size is None:  # a dataset cached before its bytes were recorded
            size = decoded_bytes(tokens, handle.decode)
        return EvaluatedText(
            ids=to_long_tensor(tokens),
            chars=info.val_chars if use_val else info.train_chars,
            bytes=size,
        )

    def _samples(
        self, model: LanguageModel, handle: TokenizerHandle, run: RunManifest, start_id: int
    ) -> tuple[list[Sample], SampleStats | None]:
        """A seeded sample from each fixed prompt, and their figures."""
        max_seq_len = run.architecture.max_seq_len
        samples: list[Sample] = []
        generated: list[list[int]] = []
        for i, prompt in enumerate(PROMPTS):
            prompt_ids = handle.encode_batch([prompt])[0] if prompt else []
            seed = SAMPLE_SEED + i
            ids = sample(model, prompt_ids, SAMPLE_TOKENS, 0.8, 40, seed, max_seq_len, start_id)
            samples.append(
                Sample(prompt=prompt, seed=SAMPLE_SEED + i, completion=handle.decode(ids))
            )
            generated.append(ids)
        return samples, sample_stats(generated)

    def _write(self, folder: EvalFolder, metrics: EvalMetrics, samples: list[Sample]) -> None:
        """Samples first, then the metrics: a reader that finds the metrics finds both."""
        lines = [record.model_dump_json() for record in samples]
        write_text(folder.samples, "\n".join(lines) + "\n")
        write_model(folder.metrics, metrics)
