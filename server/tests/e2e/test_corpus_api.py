"""`GET /corpus` on the real stack: what it lists is exactly what training reads."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from model_trainer.api.schemas.common import ErrorBody
from model_trainer.api.schemas.corpus import CorpusPublic
from model_trainer.api.schemas.tokenizers import TokenizerPublic, TokenizerQueued
from model_trainer.core.settings import Settings
from model_trainer.orchestrators.corpus import CorpusEntryKind

from .conftest import story


@pytest.fixture()
def shelf(stack_settings: Settings) -> Iterator[Path]:
    """A folder of texts, other files, hidden files, links in, out and in loops."""
    root = stack_settings.corpus_root
    shelf = root / "shelf"
    (shelf / "novels" / "long").mkdir(parents=True)
    (shelf / "novels" / "a.txt").write_text(story(40, 1), encoding="utf-8")
    (shelf / "novels" / "long" / "b.txt").write_text(story(90, 2), encoding="utf-8")
    (shelf / "novels" / "cover.png").write_bytes(b"\x89PNG" * 100)
    (shelf / "empty").mkdir()
    (shelf / ".drafts").mkdir()
    (shelf / ".drafts" / "d.txt").write_text("draft\n", encoding="utf-8")
    (shelf / ".notes.txt").write_text("hidden\n", encoding="utf-8")
    (shelf / "poem.txt").write_text(story(5, 3), encoding="utf-8")
    (shelf / "again.txt").symlink_to("poem.txt")
    (shelf / "same-novels").symlink_to("novels")
    outside = root.parent / "shelf-secret.txt"
    outside.write_text("not for training\n", encoding="utf-8")
    (shelf / "secret.txt").symlink_to(outside)
    (shelf / "out").symlink_to(root.parent)
    (shelf / "loop").symlink_to("loop")
    (shelf / "novels" / "up").symlink_to("..")
    yield shelf
    shutil.rmtree(shelf)
    outside.unlink()


def _list(api: TestClient, path: str | None) -> CorpusPublic:
    response = api.get("/corpus", params={"path": path} if path is not None else {})
    assert response.status_code == 200, response.text
    return CorpusPublic.model_validate_json(response.content)


def _size(path: Path) -> int:
    return path.stat().st_size


def _train_files(api: TestClient, corpus_path: str) -> list[str]:
    """The files a char tokenizer trained on `corpus_path` read, as its manifest names them."""
    body: dict[str, object] = {"method": "char", "vocab_size": 100, "corpus_path": corpus_path}
    answer = api.post("/tokenizers/train", json=body)
    assert answer.status_code == 202, answer.text
    tokenizer_id = TokenizerQueued.model_validate_json(answer.content).tokenizer_id
    deadline = time.monotonic() + 120
    while True:
        view = TokenizerPublic.model_validate_json(api.get(f"/tokenizers/{tokenizer_id}").content)
        if view.status in ("completed", "failed"):
            assert view.status == "completed" and view.corpus is not None, view.message
            return view.corpus.files
        assert time.monotonic() < deadline, view.status
        time.sleep(0.2)


def test_the_root_lists_folders_then_texts_with_sizes(
    api: TestClient, stack_settings: Settings
) -> None:
    root = stack_settings.corpus_root
    listing = _list(api, None)
    assert listing.path == "" and _list(api, "").path == ""
    entries = {e.path: e for e in listing.data}
    assert entries["story.txt"].kind is CorpusEntryKind.FILE
    assert entries["story.txt"].bytes == _size(root / "story.txt")
    books = entries["books"]
    assert books.kind is CorpusEntryKind.FOLDER and books.files == 3
    assert books.bytes == sum(_size(p) for p in (root / "books").glob("*.txt"))
    files = [e.kind is CorpusEntryKind.FILE for e in listing.data]
    assert files == sorted(files)  # folders first
    assert listing.count == len(listing.data)
    assert (listing.bytes, listing.files) == (
        sum(e.bytes for e in listing.data),
        sum(e.files for e in listing.data),
    )


def test_a_folder_lists_exactly_what_training_on_it_reads(api: TestClient, shelf: Path) -> None:
    listing = _list(api, "shelf")
    assert [(e.name, e.kind, e.files) for e in listing.data] == [
        ("empty", CorpusEntryKind.FOLDER, 0),
        ("novels", CorpusEntryKind.FOLDER, 2),
        ("again.txt", CorpusEntryKind.FILE, 1),
        ("poem.txt", CorpusEntryKind.FILE, 1),
    ]
    novels = listing.data[1]
    assert novels.path == "shelf/novels"
    assert novels.bytes == _size(shelf / "novels" / "a.txt") + _size(shelf / "novels/long/b.txt")
    assert listing.data[2].bytes == _size(shelf / "poem.txt")  # a link in: its target's size
    # Training on the folder reads those files, and nothing the listing left out.
    # (The manifest names a link by its target: `again.txt` is read as `poem.txt`.)
    read = _train_files(api, "shelf")
    assert read == ["shelf/poem.txt", "shelf/novels/a.txt", "shelf/novels/long/b.txt"] + [
        "shelf/poem.txt"
    ]
    assert listing.files == len(read)
    deeper = _list(api, "shelf/novels")
    assert [e.path for e in deeper.data] == ["shelf/novels/long", "shelf/novels/a.txt"]
    # A link to a folder inside the root is a way to name it, as for training.
    assert _list(api, "shelf/same-novels").path == "shelf/novels"
    assert _list(api, "shelf/novels/up").path == "shelf"  # the loop back up is harmless


def test_unusable_folders_answer_with_the_codes_training_uses(api: TestClient, shelf: Path) -> None:
    for path, status, code in [
        ("../", 400, "PATH_OUTSIDE_ROOT"),
        ("shelf/../../x", 400, "PATH_OUTSIDE_ROOT"),
        ("/etc", 400, "PATH_OUTSIDE_ROOT"),
        ("shelf/out", 400, "PATH_OUTSIDE_ROOT"),
        ("shelf/secret.txt", 400, "PATH_OUTSIDE_ROOT"),
        ("shelf/loop", 400, "DATA_INVALID"),
        ("shelf/poem.txt", 400, "DATA_INVALID"),
        ("story.txt\x00", 400, "DATA_INVALID"),
        ("shelf/missing", 404, "DATA_NOT_FOUND"),
    ]:
        response = api.get("/corpus", params={"path": path})
        error = ErrorBody.model_validate_json(response.content)
        assert (response.status_code, error.code) == (status, code), path
        assert str(shelf) not in error.message, path
    too_long = api.get("/corpus", params={"path": "x" * 1025})
    assert too_long.status_code == 422
