"""A run's TensorBoard event file, written without TensorFlow or protobuf.

The file is a sequence of TFRecords (length, masked CRC-32C of the length, payload, masked
CRC-32C of the payload), each payload one `Event` protobuf encoded by hand: the first carries
the file version, every other one the scalars of one line of `metrics.jsonl` at its step.

A run keeps ONE event file, at a fixed name, rebuilt at each start from `metrics.jsonl` (as
trimmed to the resumed checkpoint) and appended to as it trains. One file, not one per
attempt: the push to the object store overwrites it, where an attempt's own file would
outlive the records it duplicates in the store (and come back with the next download of
the folder); and a rebuild shows a clean curve to every reader, whereas TensorBoard's own
restart handling (purging the steps after a `SessionLog.START`) is not done by all of its
loaders. A TensorBoard left open across a resume keeps reading the replaced file: it shows
the new attempt once restarted.

Writing is best effort: a failure is logged and ends TensorBoard output for the attempt,
never the run.
"""

from __future__ import annotations

import contextlib
import math
import struct
import time
from pathlib import Path
from typing import BinaryIO

from pydantic import TypeAdapter, ValidationError

from model_trainer.core.errors import AppError
from model_trainer.core.logging import Log
from model_trainer.infra.atomic import write_bytes
from model_trainer.training.run.manifest import MetricRecord

FILE_VERSION = "brain.Event:2"
"""What TensorBoard expects in the first event of a file."""

TRAIN_TAGS = {
    "loss": "train/loss",
    "lr": "train/lr",
    "tokens_per_s": "train/tokens_per_s",
    "mfu": "train/mfu",
}
"""Fields of a `train` record of `metrics.jsonl`, by TensorBoard tag."""
EVAL_TAGS = {
    "val_loss": "val/loss",
    "val_perplexity": "val/perplexity",
    "val_bits_per_byte": "val/bits_per_byte",
    "train_loss": "eval/train_loss",
}
"""Fields of an `eval` record; one the record lacks (an older run's) is left out."""

_FIELDS: TypeAdapter[dict[str, float | str | None]] = TypeAdapter(dict[str, float | str | None])
"""A line's fields; a non-finite value (a diverged loss) is written there as `null`."""
_FLOAT32_MAX = 3.4028234663852886e38


def _crc32c_table() -> list[int]:
    table: list[int] = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1  # Castagnoli, reflected
        table.append(crc)
    return table


_CRC32C_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), the checksum TFRecord framing uses."""
    crc = 0xFFFFFFFF
    table = _CRC32C_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    """The CRC as TFRecord stores it: rotated and offset, so that CRCs of data that itself
    holds CRCs stay well distributed."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def tf_record(payload: bytes) -> bytes:
    """One TFRecord: the length, its checksum, the payload, its checksum."""
    length = struct.pack("<Q", len(payload))
    return b"".join(
        (
            length,
            struct.pack("<I", masked_crc32c(length)),
            payload,
            struct.pack("<I", masked_crc32c(payload)),
        )
    )


def _varint(value: int) -> bytes:
    """Protobuf's base-128 varint; negative int64 values take ten bytes, as protobuf's."""
    value &= 0xFFFFFFFFFFFFFFFF
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _key(field: int, wire_type: int) -> bytes:
    return _varint(field << 3 | wire_type)


def _length_delimited(field: int, data: bytes) -> bytes:
    return _key(field, 2) + _varint(len(data)) + data


def _float32(value: float) -> bytes:
    # A finite value beyond float32's range would make struct refuse it: it is infinite there
    if math.isfinite(value) and abs(value) > _FLOAT32_MAX:
        value = math.copysign(math.inf, value)
    return struct.pack("<f", value)


def _event(wall_time: float, step: int, what: bytes) -> bytes:
    """`Event {wall_time = 1 (double); step = 2 (int64); <what>}`."""
    return _key(1, 1) + struct.pack("<d", wall_time) + _key(2, 0) + _varint(step) + what


def version_event(wall_time: float) -> bytes:
    """The first event of a file: `file_version = 3`."""
    return _event(wall_time, 0, _length_delimited(3, FILE_VERSION.encode()))


def scalars_event(wall_time: float, step: int, scalars: dict[str, float]) -> bytes:
    """`summary = 5`, a `Summary` of `Value {tag = 1; simple_value = 2}`, one per scalar."""
    values = b"".join(
        _length_delimited(1, _length_delimited(1, tag.encode()) + _key(2, 5) + _float32(value))
        for tag, value in scalars.items()
    )
    return _event(wall_time, step, _length_delimited(5, values))


def scalars_of(record: MetricRecord) -> dict[str, float]:
    """A record's finite values by tag. Read from its JSON line, the one `metrics.jsonl`
    holds, so TensorBoard shows exactly what the file does: values absent there (and NaN or
    infinity, written there as `null`) are absent here too."""
    fields = _FIELDS.validate_json(record.line())
    tags = TRAIN_TAGS if record.kind == "train" else EVAL_TAGS
    return {
        tag: value
        for name, tag in tags.items()
        if isinstance(value := fields.get(name), float) and math.isfinite(value)
    }


def record_event(record: MetricRecord) -> bytes | None:
    """The framed event of one metrics record; None when it holds no scalar."""
    scalars = scalars_of(record)
    if not scalars:
        return None
    wall_time = record.time if record.time is not None else time.time()
    return tf_record(scalars_event(wall_time, record.step, scalars))


def _recorded(metrics: Path) -> list[MetricRecord]:
    """The complete, readable lines of `metrics.jsonl` (a torn last line is skipped)."""
    if not metrics.is_file():
        return []
    records: list[MetricRecord] = []
    for line in metrics.read_text(encoding="utf-8").splitlines():
        try:
            records.append(MetricRecord.model_validate_json(line))
        except ValidationError:
            continue
    return records


class TensorBoardWriter:
    """The run's event file: rebuilt by `start`, then one event per metrics record."""

    def __init__(self, path: Path, log: Log) -> None:
        self._path = path
        self._log = log
        self._file: BinaryIO | None = None
        self._failed = False

    def start(self, metrics: Path) -> None:
        """Write the file anew from what `metrics.jsonl` holds now, and keep it open."""
        self.close()
        self._failed = False
        try:
            events = [tf_record(version_event(time.time()))]
            events += [e for e in map(record_event, _recorded(metrics)) if e is not None]
            write_bytes(self._path, b"".join(events))
            self._file = self._path.open("ab")
        except (OSError, AppError, ValueError) as exc:
            self._give_up(exc)

    def write(self, record: MetricRecord) -> None:
        if self._file is None:
            return
        try:
            event = record_event(record)
            if event is not None:
                self._file.write(event)
                self._file.flush()  # TensorBoard shows a step as soon as it is logged
        except (OSError, ValueError) as exc:
            self._give_up(exc)

    def flush(self) -> None:
        """Everything written so far on disk (before the folder is pushed to the store)."""
        if self._file is None:
            return
        try:
            self._file.flush()
        except OSError as exc:
            self._give_up(exc)

    def close(self) -> None:
        if self._file is None:
            return
        file, self._file = self._file, None
        try:
            file.close()
        except OSError as exc:
            self._give_up(exc)

    def _give_up(self, exc: Exception) -> None:
        """Stop writing for this attempt: after a torn record TensorBoard reads no further,
        so later ones would be lost anyway. The next start rebuilds the file."""
        if self._file is not None:
            with contextlib.suppress(OSError):  # the first failure is the one reported
                self._file.close()
            self._file = None
        if not self._failed:
            self._failed = True
            self._log.warning(
                "tensorboard_not_written",
                file=self._path.name,
                error=f"{type(exc).__name__}: {exc}",
            )
