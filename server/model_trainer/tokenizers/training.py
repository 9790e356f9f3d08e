"""The tokenizer training job: split the corpus, train, measure, write the artifacts."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from model_trainer.core.contracts.events import utc_now
from model_trainer.core.contracts.tokenizer import TokenizerTrainRequest
from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.logging import Log, job_log_file
from model_trainer.core.settings import Settings
from model_trainer.infra.atomic import write_model
from model_trainer.infra.job_state import JobStateStore, JobStatus
from model_trainer.infra.paths import corpus_files
from model_trainer.infra.versions import library_versions
from model_trainer.tokenizers.corpus import split_corpus
from model_trainer.tokenizers.manifest import (
    LOGS,
    MANIFEST,
    CorpusInfo,
    JobError,
    TokenizerManifest,
    read_manifest,
)
from model_trainer.tokenizers.registry import TokenizerRegistry
from model_trainer.tokenizers.stats import holdout_stats

WORK_DIR = ".work"
"""Scratch folder inside the artifact folder for the split; removed when the job ends."""


def tokenizer_dir(artifacts_root: Path, tokenizer_id: str) -> Path:
    return artifacts_root / "tokenizers" / tokenizer_id


class TokenizerTrainer:
    """Runs one tokenizer job inside a worker's work horse."""

    def __init__(
        self, settings: Settings, registry: TokenizerRegistry, state: JobStateStore
    ) -> None:
        self._settings = settings
        self._registry = registry
        self._state = state

    def run(self, tokenizer_id: str) -> TokenizerManifest:
        folder = tokenizer_dir(self._settings.artifacts_root, tokenizer_id)
        manifest = read_manifest(folder)
        if manifest is None:
            raise AppError(
                ErrorCode.TOKENIZER_NOT_FOUND, f"tokenizer {tokenizer_id} has no manifest"
            )
        log = Log("tokenizer", tokenizer_id=tokenizer_id, job_id=tokenizer_id)
        worker = self._settings.worker
        with (
            job_log_file(folder / LOGS),
            self._state.heartbeat(
                tokenizer_id, worker.heartbeat_interval_s, worker.heartbeat_ttl_s, log
            ),
        ):
            try:
                return self._train(folder, manifest, log)
            except AppError as exc:
                log.error("tokenizer_failed", error_code=str(exc.code), message=exc.message)
                self._finish_failed(folder, manifest, exc)
                return manifest
            except Exception as exc:
                log.exception("tokenizer_crashed", error_code=str(ErrorCode.INTERNAL_ERROR))
                error = AppError(ErrorCode.INTERNAL_ERROR, f"{type(exc).__name__}: {exc}")
                self._finish_failed(folder, manifest, error)
                raise
            finally:
                shutil.rmtree(folder / WORK_DIR, ignore_errors=True)

    def _train(self, folder: Path, manifest: TokenizerManifest, log: Log) -> TokenizerManifest:
        config = manifest.config
        backend = self._registry.get(config.method)
        started = time.perf_counter()
        manifest.status = JobStatus.RUNNING
        manifest.started_at = utc_now()
        manifest.backend = backend.name()
        manifest.threads = self._settings.worker.threads
        manifest.versions = library_versions("tokenizers", "sentencepiece", "numpy")
        write_model(folder / MANIFEST, manifest)
        self._state.set_status(manifest.tokenizer_id, JobStatus.RUNNING, "training")
        log.info("tokenizer_started", method=str(config.method), vocab_size=config.vocab_size)

        files = corpus_files(self._settings.corpus_root, config.corpus_path)
        split = split_corpus(
            files,
            self._settings.corpus_root,
            folder / WORK_DIR,
            config.holdout_fraction,
            config.seed,
        )
        manifest.durations.split_s = time.perf_counter() - started
        log.info(
            "corpus_split",
            files=len(files),
            bytes=split.total_bytes,
            train_lines=split.train_lines,
            holdout_lines=split.holdout_lines,
        )

        request = TokenizerTrainRequest(
            train_file=split.train_file,
            out_dir=folder,
            threads=self._settings.worker.threads,
            seed=config.seed,
        )
        mark = time.perf_counter()
        artifact = backend.train(config.backend_config(), request)
        manifest.durations.train_s = time.perf_counter() - mark
        log.info(
            "tokenizer_trained",
            vocab_size=artifact.vocab_size,
            seconds=round(manifest.durations.train_s, 3),
        )

        mark = time.perf_counter()
        stats = holdout_stats(backend.load(folder), split.holdout_file)
        manifest.durations.stats_s = time.perf_counter() - mark

        manifest.corpus = CorpusInfo(
            path=config.corpus_path,
            files=split.files,
            bytes=split.total_bytes,
            sha256=split.sha256,
            train_lines=split.train_lines,
            holdout_lines=split.holdout_lines,
        )
        manifest.stats = stats
        manifest.files = [*artifact.files, MANIFEST, LOGS]
        manifest.main_file = artifact.main_file
        manifest.status = JobStatus.COMPLETED
        manifest.finished_at = utc_now()
        manifest.durations.total_s = time.perf_counter() - started
        write_model(folder / MANIFEST, manifest)
        self._state.set_status(
            manifest.tokenizer_id,
            JobStatus.COMPLETED,
            f"vocab {stats.vocab_size}, {stats.tokens_per_char:.3f} tokens/char on the holdout"
            if stats.tokens_per_char is not None
            else f"vocab {stats.vocab_size}; no holdout to measure on",
        )
        log.info(
            "tokenizer_completed",
            seconds=round(manifest.durations.total_s, 3),
            coverage=stats.coverage,
            tokens_per_char=stats.tokens_per_char,
        )
        return manifest

    def _finish_failed(self, folder: Path, manifest: TokenizerManifest, exc: AppError) -> None:
        manifest.status = JobStatus.FAILED
        manifest.finished_at = utc_now()
        manifest.error = JobError(
            code=str(exc.code), failure_class=exc.failure_class, message=exc.message
        )
        try:
            write_model(folder / MANIFEST, manifest)
        finally:
            self._state.set_status(manifest.tokenizer_id, JobStatus.FAILED, exc.message)
