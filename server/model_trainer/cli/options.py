"""Options and arguments several commands share (typer reads them from the annotations)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from model_trainer.cli.completion import complete_run_id, complete_tokenizer_id
from model_trainer.cli.session import fail_api
from model_trainer.client.errors import ApiError
from model_trainer.client.ids import checked_id


def _checked(ctx: typer.Context, value: str, what: str) -> str:
    if ctx.resilient_parsing:  # completing a command line: nothing to refuse yet
        return value
    try:
        return checked_id(value, what)
    except ApiError as exc:
        fail_api(exc)


def _run_id(ctx: typer.Context, value: str) -> str:
    return _checked(ctx, value, "run")


def _run_ids(ctx: typer.Context, values: list[str]) -> list[str]:
    return [_checked(ctx, value, "run") for value in values]


def _tokenizer_id(ctx: typer.Context, value: str) -> str:
    return _checked(ctx, value, "tokenizer")


JsonFlag = Annotated[
    bool, typer.Option("--json", help="Print the API's JSON answer instead of a table.")
]
Follow = Annotated[
    bool,
    typer.Option(
        "--follow", "-f", help="Show live progress until the job ends (Ctrl-C stops watching)."
    ),
]
ConfigPath = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="A TOML or JSON file with the request body (the API's schema).",
        exists=False,
        dir_okay=False,
    ),
]
Sets = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        "-s",
        help="Override one field: --set trainer.max_steps=500 (repeatable; JSON or text).",
    ),
]
# Ids are checked as they are parsed, so no command sends one the API could not have made.
RunId = Annotated[
    str, typer.Argument(help="A run id.", autocompletion=complete_run_id, callback=_run_id)
]
RunIds = Annotated[
    list[str],
    typer.Argument(help="Two or more run ids.", autocompletion=complete_run_id, callback=_run_ids),
]
TokenizerId = Annotated[
    str,
    typer.Argument(
        help="A tokenizer id.", autocompletion=complete_tokenizer_id, callback=_tokenizer_id
    ),
]
