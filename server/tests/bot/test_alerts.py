"""Alerts of a real run arrive in order and complete; a burst of 500 events is paced under
Discord's limit and every event arrives exactly once."""

from __future__ import annotations

import asyncio
import re
import time

import pytest

from model_trainer.bot.ratelimit import DISCORD_DM_LIMIT, DISCORD_DM_WINDOW_S, RatePolicy
from model_trainer.infra.events import RedisEventPublisher
from model_trainer.infra.redis_store import RedisStore
from model_trainer.training.run.events import (
    GLOBAL_CHANNEL,
    CheckpointSaved,
    EvalCompleted,
    TrainingEvent,
    TrainProgress,
    TrainQueued,
    run_channel,
)

from .helpers import (
    OWNER,
    Listener,
    RecordingSink,
    Stack,
    delivered_lines,
    expected_lines,
    quick_trainer,
    running_bot,
)

pytestmark = pytest.mark.timeout(300)


def test_a_real_run_is_told_queued_started_evaluated_checkpointed_completed(fresh: Stack) -> None:
    sink = RecordingSink()

    async def scenario() -> str:
        async with running_bot(fresh, sink, auto_watch=True) as bot:
            run_id = await asyncio.to_thread(fresh.start_run, quick_trainer())
            await sink.wait_for(lambda text: f"`{run_id}` completed" in text)
            assert await bot.outbox.drained(30)
            await asyncio.sleep(0.5)
            assert run_id not in bot.watchlist, "an ended run is watched no more"
            return run_id

    listener = Listener(fresh.redis_url, quiet_s=6.0)
    run_id = asyncio.run(scenario())
    published = listener.events_of(run_id)
    lines = delivered_lines(sink, run_id)
    assert lines == expected_lines(published)
    kinds = [re.sub(r"^`[^`]+` (best )?(\w+).*$", r"\2", line) for line in lines]
    assert kinds[:2] == ["queued", "started"] and kinds[-1] == "completed", kinds
    assert set(kinds[2:-1]) == {"eval", "checkpoint", "finished"}, kinds
    assert kinds.count("finished") == 1, kinds  # the last step: finalising, told once
    steps = [int(m.group(1)) for line in lines[2:-1] if (m := re.search(r"at step (\d+)", line))]
    assert steps == sorted(steps) and steps[-1] == 60, steps
    assert all(s.user_id == OWNER for s in sink.sent)
    print(f"\n{len(lines)} alerts of a real run in {len(sink.sent)} messages: {kinds}")


def test_a_burst_of_500_events_stays_under_the_limit_and_loses_none(fresh: Stack) -> None:
    sink = RecordingSink()
    run_id, stranger_run = "run-burst000-0000000b", "run-strange0-0000000c"
    policy = RatePolicy()  # Discord's pace: this test is about it

    def publish() -> None:
        publisher = RedisEventPublisher(RedisStore(fresh.redis_url))
        channels = [GLOBAL_CHANNEL, run_channel(run_id)]
        publisher.publish(
            channels, TrainQueued(request_id=run_id, family="gpt2", parameters=10, max_steps=500)
        )
        for step in range(1, 501):
            event: TrainingEvent
            if step % 2:
                event = CheckpointSaved(request_id=run_id, step=step, path="last.pt", best=False)
            else:
                event = EvalCompleted(
                    request_id=run_id, step=step, train_loss=2.0, val_loss=2.1, val_perplexity=8.2
                )
            publisher.publish(channels, event)
            publisher.publish(
                channels,
                TrainProgress(
                    request_id=run_id,
                    step=step,
                    max_steps=500,
                    tokens_seen=step,
                    train_loss=2.0,
                    lr=1e-3,
                    tokens_per_s=1.0,
                    eta_s=1.0,
                ),
            )
            publisher.publish(
                [GLOBAL_CHANNEL],
                EvalCompleted(
                    request_id=stranger_run,
                    step=step,
                    train_loss=1.0,
                    val_loss=1.0,
                    val_perplexity=1.0,
                ),
            )

    async def scenario() -> float:
        async with running_bot(fresh, sink, auto_watch=True, rate=policy) as bot:
            started = time.monotonic()
            await asyncio.to_thread(publish)
            await sink.wait_for(lambda text: f"`{run_id}` eval at step 500:" in text, 180)
            assert await bot.outbox.drained(30)
            return time.monotonic() - started

    took = asyncio.run(scenario())
    lines = delivered_lines(sink, run_id)
    steps = [int(m.group(1)) for line in lines if (m := re.search(r"at step (\d+)", line))]
    assert steps == list(range(1, 501)), "every event once, in order"
    assert stranger_run not in sink.text(), "an unwatched run's events stay out"
    most = sink.most_in_window(DISCORD_DM_WINDOW_S)
    assert most <= policy.most_in(DISCORD_DM_WINDOW_S) < DISCORD_DM_LIMIT, most
    assert all(s.message.size() <= 6000 and len(s.message.description) <= 4096 for s in sink.sent)
    print(
        f"\nburst: 501 alerts (+1000 ignored events) in {len(sink.sent)} messages, "
        f"{took:.1f} s from first publish to last delivery, at most {most} per 5 s"
    )
