"""The tokenizer of a model folder to fine-tune, registered as a completed tokenizer.

The folder's `tokenizer.json` (with its `tokenizer_config.json` and
`special_tokens_map.json`, when present) is copied into a tokenizer folder of its own, under
the `hf` method, so that encoding, the dashboard and the run's export use it like any other.
A folder whose `tokenizer.json` is already registered reuses that record.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from model_trainer.core.contracts.events import utc_now
from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.ids import new_id
from model_trainer.core.job_status import JobStatus
from model_trainer.infra.atomic import make_readable
from model_trainer.jobs.layout import ArtifactLayout
from model_trainer.tokenizers.hf_export import TOKENIZER_CONFIG
from model_trainer.tokenizers.hf_handle import TOKENIZER_JSON
from model_trainer.tokenizers.manifest import (
    TOKENIZER_MANIFESTS,
    ImportedFrom,
    TokenizerManifest,
    TokenizerTrainConfig,
)
from model_trainer.tokenizers.registry import TokenizerRegistry
from model_trainer.tokenizers.stats import TokenizerStats

IMPORTED_METHOD = "hf"
"""The tokenizer plugin that reads a model folder's `tokenizer.json` as it came."""
COPIED = (TOKENIZER_JSON, TOKENIZER_CONFIG, "special_tokens_map.json")
"""What a model folder's tokenizer is made of (`tokenizer.json` is required)."""


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _registered(layout: ArtifactLayout, sha: str) -> TokenizerManifest | None:
    """A completed tokenizer imported from a `tokenizer.json` with this content, if any."""
    root = layout.tokenizers
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        try:
            manifest = TOKENIZER_MANIFESTS.read(layout.tokenizer(folder.name).manifest)
        except AppError:
            continue  # an unreadable record is reported where tokenizers are listed
        if (
            manifest is not None
            and manifest.imported_from is not None
            and manifest.imported_from.sha256 == sha
            and manifest.status is JobStatus.COMPLETED
        ):
            return manifest
    return None


def import_tokenizer(
    layout: ArtifactLayout, registry: TokenizerRegistry, folder: Path, shown: str
) -> TokenizerManifest:
    """The completed tokenizer record of the model folder `folder` (named `shown` relative to
    `MODELS_ROOT`): the one registered before for the same `tokenizer.json`, or a new one."""
    source = folder / TOKENIZER_JSON
    if not source.is_file():
        raise AppError(
            ErrorCode.DATA_INVALID,
            f"model.init_from.path '{shown}' has no {TOKENIZER_JSON}: a folder to fine-tune "
            "brings its tokenizer",
        )
    sha = file_sha256(source)
    known = _registered(layout, sha)
    if known is not None:
        return known
    tokenizer_id = new_id("tok")
    target = layout.tokenizer(tokenizer_id)
    target.path.mkdir(parents=True)
    files = [name for name in COPIED if (folder / name).is_file()]
    for name in files:
        shutil.copyfile(folder / name, target.path / name)
    make_readable(target.path)
    info = registry.get(IMPORTED_METHOD).load(target.path).info()
    now = utc_now()
    manifest = TokenizerManifest(
        tokenizer_id=tokenizer_id,
        status=JobStatus.COMPLETED,
        config=TokenizerTrainConfig(
            method=IMPORTED_METHOD,
            vocab_size=info.vocab_size,
            corpus_path=shown,
            holdout_fraction=0.0,
        ),
        created_at=now,
        started_at=now,
        finished_at=now,
        backend=IMPORTED_METHOD,
        stats=_no_holdout(info.vocab_size),
        files=files,
        main_file=TOKENIZER_JSON,
        imported_from=ImportedFrom(path=shown, sha256=sha),
    )
    TOKENIZER_MANIFESTS.write(target.manifest, manifest)  # last: the record marks it whole
    return manifest


def _no_holdout(vocab_size: int) -> TokenizerStats:
    """Statistics of a tokenizer measured on no holdout: its vocabulary, and no ratios."""
    return TokenizerStats(
        vocab_size=vocab_size,
        holdout_lines=0,
        holdout_chars=0,
        holdout_words=0,
        token_count=0,
        unknown_tokens=0,
        unknown_token_rate=None,
        coverage=None,
        char_coverage=None,
        tokens_per_char=None,
        tokens_per_word=None,
    )
