"""A run's TensorBoard event file, read back by TensorBoard's own reader, holds exactly what
`metrics.jsonl` holds: at the start, after a resume trimmed it, and as records arrive."""

from __future__ import annotations

import math
from array import array
from pathlib import Path

from pydantic import TypeAdapter
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from model_trainer.core.logging import Log
from model_trainer.jobs.layout import RunFolder
from model_trainer.training.run.manifest import MetricRecord, keep_metrics_until
from model_trainer.training.run.tensorboard import (
    EVAL_TAGS,
    TRAIN_TAGS,
    TensorBoardWriter,
    crc32c,
    masked_crc32c,
    scalars_of,
    tf_record,
)

Scalars = dict[str, list[tuple[int, float]]]
_LINE: TypeAdapter[dict[str, int | float | str | None]] = TypeAdapter(
    dict[str, int | float | str | None]
)


def _train(step: int, time: float | None = 1_700_000_000.0) -> MetricRecord:
    return MetricRecord(
        kind="train",
        step=step,
        loss=4.0 - step / 100,
        lr=1e-3 * step / 50,
        tokens_per_s=1000.0 + step,
        tokens_seen=step * 128,
        mfu=0.01 if step % 2 else None,
        time=time + step if time is not None else None,
    )


def _eval(step: int) -> MetricRecord:
    return MetricRecord(
        kind="eval",
        step=step,
        train_loss=3.9 - step / 100,
        val_loss=4.1 - step / 100,
        val_perplexity=60.0 - step / 10,
        time=1_700_000_000.5 + step,
    )


def read_scalars(folder: Path) -> Scalars:
    """Every scalar TensorBoard finds under `folder`, by tag, as (step, value)."""
    accumulator = EventAccumulator(str(folder), size_guidance={"scalars": 0}).Reload()
    tags = accumulator.Tags()["scalars"]
    assert isinstance(tags, list)
    return {t: [(e.step, e.value) for e in accumulator.Scalars(t)] for t in tags}


def expected_scalars(metrics: Path) -> Scalars:
    """What `metrics.jsonl` holds, tagged as the writer tags it, at float32 precision."""
    found: Scalars = {}
    for line in metrics.read_text(encoding="utf-8").splitlines():
        fields = _LINE.validate_json(line)
        tags = TRAIN_TAGS if fields["kind"] == "train" else EVAL_TAGS
        for name, tag in tags.items():
            value = fields.get(name)
            step = fields["step"]
            if isinstance(value, float | int) and isinstance(step, int):
                as_float32 = array("f", [value])[0]
                found.setdefault(tag, []).append((step, as_float32))
    return found


def _append(metrics: Path, writer: TensorBoardWriter, records: list[MetricRecord]) -> None:
    with metrics.open("a", encoding="utf-8") as out:
        for record in records:
            out.write(record.line())
            writer.write(record)


def test_crc32c_matches_the_published_check_values() -> None:
    assert crc32c(b"") == 0
    assert crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value
    assert crc32c(bytes(32)) == 0x8A9136AA  # RFC 3720's 32 zero bytes
    assert crc32c(bytes([0xFF] * 32)) == 0x62A8AB43
    record = tf_record(b"payload")
    assert int.from_bytes(record[:8], "little") == 7
    assert int.from_bytes(record[8:12], "little") == masked_crc32c(record[:8])
    assert int.from_bytes(record[-4:], "little") == masked_crc32c(b"payload")


def test_scalars_are_the_values_the_record_holds() -> None:
    record = _train(3)
    assert scalars_of(record) == {
        "train/loss": record.loss,
        "train/lr": record.lr,
        "train/tokens_per_s": record.tokens_per_s,
        "train/mfu": 0.01,
    }
    assert "train/mfu" not in scalars_of(_train(4))  # absent, not zero
    assert scalars_of(MetricRecord(kind="train", step=1)) == {}
    assert set(scalars_of(_eval(10))) == {"val/loss", "val/perplexity", "eval/train_loss"}


def test_the_file_holds_what_the_metrics_hold_as_tensorboard_reads_it(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path / "run-1")
    folder.path.mkdir()
    writer = TensorBoardWriter(folder.tensorboard, Log("training"))
    writer.start(folder.metrics)  # nothing recorded yet: the file version alone
    assert read_scalars(folder.path) == {}
    records = [_eval(0), *(_train(s) for s in range(1, 31)), _eval(30), _train(31, time=None)]
    _append(folder.metrics, writer, records)
    writer.flush()
    scalars = read_scalars(folder.path)  # read while the file is still open, as live
    assert scalars == expected_scalars(folder.metrics)
    assert len(scalars["train/loss"]) == 31 and scalars["val/loss"][0][0] == 0
    writer.close()
    assert read_scalars(folder.path) == expected_scalars(folder.metrics)


def test_a_resumed_start_rebuilds_the_file_from_the_trimmed_metrics(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path / "run-2")
    folder.path.mkdir()
    writer = TensorBoardWriter(folder.tensorboard, Log("training"))
    writer.start(folder.metrics)
    _append(folder.metrics, writer, [_eval(0), *(_train(s) for s in range(1, 26)), _eval(20)])
    with folder.metrics.open("a", encoding="utf-8") as out:
        out.write('{"kind": "train", "st')  # torn by the crash
    writer.close()
    # The run resumes from its checkpoint at step 20: steps after it, and the evaluation
    # at it, are recorded again by the resumed loop.
    keep_metrics_until(folder.metrics, 20)
    writer.start(folder.metrics)
    _append(folder.metrics, writer, [_eval(20), _train(21), _train(22)])
    writer.close()
    scalars = read_scalars(folder.path)
    assert scalars == expected_scalars(folder.metrics)
    assert [step for step, _ in scalars["train/loss"]] == list(range(1, 23))
    assert [step for step, _ in scalars["val/loss"]] == [0, 20]
    assert [p.name for p in folder.path.iterdir() if "tfevents" in p.name] == [
        folder.tensorboard.name
    ]


def test_a_file_it_cannot_write_stops_the_output_not_the_run(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path / "run-4")
    folder.path.mkdir()
    writer = TensorBoardWriter(folder.tensorboard, Log("training"))
    writer.start(folder.metrics)
    _append(folder.metrics, writer, [_train(1)])
    # The file's handle breaks under the writer (as a disk that went away would).
    folder.tensorboard.unlink()
    folder.tensorboard.mkdir()
    writer.close()
    writer.write(_train(2))  # no file any more: nothing written, nothing raised
    writer.flush()
    writer.start(folder.metrics)  # a directory where the file goes: logged, not raised
    writer.write(_train(3))
    writer.close()
    assert folder.tensorboard.is_dir()


def test_a_value_that_is_not_finite_is_left_out_and_the_output_goes_on(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path / "run-5")
    folder.path.mkdir()
    writer = TensorBoardWriter(folder.tensorboard, Log("training"))
    writer.start(folder.metrics)
    diverged = MetricRecord(
        kind="train", step=2, loss=math.nan, lr=1e-3, tokens_per_s=math.inf, time=1.7e9
    )
    assert '"loss":null' in diverged.line()  # as `metrics.jsonl` holds it
    assert scalars_of(diverged) == {"train/lr": 1e-3}
    _append(folder.metrics, writer, [_train(1), diverged, _train(3)])
    writer.flush()
    scalars = read_scalars(folder.path)
    assert scalars == expected_scalars(folder.metrics)
    assert [step for step, _ in scalars["train/loss"]] == [1, 3]
    assert [step for step, _ in scalars["train/lr"]] == [1, 2, 3]
    writer.close()
    with folder.metrics.open("a", encoding="utf-8") as out:  # a null written by hand too
        out.write('{"kind":"eval","step":3,"val_loss":null,"train_loss":2.5}\n')
    writer.start(folder.metrics)  # a rebuild reads the null lines as well
    _append(folder.metrics, writer, [_train(4)])
    writer.close()
    scalars = read_scalars(folder.path)
    assert scalars == expected_scalars(folder.metrics)
    assert [step for step, _ in scalars["train/loss"]] == [1, 3, 4]
    assert scalars["eval/train_loss"] == [(3, 2.5)] and "val/loss" not in scalars
