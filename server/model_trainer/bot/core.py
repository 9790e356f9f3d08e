"""The bot without Discord: events in, watched runs' news out, commands answered.

restore the watch list from Redis       (waiting out an outage)
subscribe to the events                 on every (re)connection: auto-watch, catch up
for each event of a watched run         its mark, its alert into the outbox
every few seconds                       summaries of the runs that are due one
the outbox                              paced, batched, retried; delivered marks recorded
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from dataclasses import dataclass

from model_trainer.bot.api import TrainerApi
from model_trainer.bot.commands import TrainerCommands
from model_trainer.bot.feed import EventFeed
from model_trainer.bot.format import catch_up_alert, event_alert, mark_of
from model_trainer.bot.messages import Colour, Message
from model_trainer.bot.outbox import Outbox, Outgoing, Sink
from model_trainer.bot.ratelimit import RatePolicy
from model_trainer.bot.redact import Redactor
from model_trainer.bot.summary import Summaries
from model_trainer.bot.watchlist import RunMark, Watchlist, advance
from model_trainer.client.errors import ApiError
from model_trainer.client.views import RunView
from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.logging import Log
from model_trainer.infra.backoff import delays
from model_trainer.infra.redis_store import RedisStore
from model_trainer.training.run.events import TrainingEvent, TrainProgress, TrainQueued

SUMMARY_TICK_S = 5.0
"""How often the bot looks for summaries that are due (and notes that it is alive)."""
AUTO_WATCH_SCAN = 50
"""Recent runs looked at on start for ones created while the bot was away (auto-watch)."""
DRAIN_ON_STOP_S = 5.0


def _why(exc: AppError | ApiError) -> str:
    """The code alone: an error's message may name a path, and logs must not."""
    return exc.code if isinstance(exc, ApiError) else str(exc.code)


@dataclass(frozen=True)
class BotOptions:
    owner_id: int
    auto_watch: bool = False
    summary_interval_s: float = 600.0
    rate: RatePolicy = RatePolicy()
    secrets: tuple[str, ...] = ()
    """Configured secrets (API key, Discord token, Redis password) masked by value."""


class StatusBot:
    """Owns the watch list, outbox, event feed and summaries, and implements `WatchControl`."""

    def __init__(
        self, options: BotOptions, sink: Sink, api: TrainerApi, store: RedisStore, log: Log
    ) -> None:
        self.options = options
        self._api = api
        self._log = log
        self.redactor = Redactor(list(options.secrets))
        self.watchlist = Watchlist(store)
        self.outbox = Outbox(
            options.owner_id, sink, self.redactor, options.rate, self._delivered, log
        )
        self.summaries = Summaries(api, options.summary_interval_s)
        self.feed = EventFeed(store.url, self.on_event, self._connected, log)
        self.commands = TrainerCommands(options.owner_id, api, self, self.redactor, log)
        self.ready = asyncio.Event()
        """Set once the watch list is restored and the first catch-up is done."""
        self.crashed = asyncio.Event()
        """Set when a part of the bot ended with an error (logged): the process should exit
        and be started again by its supervisor rather than go on half deaf."""
        self._tasks: list[asyncio.Task[None]] = []
        self._scan_for_new_runs = options.auto_watch
        self._catch_up_again = False
        """Set when a catch-up could not finish; the summary loop tries it again."""
        self._away_since: float | None = None
        """When the bot last ran, as Redis remembered it at start (auto-watch's horizon)."""

    async def start(self) -> None:
        """Start the background work; `ready` tells when the bot has caught up."""
        self._spawn(self.outbox.run())
        self._spawn(self._main())
        self._spawn(self._summarise())

    def _spawn(self, work: Coroutine[None, None, None]) -> None:
        task = asyncio.create_task(work)
        task.add_done_callback(self._ended)
        self._tasks.append(task)

    def _ended(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            detail = self.redactor.text(str(error))  # logs keep no paths or keys either
            self._log.error("bot_task_crashed", error=type(error).__name__, detail=detail)
            self.crashed.set()

    async def stop(self) -> None:
        """Give waiting news a moment to leave, then stop everything."""
        if self.outbox.pending():
            await self.outbox.drained(DRAIN_ON_STOP_S)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def _main(self) -> None:
        waits = delays(0.5, 30.0)
        while True:
            try:
                restored = await self.watchlist.restore()
                # Read before anything notes that the bot is alive again.
                self._away_since = await self.watchlist.alive_since()
                break
            except AppError as exc:
                wait = next(waits)
                self._log.warning("watch_list_unreadable", error=_why(exc), retry_in_s=wait)
                await asyncio.sleep(wait)
        for run_id in restored:
            self.summaries.schedule(run_id)
        self._log.info("bot_started", watching=len(restored), auto_watch=self.options.auto_watch)
        await self.feed.run()

    async def _connected(self) -> None:
        """After each (re)connection to the events: catch up."""
        await self._catch_up_logged()
        self.ready.set()

    async def _catch_up_logged(self) -> None:
        try:
            await self.catch_up()
        except (AppError, ApiError) as exc:
            # Tried again at the next summary tick or connection; the feed goes on meanwhile.
            self._log.warning("catch_up_incomplete", error=_why(exc))
            self._catch_up_again = True

    async def _watch_runs_created_while_away(self) -> None:
        since = self._away_since
        if since is None:
            return  # the first start ever: earlier runs are not news
        for run in await self._api.recent_runs(AUTO_WATCH_SCAN):
            if run.created_at.timestamp() > since and run.run_id not in self.watchlist:
                await self.watchlist.add(run.run_id, None)

    async def catch_up(self) -> None:
        """For each watched run, tell what changed since the last message about it (first,
        with auto-watch, watch the runs created while the bot was away)."""
        self._catch_up_again = False
        if self._scan_for_new_runs:
            await self._watch_runs_created_while_away()
            self._scan_for_new_runs = False
        for run_id in self.watchlist.ids():
            known = self.watchlist.known(run_id)
            try:
                run = await self._api.run(run_id)
            except ApiError as exc:
                if exc.code == str(ErrorCode.NOT_FOUND):
                    await self.watchlist.remove(run_id)
                    self._say(f"`{run_id}` no longer exists; the bot stopped watching it.")
                    continue
                raise
            if run.finished and known is not None and known.status is run.status:
                await self.unwatch(run_id)  # its end was told before the bot went away
                continue
            alert = catch_up_alert(run, known)
            mark = mark_of(run, known)
            self.watchlist.note(run_id, mark)
            if alert is not None:
                self.outbox.put(Outgoing(alert.message, alert.line, run_id, mark))
            if not run.finished:
                self.summaries.schedule(run_id)

    def _say(self, text: str) -> None:
        message = Message(title="Watch list", description=text, colour=Colour.MUTED)
        self.outbox.put(Outgoing(message, text))

    async def on_event(self, event: TrainingEvent) -> None:
        run_id = event.request_id
        try:
            if isinstance(event, TrainQueued) and self.options.auto_watch:
                if run_id not in self.watchlist:
                    await self.watchlist.add(run_id, None)
                    self.summaries.schedule(run_id)
        except AppError as exc:
            self._log.warning("auto_watch_failed", run_id=run_id, error=_why(exc))
        if run_id not in self.watchlist:
            return
        before = self.watchlist.known(run_id)
        mark = advance(before, event)
        self.watchlist.note(run_id, mark)
        if isinstance(event, TrainProgress) and event.phase != "finalising":
            return  # the periodic summary tells progress (the last step is news)
        if before is not None and before.ended and before.status is mark.status:
            return  # catch-up already told this end
        alert = event_alert(event, before)
        if alert is not None:
            self.outbox.put(Outgoing(alert.message, alert.line, run_id, mark))
        if mark.ended:
            self.summaries.forget(run_id)

    async def _delivered(self, items: list[Outgoing]) -> None:
        """Record what the owner now knows; a run whose end was told is watched no more."""
        latest: dict[str, RunMark] = {}
        for item in items:
            if item.run_id is not None and item.mark is not None:
                latest[item.run_id] = item.mark
        for run_id, mark in latest.items():
            try:
                if mark.ended:
                    await self.unwatch(run_id)
                else:
                    await self.watchlist.record_delivered(run_id, mark)
            except AppError as exc:
                self._log.warning("mark_not_recorded", run_id=run_id, error=_why(exc))

    async def _summarise(self) -> None:
        """Summaries when due; also the heartbeat `discord:alive` (the container's health
        check reads it) and retries of an unfinished catch-up."""
        tick = min(SUMMARY_TICK_S, self.summaries.interval_s)
        await self.ready.wait()
        while True:
            try:
                await self.watchlist.touch_alive()
            except AppError as exc:
                self._log.warning("alive_not_noted", error=_why(exc))
            if self._catch_up_again:
                await self._catch_up_logged()
            for run_id in self.summaries.due():
                await self._summary(run_id)
            await asyncio.sleep(tick)

    async def _summary(self, run_id: str) -> None:
        if run_id not in self.watchlist:
            self.summaries.forget(run_id)
            return
        try:
            message = await self.summaries.build(run_id)
        except ApiError as exc:
            self._log.warning("summary_failed", run_id=run_id, code=exc.code)
            return
        if message is not None:
            line = f"`{run_id}` {message.description}"
            self.outbox.put(Outgoing(message, line, run_id, replaces=f"summary:{run_id}"))

    # WatchControl, for the commands
    def watched(self) -> list[str]:
        return self.watchlist.ids()

    def known(self, run_id: str) -> RunMark | None:
        return self.watchlist.known(run_id)

    async def watch(self, run: RunView) -> None:
        await self.watchlist.add(run.run_id, mark_of(run, self.watchlist.known(run.run_id)))
        self.summaries.schedule(run.run_id)

    async def unwatch(self, run_id: str) -> bool:
        self.summaries.forget(run_id)
        return await self.watchlist.remove(run_id)
