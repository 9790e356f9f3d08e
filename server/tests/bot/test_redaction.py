"""No path, corpus text, API key or token reaches a message or a log line: events carrying
them, a real run failing on a broken corpus file, and command replies about runs."""

from __future__ import annotations

import asyncio

import pytest

from model_trainer.bot.commands import Caller, Command
from model_trainer.bot.messages import Field, Message
from model_trainer.bot.redact import Redactor
from model_trainer.infra.events import RedisEventPublisher
from model_trainer.infra.redis_store import RedisStore
from model_trainer.training.run.events import (
    GLOBAL_CHANNEL,
    CheckpointSaved,
    TrainFailed,
    TrainingEvent,
    TrainQueued,
    TrainRequeued,
    TrainStarted,
)

from .conftest import CORPUS_LINE
from .helpers import API_KEY, OWNER, RecordingSink, Stack, quick_trainer, running_bot

pytestmark = pytest.mark.timeout(300)

TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GaBcDe.abcdefghijklmnopqrstuvwxyz0123456789AB"
"""Shaped like a Discord bot token."""


@pytest.mark.parametrize(
    ("text", "leak"),
    [
        ("saved to /home/alice/artifacts/models/run-1/last.pt", "/home/alice"),
        ("saved to /home/alice/artifacts/models/run-1/last.pt", "last.pt"),
        ("read artifacts/datasets/abc/train.bin", "artifacts/datasets"),
        ("read books/part1.txt at byte 12", "books/part1"),
        ("C:\\Users\\alice\\corpus\\diary.txt is bad", "Users"),
        ("~/corpus/diary.txt", "diary"),
        ("the corpus file diary.txt", "diary.txt"),
        (f"key {API_KEY} refused", API_KEY),
        (f"X-Api-Key: {API_KEY}", API_KEY),
        ("password=hunter2hunter2", "hunter2"),
        ("Authorization: Bearer abc.def.ghi", "abc.def"),
        (f"token {TOKEN}", TOKEN[:20]),
        ("redis://:s3cret-pass@redis:6379/0 is down", "s3cret"),
        ("sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "9f86d0818"),
    ],
)
def test_the_redactor_masks_paths_files_urls_and_secrets(text: str, leak: str) -> None:
    assert leak not in Redactor([API_KEY]).text(text)


def test_the_redactor_keeps_what_a_message_needs() -> None:
    redactor = Redactor([API_KEY])
    for kept in (
        "`run-mx38ugys-8e179610` eval at step 1,500: val loss 2.345, perplexity 10.4",
        "450 of 1,000 steps (45%)",
        "Use /trainer watch to follow a run",
        "12.3k tokens per s",
    ):
        assert redactor.text(kept) == kept
    masked = redactor.message(Message("t", fields=(Field("where", "/srv/x/y"),)))
    assert masked.fields[0].value == "‹path›"


def _nasty_events(run_id: str) -> list[TrainingEvent]:
    secret_words = f"{CORPUS_LINE} in /srv/corpus/diary.txt; key={API_KEY} token {TOKEN}"
    return [
        TrainQueued(request_id=run_id, family="../../etc/passwd", parameters=1, max_steps=10),
        TrainStarted(request_id=run_id, max_steps=10, device="/dev/nvidia0", parameters=1),
        CheckpointSaved(
            request_id=run_id, step=5, path="/home/alice/artifacts/models/x/last.pt", best=True
        ),
        TrainRequeued(request_id=run_id, step=5, message=secret_words),
        TrainFailed(
            request_id=run_id,
            error_code=f"CORPUS_NOT_UTF8 {CORPUS_LINE}",
            failure_class=API_KEY,
            message=secret_words,
        ),
    ]


def test_events_a_failing_run_and_replies_leak_nothing(
    fresh: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    sink = RecordingSink()
    fake = "run-leaky000-0000000d"
    replies: list[Message] = []

    async def scenario() -> str:
        async with running_bot(fresh, sink, auto_watch=True) as bot:
            publisher = RedisEventPublisher(RedisStore(fresh.redis_url))
            for event in _nasty_events(fake):
                publisher.publish([GLOBAL_CHANNEL], event)
            await sink.wait_for(lambda text: f"`{fake}` failed" in text)
            broken = await asyncio.to_thread(
                fresh.start_run, quick_trainer(), corpus_path="broken.txt"
            )
            await sink.wait_for(lambda text: f"`{broken}` failed" in text)
            owner = Caller(OWNER, in_dm=True)
            for command in (Command.STATUS, Command.WATCH, Command.CANCEL):
                reply = await bot.commands.handle(owner, command, broken)
                replies.append(reply.message)
            replies.append((await bot.commands.handle(owner, Command.RUNS)).message)
            choices = await bot.commands.run_choices(owner, "run-")
            replies.append(Message("choices", "\n".join(c.name for c in choices)))
            return broken

    broken = asyncio.run(scenario())
    run = fresh.run(broken)
    assert run.status.value == "failed" and run.error_code == "CORPUS_NOT_UTF8", run
    assert "broken.txt" in (run.message or ""), "the API's own message names the file"
    logs = capsys.readouterr().err
    sent = sink.text() + "\n" + "\n".join("\n".join(m.texts()) for m in replies)
    assert "CORPUS_NOT_UTF8: a file of its corpus is not UTF-8" in sent
    assert broken in sent and "command_refused" not in logs
    leaks = [
        CORPUS_LINE,
        "Marigold",
        API_KEY,
        TOKEN[:24],
        "/home/alice",
        "/srv",
        "diary",
        "passwd",
        "nvidia0",
        "last.pt",
        "broken.txt",
        "story.txt",
        str(fresh.corpus),
        fresh.processes.work.name,
    ]
    for leak in leaks:
        assert leak not in sent, f"{leak!r} reached a message"
        assert leak not in logs, f"{leak!r} reached a log line"
