"""The `/trainer` commands against the real API: refused for anyone but the owner in the DM
(and logged, with no run data in the refusal); for the owner, runs, status, autocomplete,
watch with periodic summaries and a chart, watching, unwatch, and cancel after a confirm."""

from __future__ import annotations

import asyncio

import pytest

from model_trainer.bot.commands import Caller, Command
from model_trainer.bot.messages import Message

from .helpers import OWNER, STRANGER, RecordingSink, Stack, running_bot
from .test_chart import decode_png

pytestmark = pytest.mark.timeout(300)

OWNER_DM = Caller(OWNER, in_dm=True)


def _text(message: Message) -> str:
    return "\n".join(message.texts())


def test_strangers_and_guild_channels_are_refused_and_logged(
    fresh: Stack, long_run: str, capsys: pytest.CaptureFixture[str]
) -> None:
    sink = RecordingSink()
    callers = [(Caller(STRANGER, in_dm=True), "not_owner"), (Caller(OWNER, in_dm=False), "not_dm")]

    async def scenario() -> None:
        async with running_bot(fresh, sink) as bot:
            for caller, _reason in callers:
                for command in Command:
                    reply = await bot.commands.handle(caller, command, long_run)
                    assert reply.refused and reply.confirm_cancel is None
                    assert "run-" not in _text(reply.message), "a refusal tells nothing of runs"
                assert await bot.commands.run_choices(caller, "") == []
            assert bot.watchlist.ids() == []

    asyncio.run(scenario())
    logs = capsys.readouterr().err
    for caller, reason in callers:
        refused = [
            line
            for line in logs.splitlines()
            if '"command_refused"' in line and f'"user_id": {caller.user_id}' in line
        ]
        assert len(refused) == len(Command) and all(f'"{reason}"' in r for r in refused)
    assert fresh.run(long_run).status.value == "running", "a stranger's cancel did nothing"
    assert sink.sent == []


def test_the_owner_lists_inspects_watches_and_cancels_a_run(fresh: Stack, long_run: str) -> None:
    sink = RecordingSink()

    async def scenario() -> None:
        async with running_bot(fresh, sink, summary_interval_s=1.0) as bot:
            handle = bot.commands.handle
            runs = _text((await handle(OWNER_DM, Command.RUNS)).message)
            assert f"`{long_run}` · running ·" in runs

            status = (await handle(OWNER_DM, Command.STATUS, long_run)).message
            fields = {f.name: f.value for f in status.fields}
            assert fields["Status"] == "running" and " of 200,000 steps (" in fields["Progress"]
            assert {"ETA", "Train loss", "Model"} <= fields.keys()

            choices = await bot.commands.run_choices(OWNER_DM, long_run[-6:])
            assert [c.value for c in choices] == [long_run]
            assert choices[0].name == f"{long_run} · running"

            watch = (await handle(OWNER_DM, Command.WATCH, long_run)).message
            assert watch.title == f"Watching · {long_run}"
            assert long_run in _text((await handle(OWNER_DM, Command.WATCHING)).message)

            # Progress summaries arrive, each with the chart of the losses so far.
            await sink.wait_for(lambda text: f"Progress · {long_run}" in text, 60)
            summary = next(s.message for s in sink.sent if s.message.image is not None)
            assert summary.image is not None
            width, height, _ = decode_png(summary.image.png)
            assert (width, height) == (480, 240)

            ask = await handle(OWNER_DM, Command.CANCEL, long_run)
            assert ask.confirm_cancel == long_run and ask.message.title == "Cancel this run?"
            assert (await asyncio.to_thread(fresh.run, long_run)).status.value == "running"
            done = await handle(OWNER_DM, Command.CONFIRM_CANCEL, long_run)
            assert done.message.title == f"Cancelling · {long_run}"
            await sink.wait_for(lambda text: f"`{long_run}` cancelled at step" in text, 60)
            assert await bot.outbox.drained(30)
            assert long_run not in bot.watchlist.ids(), "told of its end, then unwatched"

            again = _text((await handle(OWNER_DM, Command.CANCEL, long_run)).message)
            assert "has already ended" in again or "Already ended" in again
            unwatch = _text((await handle(OWNER_DM, Command.UNWATCH, long_run)).message)
            assert "was not watched" in unwatch
            nonsense = _text((await handle(OWNER_DM, Command.STATUS, "../../etc")).message)
            assert "Not a run id" in nonsense
            missing = await handle(OWNER_DM, Command.STATUS, "run-00000000-00000000")
            assert "There is no run" in _text(missing.message)

    asyncio.run(scenario())
    print(
        f"\n{len(sink.sent)} messages to the owner; titles: {[s.message.title for s in sink.sent]}"
    )
