"""Columnar corpus files read through pyarrow: Parquet, and the Arrow streams that a
`datasets` `save_to_disk` folder holds. Local files only, in batches, so memory stays flat.

Values come back as plain Python objects (`object`), for the caller to check; pyarrow's
own failures become `DATA_INVALID` errors naming the file (and the row, where reading
got that far). A column name the schema holds more than once is refused: no column read
by name could tell which one is meant.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from model_trainer.core.errors import AppError, ErrorCode

BATCH_ROWS = 4096
"""Rows read at a time: enough that per-batch overhead vanishes, few enough to stay flat."""

Columns = list[list[object]]
"""A batch as the asked-for columns' values, in the order asked."""


class Shape(NamedTuple):
    """A table's columns, and its rows when they are known without reading it."""

    columns: list[str]
    rows: int | None


def _unreadable(name: str, what: str, exc: Exception, row: int | None = None) -> AppError:
    where = f" at row {row + 1}" if row is not None else ""
    return AppError(
        ErrorCode.DATA_INVALID,
        f"corpus file '{name}' is not a readable {what} file{where}",
        detail=str(exc)[:500],
    )


def _ambiguous(name: str, column: str) -> AppError:
    return AppError(
        ErrorCode.DATA_INVALID,
        f"corpus file '{name}' has more than one column named '{column}'; "
        "give each column its own name",
    )


def _unique(names: list[str], name: str) -> list[str]:
    """The schema's column names, refused if one of them is there twice."""
    seen: set[str] = set()
    for column in names:
        if column in seen:
            raise _ambiguous(name, column)
        seen.add(column)
    return names


def _values(batch: pa.RecordBatch, column: str, name: str) -> list[object]:
    """One column of a batch; a name that is not there once (the file changed since its
    shape was read) is the refusal the shape would have given."""
    try:
        return batch.column(column).to_pylist()
    except KeyError:
        if batch.schema.names.count(column) > 1:
            raise _ambiguous(name, column) from None
        problem = f"has no column '{column}'"
        raise AppError(ErrorCode.DATA_INVALID, f"corpus file '{name}' {problem}") from None


def parquet_shape(path: Path, name: str) -> Shape:
    """A Parquet file's columns and rows, from its footer alone."""
    try:
        parquet = pq.ParquetFile(path)
        try:
            names, rows = parquet.schema_arrow.names, parquet.metadata.num_rows
        finally:
            parquet.close()
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise _unreadable(name, "Parquet", exc) from None
    return Shape(_unique(names, name), rows)


def parquet_batches(path: Path, name: str, columns: list[str]) -> Iterator[Columns]:
    """The named columns of a Parquet file, a batch of rows at a time."""
    done = 0
    try:
        parquet = pq.ParquetFile(path)
        try:
            for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=columns):
                yield [_values(batch, column, name) for column in columns]
                done += batch.num_rows
        finally:
            parquet.close()
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise _unreadable(name, "Parquet", exc, done) from None


def arrow_shape(path: Path, name: str, count: bool) -> Shape:
    """An Arrow stream's columns, and its rows when `count` (which reads the stream)."""
    try:
        # Mapped: counting rows touches only each batch's header, never its data.
        with pa.memory_map(str(path)) as source:
            reader = ipc.open_stream(source)
            names = _unique(reader.schema.names, name)
            rows = sum(batch.num_rows for batch in reader) if count else None
            return Shape(names, rows)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise _unreadable(name, "Arrow", exc) from None


def arrow_batches(path: Path, name: str, columns: list[str]) -> Iterator[Columns]:
    """The named columns of an Arrow stream (a `save_to_disk` data file), a batch at a time."""
    done = 0
    try:
        with path.open("rb") as handle:
            for batch in ipc.open_stream(handle):
                yield [_values(batch, column, name) for column in columns]
                done += batch.num_rows
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise _unreadable(name, "Arrow", exc, done) from None
