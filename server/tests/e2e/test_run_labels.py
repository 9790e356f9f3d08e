"""Run labels through the real stack: given at submission, edited with PATCH (absent keeps,
null clears), refused when malformed, and the list filtered and sorted by them."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from model_trainer.api.schemas.common import ErrorBody
from model_trainer.api.schemas.runs import RunPublic, RunQueued, RunsPublic
from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.settings import Settings, StoreSettings
from model_trainer.infra.atomic import write_model
from model_trainer.infra.storage import storage, use_storage
from model_trainer.infra.storage.objects import ObjectStorage
from model_trainer.jobs.labels import Labels, LabelsPatch
from model_trainer.jobs.layout import RunFolder
from model_trainer.orchestrators.labels import LabelBook

from .conftest import refused_config, run_reaching, trained_tokenizer
from .store_server import StoreServer

pytestmark = pytest.mark.timeout(400)

TINY = {"n_layer": 1, "n_head": 2, "n_embd": 32, "max_seq_len": 32}
ENDED = {"completed", "failed", "cancelled"}


def _body(
    tokenizer_id: str, steps: int, labels: dict[str, object], family: str = "gpt2"
) -> dict[str, object]:
    return {
        "model": {"family": family, **TINY},
        "data": {"tokenizer_id": tokenizer_id, "corpus_path": "story.txt"},
        "trainer": {
            "max_steps": steps,
            "batch_size": 4,
            "eval_interval": 5,
            "eval_steps": 2,
            "checkpoint_interval": 5,
            "log_interval": 5,
            "warmup_steps": 1,
        },
        **labels,
    }


def _submit(api: TestClient, tokenizer_id: str, steps: int, **labels: object) -> str:
    family = str(labels.pop("family", "gpt2"))
    response = api.post("/runs/train", json=_body(tokenizer_id, steps, labels, family))
    assert response.status_code == 202, response.text
    return RunQueued.model_validate_json(response.content).run_id


def _run(api: TestClient, run_id: str) -> RunPublic:
    response = api.get(f"/runs/{run_id}")
    assert response.status_code == 200, response.text
    return RunPublic.model_validate_json(response.content)


def _patch(api: TestClient, run_id: str, body: dict[str, object]) -> RunPublic:
    response = api.patch(f"/runs/{run_id}", json=body)
    assert response.status_code == 200, response.text
    return RunPublic.model_validate_json(response.content)


def _listed(api: TestClient, **params: str | int) -> list[str]:
    response = api.get("/runs", params=params)
    assert response.status_code == 200, response.text
    runs = RunsPublic.model_validate_json(response.content)
    assert runs.count == len(runs.data)
    return [r.run_id for r in runs.data]


@pytest.fixture(scope="module")
def tokenizer(api: TestClient) -> str:
    body = {"method": "char", "vocab_size": 100, "corpus_path": "story.txt", "seed": 5}
    view = trained_tokenizer(api, body)
    assert view.status == "completed", view.message
    return view.tokenizer_id


def test_labels_given_at_submission_and_edited(
    api: TestClient, tokenizer: str, stack_settings: Settings
) -> None:
    run_id = _submit(
        api,
        tokenizer,
        3,
        name="  Baseline run  ",
        notes="first try\n\twith a tab",
        tags=["Base", "base", "cpu:1", "v1.2_x-y"],
    )
    run = _run(api, run_id)
    assert run.name == "Baseline run" and run.notes == "first try\n\twith a tab"
    assert run.tags == ["Base", "cpu:1", "v1.2_x-y"]  # duplicates (any case) dropped
    assert run.config.name == "Baseline run"

    edited = _patch(api, run_id, {"notes": None})
    assert edited.notes is None and edited.name == "Baseline run" and len(edited.tags) == 3
    edited = _patch(api, run_id, {"name": "Renamed", "tags": ["Fresh"]})
    assert (edited.name, edited.notes, edited.tags) == ("Renamed", None, ["Fresh"])
    assert edited.config.name == "Baseline run" and edited.config.tags[0] == "Base"
    assert _patch(api, run_id, {}).name == "Renamed"  # nothing given: nothing changes
    cleared = _patch(api, run_id, {"name": None, "tags": None})
    assert (cleared.name, cleared.tags) == (None, [])
    stored = stack_settings.artifacts_root / "models" / run_id / "labels.json"
    assert Labels.model_validate_json(stored.read_bytes()).tags == []

    # The worker rewrites the manifest as the run trains and ends; the labels stay
    _patch(api, run_id, {"name": "kept", "tags": ["after"]})
    ended = run_reaching(api, run_id, ENDED)
    assert (ended.name, ended.tags) == ("kept", ["after"])
    assert _patch(api, run_id, {"notes": "edited after it ended"}).notes  # any status


def test_malformed_labels_are_refused_naming_the_field(api: TestClient, tokenizer: str) -> None:
    def submitted(**labels: object) -> str:
        body = json.dumps(_body(tokenizer, 3, labels))
        return refused_config(api, "POST", "/runs/train", body).message

    assert submitted(tags=["two words"]).startswith("tags: ")
    assert submitted(tags=["x" * 41]).startswith("tags")
    assert "at most 16" in submitted(tags=[f"t{i}" for i in range(17)])
    assert submitted(tags=["ok", "a\u0000b"]).startswith("tags: ")
    assert submitted(tags=["caf\u00e9"]).startswith("tags: ")
    assert submitted(tags="not-a-list").startswith("tags")
    assert submitted(name="   ").startswith("name: ")
    assert submitted(name="n" * 121).startswith("name: ")
    assert submitted(name="red \x1b[31m alert").startswith("name: ")
    assert submitted(notes="x" * 10_001).startswith("notes")
    assert submitted(notes="bell \x07").startswith("notes")
    assert submitted(name="csi \x9b31m").startswith("name: ")  # a C1 control
    assert submitted(notes="reads \u202eesrever").startswith("notes")  # a direction override
    # A lone surrogate, which UTF-8 cannot hold, written as JSON spells it
    lone = json.dumps(_body(tokenizer, 3, {})).removesuffix("}") + ', "name": "a\\ud800b"}'
    assert refused_config(api, "POST", "/runs/train", lone).message.startswith("name: ")

    run_id = _submit(api, tokenizer, 2)
    url = f"/runs/{run_id}"
    assert refused_config(api, "PATCH", url, '{"tags": ["a b"]}').message.startswith("tags: ")
    assert refused_config(api, "PATCH", url, '{"colour": "red"}').message.startswith("colour: ")
    huge = '{"notes": "' + "y" * 200_000 + '"}'
    response = api.patch(url, content=huge.encode(), headers={"Content-Type": "application/json"})
    assert response.status_code in (413, 422) and ErrorBody.model_validate_json(response.content)
    assert _run(api, run_id).notes is None  # nothing was stored
    rename: dict[str, object] = {"name": "x"}
    missing = api.patch("/runs/run-00000000-00000000", json=rename)
    assert missing.status_code == 404
    assert ErrorBody.model_validate_json(missing.content).code == "NOT_FOUND"
    for odd in ("..%2F..%2Fetc", "run-%00", "%E2%80%AE"):
        assert api.patch(f"/runs/{odd}", json=rename).status_code == 404, odd
    run_reaching(api, run_id, ENDED)


def test_the_list_filters_and_sorts(api: TestClient, tokenizer: str) -> None:
    mark = f"m-{secrets.token_hex(4)}"
    alpha = _submit(api, tokenizer, 10, name=f"alpha {mark}", tags=[mark, "fast"])
    beta = _submit(api, tokenizer, 20, family="llama", name=f"Beta {mark}", tags=[mark.upper()])
    gamma = _submit(api, tokenizer, 100_000, tags=[mark])
    run_reaching(api, gamma, {"running"})
    assert api.post(f"/runs/{gamma}/cancel").status_code == 200
    for run_id in (alpha, beta, gamma):
        run_reaching(api, run_id, ENDED)

    assert _listed(api, tag=mark.upper()) == [gamma, beta, alpha]  # newest first, any case
    assert _listed(api, tag=mark, sort="oldest") == [alpha, beta, gamma]
    assert _listed(api, tag=mark, sort="oldest", limit=1) == [alpha]
    assert _listed(api, tag=mark, family="llama") == [beta]
    assert _listed(api, tag=mark, family="LLAMA") == [beta]
    assert _listed(api, tag=mark, status="cancelled") == [gamma]
    assert _listed(api, tag=mark, status="running") == []
    assert _listed(api, q=f"BETA {mark.upper()}") == [beta]
    assert _listed(api, q=gamma[-8:]) == [gamma]
    assert _listed(api, tag=mark, q="alpha", status="completed") == [alpha]
    assert _listed(api, tag=mark, sort="name") == [alpha, beta, gamma]  # unnamed last

    _patch(api, gamma, {"name": f"Aardvark {mark}", "tags": [mark, "renamed"]})
    assert _listed(api, tag=mark, sort="name") == [gamma, alpha, beta]
    assert _listed(api, q=f"aardvark {mark}") == [gamma]
    assert _listed(api, tag="renamed", q=mark) == [gamma]
    assert _listed(api, tag="fast", q=mark) == [alpha]

    by_loss = api.get("/runs", params={"tag": mark, "sort": "final_loss"})
    runs = RunsPublic.model_validate_json(by_loss.content).data
    assert {r.run_id for r in runs} == {alpha, beta, gamma}
    losses = [r.metrics.final_val_loss or r.metrics.final_train_loss for r in runs]
    known = [loss for loss in losses if loss is not None]
    assert known == sorted(known) and len(known) >= 2
    assert losses[: len(known)] == known  # runs without a loss come last

    for bad in ({"sort": "random"}, {"status": "sleeping"}, {"limit": 0}, {"q": "x" * 201}):
        response = api.get("/runs", params=bad)
        assert response.status_code == 422, bad
        assert ErrorBody.model_validate_json(response.content).code == "CONFIG_INVALID"
    assert _listed(api, tag="", q="", family="", limit=1)  # an empty filter is no filter


def test_tags_are_added_and_removed_without_losing_others(api: TestClient, tokenizer: str) -> None:
    run_id = _submit(api, tokenizer, 2, tags=["keep", "Old"])
    # Two edits that each know only their own tag: both land
    assert _patch(api, run_id, {"add_tags": ["mine"]}).tags == ["keep", "Old", "mine"]
    theirs = _patch(api, run_id, {"add_tags": ["theirs", "KEEP"], "remove_tags": ["old"]})
    assert theirs.tags == ["keep", "mine", "theirs"]  # present in any case: kept as it was
    both = _patch(api, run_id, {"add_tags": ["x"], "remove_tags": ["X", "absent"]})
    assert both.tags == ["keep", "mine", "theirs"]  # in both lists: removed
    url = f"/runs/{run_id}"
    message = refused_config(api, "PATCH", url, '{"tags": ["a"], "add_tags": ["b"]}').message
    assert "add_tags" in message and "not both" in message
    spaced = refused_config(api, "PATCH", url, '{"remove_tags": ["a b"]}')
    assert spaced.message.startswith("remove_tags")
    added: dict[str, list[str]] = {"add_tags": [f"t{i}" for i in range(14)]}
    many = json.dumps(added)
    assert "at most 16" in refused_config(api, "PATCH", url, many).message
    assert _run(api, run_id).tags == ["keep", "mine", "theirs"]  # nothing was stored
    run_reaching(api, run_id, ENDED)


def test_an_edit_builds_on_the_stored_labels_or_isrefused_config(
    tmp_path: Path, store: StoreServer
) -> None:
    """An edit through one API process reads the store afresh: it keeps what another
    process stored a moment ago, and refuses (503) rather than build on a stale copy."""
    url, quick = f"s3://{store.bucket}/labels", StoreSettings(attempts=2, first_delay_s=0.05)
    other = ObjectStorage(url, tmp_path / "other", quick)
    theirs = RunFolder(other.root / "models" / "run-1")
    write_model(theirs.labels, Labels(tags=["first"]))
    theirs.manifest.write_text("{}", encoding="utf-8")
    other.push([theirs.labels, theirs.manifest])

    before = storage()
    here = use_storage(ObjectStorage(url, tmp_path / "here", quick))
    try:
        folder = RunFolder(here.root / "models" / "run-1")
        here.pull(folder.manifest)
        book = LabelBook(refresh_s=3600.0)  # pages may show what they read an hour ago
        assert book.current(folder, Labels()).tags == ["first"]
        write_model(theirs.labels, Labels(tags=["first", "second"], name="theirs"))
        other.push([theirs.labels])

        patch = LabelsPatch(add_tags=["third"])
        edited = book.edit(folder, Labels(), patch)
        assert (edited.name, edited.tags) == ("theirs", ["first", "second", "third"])
        store.stop()
        assert book.current(folder, Labels()).tags == edited.tags  # a page still shows
        with pytest.raises(AppError) as refused:
            book.edit(folder, Labels(), LabelsPatch(name="mine"))
        assert refused.value.code is ErrorCode.STORE_UNAVAILABLE
        assert book.current(folder, Labels()).name == "theirs"  # nothing was written
    finally:
        use_storage(before)
