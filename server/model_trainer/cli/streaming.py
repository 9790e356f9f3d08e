"""`runs generate` printing the text as the model makes it.

The text goes to stdout as each piece arrives (flushed), the prompt before it dimmed on a
terminal; stderr has a spinner until the first piece (only on a terminal) and one summary
line at the end. Piped, stdout is the prompt and the text and nothing else, as without
streaming. Ctrl-C closes the connection, which stops the generation on the server.
"""

from __future__ import annotations

import time
from contextlib import closing

from rich.status import Status
from rich.text import Text

from model_trainer.cli.session import SESSION, fail_api
from model_trainer.client.api import ApiClient
from model_trainer.client.stream import DoneEvent, ErrorEvent, TokenEvent, generate_stream
from model_trainer.client.text import elapsed, figure, integer
from model_trainer.core.json_types import JsonObject


class _Spinner:
    """A spinner on stderr while nothing has come yet, when stderr is a terminal."""

    def __init__(self) -> None:
        self._status: Status | None = None
        if SESSION.err.is_terminal:
            self._status = SESSION.err.status("waiting for the first token…", spinner="dots")
            self._status.start()

    def stop(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None


def stream_generation(client: ApiClient, run_id: str, body: JsonObject, prompt: str) -> None:
    """Print one streamed generation as it is made (see the module's docstring)."""
    started = time.monotonic()
    spinner = _Spinner()
    began = False
    # Closed however the loop ends (Ctrl-C too): the connection goes, the generation stops.
    with closing(generate_stream(client, run_id, body)) as events:
        try:
            for event in events:
                if not began:
                    spinner.stop()
                    _write(prompt, "dim")
                    began = True
                if isinstance(event, TokenEvent):
                    _write(event.text)
                elif isinstance(event, ErrorEvent):
                    _write("\n")
                    fail_api(event.as_error())
                else:
                    _write("\n")
                    _summary(event, time.monotonic() - started)
        finally:
            spinner.stop()


def _write(text: str, style: str = "") -> None:
    """`text` on stdout at once: styled on a terminal, exactly as made otherwise (rich
    would expand tabs and drop control characters)."""
    if SESSION.out.is_terminal:
        SESSION.out.print(Text(text, style=style), end="", soft_wrap=True)
    else:
        SESSION.out.file.write(text)
    SESSION.out.file.flush()


def _summary(done: DoneEvent, elapsed_s: float) -> None:
    rate = f", {figure(done.count / elapsed_s)} tokens/s" if elapsed_s > 0 else ""
    line = f"{integer(done.count)} new tokens in {elapsed(elapsed_s)}{rate}"
    SESSION.err.print(Text(line, style="dim"), soft_wrap=True)
