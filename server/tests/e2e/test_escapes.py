"""Requests crafted to leave the corpus or artifact roots: `..`, absolute paths, encoded
separators, symlinks that point out, and ids that are really paths."""

from __future__ import annotations

import io
import shutil
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from model_trainer.api.routes.artifacts import ArtifactListing
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


def _train(api: TestClient, corpus_path: str) -> TokenizerPublic:
    body: dict[str, object] = {"method": "char", "vocab_size": 100, "corpus_path": corpus_path}
    tok = TokenizerQueued.model_validate_json(
        api.post("/tokenizers/train", json=body).content
    ).tokenizer_id
    deadline = time.monotonic() + 120
    while (
        view := TokenizerPublic.model_validate_json(api.get(f"/tokenizers/{tok}").content)
    ).status not in ("completed", "failed"):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    return view


def _plant_loops(folder: Path) -> None:
    """A self loop, a directory cycle, and two files pointing at each other."""
    folder.mkdir(parents=True)
    (folder / "loop").symlink_to("loop")
    (folder / "d").mkdir()
    (folder / "d" / "sub").symlink_to("..")
    (folder / "p.txt").symlink_to("q.txt")
    (folder / "q.txt").symlink_to("p.txt")


@pytest.fixture()
def loops(stack_settings: Settings) -> Iterator[Path]:
    """Loops in a corpus subfolder of their own: other tests train on the rest of the root."""
    folder = stack_settings.corpus_root / "loops"
    _plant_loops(folder)
    (folder / "ok.txt").write_bytes((stack_settings.corpus_root / "story.txt").read_bytes())
    yield folder
    shutil.rmtree(folder)


def test_symlink_loops_in_the_corpus_are_bad_input(
    api: TestClient, stack_settings: Settings, loops: Path
) -> None:
    for path in ["loops/loop", "loops/loop/x.txt", "loops/p.txt", "loops/d/sub/loop"]:
        body: dict[str, object] = {"method": "char", "vocab_size": 100, "corpus_path": path}
        response = api.post("/tokenizers/train", json=body)
        error = ErrorBody.model_validate_json(response.content)
        assert response.status_code == 400 and error.code == "DATA_INVALID", path
        assert "loop" in error.message and str(stack_settings.corpus_root) not in error.message
    # The walk of the folder neither loops nor picks up the links.
    trained = _train(api, "loops")
    assert trained.status == "completed" and trained.corpus is not None
    assert trained.corpus.files == ["loops/ok.txt"]


@pytest.fixture(scope="module")
def tokenizer(api: TestClient) -> str:
    return _train(api, "story.txt").tokenizer_id


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
            # The client tidies `/runs/..` into `/`, which leads to the dashboard.
            to_dashboard = response.url.path == "/ui/"
            assert response.status_code in (400, 404, 405) or to_dashboard, path
            if response.headers.get("content-type", "").startswith("application/json"):
                assert ErrorBody.model_validate_json(response.content).code, path


@pytest.fixture()
def planted(stack_settings: Settings) -> Iterator[Path]:
    """An artifact folder of files, hidden files, links out, links in and loops."""
    folder = stack_settings.artifacts_root / "tokenizers" / "tok-00000000-0000beef"
    (folder / "export").mkdir(parents=True)
    (folder / "export" / "model.bin").write_bytes(bytes(range(256)) * 9000)  # > 2 chunks
    (folder / "manifest.json").write_text("{}\n")
    (folder / "notes-v2.txt").write_text("x" * 700)
    (folder / ".partial").write_text("scratch\n")
    (folder / "leak.txt").symlink_to(stack_settings.corpus_root / "story.txt")
    (folder / "copy.json").symlink_to("manifest.json")
    (folder / "out").symlink_to(stack_settings.corpus_root)
    (folder / "inner").symlink_to("export")
    _plant_loops(folder / "loops")
    yield folder
    shutil.rmtree(folder)


def test_listings_show_only_what_a_download_serves(api: TestClient, planted: Path) -> None:
    base = f"/artifacts/tokenizers/{planted.name}"
    listing = api.get(base)
    assert listing.status_code == 200
    paths = ["export/model.bin", "manifest.json", "notes-v2.txt"]
    sizes = [(f.path, f.bytes) for f in ArtifactListing.model_validate_json(listing.content).files]
    assert sizes == [(p, (planted / p).stat().st_size) for p in paths]
    for path in paths:
        assert (
            api.get(f"{base}/download", params={"path": path}).content
            == (planted / path).read_bytes()
        )
    for link in [
        "leak.txt",
        "copy.json",
        "out/story.txt",
        "inner/model.bin",
        "inner",
        "loops/loop",
        "loops/loop/x",
        "loops/p.txt",
        "loops/d/sub/d",
        ".partial",
    ]:
        response = api.get(f"{base}/download", params={"path": link})
        assert response.status_code == 404, link
        assert ErrorBody.model_validate_json(response.content).code == "NOT_FOUND", link


def _members(content: bytes) -> list[tuple[str, bytes]]:
    out: list[tuple[str, bytes]] = []
    with tarfile.open(fileobj=io.BytesIO(content), mode="r:") as tar:
        for member in tar.getmembers():
            handle = tar.extractfile(member)
            assert member.isfile() and handle is not None, member.name
            out.append((member.name, handle.read()))
    return out


def test_folder_downloads_stream_a_tar_of_the_listed_files(api: TestClient, planted: Path) -> None:
    base = f"/artifacts/tokenizers/{planted.name}/download"
    whole = api.get(base)
    assert whole.status_code == 200
    assert whole.headers["content-type"] == "application/x-tar"
    assert whole.headers["content-disposition"] == f'attachment; filename="{planted.name}.tar"'
    files = ["export/model.bin", "manifest.json", "notes-v2.txt"]
    expected = [(f"{planted.name}/{p}", (planted / p).read_bytes()) for p in files]
    assert _members(whole.content) == expected
    part = api.get(base, params={"path": "export"})
    assert part.headers["content-disposition"] == 'attachment; filename="export.tar"'
    assert _members(part.content) == [("export/model.bin", expected[0][1])]
    assert _members(api.get(base, params={"path": "loops"}).content) == []
