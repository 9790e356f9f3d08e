"""Nothing is lost to a restart or a disconnect: the watch list survives a new bot on the same
Redis; a run that ended while the bot was down is told on its return; Discord unreachable
for a while delays alerts but loses none; a dropped Redis connection is re-made and the
bot catches up."""

from __future__ import annotations

import asyncio
import subprocess
from urllib.parse import urlsplit

import pytest

from model_trainer.bot.commands import Caller, Command
from model_trainer.bot.watchlist import MARK_PREFIX, RunMark
from model_trainer.infra.redis_store import RedisStore

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

OWNER_DM = Caller(OWNER, in_dm=True)


def _delivered_mark(stack: Stack, run_id: str) -> RunMark | None:
    store = RedisStore(stack.redis_url)
    try:
        raw = store.get(MARK_PREFIX + run_id)
    finally:
        store.close()
    return RunMark.model_validate_json(raw) if raw is not None else None


def test_the_watch_list_survives_a_restart_and_the_new_bot_catches_up(
    fresh: Stack, long_run: str
) -> None:
    first, second = RecordingSink(), RecordingSink()

    async def scenario() -> None:
        async with running_bot(fresh, first) as bot:
            reply = await bot.commands.handle(OWNER_DM, Command.WATCH, long_run)
            assert reply.message.title.startswith("Watching")
        told = _delivered_mark(fresh, long_run)
        assert told is not None and told.status is not None and told.status.value == "running"
        await asyncio.to_thread(fresh.wait_run, long_run, {"failed"}, told.step + 50)

        async with running_bot(fresh, second) as bot:
            assert bot.watchlist.ids() == [long_run], "restored from Redis"
            await second.wait_for(
                lambda text: f"`{long_run}` still running" in text or "Still running" in text
            )
            ask = await bot.commands.handle(OWNER_DM, Command.CONFIRM_CANCEL, long_run)
            assert ask.message.title.startswith("Cancelling")
            await second.wait_for(lambda text: f"`{long_run}` cancelled at step" in text, 60)
            assert await bot.outbox.drained(30)

    asyncio.run(scenario())
    assert _delivered_mark(fresh, long_run) is None, "its end was told: no longer watched"


def test_a_run_that_ended_while_the_bot_was_down_is_told_once_on_its_return(fresh: Stack) -> None:
    before, after = RecordingSink(), RecordingSink()
    run_id = fresh.start_run(quick_trainer(1500, eval_interval=500, checkpoint_interval=500))

    async def scenario() -> None:
        await asyncio.to_thread(fresh.wait_run, run_id, {"completed", "failed"}, 5)
        async with running_bot(fresh, before) as bot:
            await bot.commands.handle(OWNER_DM, Command.WATCH, run_id)
        assert (
            await asyncio.to_thread(fresh.wait_run, run_id, {"completed"})
        ).status.value == "completed"
        async with running_bot(fresh, after) as bot:
            await after.wait_for(lambda text: "completed while the bot was away" in text)
            assert await bot.outbox.drained(30)
            await asyncio.sleep(1.0)
            assert bot.watchlist.ids() == []

    asyncio.run(scenario())
    assert after.text().count(f"`{run_id}` completed while the bot was away") == 1
    assert after.sent[0].message.title == "Completed while away · " + run_id


def test_discord_unreachable_for_a_while_delays_alerts_but_loses_none(fresh: Stack) -> None:
    sink = RecordingSink()

    async def scenario() -> str:
        async with running_bot(fresh, sink, auto_watch=True) as bot:
            sink.disconnect_for(4.0)
            run_id = await asyncio.to_thread(fresh.start_run, quick_trainer())
            await sink.wait_for(lambda text: f"`{run_id}` completed" in text)
            assert await bot.outbox.drained(30)
            return run_id

    listener = Listener(fresh.redis_url, quiet_s=8.0)
    run_id = asyncio.run(scenario())
    assert sink.refused >= 2, "sends failed while Discord was away, and were retried"
    assert delivered_lines(sink, run_id) == expected_lines(listener.events_of(run_id))
    print(f"\n{sink.refused} failed sends, then {len(sink.sent)} messages with every alert")


def test_a_dropped_event_connection_is_made_again_and_the_bot_catches_up(fresh: Stack) -> None:
    sink = RecordingSink()
    port = str(urlsplit(fresh.redis_url).port)

    async def scenario() -> str:
        async with running_bot(fresh, sink, auto_watch=True) as bot:
            run_id = await asyncio.to_thread(
                fresh.start_run, quick_trainer(400, eval_interval=100, checkpoint_interval=100)
            )
            await sink.wait_for(lambda text: f"`{run_id}` started" in text)
            assert bot.feed.connections == 1
            killed = subprocess.run(
                ["redis-cli", "-p", port, "CLIENT", "KILL", "TYPE", "pubsub"],
                capture_output=True,
                text=True,
                check=True,
            )
            assert int(killed.stdout.strip()) >= 1, killed.stdout
            await sink.wait_for(lambda text: f"`{run_id}` completed" in text, 120)
            assert await bot.outbox.drained(30)
            assert bot.feed.connections == 2
            return run_id

    run_id = asyncio.run(scenario())
    lines = delivered_lines(sink, run_id)
    assert len(lines) == len(set(lines)), "no alert twice"
    assert sum("completed" in line for line in lines) == 1
    assert lines[0].startswith(f"`{run_id}` queued")


def test_with_auto_watch_a_run_made_while_the_bot_was_down_is_told_on_return(
    fresh: Stack,
) -> None:
    earlier, later = RecordingSink(), RecordingSink()

    async def scenario() -> str:
        async with running_bot(fresh, earlier, auto_watch=True):
            await asyncio.sleep(0.5)  # long enough to note that it ran
        run_id = await asyncio.to_thread(fresh.start_run, quick_trainer())
        await asyncio.to_thread(fresh.wait_run, run_id, {"completed", "failed"})
        async with running_bot(fresh, later, auto_watch=True) as bot:
            await later.wait_for(
                lambda text: f"`{run_id}` completed while the bot was away" in text
            )
            assert await bot.outbox.drained(30)
            await asyncio.sleep(0.5)
            assert bot.watchlist.ids() == []
        return run_id

    run_id = asyncio.run(scenario())
    assert run_id not in earlier.text()
