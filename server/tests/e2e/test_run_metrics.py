"""`GET /runs/{id}/metrics` for charts: pages by offset, and compressed when large."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from model_trainer.api.schemas.runs import MetricsPublic
from model_trainer.core.settings import Settings

from .planted_run import plant_run

RUN = "run-00000000-0000c4a7"
RECORDS = 3000
LEGACY = 100
"""The first records were written before records carried their `time`."""


def _line(step: int) -> str:
    record: dict[str, object] = {"kind": "train", "step": step, "loss": 3.0 - step / RECORDS}
    if step % 100 == 0:
        record = {"kind": "eval", "step": step, "train_loss": 2.0, "val_loss": 2.5}
    if step > LEGACY:
        record["time"] = 1_700_000_000.0 + step / 7
    return json.dumps(record) + "\n"


@pytest.fixture()
def planted(stack_settings: Settings) -> Iterator[Path]:
    """A completed run with `RECORDS` metric records and nothing else."""
    folder = plant_run(
        stack_settings.artifacts_root, RUN, "".join(_line(s) for s in range(1, RECORDS + 1))
    )
    yield folder
    shutil.rmtree(folder)


def _page(api: TestClient, after: int | None = None) -> MetricsPublic:
    params = {"after": after} if after is not None else {}
    response = api.get(f"/runs/{RUN}/metrics", params=params)
    assert response.status_code == 200, response.text
    return MetricsPublic.model_validate_json(response.content)


def test_pages_after_an_offset_are_what_was_appended(api: TestClient, planted: Path) -> None:
    whole = _page(api)
    assert (whole.count, whole.after, whole.next_after) == (RECORDS, 0, RECORDS)
    assert [r.step for r in whole.data] == list(range(1, RECORDS + 1))
    assert whole.data[LEGACY - 1].time is None and whole.data[LEGACY].time is not None
    for after in (1, 1500, RECORDS - 1, RECORDS, RECORDS + 50):
        page = _page(api, after)
        assert page.data == whole.data[after:] and page.count == len(page.data), after
        assert (page.after, page.next_after) == (after, RECORDS)
    assert api.get(f"/runs/{RUN}/metrics", params={"after": -1}).status_code == 422
    # A line being written is left for the next page; once whole, it is there.
    metrics = planted / "metrics.jsonl"
    half = _line(RECORDS + 1)
    with metrics.open("a", encoding="utf-8") as handle:
        handle.write(half[:20])
    assert _page(api, RECORDS).next_after == RECORDS and not _page(api, RECORDS).data
    with metrics.open("a", encoding="utf-8") as handle:
        handle.write(half[20:])
    newer = _page(api, RECORDS)
    assert [r.step for r in newer.data] == [RECORDS + 1] and newer.next_after == RECORDS + 1
    # A resumed run trims the file under a client: `next_after` below its `after` says so.
    lines = metrics.read_text(encoding="utf-8").splitlines(keepends=True)
    metrics.write_text("".join(lines[:1000]), encoding="utf-8")
    trimmed = _page(api, RECORDS)
    assert trimmed.next_after == 1000 < trimmed.after and not trimmed.data


def test_large_answers_are_gzipped_small_ones_and_downloads_not(
    api: TestClient, planted: Path
) -> None:
    url = f"/runs/{RUN}/metrics"
    zipped = api.get(url, headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert int(zipped.headers["content-length"]) * 4 < len(zipped.content)
    assert MetricsPublic.model_validate_json(zipped.content) == _page(api)
    plain = api.get(url, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.content == zipped.content
    small = api.get(url, params={"after": RECORDS - 1}, headers={"Accept-Encoding": "gzip"})
    assert len(small.content) < 1024 and "content-encoding" not in small.headers
    download = api.get(
        f"/artifacts/models/{RUN}/download",
        params={"path": "metrics.jsonl"},
        headers={"Accept-Encoding": "gzip"},
    )
    assert "content-encoding" not in download.headers
    assert int(download.headers["content-length"]) == (planted / "metrics.jsonl").stat().st_size
