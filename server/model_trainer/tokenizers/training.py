"""The tokenizer job's body: split the corpus, train, measure; the lifecycle does the rest."""

from __future__ import annotations

import shutil
import time

from model_trainer.core.contracts.events import utc_now
from model_trainer.core.contracts.tokenizer import TokenizerTrainRequest
from model_trainer.core.job_status import JobStatus
from model_trainer.core.logging import Log
from model_trainer.core.settings import Settings
from model_trainer.infra.paths import corpus_files
from model_trainer.infra.versions import library_versions
from model_trainer.jobs.kind import Ending
from model_trainer.jobs.layout import TokenizerFolder
from model_trainer.jobs.lifecycle import JobBody, JobContext
from model_trainer.tokenizers.corpus import CorpusSplit, split_corpus
from model_trainer.tokenizers.kind import TokenizerKind
from model_trainer.tokenizers.manifest import CorpusInfo, TokenizerManifest
from model_trainer.tokenizers.registry import TokenizerRegistry
from model_trainer.tokenizers.stats import holdout_stats


class TokenizerTraining(JobBody[TokenizerManifest]):
    """Trains one tokenizer from the start (there is nothing to resume from)."""

    def __init__(self, settings: Settings, registry: TokenizerRegistry, kind: TokenizerKind):
        self._settings = settings
        self._registry = registry
        self._kind = kind

    def run(self, manifest: TokenizerManifest, job: JobContext) -> Ending:
        folder = self._kind.folder(manifest.tokenizer_id)
        # An earlier start's split goes first: a stopped worker may still hold its files open
        shutil.rmtree(folder.work, ignore_errors=True)
        try:
            return self._train(folder, manifest, job.log)
        finally:
            shutil.rmtree(folder.work, ignore_errors=True)

    def _train(self, folder: TokenizerFolder, manifest: TokenizerManifest, log: Log) -> Ending:
        """Split the corpus, train, measure on the holdout; each phase timed."""
        config, worker = manifest.config, self._settings.worker
        backend = self._registry.get(config.method)
        started = time.perf_counter()
        self._start(manifest, backend.name(), log)
        # split: the corpus into training and holdout lines
        split = self._split(folder, manifest, log, started)
        # train: the backend writes its files into the folder
        request = TokenizerTrainRequest(
            train_file=split.train_file,
            out_dir=folder.path,
            threads=worker.threads,
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
        # measure: coverage and tokens per character on the holdout
        mark = time.perf_counter()
        stats = holdout_stats(backend.load(folder.path), split.holdout_file)
        manifest.durations.stats_s = time.perf_counter() - mark
        log.info("holdout_measured", coverage=stats.coverage, tokens_per_char=stats.tokens_per_char)
        # record: what was read and what was built
        manifest.corpus = CorpusInfo(
            path=config.corpus_path,
            files=split.files,
            bytes=split.total_bytes,
            sha256=split.sha256,
            train_lines=split.train_lines,
            holdout_lines=split.holdout_lines,
            train_records=split.train_records,
            holdout_records=split.holdout_records,
        )
        manifest.stats = stats
        manifest.files = [*artifact.files, folder.manifest.name, folder.logs.name]
        manifest.main_file = artifact.main_file
        manifest.durations.total_s = time.perf_counter() - started
        message = (
            f"vocab {stats.vocab_size}, {stats.tokens_per_char:.3f} tokens/char on the holdout"
            if stats.tokens_per_char is not None
            else f"vocab {stats.vocab_size}; no holdout to measure on"
        )
        return Ending(status=JobStatus.COMPLETED, message=message)

    def _start(self, manifest: TokenizerManifest, backend: str, log: Log) -> None:
        """Record the job as running, with what it runs on."""
        config = manifest.config
        manifest.status = JobStatus.RUNNING
        manifest.started_at = utc_now()
        manifest.backend = backend
        manifest.threads = self._settings.worker.threads
        manifest.versions = library_versions("tokenizers", "sentencepiece", "numpy")
        self._kind.write(manifest)
        self._kind.state.set_status(manifest.tokenizer_id, JobStatus.RUNNING, "training")
        log.info("tokenizer_started", method=str(config.method), vocab_size=config.vocab_size)

    def _split(
        self, folder: TokenizerFolder, manifest: TokenizerManifest, log: Log, started: float
    ) -> CorpusSplit:
        """The corpus split into the job's scratch folder; `split_s` counts from `started`."""
        config = manifest.config
        files = corpus_files(self._settings.corpus_root, config.corpus_path)
        split = split_corpus(
            files,
            self._settings.corpus_root,
            folder.work,
            config.holdout_fraction,
            config.seed,
            text=config.text_spec(),
        )
        manifest.durations.split_s = time.perf_counter() - started
        log.info(
            "corpus_split",
            files=len(files),
            bytes=split.total_bytes,
            train_lines=split.train_lines,
            holdout_lines=split.holdout_lines,
        )
        return split
