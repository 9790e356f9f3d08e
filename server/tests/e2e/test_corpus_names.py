"""Hostile corpus trees on the real stack (issue 18): file names that are not UTF-8, folders
nested 1,000 deep. Listing and training agree on what is skipped, and nothing answers 500."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from model_trainer.api.schemas.common import ErrorBody
from model_trainer.api.schemas.corpus import CorpusPublic
from model_trainer.api.schemas.runs import RunPublic, RunQueued
from model_trainer.api.schemas.tokenizers import TokenizerPublic, TokenizerQueued
from model_trainer.core.settings import Settings
from model_trainer.infra.paths import MAX_FOLDER_DEPTH

from .conftest import story

pytestmark = pytest.mark.timeout(300)

LATIN1 = b"caf\xe9.txt"
"""A name from an old archive: Latin-1, not UTF-8 (Python reads it as 'caf\\udce9.txt')."""
SHOWN = "caf\\xe9.txt"
"""How the API shows it: the byte escaped, printable."""


def _bytes_path(folder: Path, name: bytes) -> bytes:
    return os.fsencode(folder) + b"/" + name


@pytest.fixture()
def archive(stack_settings: Settings) -> Iterator[Path]:
    """`old/` holds a UTF-8 text, a Latin-1 named text and folder, and a link to the text;
    `only-latin1/` holds nothing else."""
    root = stack_settings.corpus_root
    old, only = root / "old", root / "only-latin1"
    old.mkdir()
    only.mkdir()
    (old / "good.txt").write_text(story(60, 4), encoding="utf-8")
    for folder in (old, only):
        with open(_bytes_path(folder, LATIN1), "wb") as handle:
            handle.write(story(30, 5).encode("utf-8"))
    os.mkdir(_bytes_path(old, b"d\xe9j\xe0"))
    with open(_bytes_path(old, b"d\xe9j\xe0") + b"/inner.txt", "wb") as handle:
        handle.write(b"inside a folder whose name is not UTF-8\n")
    os.symlink(LATIN1, _bytes_path(old, b"alias.txt"))
    os.symlink(b"old/d\xe9j\xe0", _bytes_path(root, b"via-link"))
    yield old
    shutil.rmtree(os.fsencode(old))
    shutil.rmtree(os.fsencode(only))
    os.unlink(_bytes_path(root, b"via-link"))


def _wait_tokenizer(api: TestClient, answer: bytes) -> TokenizerPublic:
    tokenizer_id = TokenizerQueued.model_validate_json(answer).tokenizer_id
    deadline = time.monotonic() + 120
    while True:
        view = TokenizerPublic.model_validate_json(api.get(f"/tokenizers/{tokenizer_id}").content)
        if view.status in ("completed", "failed"):
            return view
        assert time.monotonic() < deadline, view.status
        time.sleep(0.2)


def _char(corpus_path: str) -> dict[str, object]:
    """The body of a char tokenizer request on `corpus_path`."""
    return {"method": "char", "vocab_size": 100, "corpus_path": corpus_path}


def _train_tokenizer(api: TestClient, corpus_path: str) -> TokenizerPublic:
    answer = api.post("/tokenizers/train", json=_char(corpus_path))
    assert answer.status_code == 202, answer.text
    return _wait_tokenizer(api, answer.content)


def _refusal(response_status: int, content: bytes) -> tuple[int, str, str]:
    error = ErrorBody.model_validate_json(content)
    return response_status, error.code, error.message


def test_names_that_are_not_utf8_are_skipped_and_listed_why(api: TestClient, archive: Path) -> None:
    listing = api.get("/corpus", params={"path": "old"})
    assert listing.status_code == 200, listing.text
    folder = CorpusPublic.model_validate_json(listing.content)
    assert [(e.name, e.files) for e in folder.data] == [("alias.txt", 1), ("good.txt", 1)]
    assert [(s.name, s.path) for s in folder.skipped] == [
        ("caf\\xe9.txt", "old/caf\\xe9.txt"),
        ("d\\xe9j\\xe0", "old/d\\xe9j\\xe0"),
    ]
    assert all(s.reason == "its name is not valid UTF-8" for s in folder.skipped)
    root = api.get("/corpus")
    assert root.status_code == 200, root.text
    shown = CorpusPublic.model_validate_json(root.content)
    assert {s.path for s in shown.skipped} >= {"old/caf\\xe9.txt", "only-latin1/caf\\xe9.txt"}
    # Training reads what the listing promised: the text, and the link by its target's name.
    tokenizer = _train_tokenizer(api, "old")
    assert tokenizer.status == "completed" and tokenizer.corpus is not None, tokenizer.message
    assert tokenizer.corpus.files == ["old/caf\\xe9.txt", "old/good.txt"]
    assert folder.files == len(tokenizer.corpus.files)


def test_a_corpus_of_such_names_only_is_refused_once_naming_them(
    api: TestClient, archive: Path
) -> None:
    answer = api.post("/tokenizers/train", json=_char("only-latin1"))
    status, code, message = _refusal(answer.status_code, answer.content)
    assert (status, code) == (400, "CORPUS_EMPTY")
    assert f"only-latin1/{SHOWN}" in message and "not valid UTF-8" in message
    # Named directly: JSON can carry the lone surrogate Python reads the name as, but no
    # request field takes it; a link to a folder of such a name is refused as unreadable.
    status, code, message = _refusal(*_post(api, "/tokenizers/train", _char("old/caf\udce9.txt")))
    assert (status, code) == (422, "CONFIG_INVALID") and message.startswith("corpus_path: ")
    for answer in (
        api.post("/tokenizers/train", json=_char("via-link")),
        api.get("/corpus", params={"path": "via-link"}),
    ):
        status, code, message = _refusal(answer.status_code, answer.content)
        assert (status, code) == (400, "DATA_INVALID"), message
        assert "'d\\xe9j\\xe0', whose name is not valid UTF-8" in message


def _post(api: TestClient, url: str, body: dict[str, object]) -> tuple[int, bytes]:
    """`body` sent as JSON with `\\uXXXX` escapes, as a client's encoder writes lone surrogates."""
    raw = json.dumps(body, ensure_ascii=True).encode("ascii")
    response = api.post(url, content=raw, headers={"Content-Type": "application/json"})
    return response.status_code, response.content


def test_a_run_on_such_a_folder_trains_and_records_printable_names(
    api: TestClient, archive: Path
) -> None:
    tokenizer = _train_tokenizer(api, "old")
    assert tokenizer.status == "completed", tokenizer.message
    body: dict[str, object] = {
        "model": {"family": "gpt2", "size": "nano", "n_layer": 1, "n_head": 2, "n_embd": 32}
        | {"max_seq_len": 16},
        "data": {"tokenizer_id": tokenizer.tokenizer_id, "corpus_path": "old"},
        "trainer": {"max_steps": 3, "batch_size": 2, "eval_interval": 3, "eval_steps": 1},
    }
    answer = api.post("/runs/train", json=body)
    assert answer.status_code == 202, answer.text
    run_id = RunQueued.model_validate_json(answer.content).run_id
    deadline = time.monotonic() + 180
    while True:
        run = RunPublic.model_validate_json(api.get(f"/runs/{run_id}").content)
        if run.status in ("completed", "failed", "cancelled"):
            break
        assert time.monotonic() < deadline, run.status
        time.sleep(0.2)
    assert run.status == "completed", (run.error_code, run.message)
    assert run.dataset is not None and run.dataset.files == ["old/caf\\xe9.txt", "old/good.txt"]
    assert run.last_error is None


def _nest(top: Path, levels: int) -> None:
    """`top/d/d/.../d`, `levels` deep, each made relative to its parent's descriptor (no path
    grows with the depth), with a text at a few levels."""
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for level in range(1, levels + 1):
            os.mkdir("d", dir_fd=fd)
            sub = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = sub
            if level in (1, MAX_FOLDER_DEPTH - 1, MAX_FOLDER_DEPTH, levels):
                out = os.open(f"at{level}.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
                os.write(out, f"level {level}\n".encode())
                os.close(out)
    finally:
        os.close(fd)


@pytest.fixture()
def deep(stack_settings: Settings) -> Iterator[Path]:
    top = stack_settings.corpus_root / "deep"
    top.mkdir()
    (top / "top.txt").write_text("at the top\n", encoding="utf-8")
    _nest(top, 1000)
    yield top
    # Bottom up (shutil.rmtree recurses once per level); each path stays under PATH_MAX.
    for level in range(1000, 0, -1):
        folder = top.joinpath(*["d"] * level)
        for child in folder.iterdir():
            child.unlink()
        folder.rmdir()
    shutil.rmtree(top)


def test_folders_nested_1000_deep_are_cut_at_the_limit_in_listing_and_training(
    api: TestClient, deep: Path
) -> None:
    limit = MAX_FOLDER_DEPTH  # `deep` is level 1 below the root, so `d` x (limit - 1) is full
    listing = api.get("/corpus", params={"path": "deep"})
    assert listing.status_code == 200, listing.text
    folder = CorpusPublic.model_validate_json(listing.content)
    cut = "/".join(["deep"] + ["d"] * limit)
    assert [(s.path, s.reason) for s in folder.skipped] == [
        (cut, f"more than {limit} folders deep")
    ]
    # The files up to the limit: top.txt, at1.txt and at(limit-1).txt; not at(limit).txt,
    # which lies `limit` + 1 folders deep.
    assert folder.files == 3
    root = api.get("/corpus")
    assert root.status_code == 200, root.text
    tokenizer = _train_tokenizer(api, "deep")
    assert tokenizer.status == "completed" and tokenizer.corpus is not None, tokenizer.message
    assert len(tokenizer.corpus.files) == folder.files
    # A path naming a folder past the limit is refused as the walk would never reach it.
    too_deep = "deep/" + "/".join(["d"] * limit)
    for response in (
        api.get("/corpus", params={"path": too_deep}),
        api.post("/tokenizers/train", json=_char(too_deep)),
    ):
        status, code, message = _refusal(response.status_code, response.content)
        assert (status, code) == (400, "DATA_INVALID") and "folders deep" in message


def test_a_query_parameter_too_long_is_named_as_such(api: TestClient) -> None:
    response = api.get("/corpus", params={"path": "x" * 1025})
    status, code, message = _refusal(response.status_code, response.content)
    assert (status, code) == (422, "CONFIG_INVALID")
    assert message.startswith("path: ") and "body" not in message, message
