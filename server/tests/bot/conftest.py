"""One real stack for the bot's tests: Redis, an API with an API key, a worker, a tokenizer."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from e2e.conftest import story
from e2e.processes import ProcessStack

from model_trainer.client.views import QueuedView, TokenizerView
from model_trainer.core.logging import configure_logging

from .helpers import API_KEY, Stack, forget_bot_state, quick_trainer

CORPUS_LINE = "Marigold whispered the vault combination to the lighthouse keeper"
"""A line of the tests' corpus that must never reach a message or a log."""


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp("bot")
    corpus = work / "corpus"
    corpus.mkdir()
    (corpus / "story.txt").write_text(story(1200, 3) + CORPUS_LINE + "\n", encoding="utf-8")
    # Not UTF-8 half way: a run on it fails while preparing its data.
    (corpus / "broken.txt").write_bytes((story(200, 4) + CORPUS_LINE).encode() + b"\xff\xfe\n")
    processes = ProcessStack(work, work / "artifacts", corpus)
    processes.env["SECURITY__API_KEY"] = API_KEY
    stack = Stack(processes, corpus)
    for name in ("redis", "api", "worker-1"):
        processes.start(name)
    try:
        stack.wait_ready()
        stack.tokenizer_id = _tokenizer(stack)
        yield stack
    finally:
        processes.stop_all()


def _tokenizer(stack: Stack) -> str:
    body = {"method": "char", "vocab_size": 2000, "min_frequency": 1, "corpus_path": "story.txt"}
    with stack.http() as http:
        answer = http.post("/tokenizers/train", json=body)
        assert answer.status_code == 202, answer.text
        tokenizer_id = QueuedView.model_validate_json(answer.content).tokenizer_id
        assert tokenizer_id is not None
        deadline = time.monotonic() + 120
        while True:
            tok = TokenizerView.model_validate_json(http.get(f"/tokenizers/{tokenizer_id}").content)
            if tok.finished:
                assert tok.status.value == "completed", tok.message
                return tokenizer_id
            assert time.monotonic() < deadline, "the tokenizer did not finish"
            time.sleep(0.1)


@pytest.fixture(scope="function")
def fresh(stack: Stack) -> Stack:
    """The stack, with the bot's state in Redis forgotten (each test starts the bot anew)."""
    forget_bot_state(stack.redis_url)
    configure_logging("INFO", "model-trainer-bot", secrets=[API_KEY])
    return stack


@pytest.fixture(scope="function")
def long_run(fresh: Stack) -> Iterator[str]:
    """A run that trains until cancelled (the test's end cancels it if the test did not)."""
    run_id = fresh.start_run(
        quick_trainer(200_000, eval_interval=500, checkpoint_interval=500, log_interval=5)
    )
    try:
        fresh.wait_run(run_id, {"failed"}, at_step=10)
        yield run_id
    finally:
        with fresh.http() as http:
            http.post(f"/runs/{run_id}/cancel")
        fresh.wait_run(run_id, {"cancelled", "failed", "completed"})
