"""Structured corpora: records of JSON Lines, JSON, CSV, Parquet and `save_to_disk` files
turned into documents of text.

A record's text is one column (`text_field`) or a template over columns (`text_template`,
e.g. "### Q: {question}\\n### A: {answer}"); records shorter than `min_length` characters
are dropped. Every file is read a record or a batch at a time (JSON Lines and CSV by line,
Parquet and Arrow through `infra.tables`), so memory stays flat; a bad record is refused
naming its file and line or row. At request time a file's columns are read from its head
alone (`HEAD_MAX_BYTES`), whatever its size. Plain `.txt` files are no records: they keep
the line reader in `corpus.py`.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from enum import StrEnum
from pathlib import Path
from string import Formatter
from typing import Annotated, NamedTuple, Self

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.json_types import JsonObject, JsonValue
from model_trainer.core.request_model import RequestModel
from model_trainer.infra.paths import corpus_files, display_path
from model_trainer.infra.tables import (
    Shape,
    arrow_batches,
    arrow_shape,
    parquet_batches,
    parquet_shape,
)

DEFAULT_FIELD = "text"
JSON_ARRAY_MAX_BYTES = 256 * 1024 * 1024
"""A `.json` file holding one array is read whole, so only up to this size; larger corpora
belong in JSON Lines, which is read a line at a time."""
HEAD_MAX_BYTES = 1024 * 1024
"""The most of a file read to find its columns at request time (a JSON Lines file's first
record, a CSV header): a first line longer than this is refused there, not read whole."""
CSV_FIELD_LIMIT = 2**31 - 1
"""Characters a CSV cell may hold: documents are long, Python's default (128 KiB) is not."""

_OBJECT: TypeAdapter[JsonObject] = TypeAdapter(JsonObject)
_OBJECTS: TypeAdapter[list[JsonObject]] = TypeAdapter(list[JsonObject])
_VALUE: TypeAdapter[JsonValue] = TypeAdapter(JsonValue)


class CorpusFormat(StrEnum):
    """How a corpus file is read, by its suffix."""

    TEXT = "text"
    JSONL = "jsonl"
    JSON = "json"
    CSV = "csv"
    PARQUET = "parquet"
    ARROW = "arrow"


FORMATS: dict[str, CorpusFormat] = {
    ".txt": CorpusFormat.TEXT,
    ".jsonl": CorpusFormat.JSONL,
    ".json": CorpusFormat.JSON,
    ".csv": CorpusFormat.CSV,
    ".parquet": CorpusFormat.PARQUET,
    ".arrow": CorpusFormat.ARROW,
}


def corpus_format(path: Path) -> CorpusFormat:
    """The format of a corpus file (`infra.paths` hands out only these suffixes)."""
    return FORMATS.get(path.suffix, CorpusFormat.TEXT)


def has_records(files: Sequence[Path]) -> bool:
    """Whether any of the files is read as records rather than lines of text."""
    return any(corpus_format(f) is not CorpusFormat.TEXT for f in files)


Piece = tuple[str, str | None]
"""Literal text, then the column whose value follows it (None at the template's end)."""


def template_pieces(template: str) -> list[Piece]:
    """A template as pieces; ValueError (for a 422) when it is not one."""
    try:
        parsed = list(Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"text_template is not a valid template: {exc}") from None
    pieces: list[Piece] = []
    for literal, name, spec, conversion in parsed:
        if name is not None and (not name or name.isdigit() or "." in name or "[" in name):
            raise ValueError(f"text_template: '{{{name}}}' names no column; write {{column}}")
        if spec or conversion:
            raise ValueError(f"text_template: '{{{name}}}' takes no format spec or conversion")
        pieces.append((literal, name))
    if not any(name for _, name in pieces):
        raise ValueError("text_template names no column, e.g. '{text}'")
    return pieces


class TextSpec(BaseModel):
    """Which text a record gives: one column or a template over columns, and the shortest
    text kept. Stored with a dataset, so a different choice never reuses its token ids."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    field: str | None = DEFAULT_FIELD
    template: str | None = None
    min_length: int = 1

    def columns(self) -> list[str]:
        """The columns read, in order of first use."""
        if self.template is None:
            return [self.field or DEFAULT_FIELD]
        names: list[str] = []
        for _, name in template_pieces(self.template):
            if name is not None and name not in names:
                names.append(name)
        return names

    def key(self) -> str:
        return self.model_dump_json()


class CorpusText(RequestModel):
    """The request fields that say how structured corpora become text (plain `.txt` files
    are read as lines whatever they say)."""

    text_field: Annotated[
        str | None,
        Field(
            min_length=1,
            max_length=256,
            description="The column holding each record's text (`text` when neither this "
            "nor `text_template` is given)",
        ),
    ] = None
    text_template: Annotated[
        str | None,
        Field(
            min_length=1,
            max_length=4096,
            description="Each record's text from its columns, e.g. "
            "`### Q: {question}\\n### A: {answer}`; instead of `text_field`",
        ),
    ] = None
    min_length: Annotated[
        int,
        Field(ge=0, le=1_000_000, description="Records with fewer characters of text are skipped"),
    ] = 1

    @model_validator(mode="after")
    def _one_source_of_text(self) -> Self:
        if self.text_field is not None and self.text_template is not None:
            raise ValueError("give text_field or text_template, not both")
        if self.text_template is not None:
            template_pieces(self.text_template)
        return self

    def text_spec(self) -> TextSpec:
        field = None if self.text_template is not None else self.text_field or DEFAULT_FIELD
        return TextSpec(field=field, template=self.text_template, min_length=self.min_length)


class Record(NamedTuple):
    """A record's text, and how far through its file the record starts (0 to 1)."""

    text: str
    position: float


def _refused(
    name: str, where: str, problem: str, code: ErrorCode = ErrorCode.DATA_INVALID
) -> AppError:
    return AppError(code, f"corpus file '{name}', {where}: {problem}")


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


class _Render:
    """Turns one record's column values (in `TextSpec.columns` order) into its text."""

    def __init__(self, spec: TextSpec, name: str) -> None:
        self.columns = spec.columns()
        self.name = name
        self._pieces = template_pieces(spec.template) if spec.template is not None else None
        self._index = {column: i for i, column in enumerate(self.columns)}

    def text(self, values: Sequence[object], label: str, number: int) -> str:
        """The record's text; `label` and `number` say where it is ("line", 3) if refused."""
        texts = [value for value in values if isinstance(value, str)]
        if len(texts) != len(values):
            at = next(i for i, v in enumerate(values) if not isinstance(v, str))
            problem = f"column '{self.columns[at]}' holds {_kind(values[at])}, not text"
            raise _refused(self.name, f"{label} {number}", problem)
        if self._pieces is None:
            return texts[0]
        parts: list[str] = []
        for literal, name in self._pieces:
            parts.append(literal)
            if name is not None:
                parts.append(texts[self._index[name]])
        return "".join(parts)

    def missing(self, present: Sequence[str]) -> AppError | None:
        """The refusal of a file whose columns lack one this reads, or None."""
        absent = [c for c in self.columns if c not in present]
        if not absent:
            return None
        shown = ", ".join(list(present)[:20]) or "none"
        problem = f"has no column '{absent[0]}' (its columns: {shown})"
        return AppError(ErrorCode.DATA_INVALID, f"corpus file '{self.name}' {problem}")


_MISSING = object()
_BOM = b"\xef\xbb\xbf"


def _json_value(data: bytes, name: str, where: str) -> JsonValue:
    """Any JSON value, or the reason `data` holds none."""
    try:
        return _VALUE.validate_json(data)
    except ValidationError as exc:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            raise _refused(name, where, "not valid UTF-8", ErrorCode.CORPUS_NOT_UTF8) from None
        reason = _json_reason(exc)
        raise _refused(name, where, f"invalid JSON ({reason})") from None


def _json_reason(exc: ValidationError) -> str:
    """The parser's words from pydantic's message ("EOF while parsing ... column 9")."""
    lines = str(exc).splitlines()
    found = lines[1].strip() if len(lines) > 1 else "malformed"
    return found.split(" [type=")[0].removeprefix("Invalid JSON: ")


def _json_object(line: bytes, name: str, where: str) -> JsonObject:
    """One JSON object, or the reason it is none."""
    try:
        return _OBJECT.validate_json(line)
    except ValidationError:
        value = _json_value(line, name, where)
    raise _refused(name, where, f"{_kind(value)}, not a JSON object")


def _fields(row: JsonObject, render: _Render, label: str, number: int) -> list[object]:
    values = [row.get(column, _MISSING) for column in render.columns]
    if _MISSING in values:
        absent = render.columns[values.index(_MISSING)]
        shown = ", ".join(list(row)[:20]) or "none"
        problem = f"no field '{absent}' (its fields: {shown})"
        raise _refused(render.name, f"{label} {number}", problem)
    return values


def _jsonl(path: Path, render: _Render) -> Iterator[Record]:
    size = max(1, path.stat().st_size)
    offset = 0
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, 1):
            start = offset
            offset += len(raw)
            line = raw.removeprefix(_BOM) if number == 1 else raw
            if not line.strip():
                continue  # blank lines separate nothing
            row = _json_object(line, render.name, f"line {number}")
            yield Record(
                render.text(_fields(row, render, "line", number), "line", number), start / size
            )


def _json(path: Path, render: _Render) -> Iterator[Record]:
    """A `.json` file: JSON Lines, or one array of objects (read whole, so bounded)."""
    with path.open("rb") as handle:
        head = handle.read(4096).removeprefix(_BOM).lstrip()
    if not head.startswith(b"["):
        yield from _jsonl(path, render)
        return
    if path.stat().st_size > JSON_ARRAY_MAX_BYTES:
        mib = JSON_ARRAY_MAX_BYTES >> 20
        problem = f"a JSON array over {mib} MiB; write it as JSON Lines (.jsonl) instead"
        raise AppError(ErrorCode.DATA_INVALID, f"corpus file '{render.name}' is {problem}")
    rows = _json_array(path.read_bytes().removeprefix(_BOM), render.name)
    for number, row in enumerate(rows, 1):
        values = _fields(row, render, "record", number)
        yield Record(render.text(values, "record", number), (number - 1) / len(rows))


def _json_array(data: bytes, name: str) -> list[JsonObject]:
    try:
        return _OBJECTS.validate_json(data)
    except ValidationError:
        pass
    value = _json_value(data, name, "the array")
    if not isinstance(value, list):
        raise _refused(name, "the file", f"{_kind(value)}, not an array of objects")
    number, item = next((i, v) for i, v in enumerate(value, 1) if not isinstance(v, dict))
    raise _refused(name, f"record {number}", f"{_kind(item)}, not a JSON object")


class _Lines:
    """A binary file's lines as text for `csv.reader`, counting the bytes handed out."""

    def __init__(self, handle: Iterator[bytes], name: str) -> None:
        self._handle = handle
        self._name = name
        self.offset = 0
        self.number = 0

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        line = next(self._handle)
        self.offset += len(line)
        self.number += 1
        try:
            return line.decode("utf-8").removeprefix("\ufeff")
        except UnicodeDecodeError:
            where = f"line {self.number}"
            raise _refused(
                self._name, where, "not valid UTF-8", ErrorCode.CORPUS_NOT_UTF8
            ) from None


def _csv_row(reader: Iterator[list[str]], name: str, line: int) -> list[str] | None:
    try:
        return next(reader, None)
    except csv.Error as exc:
        raise _refused(name, f"line {line}", f"not valid CSV ({exc})") from None


def _csv(path: Path, render: _Render) -> Iterator[Record]:
    csv.field_size_limit(CSV_FIELD_LIMIT)
    size = max(1, path.stat().st_size)
    with path.open("rb") as handle:
        lines = _Lines(iter(handle), render.name)
        reader = csv.reader(lines, strict=True)
        header = _csv_row(reader, render.name, 1)
        if header is None:
            return
        refusal = render.missing(header)
        if refusal is not None:
            raise refusal
        index = [header.index(column) for column in render.columns]
        while True:
            start, number = lines.offset, lines.number + 1
            row = _csv_row(reader, render.name, number)
            if row is None:
                return
            if not row:
                continue  # a blank line
            if len(row) != len(header):
                problem = f"{len(row)} cells where the header has {len(header)}"
                raise _refused(render.name, f"line {number}", problem)
            values = [row[i] for i in index]
            yield Record(render.text(values, "line", number), start / size)


def _table(
    batches: Iterator[list[list[object]]], rows: int | None, render: _Render
) -> Iterator[Record]:
    number, total = 0, max(1, rows or 1)
    for batch in batches:
        for i in range(len(batch[0]) if batch else 0):
            values = [column[i] for column in batch]
            yield Record(render.text(values, "row", number + 1), number / total)
            number += 1


def _shape(path: Path, name: str, fmt: CorpusFormat, count: bool) -> Shape:
    if fmt is CorpusFormat.PARQUET:
        return parquet_shape(path, name)
    return arrow_shape(path, name, count)


def iter_records(path: Path, corpus_root: Path, spec: TextSpec) -> Iterator[Record]:
    """The records of one structured corpus file, in order, each as its text; a bad record
    is an `AppError` naming the file and its line or row."""
    render = _Render(spec, display_path(path, corpus_root))
    fmt = corpus_format(path)
    if fmt is CorpusFormat.JSONL:
        return _jsonl(path, render)
    if fmt is CorpusFormat.JSON:
        return _json(path, render)
    if fmt is CorpusFormat.CSV:
        return _csv(path, render)
    shape = _shape(path, render.name, fmt, count=True)
    refusal = render.missing(shape.columns)
    if refusal is not None:
        raise refusal
    read = parquet_batches if fmt is CorpusFormat.PARQUET else arrow_batches
    return _table(read(path, render.name, render.columns), shape.rows, render)


def _head(path: Path) -> tuple[list[bytes], bytes | None]:
    """The whole lines (byte order mark removed) within the file's first `HEAD_MAX_BYTES`,
    then the start of the line cut there (None when the file ends within them)."""
    lines: list[bytes] = []
    left = HEAD_MAX_BYTES
    with path.open("rb") as handle:
        while left > 0 and (line := handle.readline(left)):
            left -= len(line)
            lines.append(line if lines else line.removeprefix(_BOM))
        more = bool(handle.read(1))
    if not more:
        return lines, None
    rest = lines.pop() if lines and not lines[-1].endswith(b"\n") else b""
    return lines, rest


def _past_head(name: str, what: str) -> AppError:
    mib = HEAD_MAX_BYTES >> 20
    problem = f"{what} does not end within its first {mib} MiB, the most read to find its columns"
    return AppError(ErrorCode.DATA_INVALID, f"corpus file '{name}': {problem}")


def _first_object(path: Path, name: str) -> JsonObject | None:
    """The first record of a JSON Lines file (or a `.json` file holding JSON Lines), read
    from the file's head only; None for an empty file, a JSON array, or a first record
    longer than the head (a book a record is fine: its columns are checked as it is read)."""
    lines, rest = _head(path)
    for number, line in enumerate(lines, 1):
        if line.lstrip().startswith(b"["):
            return None
        if line.strip():
            return _json_object(line, name, f"line {number}")
    return None


def _csv_header(path: Path, name: str) -> list[str]:
    """A CSV file's header, read from the file's head only."""
    lines, rest = _head(path)
    ran_out: list[bool] = []

    def whole_lines() -> Iterator[bytes]:
        yield from lines
        ran_out.append(True)  # the header needs more than the head's whole lines

    header = _csv_row(csv.reader(_Lines(whole_lines(), name)), name, 1)
    if rest is not None and ran_out:
        raise _past_head(name, "its header")
    return header or []


def shape_of(path: Path, corpus_root: Path) -> tuple[CorpusFormat, Shape]:
    """A corpus file's format, columns (from its first record, header or schema) and rows
    (where the file states them, or an Arrow stream counts them cheaply)."""
    fmt = corpus_format(path)
    if fmt is CorpusFormat.TEXT:
        return fmt, Shape([], None)
    name = display_path(path, corpus_root)
    if fmt in (CorpusFormat.PARQUET, CorpusFormat.ARROW):
        return fmt, _shape(path, name, fmt, count=True)
    if fmt in (CorpusFormat.JSONL, CorpusFormat.JSON):
        first = _first_object(path, name)
        return fmt, Shape(list(first) if first is not None else [], None)
    return fmt, Shape(_csv_header(path, name), None)


def check_records(files: Sequence[Path], corpus_root: Path, text: CorpusText, field: str) -> None:
    """Refuse at request time what can be known then: text settings for a corpus of plain
    text only, and a structured file lacking a column the settings read (a JSON Lines file
    by its first record; a JSON array, and a first record longer than the head, are
    checked when they are read)."""
    if not has_records(files):
        if text.text_field is not None or text.text_template is not None:
            raise AppError(
                ErrorCode.DATA_INVALID,
                f"{field} holds only .txt files, read as lines: text_field and text_template "
                "apply to JSON Lines, JSON, CSV, Parquet and save_to_disk corpora",
            )
        return
    spec = text.text_spec()
    for path in files:
        if corpus_format(path) is CorpusFormat.TEXT:
            continue
        fmt, shape = shape_of(path, corpus_root)
        if fmt in (CorpusFormat.JSON, CorpusFormat.JSONL) and not shape.columns:
            continue
        refusal = _Render(spec, display_path(path, corpus_root)).missing(shape.columns)
        if refusal is not None:
            raise refusal


def check_corpus(corpus_root: Path, corpus_path: str, text: CorpusText, field: str) -> list[Path]:
    """The corpus files a request names (`infra.paths.corpus_files`), refused now if their
    columns cannot give the text asked for (`check_records`)."""
    files = corpus_files(corpus_root, corpus_path, field)
    check_records(files, corpus_root, text, field)
    return files
