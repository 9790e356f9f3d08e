"""Requests crafted to leave the corpus or artifact roots: `..`, absolute paths, encoded
separators, symlinks that point out, and ids that are really paths."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from model_trainer.api.schemas.common import ErrorBody
from model_trainer.api.schemas.tokenizers import TokenizerPublic, TokenizerQueued
from model_trainer.core.settings import Settings


def _refused(response_status: int, content: bytes, allowed: set[int]) -> bool:
    body = ErrorBody.model_validate_json(content)
    return response_status in allowed and bool(body.code) and bool(body.request_id)


def test_corpus_paths_cannot_leave_the_corpus_root(
    api: TestClient, stack_settings: Settings
) -> None:
    outside = stack_settings.corpus_root.parent / "secret.txt"
    outside.write_text("not for training\n", encoding="utf-8")
    link = stack_settings.corpus_root / "link-out.txt"
    if not link.is_symlink():
        link.symlink_to(outside)
    for path in [
        "../secret.txt",
        "books/../../secret.txt",
        str(outside),
        "link-out.txt",
        "..%2Fsecret.txt",
        "%2e%2e/secret.txt",
        "books\\..\\..\\secret.txt",
        "story.txt\x00.png",
    ]:
        body: dict[str, object] = {"method": "char", "vocab_size": 100, "corpus_path": path}
        response = api.post("/tokenizers/train", json=body)
        assert _refused(response.status_code, response.content, {400, 404, 422}), path


@pytest.fixture(scope="module")
def tokenizer(api: TestClient) -> str:
    body: dict[str, object] = {"method": "char", "vocab_size": 100, "corpus_path": "story.txt"}
    tok = TokenizerQueued.model_validate_json(
        api.post("/tokenizers/train", json=body).content
    ).tokenizer_id
    deadline = time.monotonic() + 120
    while TokenizerPublic.model_validate_json(api.get(f"/tokenizers/{tok}").content).status not in (
        "completed",
        "failed",
    ):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    return tok


def test_artifact_downloads_cannot_leave_their_folder(
    api: TestClient, stack_settings: Settings, tokenizer: str
) -> None:
    folder = stack_settings.artifacts_root / "tokenizers" / tokenizer
    link = folder / "peek"
    if not link.is_symlink():
        link.symlink_to(stack_settings.corpus_root)
    base = f"/artifacts/tokenizers/{tokenizer}/download"
    for query in [
        "../../../../etc/hostname",
        "/etc/hostname",
        "..%2F..%2F..%2Fetc%2Fhostname",
        "%2e%2e/%2e%2e/manifest.json",
        "peek/story.txt",
        "export/../../other",
    ]:
        response = api.get(f"{base}?path={query}")
        assert _refused(response.status_code, response.content, {400, 404}), query
    assert api.get(f"{base}?path=manifest.json").status_code == 200
    listing = api.get(f"/artifacts/tokenizers/{tokenizer}")
    assert "peek" not in listing.text  # a link out is not even listed


def test_ids_that_are_paths_never_reach_the_disk(api: TestClient) -> None:
    for bad in ["..", "..%2F..%2Fetc", "run-..%2F..%2Ftmp", "tok-aaaaaaaa-aaaaaaa/"]:
        for path in [f"/runs/{bad}", f"/tokenizers/{bad}", f"/artifacts/models/{bad}"]:
            response = api.get(path)
            assert response.status_code in (400, 404, 405), path
            if response.headers.get("content-type", "").startswith("application/json"):
                assert ErrorBody.model_validate_json(response.content).code, path
