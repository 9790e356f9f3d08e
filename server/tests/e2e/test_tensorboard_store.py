"""A run's TensorBoard event file reaches the object store with its other files, and a run
resumed on another host (its first worker killed) rebuilds it from the metrics it pulled:
the stored file shows one clean curve, exactly the stored `metrics.jsonl`."""

from __future__ import annotations

from array import array
from pathlib import Path

import pytest
from s3fs import S3FileSystem
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from model_trainer.training.run.manifest import MetricRecord

from .store_server import StoreServer
from .test_object_store import PREFIX, _run, _stack, _tokenizer, store

pytestmark = pytest.mark.timeout(600)

__all__ = ["store"]  # the fixture, shared with the store's own tests

EVENTS = "events.out.tfevents.model-trainer"


def _stored(fs: S3FileSystem, bucket: str, run_id: str, name: str, into: Path) -> Path:
    fs.invalidate_cache()
    into.mkdir(parents=True, exist_ok=True)
    (into / name).write_bytes(fs.cat_file(f"{bucket}/{PREFIX}/models/{run_id}/{name}"))
    return into / name


def _expected(metrics: Path) -> dict[str, list[tuple[int, float]]]:
    found: dict[str, list[tuple[int, float]]] = {}
    for line in metrics.read_text(encoding="utf-8").splitlines():
        record = MetricRecord.model_validate_json(line)
        values = {
            "train/loss": record.loss,
            "train/lr": record.lr,
            "train/tokens_per_s": record.tokens_per_s,
            "train/mfu": record.mfu,
        }
        if record.kind == "eval":
            values = {
                "val/loss": record.val_loss,
                "val/perplexity": record.val_perplexity,
                "val/bits_per_byte": record.val_bits_per_byte,
                "eval/train_loss": record.train_loss,
            }
        for tag, value in values.items():
            if value is not None:
                found.setdefault(tag, []).append((record.step, array("f", [value])[0]))
    return found


def test_a_run_resumed_elsewhere_stores_one_clean_curve(tmp_path: Path, store: StoreServer) -> None:
    stack = _stack(tmp_path, store, {})
    fs = store.client()
    try:
        for name in ("redis", "api"):
            stack.start(name)
        stack.start_worker("worker-a")
        stack.wait_ready()
        run_id = _run(stack, _tokenizer(stack), steps=1500)
        stack.wait_run(run_id, {"completed", "failed"}, at_step=200)
        stack.kill("worker-a")  # worker and work horse, SIGKILL: nothing pushed on the way out
        stack.start_worker("worker-b")
        final = stack.wait_run(run_id, {"completed", "failed"}, timeout_s=400)
        assert final.status == "completed", final.message
    finally:
        stack.stop_all()
    copy = tmp_path / "downloaded" / run_id
    metrics = _stored(fs, store.bucket, run_id, "metrics.jsonl", copy)
    _stored(fs, store.bucket, run_id, EVENTS, copy)
    log = fs.cat_file(f"{store.bucket}/{PREFIX}/models/{run_id}/logs.jsonl").decode()
    assert '"run_resuming"' in log  # it did resume, from a checkpoint past the start
    accumulator = EventAccumulator(str(copy), size_guidance={"scalars": 0}).Reload()
    tags = accumulator.Tags()["scalars"]
    assert isinstance(tags, list)
    scalars = {t: [(e.step, e.value) for e in accumulator.Scalars(t)] for t in tags}
    assert scalars == _expected(metrics)
    steps = [step for step, _ in scalars["train/loss"]]
    assert steps == list(range(5, 1501, 5))  # every logged step once, in order
    assert [step for step, _ in scalars["val/loss"]][-1] == 1500
