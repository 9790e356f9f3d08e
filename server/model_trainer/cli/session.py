"""What every command shares: where the API is, how to print, and how to fail.

Typer hands options to the root callback, which stores them here for the commands of this
one process (a CLI process runs one command).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from enum import IntEnum
from typing import NoReturn

import typer
from pydantic import TypeAdapter
from rich.console import Console
from rich.text import Text

from model_trainer.client.api import Answer, ApiClient
from model_trainer.client.errors import ApiError
from model_trainer.core.json_types import JsonValue

JSON_VALUE: TypeAdapter[JsonValue] = TypeAdapter(JsonValue)


class Exit(IntEnum):
    """Exit statuses; scripts can tell a refused request from a job that failed."""

    OK = 0
    ERROR = 1
    """The API refused the request, could not be reached, or the input was wrong."""
    USAGE = 2
    """Wrong options or arguments (the parser's own errors)."""
    JOB_FAILED = 3
    JOB_CANCELLED = 4
    INTERRUPTED = 130
    """Ctrl-C: following stopped (the job goes on)."""


PIPE_WIDTH = 200
"""Columns when writing to a pipe or file: wide enough that tables keep whole ids."""


class OutputClosed(Exception):
    """The reader of our output went away (`| head`, `| true`): nothing failed."""


class _Console(Console):
    def on_broken_pipe(self) -> None:
        # rich exits with status 1 here, and typer turns an escaping BrokenPipeError into 1
        # too: an exception of our own reaches `main`, which ends quietly with 0.
        self.quiet = True
        raise OutputClosed


def _console(stderr: bool) -> Console:
    probe = Console(stderr=stderr)
    width = None if probe.is_terminal else _pipe_width()
    return _Console(stderr=stderr, highlight=False, width=width)


def _pipe_width() -> int:
    """COLUMNS when the caller set it (a script laying out a report), else `PIPE_WIDTH`."""
    columns = os.environ.get("COLUMNS", "")
    return int(columns) if columns.isdigit() and int(columns) > 0 else PIPE_WIDTH


@dataclass
class Session:
    api_url: str = "http://127.0.0.1:8000"
    api_key: str | None = None
    argv: list[str] = field(default_factory=list)
    """The command line as typed (errors name the flags the user used)."""
    out: Console = field(default_factory=lambda: _console(stderr=False))
    err: Console = field(default_factory=lambda: _console(stderr=True))

    def client(self) -> ApiClient:
        return ApiClient(self.api_url, self.api_key)


SESSION = Session()


def fail(message: str, code: str = "ERROR", status: Exit = Exit.ERROR) -> NoReturn:
    """One line on stderr, then the exit status: never a traceback for the user's mistakes."""
    error_line(f"{code}: {message}")
    raise typer.Exit(status)


def fail_api(error: ApiError) -> NoReturn:
    error_line(error.one_line())
    raise typer.Exit(Exit.ERROR)


def error_line(text: str) -> None:
    """`error: CODE: message` on stderr, on one line."""
    # Text, not markup: a message may hold brackets ("[1, 2]") that are not styles.
    line = Text.assemble(("error", "bold red"), ": ", " ".join(text.split()))
    SESSION.err.print(line, soft_wrap=True)


def read_stdin() -> str:
    """Standard input as UTF-8 text; anything else is refused with one line."""
    with open(0, "rb", closefd=False) as stdin:  # the bytes, whatever the locale says
        raw = stdin.read()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        fail(f"standard input is not UTF-8 text (byte {exc.start})", "INPUT_NOT_UTF8")


def print_json(*answers: Answer) -> None:
    """The API's JSON as it answered, indented (for `jq` and scripts); several answers
    make one list."""
    values = [JSON_VALUE.validate_json(answer.body) for answer in answers]
    print_json_value(values[0] if len(values) == 1 else values)


def print_json_value(value: JsonValue) -> None:
    try:
        sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        raise OutputClosed from None
