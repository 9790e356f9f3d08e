"""The Discord side builds offline: the `/trainer` tree as Discord would receive it, DM-only
and installable on a user or a server; embeds carry every part of a message."""

from __future__ import annotations

import asyncio

import aiohttp
import discord

from model_trainer.bot.adapter import (
    DiscordSink,
    TrainerClient,
    build_tree,
    command_payloads,
    to_embed,
)
from model_trainer.bot.api import TrainerApi
from model_trainer.bot.commands import TrainerCommands
from model_trainer.bot.messages import Colour, Field, Image, Message
from model_trainer.bot.outbox import DeliveryFailed
from model_trainer.bot.redact import Redactor
from model_trainer.bot.watchlist import RunMark
from model_trainer.client.views import RunView
from model_trainer.core.logging import Log

SUB_COMMAND, STRING = 1, 3
BOT_DM = 1
GUILD_INSTALL, USER_INSTALL = 0, 1


class NoWatches:
    def watched(self) -> list[str]:
        return []

    def known(self, run_id: str) -> RunMark | None:
        return None

    async def watch(self, run: RunView) -> None:
        raise AssertionError("not offline")

    async def unwatch(self, run_id: str) -> bool:
        raise AssertionError("not offline")


def test_the_trainer_tree_builds_offline_with_six_dm_only_commands() -> None:
    async def build() -> None:
        api = TrainerApi("http://127.0.0.1:9", None)  # never asked
        log = Log("core")
        commands = TrainerCommands(1, api, NoWatches(), Redactor([]), log)
        client = TrainerClient(1, log)
        (trainer,) = command_payloads(build_tree(client, commands))
        assert trainer.name == "trainer"
        assert trainer.contexts == [BOT_DM], "usable in the bot's DM only"
        assert sorted(trainer.integration_types or []) == [GUILD_INSTALL, USER_INSTALL]
        subcommands = {option.name: option for option in trainer.options}
        assert sorted(subcommands) == ["cancel", "runs", "status", "unwatch", "watch", "watching"]
        for name, command in subcommands.items():
            assert command.type == SUB_COMMAND and command.description
            if name in ("runs", "watching"):
                assert command.options == []
                continue
            (run_id,) = command.options
            assert (run_id.name, run_id.type, run_id.required) == ("run_id", STRING, True)
            assert run_id.autocomplete, f"{name}: run ids autocomplete"
        await client.close()
        await api.aclose()

    asyncio.run(build())


def test_a_message_becomes_an_embed_with_its_chart_attached() -> None:
    message = Message(
        title="Progress · run-x",
        description="450 of 1,000 steps (45%)",
        fields=(Field("Train loss", "2.1"), Field("ETA", "3m 20s", inline=False)),
        colour=Colour.SUCCESS,
        footer="blue: train loss",
        image=Image("loss.png", b"\x89PNG..."),
    )
    embed, file = to_embed(message)
    assert (embed.title, embed.description, embed.footer.text) == (
        "Progress · run-x",
        "450 of 1,000 steps (45%)",
        "blue: train loss",
    )
    assert [(f.name, f.value, f.inline) for f in embed.fields] == [
        ("Train loss", "2.1", True),
        ("ETA", "3m 20s", False),
    ]
    assert embed.colour is not None and embed.colour.value == int(Colour.SUCCESS)
    assert file is not None and file.filename == "loss.png"
    assert embed.image.url == "attachment://loss.png"
    assert to_embed(Message("t"))[1] is None


class Unreachable(TrainerClient):
    """A client whose every call to Discord fails on the way (no network is touched)."""

    async def fetch_user(self, user_id: int, /) -> discord.User:
        raise aiohttp.ClientConnectionError("no route to discord.com")


def test_discord_failures_reach_the_core_as_delivery_failed_to_retry() -> None:
    async def send() -> DeliveryFailed:
        client = Unreachable(1, Log("core"))
        try:
            await DiscordSink(client).send(1, Message("t"))
        except DeliveryFailed as exc:
            return exc
        finally:
            await client.close()
        raise AssertionError("the send went through")

    failed = asyncio.run(send())
    assert failed.reason == "ClientConnectionError" and not failed.rejected
