"""The service commands: `api`, `worker`, `bot`, `up`, `demo`, and `config`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from model_trainer.cli.failures import load_settings
from model_trainer.cli.session import SESSION, print_json_value
from model_trainer.cli.tables import table
from model_trainer.core.json_types import JsonObject

Host = Annotated[str, typer.Option(help="Address to listen on (0.0.0.0: every interface).")]
Port = Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")]


def api(host: Host = "127.0.0.1", port: Port = 8000) -> None:
    """Serve the HTTP API (and the dashboard at /ui/ when it is built)."""
    from model_trainer.api.server import serve

    serve(load_settings(), host, port)


def worker(
    burst: Annotated[bool, typer.Option("--burst", help="Exit when the queue is empty.")] = False,
) -> None:
    """Run training and tokenizer jobs from the queue (SIGTERM: warm stop)."""
    from model_trainer.worker.main import run_worker

    run_worker(load_settings(), burst=burst)


def bot() -> None:
    """The Discord DM status bot (needs DISCORD__TOKEN and DISCORD__OWNER_ID)."""
    from model_trainer.bot.main import run_bot

    raise typer.Exit(run_bot(load_settings()))


def up(
    host: Host = "127.0.0.1",
    port: Port = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes.")] = 1,
) -> None:
    """Everything on this machine: Redis (embedded if none answers), the API with the
    dashboard, and workers, until Ctrl-C."""
    from model_trainer.cli.stack import LocalStack

    with LocalStack(load_settings(), host, port, workers) as stack:
        stack.announce()
        SESSION.out.print("serving until Ctrl-C")
        stack.serve_until_stopped()


def demo(
    port: Port = 8000,
    keep_running: Annotated[
        bool, typer.Option("--keep-running", help="Keep serving after the demo, until Ctrl-C.")
    ] = False,
) -> None:
    """`up`, then a tokenizer and a small GPT-2 trained on Python's own sources."""
    from model_trainer.cli.demo import run_demo

    raise typer.Exit(run_demo(load_settings(), "127.0.0.1", port, keep_running))


def config(
    json_out: Annotated[bool, typer.Option("--json", help="As JSON.")] = False,
    example: Annotated[
        bool, typer.Option("--example", help="Print a .env.example with every default.")
    ] = False,
) -> None:
    """The effective settings (environment, .env, defaults), secrets masked."""
    from model_trainer.core.settings_doc import effective_rows, render_env_example

    if example:
        SESSION.out.print(render_env_example(), end="", markup=False, highlight=False)
        return
    rows = effective_rows(load_settings())
    if json_out:
        value: JsonObject = {r.name: {"value": r.value, "source": r.source} for r in rows}
        print_json_value(value)
        return
    grid = table("setting", "value", "source")
    for r in rows:
        style = "bold" if r.source != "default" else ""
        grid.add_row(Text(r.name, style=style), Text(r.value), r.source)
    SESSION.out.print(grid)
