"""Tokenizers through the real stack: every method, files and folders, bad input, headers."""

from __future__ import annotations

import hashlib
import time

import pytest
from fastapi.testclient import TestClient
from tokenizers import Tokenizer

from model_trainer.api.schemas.common import ErrorBody, Health
from model_trainer.api.schemas.tokenizers import (
    EncodePublic,
    TokenizerPublic,
    TokenizerQueued,
    TokenizersPublic,
)
from model_trainer.core.settings import Settings
from model_trainer.plugins.tokenizers.spm_adapter import SpmProcessor
from model_trainer.tokenizers.manifest import TokenizerManifest

pytestmark = pytest.mark.timeout(300)

SAMPLE = "The king spoke with every friend."


def _train(api: TestClient, body: dict[str, object]) -> TokenizerPublic:
    response = api.post("/tokenizers/train", json=body)
    assert response.status_code == 202, response.text
    queued = TokenizerQueued.model_validate_json(response.content)
    assert queued.status == "queued"
    deadline = time.monotonic() + 120
    while True:
        view = TokenizerPublic.model_validate_json(
            api.get(f"/tokenizers/{queued.tokenizer_id}").content
        )
        if view.status in ("completed", "failed"):
            return view
        assert time.monotonic() < deadline
        time.sleep(0.2)


def _body(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "method": "bpe",
        "vocab_size": 300,
        "min_frequency": 2,
        "corpus_path": "story.txt",
        "holdout_fraction": 0.1,
        "seed": 1,
    }
    return base | overrides


@pytest.mark.parametrize(
    ("method", "corpus", "extra"),
    [
        ("bpe", "story.txt", {}),
        ("bpe", "books", {}),
        ("char", "story.txt", {"vocab_size": 60, "min_frequency": 1}),
        ("sentencepiece", "books", {"options": {"model_type": "unigram"}}),
        ("sentencepiece", "story.txt", {"options": {"model_type": "bpe"}}),
    ],
)
def test_each_method_trains_and_loads_with_its_own_library(
    api: TestClient,
    stack_settings: Settings,
    method: str,
    corpus: str,
    extra: dict[str, object],
) -> None:
    view = _train(api, _body(method=method, corpus_path=corpus, **extra))
    assert view.status == "completed", view.message
    stats = view.stats
    assert stats is not None
    assert 0 < stats.vocab_size <= int(str(_body(**extra)["vocab_size"]))
    assert stats.tokens_per_char is not None and stats.tokens_per_word is not None
    assert stats.unknown_token_rate is not None and stats.coverage is not None
    assert stats.char_coverage is not None
    assert stats.token_count > 0 and stats.tokens_per_char > 0 and stats.tokens_per_word > 0
    assert 0 <= stats.unknown_token_rate <= 1 and 0 <= stats.coverage <= 1
    assert 0 <= stats.char_coverage <= 1
    folder = stack_settings.artifacts_root / "tokenizers" / view.tokenizer_id
    if method == "sentencepiece":
        processor = SpmProcessor(folder / "tokenizer.model")
        assert processor.decode(processor.encode_batch([SAMPLE])[0]) == SAMPLE
    else:
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        assert tokenizer.decode(tokenizer.encode(SAMPLE).ids) == SAMPLE
    manifest = TokenizerManifest.model_validate_json((folder / "manifest.json").read_bytes())
    assert manifest.status == "completed" and manifest.versions["tokenizers"]
    assert manifest.corpus is not None and manifest.durations.total_s > 0
    if corpus == "story.txt":
        data = (stack_settings.corpus_root / corpus).read_bytes()
        assert manifest.corpus.sha256 == hashlib.sha256(data).hexdigest()
    else:
        assert len(manifest.corpus.files) == 3
    records = (folder / "logs.jsonl").read_text(encoding="utf-8").splitlines()
    assert records and all(view.tokenizer_id in line for line in records)
    assert not list(folder.rglob(".*")), "scratch files left behind"
    text: dict[str, str] = {"text": SAMPLE}
    encoded = EncodePublic.model_validate_json(
        api.post(f"/tokenizers/{view.tokenizer_id}/encode", json=text).content
    )
    assert encoded.count == len(encoded.ids) == len(encoded.tokens) > 0


def test_list_is_newest_first(api: TestClient) -> None:
    first = _train(api, _body(vocab_size=280))
    second = _train(api, _body(vocab_size=290))
    listed = TokenizersPublic.model_validate_json(api.get("/tokenizers").content)
    ids = [t.tokenizer_id for t in listed.data]
    assert ids.index(second.tokenizer_id) < ids.index(first.tokenizer_id)


def test_invalid_utf8_fails_naming_file_and_offset(
    api: TestClient, stack_settings: Settings
) -> None:
    (stack_settings.corpus_root / "broken.txt").write_bytes(b"fine line\n" * 5 + b"bad \xff here\n")
    view = _train(api, _body(corpus_path="broken.txt"))
    assert view.status == "failed" and view.error_code == "CORPUS_NOT_UTF8"
    assert view.message is not None and "broken.txt" in view.message and "54" in view.message


@pytest.mark.parametrize(
    ("patch", "status", "code"),
    [
        ({"corpus_path": "../../etc/hostname"}, 400, "PATH_OUTSIDE_ROOT"),
        ({"corpus_path": "/etc/hostname"}, 400, "PATH_OUTSIDE_ROOT"),
        ({"corpus_path": "outside-link.txt"}, 400, "PATH_OUTSIDE_ROOT"),
        ({"corpus_path": "no-such-file.txt"}, 404, "DATA_NOT_FOUND"),
        ({"vocab_size": 0}, 422, "CONFIG_INVALID"),
        ({"method": "wordsoup"}, 422, "UNKNOWN_BACKEND"),
        ({"method": "Not A Name"}, 422, "CONFIG_INVALID"),
        ({"unexpected": 1}, 422, "CONFIG_INVALID"),
        ({"model_type": "bpe"}, 422, "CONFIG_INVALID"),
        ({"options": {"model_type": "bpe"}}, 422, "CONFIG_INVALID"),
        ({"options": {"model_type": "word"}, "method": "sentencepiece"}, 422, "CONFIG_INVALID"),
        ({"holdout_fraction": 0.9}, 422, "CONFIG_INVALID"),
    ],
)
def test_bad_input_is_refused_with_a_code(
    api: TestClient, stack_settings: Settings, patch: dict[str, object], status: int, code: str
) -> None:
    link = stack_settings.corpus_root / "outside-link.txt"
    if not link.exists():
        link.symlink_to("/etc/hostname")
    response = api.post("/tokenizers/train", json=_body(**patch))
    assert response.status_code == status, response.text
    body = ErrorBody.model_validate_json(response.content)
    assert body.code == code and body.message and body.request_id
    if status == 422:
        field = next(iter(patch))
        assert field in body.message or "body" in body.message


@pytest.mark.parametrize(
    ("method", "vocab_size"),
    [("bpe", 256), ("bpe", 2), ("sentencepiece", 3)],
)
def test_a_vocabulary_the_method_cannot_build_is_refused_naming_the_field(
    api: TestClient, stack_settings: Settings, method: str, vocab_size: int
) -> None:
    """Byte-level BPE always has 256 bytes and its end of text; SentencePiece its three meta
    pieces and a character: the method's `check` refuses before anything is queued."""
    before = set((stack_settings.artifacts_root / "tokenizers").glob("*"))
    response = api.post("/tokenizers/train", json=_body(method=method, vocab_size=vocab_size))
    assert response.status_code == 422, response.text
    body = ErrorBody.model_validate_json(response.content)
    assert body.code == "CONFIG_INVALID"
    assert body.message.startswith("vocab_size: ") and str(vocab_size) in body.message
    assert set((stack_settings.artifacts_root / "tokenizers").glob("*")) == before


def test_the_manifest_records_min_frequency_only_where_the_method_uses_it(
    api: TestClient, stack_settings: Settings
) -> None:
    """SentencePiece has no minimum frequency: the request's is not recorded as applied; the
    character method counts, and an unset one is recorded as the default it applied."""
    ignored = _train(api, _body(method="sentencepiece", vocab_size=60, min_frequency=5))
    counted = _train(api, _body(method="char", vocab_size=60, min_frequency=None))
    assert ignored.status == counted.status == "completed", (ignored.message, counted.message)
    assert ignored.config.min_frequency is None and counted.config.min_frequency == 2
    folder = stack_settings.artifacts_root / "tokenizers" / ignored.tokenizer_id
    manifest = TokenizerManifest.model_validate_json((folder / "manifest.json").read_bytes())
    assert manifest.config.min_frequency is None and manifest.config.vocab_size == 60


def test_unknown_tokenizer_and_request_ids(api: TestClient) -> None:
    response = api.get("/tokenizers/tok-00000000-00000000", headers={"X-Request-ID": "abc-123"})
    assert response.status_code == 404
    assert response.headers["X-Request-ID"] == "abc-123"
    assert ErrorBody.model_validate_json(response.content).request_id == "abc-123"
    assert api.get("/tokenizers/..%2F..%2Fetc").status_code == 404
    # One convention for an unknown id in the URL, whatever its kind.
    for url in ("/tokenizers/tok-00000000-00000000", "/runs/run-00000000-00000000"):
        assert ErrorBody.model_validate_json(api.get(url).content).code == "NOT_FOUND", url
    generated = api.get("/healthz").headers["X-Request-ID"]
    assert len(generated) >= 16


def test_health_and_readiness(api: TestClient) -> None:
    assert Health.model_validate_json(api.get("/healthz").content).status == "ok"
    ready = Health.model_validate_json(api.get("/readyz").content)
    assert ready.status == "ready" and ready.workers is not None and ready.workers >= 1
    schema = api.get("/openapi.json")
    assert schema.status_code == 200 and '"/tokenizers/train"' in schema.text
