"""Latency-related behaviour of the real stack: the worker's CPU priority, and log streams
of one run read by several clients at once."""

from __future__ import annotations

import os
import subprocess
import threading
import time

from fastapi.testclient import TestClient

from model_trainer.api.schemas.runs import LogsPublic, RunPublic, RunQueued
from model_trainer.api.schemas.tokenizers import TokenizerPublic, TokenizerQueued
from model_trainer.core.settings import WorkerSettings


def test_the_worker_gives_way_to_the_api_on_the_cpu(
    api: TestClient, worker: subprocess.Popen[bytes]
) -> None:
    assert os.getpriority(os.PRIO_PROCESS, worker.pid) == WorkerSettings().nice > 0
    assert os.getpriority(os.PRIO_PROCESS, os.getpid()) == 0  # the API's own is untouched


def _ids(api: TestClient, run_id: str, out: list[int]) -> None:
    with api.stream("GET", f"/runs/{run_id}/logs/stream") as response:
        assert response.status_code == 200
        out.extend(int(line[3:]) for line in response.iter_lines() if line.startswith("id:"))


def test_concurrent_streams_of_a_live_run_each_get_every_line(api: TestClient) -> None:
    body = {"method": "char", "vocab_size": 100, "min_frequency": 1, "corpus_path": "story.txt"}
    tok = TokenizerQueued.model_validate_json(api.post("/tokenizers/train", json=body).content)
    while TokenizerPublic.model_validate_json(
        api.get(f"/tokenizers/{tok.tokenizer_id}").content
    ).status not in ("completed", "failed"):
        time.sleep(0.1)
    config = {
        "model": {"size": "nano", "n_layer": 1, "n_head": 2, "n_embd": 32, "max_seq_len": 32},
        "data": {"tokenizer_id": tok.tokenizer_id, "corpus_path": "story.txt"},
        "trainer": {"max_steps": 30, "batch_size": 4, "eval_interval": 15, "eval_steps": 2},
    }
    response = api.post("/runs/train", json=config)
    run_id = RunQueued.model_validate_json(response.content).run_id
    seen: list[list[int]] = [[] for _ in range(4)]
    readers = [threading.Thread(target=_ids, args=(api, run_id, ids)) for ids in seen]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join(timeout=180)
    run = RunPublic.model_validate_json(api.get(f"/runs/{run_id}").content)
    assert run.status == "completed", run.message
    lines = LogsPublic.model_validate_json(api.get(f"/runs/{run_id}/logs?tail=10000").content)
    assert all(ids == list(range(1, lines.count + 1)) for ids in seen), [len(s) for s in seen]
