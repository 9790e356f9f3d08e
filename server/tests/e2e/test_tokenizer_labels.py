"""Tokenizer labels through the real stack: given at submission, edited with PATCH (absent
keeps, null clears, tags added and removed), kept when the worker rewrites the manifest,
refused when malformed; the list filtered by them; imported tokenizers labelled too; and
`GET /backends` saying which methods train."""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from model_trainer.api.schemas.backends import BackendsPublic
from model_trainer.api.schemas.common import ErrorBody
from model_trainer.api.schemas.tokenizers import TokenizerPublic, TokenizerQueued, TokenizersPublic
from model_trainer.core.contracts.events import utc_now
from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.job_status import JobStatus
from model_trainer.core.settings import Settings, StoreSettings
from model_trainer.infra.atomic import write_model
from model_trainer.infra.job_state import JobStateStore
from model_trainer.infra.redis_store import RedisStore
from model_trainer.infra.storage import storage, use_storage
from model_trainer.infra.storage.objects import ObjectStorage
from model_trainer.jobs.labels import Labels, LabelsPatch
from model_trainer.jobs.layout import ArtifactLayout, TokenizerFolder
from model_trainer.orchestrators.labels import LabelBook
from model_trainer.tokenizers.imported import import_tokenizer
from model_trainer.tokenizers.kind import TokenizerKind
from model_trainer.tokenizers.manifest import (
    TOKENIZER_MANIFESTS,
    TokenizerManifest,
    TokenizerTrainConfig,
)
from model_trainer.tokenizers.registry import discover_tokenizers

from .conftest import model_folder_tokenizer, refused_config, story, trained_tokenizer
from .store_server import StoreServer

UNUSED = "redis://127.0.0.1:9/0"
"""A Redis no one answers at: publishing a job's files never asks it."""

pytestmark = pytest.mark.timeout(400)


def _body(method: str = "char", **labels: object) -> dict[str, object]:
    body: dict[str, object] = {"method": method, "vocab_size": 300, "corpus_path": "story.txt"}
    return body | labels


def _get(api: TestClient, tokenizer_id: str) -> TokenizerPublic:
    response = api.get(f"/tokenizers/{tokenizer_id}")
    assert response.status_code == 200, response.text
    return TokenizerPublic.model_validate_json(response.content)


def _patch(api: TestClient, tokenizer_id: str, body: dict[str, object]) -> TokenizerPublic:
    response = api.patch(f"/tokenizers/{tokenizer_id}", json=body)
    assert response.status_code == 200, response.text
    return TokenizerPublic.model_validate_json(response.content)


def _listed(api: TestClient, **params: str | int) -> list[str]:
    response = api.get("/tokenizers", params=params)
    assert response.status_code == 200, response.text
    tokenizers = TokenizersPublic.model_validate_json(response.content)
    assert tokenizers.count == len(tokenizers.data)
    return [t.tokenizer_id for t in tokenizers.data]


def _trained(api: TestClient, method: str = "char", **labels: object) -> str:
    view = trained_tokenizer(api, _body(method, **labels))
    assert view.status == "completed", view.message
    return view.tokenizer_id


def test_labels_given_at_submission_edited_and_kept_over_manifest_rewrites(
    api: TestClient, stack_settings: Settings
) -> None:
    response = api.post(
        "/tokenizers/train",
        json=_body(name="  Small chars  ", notes="for tests\n\tonly", tags=["Base", "base", "v1"]),
    )
    assert response.status_code == 202, response.text
    tokenizer_id = TokenizerQueued.model_validate_json(response.content).tokenizer_id
    # Edited while its job may still be queued or running: the worker rewrites the manifest
    # as it starts and ends, and the edit stays
    early = _patch(api, tokenizer_id, {"add_tags": ["early"]})
    assert early.tags == ["Base", "v1", "early"] and early.name == "Small chars"
    ended = _wait(api, tokenizer_id)
    assert ended.status == "completed", ended.message
    assert (ended.name, ended.notes) == ("Small chars", "for tests\n\tonly")
    assert ended.tags == ["Base", "v1", "early"]
    assert ended.config.name == "Small chars" and ended.config.tags == ["Base", "v1"]

    edited = _patch(api, tokenizer_id, {"notes": None})
    assert (edited.name, edited.notes, len(edited.tags)) == ("Small chars", None, 3)
    edited = _patch(api, tokenizer_id, {"name": "Renamed", "tags": ["Fresh"]})
    assert (edited.name, edited.notes, edited.tags) == ("Renamed", None, ["Fresh"])
    assert _patch(api, tokenizer_id, {}).name == "Renamed"  # nothing given: nothing changes
    cleared = _patch(api, tokenizer_id, {"name": None, "tags": None})
    assert (cleared.name, cleared.tags) == (None, [])
    folder = ArtifactLayout(stack_settings.artifacts_folder).tokenizer(tokenizer_id)
    assert Labels.model_validate_json(folder.labels.read_bytes()).tags == []

    # A manifest written again, as a worker writes it, leaves the labels as edited
    _patch(api, tokenizer_id, {"name": "kept", "tags": ["after"]})
    manifest = TOKENIZER_MANIFESTS.read(folder.manifest)
    assert manifest is not None
    manifest.threads = (manifest.threads or 1) + 1
    TOKENIZER_MANIFESTS.write(folder.manifest, manifest)
    kept = _get(api, tokenizer_id)
    assert (kept.name, kept.tags) == ("kept", ["after"]) and kept.config.name == "Small chars"


def _wait(api: TestClient, tokenizer_id: str) -> TokenizerPublic:
    """The tokenizer once its job ended."""
    deadline = time.monotonic() + 120
    while True:
        view = _get(api, tokenizer_id)
        if view.status in ("completed", "failed"):
            return view
        assert time.monotonic() < deadline
        time.sleep(0.2)


def test_malformed_labels_are_refused_naming_the_field(api: TestClient) -> None:
    def submitted(**labels: object) -> str:
        body = json.dumps(_body("char", **labels))
        return refused_config(api, "POST", "/tokenizers/train", body).message

    assert submitted(tags=["two words"]).startswith("tags: ")
    assert "at most 16" in submitted(tags=[f"t{i}" for i in range(17)])
    assert submitted(tags=["caf\u00e9"]).startswith("tags: ")
    assert submitted(name="   ").startswith("name: ")
    assert submitted(name="n" * 121).startswith("name: ")
    assert submitted(notes="bell \x07").startswith("notes")

    tokenizer_id = _trained(api, tags=["keep", "Old"])
    url = f"/tokenizers/{tokenizer_id}"
    assert refused_config(api, "PATCH", url, '{"tags": ["a b"]}').message.startswith("tags: ")
    assert refused_config(api, "PATCH", url, '{"colour": "red"}').message.startswith("colour: ")
    message = refused_config(api, "PATCH", url, '{"tags": ["a"], "add_tags": ["b"]}').message
    assert "add_tags" in message and "not both" in message
    added: dict[str, list[str]] = {"add_tags": [f"t{i}" for i in range(15)]}
    many = json.dumps(added)
    assert "at most 16" in refused_config(api, "PATCH", url, many).message
    assert _get(api, tokenizer_id).tags == ["keep", "Old"]  # nothing was stored
    # Two edits that each know only their own tag: both land
    assert _patch(api, tokenizer_id, {"add_tags": ["mine"]}).tags == ["keep", "Old", "mine"]
    theirs = _patch(api, tokenizer_id, {"add_tags": ["theirs", "KEEP"], "remove_tags": ["old"]})
    assert theirs.tags == ["keep", "mine", "theirs"]

    rename: dict[str, object] = {"name": "x"}
    missing = api.patch("/tokenizers/tok-00000000-00000000", json=rename)
    assert missing.status_code == 404
    assert ErrorBody.model_validate_json(missing.content).code == "NOT_FOUND"
    for odd in ("..%2F..%2Fetc", "tok-%00", "%E2%80%AE"):
        assert api.patch(f"/tokenizers/{odd}", json=rename).status_code == 404, odd


def test_the_list_filters(api: TestClient) -> None:
    mark = f"m-{secrets.token_hex(4)}"
    alpha = _trained(api, "bpe", name=f"alpha {mark}", tags=[mark, "fast"])
    beta = _trained(api, "char", name=f"Beta {mark}", tags=[mark.upper()])
    gamma = _trained(api, "char", tags=[mark])

    assert _listed(api, tag=mark.upper()) == [gamma, beta, alpha]  # newest first, any case
    assert _listed(api, tag=mark, limit=2) == [gamma, beta]
    assert _listed(api, tag=mark, method="CHAR") == [gamma, beta]
    assert _listed(api, tag=mark, method="bpe") == [alpha]
    assert _listed(api, tag=mark, status="completed") == [gamma, beta, alpha]
    assert _listed(api, tag=mark, status="failed") == []
    assert _listed(api, q=f"BETA {mark.upper()}") == [beta]
    assert _listed(api, q=gamma[-8:].upper()) == [gamma]  # a piece of the id, any case
    assert _listed(api, tag="fast", q=mark, method="bpe", status="completed") == [alpha]

    _patch(api, gamma, {"name": f"Aardvark {mark}", "add_tags": ["renamed"]})
    assert _listed(api, q=f"aardvark {mark}") == [gamma]
    assert _listed(api, tag="renamed", q=mark) == [gamma]
    _patch(api, beta, {"remove_tags": [mark]})
    assert _listed(api, tag=mark) == [gamma, alpha]

    bad: list[dict[str, str | int]] = [
        {"status": "sleeping"},
        {"limit": 0},
        {"limit": 1001},
        {"q": "x" * 201},
        {"method": "m" * 201},
        {"tag": "t" * 201},
    ]
    for params in bad:
        response = api.get("/tokenizers", params=params)
        assert response.status_code == 422, params
        assert ErrorBody.model_validate_json(response.content).code == "CONFIG_INVALID"
    assert _listed(api, tag="", q="", method="", limit=1)  # an empty filter is no filter


def test_an_imported_tokenizer_is_labelled_and_found(
    api: TestClient, stack_settings: Settings
) -> None:
    mark = f"hf-{secrets.token_hex(4)}"
    folder = stack_settings.models_root / "labelled" / mark
    model_folder_tokenizer(folder, story(200, 7) + mark + "\n")
    layout = ArtifactLayout(stack_settings.artifacts_folder)
    registry = discover_tokenizers({})
    # What a fine-tune of the folder registers (`model.init_from`)
    imported = import_tokenizer(layout, registry, folder, f"labelled/{mark}")
    tokenizer_id = imported.tokenizer_id
    assert _get(api, tokenizer_id).method == "hf"
    # newest first by when it was made: its id is a content hash, which sorts anywhere
    assert _listed(api, status="completed", limit=1) == [tokenizer_id]
    edited = _patch(api, tokenizer_id, {"name": f"From {mark}", "add_tags": [mark]})
    assert (edited.name, edited.tags, edited.status) == (f"From {mark}", [mark], "completed")
    assert _listed(api, tag=mark) == [tokenizer_id]
    assert _listed(api, tag=mark, method="HF", q="from") == [tokenizer_id]
    # Registering the folder again reuses the record, and its labels
    again = import_tokenizer(layout, registry, folder, f"labelled/{mark}")
    assert again.tokenizer_id == tokenizer_id and _get(api, tokenizer_id).tags == [mark]


def test_backends_say_which_tokenizer_methods_train(api: TestClient) -> None:
    listing = BackendsPublic.model_validate_json(api.get("/backends").content)
    trains = {b.name: b.trains for b in listing.data if b.kind == "tokenizer"}
    assert trains["hf"] is False
    assert trains["bpe"] and trains["char"] and trains["sentencepiece"]
    assert all(b.trains for b in listing.data if b.kind == "model" and b.status == "ok")
    refused = refused_config(api, "POST", "/tokenizers/train", json.dumps(_body("hf")))
    assert refused.message.startswith("method: ")


def test_tokenizer_labels_go_through_the_shared_store(tmp_path: Path, store: StoreServer) -> None:
    """An edit through one API process builds on what another stored, and is pushed for
    the other to read; an edit of a tokenizer deleted meanwhile leaves nothing behind."""
    url, quick = f"s3://{store.bucket}/tok-labels", StoreSettings(attempts=2, first_delay_s=0.05)
    other = ObjectStorage(url, tmp_path / "other", quick)
    theirs = TokenizerFolder(other.root / "tokenizers" / "tok-1")
    write_model(theirs.labels, Labels(tags=["first"]))
    theirs.manifest.write_text("{}", encoding="utf-8")
    other.push([theirs.labels, theirs.manifest])

    before = storage()
    here = use_storage(ObjectStorage(url, tmp_path / "here", quick))
    try:
        folder = TokenizerFolder(here.root / "tokenizers" / "tok-1")
        here.pull(folder.manifest)
        book = LabelBook(refresh_s=3600.0, noun="tokenizer")
        assert book.current(folder, Labels()).tags == ["first"]
        edited = book.edit(folder, Labels(), LabelsPatch(name="mine", add_tags=["second"]))
        assert (edited.name, edited.tags) == ("mine", ["first", "second"])
        assert other.pull(theirs.labels)
        assert Labels.model_validate_json(theirs.labels.read_bytes()) == edited

        # A worker's host with an old copy of the labels publishes the job's files: the
        # labels, which only the API writes, are not among them
        worker = use_storage(ObjectStorage(url, tmp_path / "worker", quick))
        stale = TokenizerFolder(worker.root / "tokenizers" / "tok-1")
        write_model(stale.labels, Labels(tags=["stale"]))
        stale.logs.write_text("{}\n", encoding="utf-8")
        kind = TokenizerKind(ArtifactLayout(worker.root), JobStateStore(RedisStore(UNUSED), "t"))
        config = TokenizerTrainConfig(method="char", vocab_size=10, corpus_path="story.txt")
        kind.publish(
            TokenizerManifest(
                tokenizer_id="tok-1", status=JobStatus.RUNNING, config=config, created_at=utc_now()
            )
        )
        assert other.pull(theirs.logs) and other.pull(theirs.labels)
        assert Labels.model_validate_json(theirs.labels.read_bytes()) == edited
        use_storage(here)

        gone = TokenizerFolder(here.root / "tokenizers" / "tok-2")
        with pytest.raises(AppError) as refused:
            book.edit(gone, Labels(), LabelsPatch(name="late"))
        assert refused.value.code is ErrorCode.NOT_FOUND
        assert "tokenizer 'tok-2'" in refused.value.message
        assert not gone.path.exists()
    finally:
        use_storage(before)
