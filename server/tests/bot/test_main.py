"""`run_bot` refuses to start without its settings, in one line saying what to set; the
bot imports no torch (it starts in a slim container)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from pydantic import SecretStr

from model_trainer.bot.main import EXIT_NOT_CONFIGURED, run_bot, secrets_of
from model_trainer.core.settings import DiscordSettings, SecuritySettings, Settings


def test_without_a_token_or_owner_it_says_what_to_set_and_exits_non_zero(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run_bot(Settings(discord=DiscordSettings())) == EXIT_NOT_CONFIGURED
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "DISCORD__TOKEN" in err and "DISCORD__OWNER_ID" in err
    only_owner = DiscordSettings(token=SecretStr("x" * 30))
    assert run_bot(Settings(discord=only_owner)) == EXIT_NOT_CONFIGURED
    err = capsys.readouterr().err
    assert "DISCORD__OWNER_ID" in err and "DISCORD__TOKEN" not in err and "x" * 30 not in err


def test_the_secrets_to_mask_are_the_key_the_token_and_url_passwords() -> None:
    settings = Settings(
        redis_url="redis://:redis-pass-1@redis:6379/0",
        security=SecuritySettings(api_key="the-api-key"),
        discord=DiscordSettings(token=SecretStr("the-token-value"), owner_id=5),
    )
    assert sorted(secrets_of(settings)) == ["redis-pass-1", "the-api-key", "the-token-value"]


def test_the_bot_imports_no_torch() -> None:
    probe = "import sys, model_trainer.bot.main; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
