"""The tokenizer of a model folder to fine-tune, registered as a completed tokenizer.

The folder's `tokenizer.json` (with its `tokenizer_config.json` and
`special_tokens_map.json`, when present) is copied into a tokenizer folder of its own, under
the `hf` method, so that encoding, the dashboard and the run's export use it like any other.

The tokenizer's id is derived from the sha256 of what is copied, and its folder is built
under a temporary name, checked there, and renamed into place whole: two requests importing
the same tokenizer at once end with one record (the second rename fails and the second
request reuses the first's), and a bad `tokenizer.json` leaves nothing behind.
"""

from __future__ import annotations

import errno
import hashlib
import os
import secrets
import shutil
import stat
from pathlib import Path

from pydantic import TypeAdapter, ValidationError
from tokenizers import Tokenizer

from model_trainer.core.contracts.events import utc_now
from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.job_status import JobStatus
from model_trainer.core.json_types import JsonObject, JsonValue
from model_trainer.core.logging import Log
from model_trainer.core.request_model import MAX_TOKEN_ID
from model_trainer.infra.atomic import make_readable, storage_error, write_bytes
from model_trainer.infra.storage import storage
from model_trainer.jobs.layout import ArtifactLayout, ModelFolder
from model_trainer.tokenizers.hf_export import TOKENIZER_CONFIG, special_token_text
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
GENERATION_CONFIG = "generation_config.json"
"""Where a model folder may name its bos and eos ids (else its `config.json`)."""
FIELD = "model.init_from"
_JSON: TypeAdapter[JsonObject] = TypeAdapter(JsonObject)
_log = Log("tokenizer")


def _refused(shown: str, name: str, why: str) -> AppError:
    return AppError(ErrorCode.DATA_INVALID, f"{FIELD}: '{shown}' {name} {why}")


def _read_inside(folder: Path, name: str, shown: str) -> bytes | None:
    """The bytes of the regular file `name` of the model folder; None when it has none. A
    symbolic link is refused: it could name a file outside `MODELS_ROOT`."""
    try:
        fd = os.open(folder / name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _refused(shown, name, "is a symbolic link; copy the file in") from None
        raise _refused(shown, name, f"cannot be read ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise _refused(shown, name, "is not a regular file")
        return handle.read()


def _json_object(data: bytes, shown: str, name: str) -> JsonObject:
    try:
        return _JSON.validate_json(data)
    except ValidationError:
        raise _refused(shown, name, "is not a JSON object") from None


def _parsed(data: bytes, shown: str) -> Tokenizer:
    """The `tokenizer.json` as the `tokenizers` library reads it, with at least 2 tokens."""
    try:
        tokenizer = Tokenizer.from_str(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise _refused(shown, TOKENIZER_JSON, "is not UTF-8") from None
    except Exception as exc:  # noqa: BLE001 - `tokenizers` raises bare Exception for bad files
        _log.warning("imported_tokenizer_unreadable", path=shown, error=str(exc)[:500])
        raise _refused(shown, TOKENIZER_JSON, f"cannot be read: {str(exc)[:300]}") from None
    vocab = tokenizer.get_vocab_size(with_added_tokens=True)
    if not 2 <= vocab <= MAX_TOKEN_ID:
        raise _refused(shown, TOKENIZER_JSON, f"has {vocab} tokens; a tokenizer needs at least 2")
    return tokenizer


def _first_id(value: JsonValue) -> int | None:
    """A `bos_token_id`/`eos_token_id`: an int, or the first of a list of them (None when
    it is neither, or is no token id)."""
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 <= value <= MAX_TOKEN_ID else None  # `id_to_token` takes a u32


def _with_fallback_specials(
    config: JsonObject, folder: Path, shown: str, tokenizer: Tokenizer
) -> JsonObject:
    """`tokenizer_config.json` with the bos and eos tokens it lacks named from the folder's
    `generation_config.json` or `config.json` ids, so that the export records their ids."""
    missing = [key for key in ("bos_token", "eos_token") if config.get(key) is None]
    sources = [GENERATION_CONFIG, ModelFolder(folder).config.name]
    for name in sources if missing else []:
        data = _read_inside(folder, name, shown)
        found = _json_object(data, shown, name) if data is not None else {}
        for key in list(missing):
            token_id = _first_id(found.get(f"{key}_id"))
            token = tokenizer.id_to_token(token_id) if token_id is not None else None
            if token is not None:
                config = config | {key: token}
                missing.remove(key)
    return config


def _sources(folder: Path, shown: str) -> dict[str, bytes]:
    """The files to copy, as they will be written: `tokenizer_config.json` checked and
    completed with the bos and eos tokens the folder names elsewhere."""
    files = {n: d for n in COPIED if (d := _read_inside(folder, n, shown)) is not None}
    if TOKENIZER_JSON not in files:
        raise AppError(
            ErrorCode.DATA_INVALID,
            f"model.init_from.path '{shown}' has no {TOKENIZER_JSON}: a folder to fine-tune "
            "brings its tokenizer",
        )
    tokenizer = _parsed(files[TOKENIZER_JSON], shown)
    stored = files.get(TOKENIZER_CONFIG)
    config = _json_object(stored, shown, TOKENIZER_CONFIG) if stored is not None else {}
    for key in ("bos_token", "eos_token", "pad_token", "unk_token"):
        value = config.get(key)
        if value is not None and special_token_text(value) is None:
            raise _refused(shown, TOKENIZER_CONFIG, f"gives {key} as neither text nor a token")
    completed = _with_fallback_specials(config, folder, shown, tokenizer)
    if completed != config:
        base: JsonObject = (
            {} if stored is not None else {"tokenizer_class": "PreTrainedTokenizerFast"}
        )
        files[TOKENIZER_CONFIG] = _JSON.dump_json(base | completed, indent=2) + b"\n"
    return files


def _content_id(files: dict[str, bytes]) -> str:
    """`tok-<16 hex digits>` of the sha256 of the files, names and lengths included, in the
    shape every id has (`core.ids`)."""
    digest = hashlib.sha256()
    for name in sorted(files):
        data = files[name]
        digest.update(f"{name}\0{len(data)}\0".encode())
        digest.update(data)
    hexed = digest.hexdigest()
    return f"tok-{hexed[:8]}-{hexed[8:16]}"


def _published(layout: ArtifactLayout, tokenizer_id: str) -> TokenizerManifest | None:
    """The completed imported tokenizer of this id, if one was published."""
    manifest = TOKENIZER_MANIFESTS.read(layout.tokenizer(tokenizer_id).manifest)
    if manifest is None:
        return None
    if manifest.imported_from is None or manifest.status is not JobStatus.COMPLETED:
        raise AppError(
            ErrorCode.STORAGE_FAILED,
            f"tokenizer '{tokenizer_id}' exists and is not an imported one",
        )
    return manifest


def import_tokenizer(
    layout: ArtifactLayout, registry: TokenizerRegistry, folder: Path, shown: str
) -> TokenizerManifest:
    """The completed tokenizer record of the model folder `folder` (named `shown` relative to
    `MODELS_ROOT`): the one registered before for the same files, or a new one. Idempotent,
    and safe to call concurrently: the id comes from the content, and a folder is published
    by a rename that fails when another request published it first."""
    files = _sources(folder, shown)
    tokenizer_id = _content_id(files)
    known = _published(layout, tokenizer_id)
    if known is not None:
        return known
    staging = layout.tokenizers / f".{tokenizer_id}.{secrets.token_hex(4)}.tmp"
    try:
        manifest = _build(layout, registry, staging, files, (tokenizer_id, shown))
        return _publish(layout, staging, manifest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _build(
    layout: ArtifactLayout,
    registry: TokenizerRegistry,
    staging: Path,
    files: dict[str, bytes],
    named: tuple[str, str],
) -> TokenizerManifest:
    """Write the files and the record into `staging`, loaded there by the `hf` plugin."""
    tokenizer_id, shown = named
    try:
        staging.mkdir(parents=True)
    except OSError as exc:
        raise storage_error(exc, staging.name) from exc
    for name, data in files.items():
        write_bytes(staging / name, data)
    make_readable(staging)
    try:
        info = registry.get(IMPORTED_METHOD).load(staging).info()
    except AppError:
        raise
    except Exception as exc:  # noqa: BLE001 - `tokenizers` raises bare Exception for bad files
        _log.warning("imported_tokenizer_unloadable", path=shown, error=str(exc)[:500])
        raise _refused(shown, TOKENIZER_JSON, f"cannot be loaded: {str(exc)[:300]}") from None
    try:
        manifest = _record(tokenizer_id, shown, info.vocab_size, files)
    except ValidationError as exc:
        raise _refused(shown, TOKENIZER_JSON, f"gives a record that is not valid: {exc}") from None
    TOKENIZER_MANIFESTS.write(layout.tokenizer(staging.name).manifest, manifest)
    return manifest


def _publish(
    layout: ArtifactLayout, staging: Path, manifest: TokenizerManifest
) -> TokenizerManifest:
    """Rename `staging` into place; the record another request published first, if any (a
    rename onto a folder that is not empty fails; an empty one is no tokenizer)."""
    target = layout.tokenizer(manifest.tokenizer_id).path
    try:
        os.rename(staging, target)
    except OSError as exc:
        if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise storage_error(exc, target.name) from exc
        known = _published(layout, manifest.tokenizer_id)
        if known is None:
            raise storage_error(exc, target.name) from exc
        return known
    # Workers elsewhere read it from the shared store: its files, then its manifest
    storage().push_folder(target, last=layout.tokenizer(manifest.tokenizer_id).manifest)
    return manifest


def _record(
    tokenizer_id: str, shown: str, vocab_size: int, files: dict[str, bytes]
) -> TokenizerManifest:
    now = utc_now()
    return TokenizerManifest(
        tokenizer_id=tokenizer_id,
        status=JobStatus.COMPLETED,
        config=TokenizerTrainConfig(
            method=IMPORTED_METHOD,
            vocab_size=vocab_size,
            corpus_path=shown,
            holdout_fraction=0.0,
        ),
        created_at=now,
        started_at=now,
        finished_at=now,
        backend=IMPORTED_METHOD,
        stats=_no_holdout(vocab_size),
        files=[name for name in COPIED if name in files],
        main_file=TOKENIZER_JSON,
        imported_from=ImportedFrom(
            path=shown, sha256=hashlib.sha256(files[TOKENIZER_JSON]).hexdigest()
        ),
    )


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
