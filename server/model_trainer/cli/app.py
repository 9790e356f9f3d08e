"""The command tree: typer apps and the commands registered on them.

Commands are typed functions in the modules named after their group; this module only
registers them and turns failures into one line and an exit status. typer's decorators are
typed with `Any`, so each is called on the function it registers, never applied with `@`.
"""

from __future__ import annotations

import gc
import os
import signal
import sys
from typing import Annotated, TextIO

import typer

from model_trainer.cli import catalog, manage, run_report, runs, services, tokenizers
from model_trainer.cli.failures import describe, load_settings
from model_trainer.cli.session import SESSION, Exit, OutputClosed, error_line

HELP = """Train tokenizers and small language models through a Model Trainer API.

The API is at --api-url (or API_BASE_URL, default http://127.0.0.1:8000); the API key, when
the API wants one, comes from SECURITY__API_KEY. `model-trainer up` starts everything on
this machine.
"""

_CONTEXT_SETTINGS: dict[str, list[str]] = {"help_option_names": ["-h", "--help"]}

app = typer.Typer(
    name="model-trainer",
    help=HELP,
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings=_CONTEXT_SETTINGS,
)
runs_app = typer.Typer(help="Training runs.", no_args_is_help=True)
tokenizers_app = typer.Typer(help="Tokenizers.", no_args_is_help=True)
corpus_app = typer.Typer(help="The corpus root.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")
app.add_typer(tokenizers_app, name="tokenizers")
app.add_typer(corpus_app, name="corpus")


def root(
    api_url: Annotated[
        str | None,
        typer.Option(
            "--api-url", help="The API's address (default: API_BASE_URL).", show_default=False
        ),
    ] = None,
) -> None:
    settings = load_settings()
    SESSION.api_url = api_url or settings.api_base_url
    SESSION.api_key = settings.security.api_key


app.callback()(root)

runs_app.command("train")(runs.train)
runs_app.command("estimate")(runs.estimate)
runs_app.command("list")(runs.list_runs)
runs_app.command("show")(run_report.show)
runs_app.command("edit")(manage.edit)
runs_app.command("resume")(manage.resume)
runs_app.command("delete")(manage.delete)
runs_app.command("logs")(runs.logs)
runs_app.command("cancel")(runs.cancel)
runs_app.command("evaluate")(runs.evaluate)
runs_app.command("eval")(runs.show_eval)
runs_app.command("generate")(runs.generate)
runs_app.command("download")(runs.download)
runs_app.command("compare")(run_report.compare)

tokenizers_app.command("train")(tokenizers.train)
tokenizers_app.command("list")(tokenizers.list_tokenizers)
tokenizers_app.command("show")(tokenizers.show)
tokenizers_app.command("edit")(manage.edit_tokenizer)
tokenizers_app.command("encode")(tokenizers.encode)
tokenizers_app.command("download")(tokenizers.download)
tokenizers_app.command("delete")(manage.delete_tokenizer)

corpus_app.command("list")(catalog.corpus_list)
app.command("backends")(catalog.backends)

app.command("api")(services.api)
app.command("worker")(services.worker)
app.command("bot")(services.bot)
app.command("up")(services.up)
app.command("demo")(services.demo)
app.command("config")(services.config)


def main(argv: list[str] | None = None) -> int:
    """Run one command; every failure is one line on stderr and an exit status (`Exit`)."""
    # What the imports made lives until exit: frozen, the collector no longer walks it, at
    # every collection and at exit (where it cost a second on a busy machine after Ctrl-C).
    gc.freeze()
    # Python keeps SIGINT ignored when its launcher ignored it (a shell's `cmd &` without
    # job control, a test runner started that way): Ctrl-C must stop a follower all the
    # same. The services install their own handlers over this one.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    SESSION.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return _run(argv)
    except (OutputClosed, BrokenPipeError):
        # The reader went away (`| head`): not a failure, and nowhere to say anything; what
        # is still buffered goes to /dev/null at exit instead of failing again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        # typeshed's "maybe None" for the standard streams is `Any`: None means no console.
        streams: tuple[TextIO | None, TextIO | None] = (sys.stdout, sys.stderr)
        for stream in streams:
            if stream is not None:
                os.dup2(devnull, stream.fileno())
        return Exit.OK


def _run(argv: list[str] | None) -> int:
    try:
        # Without standalone mode click hands back a command's exit status (typer.Exit)
        # instead of calling sys.exit, and raises its usage errors to us.
        status: object = app(args=argv, prog_name="model-trainer", standalone_mode=False)
    except typer.Exit as done:
        code: object = done.exit_code
        return code if isinstance(code, int) else Exit.ERROR
    except (KeyboardInterrupt, typer.Abort):
        SESSION.err.print("interrupted")
        return Exit.INTERRUPTED
    except typer.TyperException as exc:
        return _usage(exc)
    except OutputClosed:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever it is, one line (`describe`)
        error_line(describe(exc))
        return Exit.ERROR
    return status if isinstance(status, int) else Exit.OK


def _usage(exc: typer.TyperException) -> int:
    """The parser's errors (typer's own click): usage, then the reason, no traceback."""
    show: object = getattr(exc, "show", None)
    if callable(show):
        show(file=sys.stderr)
    else:
        sys.stderr.write(f"error: USAGE: {exc.format_message()}\n")
    return int(exc.exit_code)
