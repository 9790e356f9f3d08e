"""The API's field paths in its messages, named as the user gave them.

The API names what it refuses by its field path (`data.tokenizer_id: ...`); the user typed
`-t`, or wrote the value in `run.toml`, or gave `--set data.tokenizer_id=...`. Each command
keeps a table from field path to its flag, and `FieldNames` learns where every field of a
request came from, so an error reads `-t: ...` or `run.toml: data.tokenizer_id: ...`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from model_trainer.cli.session import SESSION
from model_trainer.client.errors import ApiError
from model_trainer.core.json_types import JsonObject, JsonValue

Flags = dict[str, tuple[str, ...]]
"""A command's table: field path -> the option's names (`("-t", "--tokenizer")`)."""


def typed_flag(names: tuple[str, ...]) -> str:
    """Of an option's names, the one on the command line (the long one if neither is)."""
    for arg in SESSION.argv:
        for name in names:
            if arg == name or arg.startswith(f"{name}=") and name.startswith("--"):
                return name
    return max(names, key=len)


def _leaves(value: JsonValue, prefix: str) -> Iterator[str]:
    if isinstance(value, dict) and value:
        for key, child in value.items():
            yield from _leaves(child, f"{prefix}.{key}" if prefix else key)
    elif prefix:
        yield prefix


@dataclass
class FieldNames:
    """Field path -> how the user named it, in the order the values were applied."""

    names: dict[str, str] = field(default_factory=dict)

    def from_file(self, path: Path, body: JsonObject) -> None:
        for dotted in _leaves(body, ""):
            self.names[dotted] = f"{path.name}: {dotted}"

    def from_flags(self, flags: Flags, given: JsonObject) -> None:
        for dotted in given:
            if dotted in flags:
                self.names[dotted] = typed_flag(flags[dotted])

    def from_sets(self, sets: list[str]) -> None:
        for assignment in sets:
            dotted = assignment.partition("=")[0].strip()
            self.names[dotted] = f"--set {dotted}"

    def rename(self, message: str) -> str:
        """`message` with each known field path (and its list index) named as given, where
        the API names a field: at the start of the message or right before a `:`. Elsewhere
        the same word is prose ("exceeds the limit"), left as it is."""
        if not self.names:
            return message
        # One pass over the message, so that no name is read again as a path.
        paths = "|".join(re.escape(p) for p in sorted(self.names, key=len, reverse=True))
        pattern = (
            rf"^(?P<first>{paths})(?:\.\d+)?(?![\w\-])"
            rf"|(?<![\w.\-/])(?P<labelled>{paths})(?:\.\d+)?(?=:)"
        )

        def named(found: re.Match[str]) -> str:
            return self.names[found.group("first") or found.group("labelled")]

        return re.sub(pattern, named, message)


@contextmanager
def named_fields(names: FieldNames) -> Iterator[None]:
    """Inside: an API error's message names fields as the user gave them."""
    try:
        yield
    except ApiError as exc:
        raise ApiError(exc.code, names.rename(exc.message), exc.status, exc.request_id) from None


def flag_names(flags: Flags, given: JsonObject) -> FieldNames:
    """The names of a request made of flags alone (no file, no `--set`)."""
    names = FieldNames()
    names.from_flags(flags, given)
    return names
