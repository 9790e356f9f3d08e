"""`.env.example` is generated from the settings and current; `effective_rows` masks secrets."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from pydantic import SecretStr, TypeAdapter

from model_trainer.core.json_types import JsonValue
from model_trainer.core.settings import (
    CHECKOUT_UI_DIST,
    DiscordSettings,
    SecuritySettings,
    Settings,
)
from model_trainer.core.settings_doc import (
    MASK,
    REGENERATE,
    UNSET,
    SettingRow,
    effective_rows,
    mask_url,
    render_env_example,
)

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / ".env.example"
_TREE: TypeAdapter[dict[str, JsonValue]] = TypeAdapter(dict[str, JsonValue])


def _names(tree: dict[str, JsonValue], prefix: str = "") -> set[str]:
    """Environment names of every leaf of a settings dump (an empty dict is a leaf)."""
    names: set[str] = set()
    for key, value in tree.items():
        name = f"{prefix}{key}".upper()
        if isinstance(value, dict) and value:
            names |= _names(value, f"{name}__")
        else:
            names.add(name)
    return names


def _declared_names() -> set[str]:
    settings = Settings(_env_file=None)
    return _names(_TREE.validate_json(settings.model_dump_json()))


def test_the_env_example_is_current() -> None:
    current = EXAMPLE.read_text(encoding="utf-8") if EXAMPLE.is_file() else ""
    assert current == render_env_example(), (
        f".env.example is out of date with core/settings.py; from the repository root run:\n"
        f"  .venv/bin/{REGENERATE}"
    )


def test_every_setting_is_documented_once() -> None:
    text = render_env_example()
    commented = [m.group(1) for m in re.finditer(r"^# ([A-Z0-9_]+)=", text, flags=re.MULTILINE)]
    assert sorted(commented) == sorted(_declared_names())
    assert len(commented) == len(set(commented))
    rows = effective_rows(Settings(_env_file=None))
    assert {row.name for row in rows} == _declared_names()
    assert all(row.description for row in rows), [row.name for row in rows if not row.description]
    assert "DISCORD__TOKEN" in commented and "WORKER__THREADS" in commented


def test_the_example_is_the_same_on_every_machine() -> None:
    text = render_env_example()
    assert str(CHECKOUT_UI_DIST) not in text
    for name in ("WORKER__THREADS", "API__INFERENCE_THREADS", "UI_DIST"):
        assert f"\n# {name}=\n" in text, name
    assert "\n# default: every CPU core this process may use\n" in text
    # No line is left uncommented: copying the file changes nothing until one is edited.
    assert all(line.startswith("#") for line in text.splitlines() if line)
    assert "\n# REDIS_URL=redis://127.0.0.1:6379/0\n" in text
    assert "\n# PLUGINS__PREFER={}\n" in text


def test_secrets_are_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SECURITY__API_KEY", raising=False)
    key = "s3cret-key-value"
    token = "discord-t0ken-value"
    settings = Settings(
        _env_file=None,
        redis_url="redis://user:hunter2@redis.example:6379/0",
        security=SecuritySettings(api_key=key),
        discord=DiscordSettings(token=SecretStr(token), owner_id=42),
    )
    rows = {row.name: row for row in effective_rows(settings)}
    assert rows["SECURITY__API_KEY"].secret and rows["SECURITY__API_KEY"].value == MASK
    assert rows["DISCORD__TOKEN"].secret and rows["DISCORD__TOKEN"].value == MASK
    assert rows["REDIS_URL"].value == "redis://user:***@redis.example:6379/0"
    assert not rows["REDIS_URL"].secret and not rows["DISCORD__OWNER_ID"].secret
    assert rows["DISCORD__OWNER_ID"].value == "42"
    shown = " ".join(repr(row) for row in rows.values())
    for secret in (key, token, "hunter2"):
        assert secret not in shown
    unset = {row.name: row for row in effective_rows(Settings(_env_file=None))}
    assert unset["SECURITY__API_KEY"].value == UNSET
    assert unset["SECURITY__API_KEY"].source == "default"
    example = render_env_example()
    assert "\n# SECURITY__API_KEY=\n" in example and "\n# DISCORD__TOKEN=\n" in example


def test_url_passwords_are_masked() -> None:
    assert mask_url("redis://:pw@h:6379/0") == "redis://:***@h:6379/0"
    assert mask_url("rediss://me:p%40ss@h/1?x=1") == "rediss://me:***@h/1?x=1"
    assert mask_url("redis://h:6379/0") == "redis://h:6379/0"
    assert mask_url("redis://only-user@h/0") == "redis://only-user@h/0"
    assert mask_url("artifacts") == "artifacts"
    assert mask_url("http://[bad") == "http://[bad"


def test_rows_say_where_a_value_came_from(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKER__NICE", "7")
    monkeypatch.delenv("LOG_LEVEL", raising=False)
    rows = {row.name: row for row in effective_rows(Settings(_env_file=None))}
    assert (rows["WORKER__NICE"].value, rows["WORKER__NICE"].source) == ("7", "env")
    assert (rows["LOG_LEVEL"].value, rows["LOG_LEVEL"].source) == ("INFO", "default")
    assert rows["WORKER__NICE"].default == "10"
    assert dataclasses.is_dataclass(SettingRow)
