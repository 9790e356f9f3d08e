"""Tokenizer jobs as the lifecycle and the reconciler see them."""

from __future__ import annotations

from pathlib import Path

from model_trainer.core.errors import ErrorCode
from model_trainer.jobs.kind import JobKind
from model_trainer.jobs.layout import TokenizerFolder
from model_trainer.jobs.targets import JobTarget
from model_trainer.tokenizers.manifest import TOKENIZER_MANIFESTS, TokenizerManifest


class TokenizerKind(JobKind[TokenizerManifest]):
    """A tokenizer has no checkpoint: a new start begins again at the corpus split."""

    noun = "tokenizer"
    category = "tokenizer"
    target = JobTarget.TRAIN_TOKENIZER
    missing = ErrorCode.NOT_FOUND
    resumes = False

    @property
    def index(self) -> Path:
        return self.layout.tokenizers

    def folder(self, job_id: str) -> TokenizerFolder:
        return self.layout.tokenizer(job_id)

    def read(self, job_id: str) -> TokenizerManifest | None:
        return TOKENIZER_MANIFESTS.read(self.folder(job_id).manifest)

    def write(self, manifest: TokenizerManifest) -> None:
        TOKENIZER_MANIFESTS.write(self.folder(manifest.tokenizer_id).manifest, manifest)

    def job_id(self, manifest: TokenizerManifest) -> str:
        return manifest.tokenizer_id
