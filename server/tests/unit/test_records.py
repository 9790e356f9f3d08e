"""Structured corpora: each kind read into whole records, templates and filters, and every
bad file refused naming the file and the line or row."""

from __future__ import annotations

import hashlib
import json
import tracemalloc
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.infra.paths import corpus_files
from model_trainer.infra.tables import parquet_batches
from model_trainer.orchestrators.corpus import CorpusCatalog
from model_trainer.tokenizers.corpus import HoldoutStrategy, split_corpus
from model_trainer.tokenizers.records import (
    HEAD_MAX_BYTES,
    CorpusText,
    TextSpec,
    check_corpus,
    shape_of,
)
from model_trainer.training.data.dataset import corpus_layout, corpus_sha256, dataset_key

TEXTS = [f"record {i}\nwith a second line {i}" for i in range(200)]
KINDS = ["rows.jsonl", "rows.json", "array.json", "rows.csv", "rows.parquet", "saved"]


def _write(root: Path, kind: str, rows: dict[str, list[object]]) -> Path:
    """`rows` (columns of values) written as `kind` under `root`."""
    path = root / kind
    names = list(rows)
    count = len(rows[names[0]])
    records: list[dict[str, object]] = [{n: rows[n][i] for n in names} for i in range(count)]
    if kind == "array.json":
        path.write_text(json.dumps(records), encoding="utf-8")
    elif kind.endswith((".jsonl", ".json")):
        path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    elif kind.endswith(".csv"):
        lines = [_csv_line(names)] + [_csv_line([str(r[n]) for n in names]) for r in records]
        path.write_text("".join(lines), encoding="utf-8")
    elif kind.endswith(".parquet"):
        pq.write_table(pa.table(rows), path, row_group_size=64)
    else:
        datasets.Dataset.from_dict(rows).save_to_disk(str(path))
    return path


def _csv_line(cells: list[str]) -> str:
    return ",".join('"' + cell.replace('"', '""') + '"' for cell in cells) + "\r\n"


def _split(
    root: Path, name: str, tmp: Path, text: TextSpec | None = None, seed: int = 1
) -> tuple[str, str]:
    files = corpus_files(root, name)
    split = split_corpus(files, root, tmp / f"w{seed}", 0.2, seed, text=text)
    return split.train_file.read_text(), split.holdout_file.read_text()


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_splits_by_whole_record(tmp_path: Path, kind: str) -> None:
    root = tmp_path / "corpus"
    root.mkdir()
    _write(root, kind, {"text": list(TEXTS), "n": [str(i) for i in range(200)]})
    train, held = _split(root, kind, tmp_path)
    documents = (train + held).split("\n\n")
    assert sorted(d for d in documents if d) == sorted(TEXTS)  # no record cut or lost
    assert 10 < len([d for d in held.split("\n\n") if d]) < 80
    assert (train, held) == _split(root, kind, tmp_path / "again")  # the same for a seed
    assert (train, held) != _split(root, kind, tmp_path, seed=2)


def test_save_to_disk_reads_only_its_data_files(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    root.mkdir()
    _write(root, "saved", {"text": ["a", "b"]})
    files = corpus_files(root, "saved")
    assert [f.suffix for f in files] == [".arrow"]
    assert shape_of(files[0], root)[1].rows == 2


def test_a_template_over_columns_and_a_filter(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    root.mkdir()
    rows: dict[str, list[object]] = {"q": ["Why?", "How?", "?"], "a": ["Because.", "So.", ""]}
    _write(root, "qa.parquet", rows)
    spec = TextSpec(field=None, template="### Q: {q}\n### A: {a}", min_length=20)
    train, held = _split(root, "qa.parquet", tmp_path, spec)
    found = sorted(d for d in (train + held).split("\n\n") if d)
    assert found == ["### Q: How?\n### A: So.", "### Q: Why?\n### A: Because."]


def test_the_cache_key_follows_the_text_settings(tmp_path: Path) -> None:
    one = dataset_key("sha", "tok", HoldoutStrategy.RANDOM_LINES, 0.1, 1, TextSpec())
    other = TextSpec(field=None, template="{q} {a}")
    assert one != dataset_key("sha", "tok", HoldoutStrategy.RANDOM_LINES, 0.1, 1, other)
    shorter = TextSpec(min_length=5)
    assert one != dataset_key("sha", "tok", HoldoutStrategy.RANDOM_LINES, 0.1, 1, shorter)
    root = tmp_path / "c"
    root.mkdir()
    files = [_write(root, "a.jsonl", {"text": ["x", "y"]})]
    assert split_corpus(files, root, tmp_path / "w", 0.1, 1).sha256 == corpus_sha256(files)


def test_request_fields_are_checked_when_sent() -> None:
    assert CorpusText().text_spec() == TextSpec(field="text")
    assert CorpusText(text_template="{q}!").text_spec().columns() == ["q"]
    for bad in ("{q", "{}", "{0}", "{q.x}", "{q!r}", "no columns"):
        with pytest.raises(ValidationError):
            CorpusText(text_template=bad)
    with pytest.raises(ValidationError, match="not both"):
        CorpusText(text_field="a", text_template="{b}")


def _refusal(root: Path, name: str, tmp: Path, text: TextSpec | None = None) -> AppError:
    with pytest.raises(AppError) as caught:
        _split(root, name, tmp, text)
    return caught.value


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ('{"text": "a"}\n{"body": "b"}\n', "line 2: no field 'text' (its fields: body)"),
        ('{"text": "a"}\n{"text": 3}\n', "line 2: column 'text' holds a number, not text"),
        ('{"text": null}\n', "line 1: column 'text' holds null, not text"),
        ('{"text": ["a"]}\n', "line 1: column 'text' holds a list, not text"),
        ('{"text": "a"}\n\n{"text": "b",\n', "line 3: invalid JSON (EOF while parsing"),
        ('{"text": "a"}\n[1]\n', "line 2: a list, not a JSON object"),
    ],
)
def test_bad_json_lines_are_refused_by_line(tmp_path: Path, content: str, words: str) -> None:
    root = tmp_path / "corpus"
    root.mkdir()
    (root / "bad.jsonl").write_text(content, encoding="utf-8")
    error = _refusal(root, "bad.jsonl", tmp_path)
    assert error.code is ErrorCode.DATA_INVALID
    assert error.message.startswith("corpus file 'bad.jsonl', ")
    assert words in error.message


def test_bad_tables_are_refused_by_row(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    root.mkdir()
    _write(root, "nums.parquet", {"text": ["a", None, "c"]})
    error = _refusal(root, "nums.parquet", tmp_path)
    assert "corpus file 'nums.parquet', row 2: column 'text' holds null" in error.message
    _write(root, "saved", {"text": ["a"] * 10 + [None]})
    assert "row 11: column 'text' holds null" in _refusal(root, "saved", tmp_path).message
    (root / "broken.parquet").write_bytes(b"PAR1 not really parquet")
    error = _refusal(root, "broken.parquet", tmp_path)
    assert error.code is ErrorCode.DATA_INVALID
    assert error.message == "corpus file 'broken.parquet' is not a readable Parquet file"
    (root / "short.csv").write_text("text,n\na,1\nb\n", encoding="utf-8")
    error = _refusal(root, "short.csv", tmp_path)
    assert "'short.csv', line 3: 1 cells where the header has 2" in error.message


def test_a_missing_column_is_refused_at_request_time(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    root.mkdir()
    _write(root, "qa.csv", {"q": ["a"], "a": ["b"]})
    with pytest.raises(AppError) as caught:
        check_corpus(root, "qa.csv", CorpusText(text_template="{q} {answer}"), "corpus_path")
    assert caught.value.code is ErrorCode.DATA_INVALID
    assert caught.value.message == "corpus file 'qa.csv' has no column 'answer' (its columns: q, a)"
    check_corpus(root, "qa.csv", CorpusText(text_template="{q} {a}"), "corpus_path")
    (root / "plain.txt").write_text("lines\n", encoding="utf-8")
    with pytest.raises(AppError, match="holds only .txt files"):
        check_corpus(root, "plain.txt", CorpusText(text_field="body"), "corpus_path")


def test_nothing_left_after_the_filter_is_an_empty_corpus(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    root.mkdir()
    _write(root, "short.jsonl", {"text": ["a", "bb"]})
    error = _refusal(root, "short.jsonl", tmp_path, TextSpec(min_length=3))
    assert error.code is ErrorCode.CORPUS_EMPTY
    assert "all 2 records are shorter than min_length 3" in error.message


def test_a_byte_order_mark_blank_lines_and_the_tail(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    root.mkdir()
    lines = [f'{{"text": "doc {i}"}}' for i in range(10)]
    (root / "bom.jsonl").write_bytes(b"\xef\xbb\xbf" + "\n\n".join(lines).encode() + b"\n")
    (root / "bom.csv").write_bytes(
        b"\xef\xbb\xbftext\r\n" + b"\r\n".join(b"doc %d" % i for i in range(10))
    )
    for name in ("bom.jsonl", "bom.csv"):
        files = corpus_files(root, name)
        split = split_corpus(files, root, tmp_path / name, 0.2, 1, HoldoutStrategy.TAIL)
        assert split.holdout_file.read_text() == "doc 8\n\ndoc 9\n\n", name
        assert (split.train_records, split.holdout_records) == (8, 2)


BIG = 4 * 1024 * 1024
"""A first line four times the most read of a file's head at request time."""


def _peak(call: object) -> int:
    """Bytes allocated at most while `call()` runs."""
    assert callable(call)
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_columns_are_read_from_the_head_of_a_file_only(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    root.mkdir()
    record = '{"text": "' + "x" * BIG + '"}'
    (root / "big.jsonl").write_text(record + "\n", encoding="utf-8")
    (root / "wide.csv").write_text("text," + "y" * BIG + "\na,b\n", encoding="utf-8")
    (root / "array.json").write_text(f"[{record}]", encoding="utf-8")
    (root / "late.jsonl").write_text('{"a": "1"}\n' + record + "\n", encoding="utf-8")
    (root / "late.csv").write_text("text\n" + "w" * BIG + "\n", encoding="utf-8")
    with pytest.raises(AppError) as caught:
        check_corpus(root, "wide.csv", CorpusText(), "corpus_path")
    assert caught.value.code is ErrorCode.DATA_INVALID
    expected = "corpus file 'wide.csv': its header does not end within its first 1 MiB"
    assert caught.value.message.startswith(expected)
    # A record longer than the head leaves the columns unknown until the job reads it.
    assert _peak(lambda: shape_of(root / "big.jsonl", root)) < 3 * HEAD_MAX_BYTES < BIG
    check_corpus(root, "big.jsonl", CorpusText(), "corpus_path")
    assert _peak(lambda: shape_of(root / "array.json", root)) < 3 * HEAD_MAX_BYTES < BIG
    assert shape_of(root / "array.json", root)[1].columns == []
    assert shape_of(root / "late.jsonl", root)[1].columns == ["a"]
    assert shape_of(root / "late.csv", root)[1].columns == ["text"]
    entries = {e.name: e for e in CorpusCatalog(root).folder(None).entries}
    assert entries["big.jsonl"].columns == [] and entries["big.jsonl"].problem is None
    assert "header does not end within its first 1 MiB" in (entries["wide.csv"].problem or "")
    assert entries["array.json"].problem is None


def _duplicated(root: Path, name: str) -> None:
    """A table with two columns named `text` written as `name` (Parquet or Arrow stream)."""
    table = pa.Table.from_arrays([pa.array(["a"]), pa.array(["b"])], names=["text", "text"])
    path = root / name
    if name.endswith(".parquet"):
        pq.write_table(table, path)
    else:
        with ipc.new_stream(path, table.schema) as writer:
            writer.write_table(table)


def test_a_column_name_held_twice_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    root.mkdir()
    twice = "has more than one column named 'text'"
    for name in ("twice.parquet", "twice.arrow"):
        _duplicated(root, name)
        with pytest.raises(AppError) as caught:
            check_corpus(root, name, CorpusText(), "corpus_path")
        assert caught.value.code is ErrorCode.DATA_INVALID
        assert caught.value.message.startswith(f"corpus file '{name}' {twice}")
        assert twice in _refusal(root, name, tmp_path / name).message
        entry = next(e for e in CorpusCatalog(root).folder(None).entries if e.name == name)
        assert twice in (entry.problem or "")
    # Read without its shape (the file changed since): the same refusal, not a KeyError.
    with pytest.raises(AppError, match=twice):
        list(parquet_batches(root / "twice.parquet", "twice.parquet", ["text"]))


def test_the_cache_key_follows_the_files_names_and_formats(tmp_path: Path) -> None:
    first, second = b"text\nalpha one\n", b"text\nbeta two\n"
    a, b = tmp_path / "a", tmp_path / "b"
    for folder, names in ((a, ("p.txt", "q.csv")), (b, ("p.csv", "q.txt"))):
        folder.mkdir()
        (folder / names[0]).write_bytes(first)
        (folder / names[1]).write_bytes(second)
    files_a, files_b = corpus_files(tmp_path, "a"), corpus_files(tmp_path, "b")
    assert corpus_sha256(files_a) == corpus_sha256(files_b)  # the same bytes
    keys = [
        dataset_key(
            "sha", "tok", HoldoutStrategy.TAIL, 0.1, 1, TextSpec(), corpus_layout(f, tmp_path)
        )
        for f in (files_a, files_b)
    ]
    assert keys[0] != keys[1]
    plain = f"v2|sha|tok|{HoldoutStrategy.TAIL}|0.1|1"  # plain text: its bytes alone, as before
    expected = hashlib.sha256(plain.encode()).hexdigest()[:32]
    assert dataset_key("sha", "tok", HoldoutStrategy.TAIL, 0.1, 1, None, "layout") == expected
