"""discord.py on one side, the bot's core on the other; the only module that imports discord.

- `build_tree`: the `/trainer` group (runs, status, watch, unwatch, watching, cancel), usable
  only in the bot's DM (`allowed_contexts`) and installable on a user or a server;
  run ids autocomplete from recent runs. Each command asks `TrainerCommands` and sends back
  its `Reply`; a cancel is confirmed with a button first.
- `DiscordSink`: the core's `Sink`, sending a `Message` as an embed (and a PNG file) to the
  owner's DM, with Discord's errors turned into `DeliveryFailed`.
- `TrainerClient`: the `discord.Client` that syncs the commands, starts the core once
  connected, and logs (and ignores) messages from anyone but the owner or outside DMs.

discord.py types its button decorator, its commands' payloads and its HTTP errors' constructor
with `Any`: buttons are `_Button`s with a typed callback, payloads are read as `CommandPayload`
through `_Described`, and the HTTP error class is named once (`_HTTP_ERROR`).
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Protocol

import aiohttp
import discord
from discord import app_commands
from pydantic import BaseModel, ConfigDict

from model_trainer.bot.commands import Caller, Command, TrainerCommands
from model_trainer.bot.core import StatusBot
from model_trainer.bot.messages import Message, Reply
from model_trainer.bot.outbox import DeliveryFailed
from model_trainer.core.logging import Log

CONFIRM_TIMEOUT_S = 120.0
"""How long the cancel buttons stay live."""
DM_ONLY = app_commands.AppCommandContext(guild=False, dm_channel=True, private_channel=False)
INSTALLS = app_commands.AppInstallationType(guild=True, user=True)
RUN_ID_HELP = "A run id (run-…); start typing to pick a recent run"
_HTTP_ERROR: type[discord.HTTPException] = discord.HTTPException
"""discord.py's class, named once: only its constructor, never called here, takes `Any`."""


def to_embed(message: Message) -> tuple[discord.Embed, discord.File | None]:
    embed = discord.Embed(
        title=message.title,
        description=message.description or None,
        colour=discord.Colour(int(message.colour)),
    )
    for field in message.fields:
        embed.add_field(name=field.name, value=field.value, inline=field.inline)
    if message.footer:
        embed.set_footer(text=message.footer)
    if message.image is None:
        return embed, None
    embed.set_image(url=f"attachment://{message.image.filename}")
    return embed, discord.File(io.BytesIO(message.image.png), filename=message.image.filename)


def caller_of(interaction: discord.Interaction) -> Caller:
    """Who asked; "in the DM" means the bot's own DM, not a guild or a group chat."""
    in_dm = interaction.guild_id is None and (
        interaction.context.dm_channel or isinstance(interaction.channel, discord.DMChannel)
    )
    return Caller(user_id=interaction.user.id, in_dm=in_dm)


class DiscordSink:
    """Sends the core's messages to a user's DM."""

    def __init__(self, client: discord.Client) -> None:
        self._client = client
        self._channels: dict[int, discord.DMChannel] = {}

    async def _dm(self, user_id: int) -> discord.DMChannel:
        """The user's DM, opened once (without the members intent, users are not cached)."""
        channel = self._channels.get(user_id)
        if channel is None:
            user = self._client.get_user(user_id) or await self._client.fetch_user(user_id)
            channel = self._channels[user_id] = user.dm_channel or await user.create_dm()
        return channel

    async def send(self, user_id: int, message: Message) -> None:
        embed, file = to_embed(message)
        try:
            channel = await self._dm(user_id)
            if file is None:
                await channel.send(embed=embed)
            else:
                await channel.send(embed=embed, file=file)
        except _HTTP_ERROR as exc:
            # 400 and 413: this message as it is will never go; 403: DMs closed (may change);
            # 429 and 5xx: later. discord.py already waits out most 429s by itself.
            rejected = exc.status in (400, 413)
            raise DeliveryFailed(f"HTTP {exc.status} ({exc.code})", rejected=rejected) from exc
        except (discord.DiscordException, aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryFailed(type(exc).__name__) from exc


class _Button(discord.ui.Button[discord.ui.View]):
    """A button whose press calls `on_press` (discord.py's `@ui.button` is typed with `Any`)."""

    def __init__(
        self,
        label: str,
        style: discord.ButtonStyle,
        on_press: Callable[[discord.Interaction], Awaitable[None]],
    ) -> None:
        super().__init__(label=label, style=style)
        self._on_press = on_press

    async def callback(self, interaction: discord.Interaction) -> None:
        await self._on_press(interaction)


class CancelConfirmation(discord.ui.View):
    """Two buttons under "Cancel this run?"; only the owner's press counts."""

    def __init__(self, commands: TrainerCommands, run_id: str) -> None:
        super().__init__(timeout=CONFIRM_TIMEOUT_S)
        self._commands = commands
        self._run_id = run_id
        self.add_item(_Button("Cancel the run", discord.ButtonStyle.danger, self.confirm))
        self.add_item(_Button("Keep it", discord.ButtonStyle.secondary, self.keep))

    async def confirm(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer()
        reply = await self._commands.handle(
            caller_of(interaction), Command.CONFIRM_CANCEL, self._run_id
        )
        if not reply.refused:
            self.stop()
        await _edit(interaction, reply, keep_question=reply.refused)

    async def keep(self, interaction: discord.Interaction) -> None:
        if not self._commands.allowed(caller_of(interaction)):
            await interaction.response.defer()
            return
        self.stop()
        embed = discord.Embed(title="Not cancelled", description=f"`{self._run_id}` goes on.")
        await interaction.response.edit_message(embed=embed, view=None)


async def _edit(interaction: discord.Interaction, reply: Reply, keep_question: bool) -> None:
    embed, file = to_embed(reply.message)
    if keep_question:  # someone else pressed: they are told privately, the question stays
        await interaction.followup.send(embed=embed, ephemeral=True)
        return
    attachments = [file] if file is not None else []
    await interaction.edit_original_response(embed=embed, view=None, attachments=attachments)


async def _answer(
    interaction: discord.Interaction,
    commands: TrainerCommands,
    command: Command,
    run_id: str | None = None,
) -> None:
    """Defer (the API may take longer than Discord's 3 s), ask the core, send its reply."""
    caller = caller_of(interaction)
    await interaction.response.defer(thinking=True, ephemeral=not commands.allowed(caller))
    reply = await commands.handle(caller, command, run_id)
    embed, file = to_embed(reply.message)
    if reply.confirm_cancel is not None:
        view = CancelConfirmation(commands, reply.confirm_cancel)
        await interaction.followup.send(embed=embed, view=view)
    elif file is not None:
        await interaction.followup.send(embed=embed, file=file)
    else:
        await interaction.followup.send(embed=embed)


def build_tree(
    client: discord.Client, commands: TrainerCommands
) -> app_commands.CommandTree[discord.Client]:
    """The command tree with the `/trainer` group; built offline, synced on start."""
    tree: app_commands.CommandTree[discord.Client] = app_commands.CommandTree(client)
    group = app_commands.Group(
        name="trainer",
        description="Model Trainer runs: status, watching, cancel",
        allowed_contexts=DM_ONLY,
        allowed_installs=INSTALLS,
    )

    async def run_choices(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        choices = await commands.run_choices(caller_of(interaction), current)
        return [app_commands.Choice(name=c.name, value=c.value) for c in choices]

    @group.command(name="runs", description="Recent runs: id, status and progress")
    async def runs(interaction: discord.Interaction) -> None:
        await _answer(interaction, commands, Command.RUNS)

    @group.command(name="status", description="A run's status, losses, last checkpoint and ETA")
    @app_commands.describe(run_id=RUN_ID_HELP)
    @app_commands.autocomplete(run_id=run_choices)
    async def status(interaction: discord.Interaction, run_id: str) -> None:
        await _answer(interaction, commands, Command.STATUS, run_id)

    @group.command(name="watch", description="Send this run's news (and progress summaries) here")
    @app_commands.describe(run_id=RUN_ID_HELP)
    @app_commands.autocomplete(run_id=run_choices)
    async def watch(interaction: discord.Interaction, run_id: str) -> None:
        await _answer(interaction, commands, Command.WATCH, run_id)

    @group.command(name="unwatch", description="Stop sending this run's news")
    @app_commands.describe(run_id=RUN_ID_HELP)
    @app_commands.autocomplete(run_id=run_choices)
    async def unwatch(interaction: discord.Interaction, run_id: str) -> None:
        await _answer(interaction, commands, Command.UNWATCH, run_id)

    @group.command(name="watching", description="The runs whose news comes here")
    async def watching(interaction: discord.Interaction) -> None:
        await _answer(interaction, commands, Command.WATCHING)

    @group.command(name="cancel", description="Cancel a run (asks to confirm)")
    @app_commands.describe(run_id=RUN_ID_HELP)
    @app_commands.autocomplete(run_id=run_choices)
    async def cancel(interaction: discord.Interaction, run_id: str) -> None:
        await _answer(interaction, commands, Command.CANCEL, run_id)

    tree.add_command(group)
    return tree


class CommandPayload(BaseModel):
    """A command (or an option) as the tree sends it to Discord when it syncs: what tests
    and the curious can read without discord.py's untyped dicts."""

    model_config = ConfigDict(extra="ignore")

    name: str
    description: str
    type: int
    required: bool = False
    autocomplete: bool = False
    options: list[CommandPayload] = []
    contexts: list[int] | None = None
    """0: guilds, 1: the bot's DM, 2: group DMs and other users' DMs."""
    integration_types: list[int] | None = None
    """0: installed on a server, 1: installed on a user."""


class _Described(Protocol):
    """A command of the tree, as far as `command_payloads` reads it (discord.py types the
    dict with `Any`)."""

    def to_dict(
        self, tree: app_commands.CommandTree[discord.Client], /
    ) -> Mapping[str, object]: ...


def command_payloads(tree: app_commands.CommandTree[discord.Client]) -> list[CommandPayload]:
    """The tree's commands as Discord would receive them; built offline."""
    commands: Sequence[_Described] = tree.get_commands()
    return [CommandPayload.model_validate(command.to_dict(tree)) for command in commands]


class TrainerClient(discord.Client):
    """The Discord client: slash commands for the owner, the core started once connected."""

    def __init__(self, owner_id: int, log: Log) -> None:
        # No privileged intents: slash commands need none, and DM messages are only logged.
        intents = discord.Intents.none()
        intents.dm_messages = True
        super().__init__(intents=intents)
        self._owner_id = owner_id
        self.log = log
        self._bot: StatusBot | None = None
        self.tree: app_commands.CommandTree[discord.Client] | None = None
        self._started = asyncio.Event()

    def serve(self, bot: StatusBot) -> None:
        """Attach the core: its commands become the tree; it starts at the first ready."""
        self._bot = bot
        self.tree = build_tree(self, bot.commands)

    async def setup_hook(self) -> None:
        if self.tree is not None:
            synced = await self.tree.sync()
            self.log.info("commands_synced", commands=len(synced))

    async def on_ready(self) -> None:
        self.log.info("discord_ready")
        if self._bot is not None and not self._started.is_set():
            self._started.set()
            await self._bot.start()

    async def close(self) -> None:
        if self._bot is not None:
            await self._bot.stop()
        await super().close()

    async def on_resumed(self) -> None:
        self.log.info("discord_resumed")

    async def on_message(self, message: discord.Message) -> None:
        if self.user is not None and message.author.id == self.user.id:
            return
        in_dm = isinstance(message.channel, discord.DMChannel)
        if message.author.id != self._owner_id or not in_dm:
            # Nothing is answered: a reply would tell a stranger the bot is here.
            reason = "not_owner" if message.author.id != self._owner_id else "not_dm"
            self.log.warning("message_refused", user_id=message.author.id, reason=reason)


async def serve_until(client: TrainerClient, token: str, stop: asyncio.Event) -> int:
    """Run the Discord session until `stop` is set or it ends by itself; the exit code."""
    session = asyncio.create_task(client.start(token))
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({session, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        await client.close()  # stops the core first: waiting news gets a moment to leave
    if not session.done():
        await asyncio.wait({session}, timeout=5.0)
    if not session.done() or session.cancelled():
        return 0
    error = session.exception()
    if isinstance(error, discord.LoginFailure):
        client.log.error("discord_token_refused", hint="check DISCORD__TOKEN")
        return 1
    if error is not None:
        client.log.error("discord_session_failed", error=type(error).__name__)
        return 1
    return 0 if stop.is_set() else 1
