"""Structured corpora through the real stack: a tokenizer and runs trained on JSON Lines,
CSV, Parquet and a `save_to_disk` folder, and broken ones refused with their codes."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from model_trainer.api.schemas.common import ErrorBody
from model_trainer.api.schemas.corpus import CorpusPublic
from model_trainer.api.schemas.runs import RunPublic, RunQueued
from model_trainer.api.schemas.tokenizers import TokenizerPublic
from model_trainer.core.settings import Settings

from .conftest import story, trained_tokenizer

pytestmark = pytest.mark.timeout(300)

TEMPLATE = "### Q: {question}\n### A: {answer}"
ROWS = 240
TINY_MODEL = {"family": "gpt2", "n_layer": 1, "n_head": 2, "n_embd": 32, "max_seq_len": 32}


def _columns() -> dict[str, list[object]]:
    lines: list[object] = list(story(2 * ROWS, 5).splitlines())
    ids: list[object] = [str(i) for i in range(ROWS)]
    return {"question": lines[::2], "answer": lines[1::2], "id": ids}


@pytest.fixture(scope="module")
def shelf(stack_settings: Settings) -> Iterator[Path]:
    """`qa/` in every kind, and `broken/` files, under the corpus root."""
    root = stack_settings.corpus_root
    qa, broken = root / "qa", root / "broken"
    qa.mkdir()
    broken.mkdir()
    columns = _columns()
    records = [{name: columns[name][i] for name in columns} for i in range(ROWS)]
    (qa / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), "utf-8")
    cells = [list(columns)] + [[str(r[name]) for name in columns] for r in records]
    csv_text = "".join(",".join(f'"{c}"' for c in row) + "\r\n" for row in cells)
    (qa / "rows.csv").write_text(csv_text, "utf-8")
    pq.write_table(pa.table(columns), qa / "rows.parquet", row_group_size=50)
    datasets.Dataset.from_dict(columns).save_to_disk(str(qa / "saved"))
    lines = [json.dumps(r) for r in records[:5]]
    lines[2] = lines[2][:-1]  # line 3 loses its closing brace
    (broken / "bad.jsonl").write_text("\n".join(lines) + "\n", "utf-8")
    (broken / "corrupt.parquet").write_bytes(b"PAR1" + b"\x00" * 64)
    yield root
    shutil.rmtree(qa)
    shutil.rmtree(broken)


def _tokenizer(api: TestClient, corpus: str, **text: object) -> TokenizerPublic:
    body: dict[str, object] = {"method": "char", "vocab_size": 100, "corpus_path": corpus}
    body |= text
    return trained_tokenizer(api, body)


@pytest.fixture(scope="module")
def qa_tokenizer(api: TestClient, shelf: Path) -> str:
    """A tokenizer trained on the Parquet file through the template."""
    view = _tokenizer(api, "qa/rows.parquet", text_template=TEMPLATE)
    assert view.status == "completed", view.message
    assert view.corpus is not None and view.corpus.files == ["qa/rows.parquet"]
    assert view.corpus.train_records is not None and view.corpus.holdout_records is not None
    assert view.corpus.train_records + view.corpus.holdout_records == ROWS
    return view.tokenizer_id


def _run(api: TestClient, tokenizer_id: str, corpus: str, **text: object) -> RunPublic:
    data: dict[str, object] = {"tokenizer_id": tokenizer_id, "corpus_path": corpus}
    data |= text
    body = {
        "model": TINY_MODEL,
        "data": data | {"holdout_fraction": 0.2},
        "trainer": {"max_steps": 6, "batch_size": 2, "eval_interval": 3, "eval_steps": 1},
    }
    response = api.post("/runs/train", json=body)
    assert response.status_code == 202, response.text
    run_id = RunQueued.model_validate_json(response.content).run_id
    deadline = time.monotonic() + 180
    while True:
        run = RunPublic.model_validate_json(api.get(f"/runs/{run_id}").content)
        if run.status in ("completed", "failed", "cancelled"):
            return run
        assert time.monotonic() < deadline, f"run stuck in {run.status}"
        time.sleep(0.2)


@pytest.mark.parametrize("corpus", ["qa/rows.jsonl", "qa/rows.csv", "qa/rows.parquet", "qa/saved"])
def test_a_run_trains_on_each_kind(api: TestClient, qa_tokenizer: str, corpus: str) -> None:
    run = _run(api, qa_tokenizer, corpus, text_template=TEMPLATE, min_length=10)
    assert run.status == "completed", run.message


def test_broken_corpora_are_refused_with_their_codes(
    api: TestClient, qa_tokenizer: str, shelf: Path
) -> None:
    def refused(corpus: str, **text: object) -> tuple[int, str, str]:
        data: dict[str, object] = {"tokenizer_id": qa_tokenizer, "corpus_path": corpus}
        data |= text
        request: dict[str, object] = {"model": TINY_MODEL, "data": data}
        response = api.post("/runs/train", json=request)
        body = ErrorBody.model_validate_json(response.content)
        return response.status_code, body.code, body.message

    def coded(corpus: str, **text: object) -> tuple[int, str]:
        status, code, _ = refused(corpus, **text)
        return status, code

    status, code, message = refused("qa/rows.csv", text_template="{question} {reply}")
    assert (status, code) == (400, "DATA_INVALID")
    assert message.startswith("corpus file 'qa/rows.csv' has no column 'reply'")
    assert coded("qa/rows.jsonl", text_field="body") == (400, "DATA_INVALID")
    assert coded("qa/rows.jsonl", text_template="{question") == (422, "CONFIG_INVALID")
    both = {"text_field": "question", "text_template": TEMPLATE}
    assert coded("qa/rows.jsonl", **both) == (422, "CONFIG_INVALID")
    status, code, message = refused("broken/corrupt.parquet")
    assert (status, code) == (400, "DATA_INVALID")
    assert "'broken/corrupt.parquet' is not a readable Parquet file" in message
    assert coded("story.txt", text_template=TEMPLATE) == (400, "DATA_INVALID")
    # What shows only on reading fails the job, naming the file and the line.
    run = _run(api, qa_tokenizer, "broken/bad.jsonl", text_template=TEMPLATE)
    assert run.status == "failed" and run.error_code == "DATA_INVALID"
    assert run.message is not None and "'broken/bad.jsonl', line 3: invalid JSON" in run.message
    view = _tokenizer(api, "qa/rows.jsonl", text_field="question", min_length=10_000)
    assert view.status == "failed" and view.error_code == "CORPUS_EMPTY", view.message


def test_the_listing_shows_formats_columns_and_rows(api: TestClient, shelf: Path) -> None:
    answer = api.get("/corpus", params={"path": "qa"})
    assert answer.status_code == 200, answer.text
    listing = CorpusPublic.model_validate_json(answer.content)
    entries = {e.name: e for e in listing.data}
    assert [e.name for e in listing.data] == ["saved", "rows.csv", "rows.jsonl", "rows.parquet"]
    for name, entry in entries.items():
        assert entry.columns == ["question", "answer", "id"], name
    assert entries["saved"].format == "saved_dataset" and entries["saved"].rows == ROWS
    assert entries["saved"].kind == "folder" and entries["saved"].files == 1
    assert entries["rows.parquet"].format == "parquet" and entries["rows.parquet"].rows == ROWS
    assert entries["rows.jsonl"].format == "jsonl" and entries["rows.jsonl"].rows is None
    assert entries["rows.csv"].format == "csv"
    broken = CorpusPublic.model_validate_json(api.get("/corpus?path=broken").content)
    corrupt = next(e for e in broken.data if e.name == "corrupt.parquet")
    assert corrupt.problem == "corpus file 'broken/corrupt.parquet' is not a readable Parquet file"
    root = CorpusPublic.model_validate_json(api.get("/corpus").content)
    assert next(e for e in root.data if e.name == "story.txt").format == "text"
