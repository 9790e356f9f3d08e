"""A disk that fills up mid-run: the run fails with a clear code and leaves nothing
half-written that looks complete. Needs a small tmpfs (root in a Linux sandbox); skipped
where mounting is not allowed."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from model_trainer.api.schemas.common import ErrorBody
from model_trainer.api.schemas.runs import RunQueued
from model_trainer.api.schemas.tokenizers import TokenizerCreate, TokenizerPublic, TokenizerQueued
from model_trainer.client.raw import request
from model_trainer.core.contracts.tokenizer import TokenizerMethod
from model_trainer.training.config import DataSpec, ModelSpec, RunConfig, TrainerSpec

from .conftest import story
from .processes import ProcessStack

pytestmark = pytest.mark.timeout(300)

DISK_BYTES = 4 << 20
"""Room for the tokenizer, the dataset and the logs, but not for one checkpoint."""


@pytest.fixture()
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "artifacts"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES}", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_full_disk_fails_the_run_clearly_and_leaves_nothing_torn(
    small_disk: Path, tmp_path: Path
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "story.txt").write_text(story(1200, 8), encoding="utf-8")
    stack = ProcessStack(tmp_path, small_disk, corpus)
    for name in ("redis", "api", "worker"):
        stack.start(name)
    try:
        stack.wait_ready()
        body = TokenizerCreate(
            method=TokenizerMethod.CHAR, vocab_size=100, min_frequency=1, corpus_path="story.txt"
        )
        tok = TokenizerQueued.model_validate_json(
            request("POST", stack.base + "/tokenizers/train", body)[1]
        ).tokenizer_id
        while (
            TokenizerPublic.model_validate_json(
                request("GET", f"{stack.base}/tokenizers/{tok}")[1]
            ).status
            != "completed"
        ):
            time.sleep(0.2)
        config = RunConfig(
            model=ModelSpec(size="nano", max_seq_len=32),  # ~10 MB per checkpoint
            data=DataSpec(tokenizer_id=tok, corpus_path="story.txt"),
            trainer=TrainerSpec(max_steps=200, batch_size=4, eval_interval=100, eval_steps=1),
        )
        raw = request("POST", stack.base + "/runs/train", config)[1]
        run_id = RunQueued.model_validate_json(raw).run_id
        final = stack.wait_run(run_id, {"completed", "failed"})
        assert final.status == "failed"
        assert final.error_code == "STORAGE_FAILED" and final.failure_class == "FATAL"
        assert final.message is not None and "disk is full" in final.message

        folder = small_disk / "models" / run_id
        assert not (folder / "export").exists()
        assert not [p for p in folder.rglob("*") if p.name.startswith(".")], "temp files left"
        for checkpoint in (folder / "checkpoints").glob("*.pt"):
            torch.load(checkpoint, weights_only=True)  # whatever is there is whole

        # With the disk full to the last byte, the API refuses new work with the same code
        filler = small_disk / "filler"
        with filler.open("wb") as handle:
            try:
                while True:
                    handle.write(b"\0" * 65536)
                    handle.flush()
            except OSError:
                pass
        status, raw = request("POST", stack.base + "/runs/train", config)
        error = ErrorBody.model_validate_json(raw)
        assert status == 507 and error.code == "STORAGE_FAILED", raw
    finally:
        stack.stop_all()
