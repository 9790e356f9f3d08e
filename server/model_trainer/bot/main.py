"""`model-trainer bot`: check the settings, build the bot, run it until SIGTERM or ctrl-c."""

from __future__ import annotations

import asyncio
import signal
import sys
from urllib.parse import urlsplit

from model_trainer.bot.adapter import DiscordSink, TrainerClient, serve_until
from model_trainer.bot.api import TrainerApi
from model_trainer.bot.core import BotOptions, StatusBot
from model_trainer.core.logging import Log, adopt_library_loggers, configure_logging
from model_trainer.core.settings import Settings
from model_trainer.infra.redis_store import RedisStore

SERVICE = "model-trainer-bot"
EXIT_NOT_CONFIGURED = 2


def missing_settings(settings: Settings) -> list[str]:
    """The settings the bot cannot start without, by their environment names."""
    missing: list[str] = []
    if settings.discord.token is None or not settings.discord.token.get_secret_value().strip():
        missing.append("DISCORD__TOKEN (the bot's token: Discord developer portal, Bot tab)")
    if not settings.discord.owner_id:
        missing.append("DISCORD__OWNER_ID (your Discord user id: Developer Mode, Copy User ID)")
    return missing


def secrets_of(settings: Settings) -> tuple[str, ...]:
    """Values no message or log line may show: the API key, the token, URL passwords."""
    found = [settings.security.api_key]
    if settings.discord.token is not None:
        found.append(settings.discord.token.get_secret_value())
    found += [urlsplit(url).password for url in (settings.redis_url, settings.api_base_url)]
    return tuple(s for s in found if s)


def run_bot(settings: Settings) -> int:
    """Run the Discord status bot until stopped; the process's exit code."""
    missing = missing_settings(settings)
    if missing:
        sys.stderr.write(f"model-trainer bot: not starting; set {' and '.join(missing)}\n")
        return EXIT_NOT_CONFIGURED
    secrets = secrets_of(settings)
    configure_logging(settings.log_level, SERVICE, secrets=list(secrets))
    adopt_library_loggers("discord")
    try:
        return asyncio.run(_serve(settings, secrets))
    except KeyboardInterrupt:  # a second ctrl-c while stopping
        return 130


async def _serve(settings: Settings, secrets: tuple[str, ...]) -> int:
    log = Log("bot")
    discord_settings = settings.discord
    token = discord_settings.token.get_secret_value() if discord_settings.token else ""
    options = BotOptions(
        owner_id=discord_settings.owner_id or 0,
        auto_watch=discord_settings.auto_watch,
        summary_interval_s=discord_settings.summary_interval_s,
        secrets=secrets,
    )
    store = RedisStore(settings.redis_url)
    api = TrainerApi(settings.api_base_url, settings.security.api_key)
    client = TrainerClient(options.owner_id, log)
    bot = StatusBot(options, DiscordSink(client), api, store, log)
    client.serve(bot)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    crash_watch = asyncio.create_task(_stop_when_crashed(bot, stop))
    log.info("bot_starting", auto_watch=options.auto_watch)
    try:
        code = await serve_until(client, token, stop)
    finally:
        crash_watch.cancel()
        await api.aclose()
        store.close()
    if bot.crashed.is_set():
        code = 1
    log.info("bot_stopped", exit_code=code)
    return code


async def _stop_when_crashed(bot: StatusBot, stop: asyncio.Event) -> None:
    await bot.crashed.wait()
    stop.set()
