"""Options and arguments several commands share (typer reads them from the annotations)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from model_trainer.cli.completion import complete_run_id, complete_tokenizer_id

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
RunId = Annotated[str, typer.Argument(help="A run id.", autocompletion=complete_run_id)]
TokenizerId = Annotated[
    str, typer.Argument(help="A tokenizer id.", autocompletion=complete_tokenizer_id)
]
