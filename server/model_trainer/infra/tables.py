"""Columnar corpus files read through pyarrow: Parquet, and the Arrow streams that a
`datasets` `save_to_disk` folder holds. Local files only, in batches, so memory stays flat.

Values come back as plain Python objects (`object`), for the caller to check; pyarrow's
own failures become `DATA_INVALID` errors naming the file (and the row, where reading
got that far).
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


def parquet_shape(path: Path, name: str) -> Shape:
    """A Parquet file's columns and rows, from its footer alone."""
    try:
        parquet = pq.ParquetFile(path)
        try:
            return Shape(parquet.schema_arrow.names, parquet.metadata.num_rows)
        finally:
            parquet.close()
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise _unreadable(name, "Parquet", exc) from None


def parquet_batches(path: Path, name: str, columns: list[str]) -> Iterator[Columns]:
    """The named columns of a Parquet file, a batch of rows at a time."""
    done = 0
    try:
        parquet = pq.ParquetFile(path)
        try:
            for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=columns):
                yield [batch.column(column).to_pylist() for column in columns]
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
            names = reader.schema.names
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
                yield [batch.column(column).to_pylist() for column in columns]
                done += batch.num_rows
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise _unreadable(name, "Arrow", exc, done) from None
