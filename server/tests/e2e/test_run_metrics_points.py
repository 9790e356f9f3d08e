"""`GET /runs/{id}/metrics?points=&limit=`: a small downsampled first load, pages, then
polls of only what is new; odd values refused as every other parameter is."""

from __future__ import annotations

import io
import shutil
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from model_trainer.api.schemas.common import ErrorBody
from model_trainer.api.schemas.runs import MetricsPublic
from model_trainer.core.settings import Settings
from model_trainer.training.run.manifest import MetricRecord
from model_trainer.training.run.metrics_index import sidecar_path

from .planted_run import plant_run

RUN = "run-00000000-0000d0a1"
STEPS = 20_000
EVAL_EVERY = 50


def _lines() -> str:
    out = []
    for step in range(1, STEPS + 1):
        loss = 3.0 - step / STEPS + (5.0 if step == 12_345 else 0.0)
        out.append(MetricRecord(kind="train", step=step, loss=loss, time=1.7e9 + step).line())
        if step % EVAL_EVERY == 0:
            out.append(MetricRecord(kind="eval", step=step, val_loss=2.5).line())
    return "".join(out)


@pytest.fixture()
def planted(stack_settings: Settings) -> Iterator[Path]:
    """A completed run with `STEPS` logged steps and an evaluation every `EVAL_EVERY`."""
    folder = plant_run(stack_settings.artifacts_root, RUN, _lines())
    yield folder
    shutil.rmtree(folder, ignore_errors=True)  # a test may have deleted the run


def _page(api: TestClient, **params: int) -> MetricsPublic:
    response = api.get(f"/runs/{RUN}/metrics", params=params)
    assert response.status_code == 200, response.text
    return MetricsPublic.model_validate_json(response.content)


def test_a_downsampled_first_load_then_polls_of_what_is_new(api: TestClient, planted: Path) -> None:
    total = STEPS + STEPS // EVAL_EVERY
    first = _page(api, points=2000)
    train = [r for r in first.data if r.kind == "train"]
    evals = [r for r in first.data if r.kind == "eval"]
    assert first.downsampled and (first.total, first.next_after) == (total, total)
    assert len(train) <= 2000 and train[0].step == 1 and train[-1].step == STEPS
    assert 12_345 in {r.step for r in train}  # the spike survives
    assert len(evals) == STEPS // EVAL_EVERY  # few enough: all of them
    whole = _page(api)
    assert not whole.downsampled and whole.count == total == whole.total
    poll = _page(api, after=total - 10)
    assert poll.data == whole.data[-10:] and poll.next_after == total
    small = _page(api, after=total - 900, points=1000)
    assert not small.downsampled and small.data == whole.data[-900:]
    # Pages of at most `limit` records, each pointing at the next.
    after, read = 0, []
    while after < total:
        page = _page(api, after=after, limit=7000)
        assert page.count <= 7000 and page.next_after == min(total, after + 7000)
        read += page.data
        after = page.next_after
    assert read == whole.data
    with (planted / "metrics.jsonl").open("a", encoding="utf-8") as handle:
        handle.write(MetricRecord(kind="train", step=STEPS + 1, loss=1.0).line())
    newer = _page(api, after=total)
    assert [r.step for r in newer.data] == [STEPS + 1] and newer.total == total + 1


def test_the_index_sidecar_is_no_artifact_and_goes_with_the_run(
    api: TestClient, planted: Path
) -> None:
    first = _page(api, points=2000)
    assert sidecar_path(planted / "metrics.jsonl").is_file()  # kept for the next API start
    listing = api.get(f"/artifacts/models/{RUN}")
    assert listing.status_code == 200 and "metrics.jsonl" in listing.text
    assert sidecar_path(planted / "metrics.jsonl").name not in listing.text
    whole = api.get(f"/artifacts/models/{RUN}/download")
    with tarfile.open(fileobj=io.BytesIO(whole.content)) as tar:
        names = tar.getnames()
    assert any(n.endswith("/metrics.jsonl") for n in names)
    assert not any(part.startswith(".") for n in names for part in n.split("/"))
    assert _page(api, points=2000) == first
    assert api.delete(f"/runs/{RUN}").status_code == 204
    assert not planted.exists()
    assert not any(RUN in p.name for p in planted.parent.iterdir())  # nor its trash


@pytest.mark.parametrize(
    "params",
    [
        {"points": "0"},
        {"points": "-5"},
        {"points": "3"},
        {"points": "10001"},
        {"points": str(2**70)},
        {"points": "many"},
        {"limit": "0"},
        {"limit": "100001"},
        {"after": str(2**53)},
        {"after": "1e3"},
    ],
)
def test_odd_values_are_refused_with_a_code_and_the_name(
    api: TestClient, planted: Path, params: dict[str, str]
) -> None:
    answer = api.get(f"/runs/{RUN}/metrics", params=params)
    assert answer.status_code == 422, answer.text
    body = ErrorBody.model_validate_json(answer.content)
    assert body.code == "CONFIG_INVALID" and body.message
    assert body.request_id == answer.headers["x-request-id"]
    assert next(iter(params)) in answer.text
