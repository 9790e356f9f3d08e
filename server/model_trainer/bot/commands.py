"""The `/trainer` commands, answered for the owner in the bot's DM and refused elsewhere.

The owner and DM checks live here, not only in Discord's command settings: whoever calls,
from wherever, a refusal carries no run data and leaves a log line. Every reply is redacted
before it is returned.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from model_trainer.bot.api import TrainerApi
from model_trainer.bot.format import mark_of, run_line, runs_message, status_message
from model_trainer.bot.messages import (
    CHOICE_NAME_MAX,
    CHOICES_MAX,
    Choice,
    Colour,
    Message,
    Reply,
    clip,
)
from model_trainer.bot.redact import Redactor
from model_trainer.bot.watchlist import RunMark
from model_trainer.client.errors import UNREACHABLE, ApiError
from model_trainer.client.views import RunView
from model_trainer.core.errors import AppError
from model_trainer.core.logging import Log

RUN_ID = re.compile(r"run-[0-9a-z]{8}-[0-9a-f]{8}")
"""The shape of a run id (`core.ids`): anything else is refused before the API is asked."""
RECENT_RUNS = 15
CHOICES_CACHE_S = 5.0
"""Autocomplete asks on every keystroke; the recent runs are read at most this often."""


class Command(StrEnum):
    RUNS = "runs"
    STATUS = "status"
    WATCH = "watch"
    UNWATCH = "unwatch"
    WATCHING = "watching"
    CANCEL = "cancel"
    CONFIRM_CANCEL = "confirm_cancel"


@dataclass(frozen=True)
class Caller:
    """Who asked, and whether from the bot's own DM."""

    user_id: int
    in_dm: bool


class WatchControl(Protocol):
    """What commands may change of the bot's watching (the core implements it)."""

    def watched(self) -> list[str]: ...

    def known(self, run_id: str) -> RunMark | None: ...

    async def watch(self, run: RunView) -> None: ...

    async def unwatch(self, run_id: str) -> bool: ...


def _note(title: str, text: str, colour: Colour = Colour.MUTED) -> Message:
    return Message(title=title, description=text, colour=colour)


def api_trouble(exc: ApiError, run_id: str | None = None) -> Message:
    """The API's refusal in the bot's own words (its messages may carry paths)."""
    subject = f"`{run_id}`" if run_id else "That run"
    words = {
        "NOT_FOUND": f"There is no run {subject}.",
        "RUN_NOT_ACTIVE": f"{subject} has already ended.",
        "UNAUTHORIZED": "The API refused the bot's key: check SECURITY__API_KEY.",
        UNREACHABLE: "The API does not answer: check API_BASE_URL and that it runs.",
        "QUEUE_UNAVAILABLE": "The API cannot reach Redis right now.",
    }
    text = words.get(exc.code, f"The API answered {exc.code} (HTTP {exc.status}).")
    return _note("Could not do that", text, Colour.WARNING)


class TrainerCommands:
    """Each command as a coroutine from a `Caller` (and a run id) to a `Reply`."""

    def __init__(
        self, owner_id: int, api: TrainerApi, watches: WatchControl, redactor: Redactor, log: Log
    ) -> None:
        self._owner_id = owner_id
        self._api = api
        self._watches = watches
        self._redactor = redactor
        self._log = log
        self._recent: tuple[float, list[RunView]] = (0.0, [])

    def allowed(self, caller: Caller) -> bool:
        return caller.user_id == self._owner_id and caller.in_dm

    def _refusal(self, caller: Caller, command: Command) -> Reply | None:
        if self.allowed(caller):
            return None
        reason = "not_owner" if caller.user_id != self._owner_id else "not_dm"
        self._log.warning(
            "command_refused", command=command.value, user_id=caller.user_id, reason=reason
        )
        text = (
            "This bot answers its owner only."
            if reason == "not_owner"
            else "Ask me in a direct message."
        )
        return Reply(_note("Not here", text, Colour.WARNING), refused=True)

    def _reply(self, message: Message, confirm_cancel: str | None = None) -> Reply:
        return Reply(self._redactor.message(message), confirm_cancel)

    async def handle(self, caller: Caller, command: Command, run_id: str | None = None) -> Reply:
        """Answer one command; refusals and API troubles come back as replies too."""
        refusal = self._refusal(caller, command)
        if refusal is not None:
            return refusal
        self._log.info("command", command=command.value)
        if command is Command.RUNS:
            return await self._runs()
        if command is Command.WATCHING:
            return await self._watching()
        wanted = (run_id or "").strip()
        if not RUN_ID.fullmatch(wanted):
            return self._reply(_note("Not a run id", "Run ids look like `run-…-…`: pick one."))
        try:
            return await self._about_run(command, wanted)
        except ApiError as exc:
            self._log.warning("command_api_error", command=command.value, code=exc.code)
            return self._reply(api_trouble(exc, wanted))
        except AppError as exc:  # Redis, behind the watch list
            self._log.warning("command_failed", command=command.value, code=str(exc.code))
            return self._reply(_note("Could not do that", "Redis does not answer right now."))

    async def _about_run(self, command: Command, run_id: str) -> Reply:
        if command is Command.STATUS:
            run = await self._api.run(run_id)
            return self._reply(status_message(run, self._watches.known(run_id)))
        if command is Command.WATCH:
            return await self._watch(run_id)
        if command is Command.UNWATCH:
            return await self._unwatch(run_id)
        if command is Command.CANCEL:
            return await self._ask_to_cancel(run_id)
        return await self._cancel(run_id)

    async def _runs(self) -> Reply:
        try:
            runs = await self._api.recent_runs(RECENT_RUNS)
        except ApiError as exc:
            return self._reply(api_trouble(exc))
        return self._reply(runs_message(runs))

    async def _watching(self) -> Reply:
        lines: list[str] = []
        for run_id in self._watches.watched():
            try:
                lines.append(run_line(await self._api.run(run_id)))
            except ApiError as exc:
                lines.append(f"`{run_id}` · status unknown ({exc.code})")
        text = "\n".join(lines) or "Nothing: `/trainer watch` a run to hear of it here."
        return self._reply(_note(f"Watching {len(lines)} runs", text, Colour.INFO))

    async def _watch(self, run_id: str) -> Reply:
        run = await self._api.run(run_id)
        if run.finished:
            message = status_message(run, None, "Already ended, not watching")
            return self._reply(message)
        await self._watches.watch(run)
        return self._reply(status_message(run, mark_of(run, None), "Watching"))

    async def _unwatch(self, run_id: str) -> Reply:
        was = await self._watches.unwatch(run_id)
        text = f"No more news of `{run_id}`." if was else f"`{run_id}` was not watched."
        return self._reply(_note("Unwatched", text))

    async def _ask_to_cancel(self, run_id: str) -> Reply:
        run = await self._api.run(run_id)
        if run.finished:
            return self._reply(status_message(run, None, "Already ended"))
        text = (
            f"{run_line(run)}\nA training run stops at its next step and keeps a checkpoint; "
            "a queued one ends at once."
        )
        return self._reply(_note("Cancel this run?", text, Colour.WARNING), confirm_cancel=run_id)

    async def _cancel(self, run_id: str) -> Reply:
        run = await self._api.cancel(run_id)
        return self._reply(status_message(run, self._watches.known(run_id), "Cancelling"))

    async def run_choices(self, caller: Caller, typed: str) -> list[Choice]:
        """Recent runs whose id contains what was typed (none for anyone but the owner)."""
        if not self.allowed(caller):
            self._log.warning("autocomplete_refused", user_id=caller.user_id)
            return []
        at, runs = self._recent
        if time.monotonic() - at > CHOICES_CACHE_S:
            try:
                runs = await self._api.recent_runs(CHOICES_MAX)
            except ApiError:
                runs = []
            self._recent = (time.monotonic(), runs)
        typed = typed.strip().lower()
        found = [run for run in runs if typed in run.run_id]
        return [
            Choice(
                clip(self._redactor.text(f"{run.run_id} · {run.status.value}"), CHOICE_NAME_MAX),
                run.run_id,
            )
            for run in found[:CHOICES_MAX]
        ]
