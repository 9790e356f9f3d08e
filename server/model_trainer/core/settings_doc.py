"""Every setting described from `core/settings.py` itself: the commented `.env.example`, and
the values in effect (secrets masked) that `model-trainer config` shows.

Nothing here lists settings by hand: a field added to `Settings` or to one of its groups
appears on its own, with its docstring as its description. Only defaults that differ from
machine to machine are spelled out (`MACHINE_DEFAULTS`), so that the generated file is the
same everywhere. Regenerate the file with `python -m model_trainer.core.settings_doc >
.env.example`.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import UnionType
from typing import Protocol, runtime_checkable
from urllib.parse import urlsplit, urlunsplit

from dotenv import dotenv_values
from pydantic import BaseModel, SecretBytes, SecretStr, TypeAdapter
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined, to_json

from model_trainer.core.json_types import JsonValue
from model_trainer.core.settings import Settings

REGENERATE = "python -m model_trainer.core.settings_doc > .env.example"
"""The command that rewrites `.env.example` (from the repository's root, in its venv)."""
DELIMITER = "__"
"""Between a group's name and its field's in an environment variable (`WORKER__THREADS`)."""
MASK = "***"
UNSET = "(unset)"
SECRET_WORDS = ("api_key", "token", "password", "secret")
"""A field named like this (or ending `_token`, say) holds a secret whatever its type."""
MACHINE_DEFAULTS: dict[str, str] = {
    "WORKER__THREADS": "every CPU core this process may use",
    "API__INFERENCE_THREADS": "half the CPU cores this process may use (at least one)",
    "UI_DIST": (
        "model_trainer/ui_dist inside the installed package when it has one (a wheel built "
        "with the dashboard), else ui/dist of the checkout"
    ),
}
"""Defaults computed from the machine, described by their rule rather than their value."""
COMPUTED = "computed when the process starts"
"""The rule shown for a default computed at start that `MACHINE_DEFAULTS` does not name."""
WIDTH = 96

_TREE: TypeAdapter[JsonValue] = TypeAdapter(JsonValue)


@dataclass(frozen=True, slots=True)
class SettingRow:
    """One setting: its environment name, the value in effect and its default, both written
    as they would be in an env file (secrets masked), and what it is for."""

    name: str
    value: str
    default: str
    secret: bool
    description: str
    source: str = "default"
    """Where the value came from: `env`, `.env` (the file), `init` (the program) or
    `default`."""


@dataclass(frozen=True, slots=True)
class _Spec:
    """A leaf setting found by walking the models."""

    path: tuple[str, ...]
    description: str
    secret: bool
    computed: bool

    @property
    def name(self) -> str:
        return DELIMITER.join(self.path).upper()


@dataclass(frozen=True, slots=True)
class _Group:
    """A nested settings model, announced before its fields in the env file."""

    path: tuple[str, ...]
    description: str

    @property
    def name(self) -> str:
        return DELIMITER.join(self.path).upper()


class _FieldView(Protocol):
    """What this module reads of a pydantic field, typed as plain objects (pydantic types
    annotations and defaults as `Any`)."""

    @property
    def annotation(self) -> object: ...

    @property
    def description(self) -> str | None: ...

    @property
    def default(self) -> object: ...

    @property
    def default_factory(self) -> object: ...


@runtime_checkable
class _ModelClass(Protocol):
    """A pydantic model class, as far as this module reads it."""

    @property
    def model_fields(self) -> dict[str, FieldInfo]: ...


class _Root(BaseModel):
    """Holds the settings class as a field, so that it is reached as a plain object: a
    reference to `Settings` itself has the type of its constructor, which pydantic-settings
    gives an argument typed with `Any`."""

    settings: Settings


def _root() -> _ModelClass:
    field: _FieldView = _Root.model_fields["settings"]
    root = field.annotation
    if not isinstance(root, _ModelClass):
        raise TypeError("the settings class is not a pydantic model")
    return root


class _UnionView(Protocol):
    @property
    def __args__(self) -> tuple[object, ...]: ...


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split())


def _secret_type(annotation: object) -> bool:
    if annotation is SecretStr or annotation is SecretBytes:
        return True
    if isinstance(annotation, UnionType):
        union: _UnionView = annotation
        return any(_secret_type(member) for member in union.__args__)
    return False


def _secret_name(name: str) -> bool:
    return any(name == word or name.endswith(f"_{word}") for word in SECRET_WORDS)


def _walk(model: _ModelClass, prefix: tuple[str, ...] = ()) -> Iterator[_Spec | _Group]:
    """Every leaf of `model` (groups first announced, then walked), in declaration order."""
    for name, info in model.model_fields.items():
        field: _FieldView = info
        path = (*prefix, name)
        nested = field.annotation
        if isinstance(nested, _ModelClass):
            about = _one_line(nested.__doc__) or _one_line(field.description)
            yield _Group(path, about)
            yield from _walk(nested, path)
            continue
        yield _Spec(
            path=path,
            description=_one_line(field.description),
            secret=_secret_name(name) or _secret_type(field.annotation),
            computed=field.default_factory is not None,
        )


def _specs() -> list[_Spec]:
    return [item for item in _walk(_root()) if isinstance(item, _Spec)]


def _json(value: object) -> JsonValue:
    return _TREE.validate_json(to_json(value))


def _defaults(model: _ModelClass) -> dict[str, JsonValue]:
    """The declared defaults of `model`, as JSON; a field without a plain default (required,
    or computed by a factory) has none, except a group, whose own defaults stand in."""
    tree: dict[str, JsonValue] = {}
    for name, info in model.model_fields.items():
        field: _FieldView = info
        plain = field.default is not PydanticUndefined and field.default_factory is None
        if plain:
            tree[name] = _json(field.default)
        elif isinstance(field.annotation, _ModelClass):
            tree[name] = _defaults(field.annotation)
    return tree


def _lookup(tree: JsonValue, path: tuple[str, ...]) -> tuple[bool, JsonValue]:
    """Whether `path` is in `tree`, and the value there."""
    node = tree
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return False, None
        node = node[key]
    return True, node


def mask_url(text: str) -> str:
    """`text` with the password of a URL in it hidden: `redis://u:p@h` -> `redis://u:***@h`."""
    if "://" not in text or "@" not in text:
        return text
    try:
        parts = urlsplit(text)
        password = parts.password
    except ValueError:
        return text
    if password is None:
        return text
    userinfo, _, host = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:{MASK}@{host}"))


def env_text(value: JsonValue) -> str:
    """`value` as it is written in an env file: strings as they are, numbers and booleans as
    JSON (`2.0`, `true`), dicts and lists as JSON, nothing for None. URL passwords masked."""
    if value is None:
        return ""
    if isinstance(value, str):
        return mask_url(value)
    return mask_url(json.dumps(value))


def _shown(spec: _Spec, value: JsonValue) -> str:
    if value is None:
        return UNSET
    return MASK if spec.secret else env_text(value)


def _default_text(spec: _Spec, defaults: JsonValue) -> str:
    rule = MACHINE_DEFAULTS.get(spec.name)
    if rule is None and spec.computed:
        rule = COMPUTED
    if rule is not None:
        return rule
    value = _lookup(defaults, spec.path)[1]
    if value is not None and spec.secret:
        return MASK
    return env_text(value)


def _tree(settings: BaseModel, *, exclude_unset: bool = False) -> JsonValue:
    # JSON mode renders SecretStr as asterisks: a secret never leaves as itself from here.
    return _TREE.validate_json(settings.model_dump_json(exclude_unset=exclude_unset))


def _dotenv_names(settings: Settings) -> set[str]:
    """Names set in the `.env` file(s) the settings class reads, upper-cased."""
    configured = type(settings).model_config.get("env_file")
    if configured is None:
        return set()
    files = [configured] if isinstance(configured, str | Path) else list(configured)
    names: set[str] = set()
    for file in files:
        if Path(file).is_file():
            names.update(key.upper() for key in dotenv_values(file))
    return names


def _source(spec: _Spec, explicit: JsonValue, environ: set[str], dotenv: set[str]) -> str:
    if not _lookup(explicit, spec.path)[0]:
        return "default"
    # The field's own variable, or a group given whole as JSON (`WORKER='{"threads": 2}'`).
    names = {DELIMITER.join(spec.path[:n]).upper() for n in range(1, len(spec.path) + 1)}
    if names & environ:
        return "env"
    if names & dotenv:
        return ".env"
    return "init"


def effective_rows(settings: Settings) -> list[SettingRow]:
    """Every setting with the value in effect in `settings`, secrets masked (`***`, or
    `(unset)` when there is none) and the passwords of URLs too."""
    current = _tree(settings)
    explicit = _tree(settings, exclude_unset=True)
    defaults: JsonValue = _defaults(_root())
    environ = {name.upper() for name in os.environ}
    dotenv = _dotenv_names(settings)
    return [
        SettingRow(
            name=spec.name,
            value=_shown(spec, _lookup(current, spec.path)[1]),
            default=_default_text(spec, defaults),
            secret=spec.secret,
            description=spec.description,
            source=_source(spec, explicit, environ, dotenv),
        )
        for spec in _specs()
    ]


def _comment(text: str) -> list[str]:
    return textwrap.wrap(
        text,
        WIDTH,
        initial_indent="# ",
        subsequent_indent="# ",
        break_long_words=False,
        break_on_hyphens=False,
    )


HEADER = f"""\
# Model Trainer settings, each with its default. Copy this file to `.env` in the folder the
# processes start in and uncomment what you change; environment variables win over the file.
# A group's settings are named GROUP__FIELD (WORKER__THREADS=4); dicts and lists are JSON.
# Secrets have no example value. `model-trainer config` shows the values in effect, masked.
#
# Generated from server/model_trainer/core/settings.py: do not edit by hand; regenerate with
#   {REGENERATE}
"""


def render_env_example() -> str:
    """The commented `.env.example`: one block per setting (its description, its default,
    then the variable commented out with that default), the same on every machine."""
    defaults: JsonValue = _defaults(_root())
    lines = [HEADER.rstrip("\n")]
    for item in _walk(_root()):
        lines.append("")
        if isinstance(item, _Group):
            title = f"{item.name}{DELIMITER}*: {item.description}"
            lines += ["#" * WIDTH, *_comment(title), "#" * WIDTH]
            continue
        default = _default_text(item, defaults)
        is_rule = item.name in MACHINE_DEFAULTS or item.computed
        example = "" if item.secret or is_rule else default
        lines += _comment(item.description or item.name)
        lines += _comment(f"default: {default or UNSET}")
        lines.append(f"# {item.name}={example}")
    return "\n".join(lines) + "\n"


def main() -> int:
    sys.stdout.write(render_env_example())
    return 0


if __name__ == "__main__":
    sys.exit(main())
