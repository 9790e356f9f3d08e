"""Request bodies from a file (`--config run.toml`) plus `--set a.b=value` overrides.

The file holds the same fields as the API's request body, in TOML or JSON. Values of
`--set` are read as JSON when they parse (`500`, `1e-3`, `true`, `[1, 2]`, `"text"`) and
as plain text otherwise (`--set model.size=nano`). The API checks the result; its message
names any field it refuses.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from model_trainer.cli.failures import validation_problem
from model_trainer.cli.fields import FieldNames, Flags
from model_trainer.cli.toml_reader import read_toml
from model_trainer.core.json_types import JsonObject, JsonValue

JSON_OBJECT: TypeAdapter[JsonObject] = TypeAdapter(JsonObject)
JSON_VALUE: TypeAdapter[JsonValue] = TypeAdapter(JsonValue)


class ConfigFileError(Exception):
    """A config file or override the CLI cannot use; the message says which and why."""


def load_body(path: Path) -> JsonObject:
    """A TOML (`.toml`) or JSON (anything else) file as a JSON object."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigFileError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        if path.suffix.lower() == ".toml":
            return read_toml(raw.decode("utf-8"))
        return JSON_OBJECT.validate_json(raw)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigFileError(f"{path} is not valid TOML: {exc}") from exc
    except ValidationError as exc:
        raise ConfigFileError(
            f"{path} does not hold a JSON-like object: {validation_problem(exc, json_value=True)}"
        ) from exc


def parse_value(text: str) -> JsonValue:
    try:
        return JSON_VALUE.validate_json(text)
    except ValidationError:
        return text


def assign(body: JsonObject, dotted: str, value: JsonValue) -> None:
    """Set the field at `a.b.c`, creating the objects on the way."""
    parts = dotted.strip().split(".")
    if not all(parts):
        raise ConfigFileError(f"{dotted!r} is not a field path like trainer.max_steps")
    node = body
    for i, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigFileError(f"{'.'.join(parts[: i + 1])} is not an object in {dotted}")
        node = child
    node[parts[-1]] = value


def given(*flags: tuple[str, JsonValue]) -> JsonObject:
    """The flags the user gave (`None`: left out), by dotted field path."""
    return {dotted: value for dotted, value in flags if value is not None}


def build_body(config: Path | None, sets: list[str], fields: JsonObject) -> JsonObject:
    """The file (if any), then the command's own flags (`fields`, by dotted path), then
    each `--set FIELD.PATH=VALUE` in order."""
    body = load_body(config) if config is not None else {}
    for dotted, value in fields.items():
        assign(body, dotted, value)
    for assignment in sets:
        dotted, sep, text = assignment.partition("=")
        if not sep:
            raise ConfigFileError(f"--set {assignment!r}: expected FIELD.PATH=VALUE")
        assign(body, dotted, parse_value(text))
    return body


def build_named(
    config: Path | None, sets: list[str], fields: JsonObject, flags: Flags
) -> tuple[JsonObject, FieldNames]:
    """`build_body`, and how the user named each field it holds (for the API's errors)."""
    body = build_body(config, sets, fields)
    names = FieldNames()
    if config is not None:
        names.from_file(config, load_body(config))
    names.from_flags(flags, fields)
    names.from_sets(sets)
    return body, names
