"""`runs edit`, `runs resume`, `runs delete`, `tokenizers edit` and `tokenizers delete`:
keeping runs and tokenizers tidy."""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.text import Text

from model_trainer.cli.fields import Flags, flag_names, named_fields
from model_trainer.cli.options import Follow, JsonFlag, RunId, TokenizerId
from model_trainer.cli.session import SESSION, Exit, fail, print_json
from model_trainer.cli.watch import RunWatch, watch_to_end
from model_trainer.client.api import Answer
from model_trainer.client.views import QueuedView, RunView, TokenizerView
from model_trainer.core.json_types import JsonObject, JsonValue

EDIT_FLAGS: Flags = {
    "name": ("--name",),
    "notes": ("--notes",),
    "add_tags": ("--tag",),
    "remove_tags": ("--untag",),
}
RESUME_FLAGS: Flags = {"max_steps": ("--max-steps",)}

Tags = Annotated[list[str] | None, typer.Option("--tag", help="Add a tag (repeatable).")]
Untags = Annotated[list[str] | None, typer.Option("--untag", help="Remove a tag (repeatable).")]
NewName = Annotated[str | None, typer.Option(help="A new name ('' clears it).")]
NewNotes = Annotated[str | None, typer.Option(help="New notes ('' clears them).")]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


def run_hints(run_id: str) -> str:
    """What Ctrl-C while following a run says: how to follow it again, how to stop it."""
    return (
        f" (follow it again: model-trainer runs logs -f {run_id}; "
        f"stop it: model-trainer runs cancel {run_id})"
    )


def edit(
    run_id: RunId,
    name: NewName = None,
    notes: NewNotes = None,
    tags: Tags = None,
    untags: Untags = None,
    json_out: JsonFlag = False,
) -> None:
    """Rename a run, change its notes or tags (in any status)."""
    answer = _relabel(f"/runs/{run_id}", name, notes, _retag(tags, untags))
    if json_out:
        print_json(answer)
        return
    run = answer.parse(RunView)
    _print_labels(run.run_id, run.name, run.notes, run.tags)


def edit_tokenizer(
    tokenizer_id: TokenizerId,
    name: NewName = None,
    notes: NewNotes = None,
    tags: Tags = None,
    untags: Untags = None,
    json_out: JsonFlag = False,
) -> None:
    """Rename a tokenizer, change its notes or tags (in any status, imported ones too)."""
    answer = _relabel(f"/tokenizers/{tokenizer_id}", name, notes, _retag(tags, untags))
    if json_out:
        print_json(answer)
        return
    tok = answer.parse(TokenizerView)
    _print_labels(tok.tokenizer_id, tok.name, tok.notes, tok.tags)


def _relabel(path: str, name: str | None, notes: str | None, retag: JsonObject) -> Answer:
    """`PATCH` the labels at `path`: '' clears a name or notes; tags go as changes, applied
    by the API to the tags the job has then, so a tag someone else adds meanwhile stays."""
    body: JsonObject = {}
    if name is not None:
        body["name"] = name.strip() or None
    if notes is not None:
        body["notes"] = notes if notes.strip() else None
    body |= retag
    with SESSION.client() as client, named_fields(flag_names(EDIT_FLAGS, body)):
        if not body:
            fail("nothing to change: give --name, --notes, --tag or --untag", "USAGE", Exit.USAGE)
        return client.call("PATCH", path, body)


def _print_labels(job_id: str, name: str | None, notes: str | None, tags: list[str]) -> None:
    labels = [f"name {name!r}" if name else "no name"]
    labels.append(f"tags {', '.join(tags)}" if tags else "no tags")
    labels.append("notes" if notes else "no notes")
    SESSION.out.print(Text(f"{job_id}: {'; '.join(labels)}"), soft_wrap=True)


def _retag(tags: list[str] | None, untags: list[str] | None) -> JsonObject:
    retag: JsonObject = {}
    if tags:
        retag["add_tags"] = list[JsonValue](tags)
    if untags:
        retag["remove_tags"] = list[JsonValue](untags)
    return retag


def resume(
    run_id: RunId,
    max_steps: Annotated[
        int | None,
        typer.Option(
            "--max-steps", min=1, help="Train up to this step (needed to extend a completed run)."
        ),
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Follow it until it ends.")] = False,
    follow: Follow = False,
    json_out: JsonFlag = False,
) -> None:
    """Go on with a cancelled or failed run from its last checkpoint, or train a completed
    one further (--max-steps), under the same id."""
    body: JsonObject = {} if max_steps is None else {"max_steps": max_steps}
    with SESSION.client() as client:
        with named_fields(flag_names(RESUME_FLAGS, body)):
            answer = client.call("POST", f"/runs/{run_id}/resume", body)
        if not (wait or follow):
            if json_out:
                print_json(answer)
            else:
                status = answer.parse(QueuedView).status
                SESSION.out.print(
                    f"{run_id} {status} again  (follow it: model-trainer runs logs -f {run_id})"
                )
            return
        SESSION.err.print(f"{run_id} queued again", highlight=False)
        console = SESSION.err if json_out else SESSION.out
        watch_to_end(
            RunWatch(client, run_id, console, every_line=False), json_out, run_hints(run_id)
        )


def confirmed(question: str, yes: bool) -> None:
    """Go on when `--yes` was given or the person at the terminal says so; without a
    terminal to ask at, refuse (a script says `--yes`)."""
    if yes:
        return
    if not os.isatty(0):
        fail(f"{question} Not asked without a terminal: add --yes", "CONFIRMATION_NEEDED")
    said = SESSION.err.input(f"{question} [y/N] ", markup=False)
    if said.strip().lower() not in ("y", "yes"):
        SESSION.err.print("nothing deleted")  # the person said no: not a failure
        raise typer.Exit(Exit.OK)


def delete(run_id: RunId, yes: Yes = False) -> None:
    """Delete a run that is not queued or running: its files, checkpoints and state."""
    with SESSION.client() as client:
        if not yes:
            run = client.get(RunView, f"/runs/{run_id}")
            named = f" ({run.name})" if run.name else ""
            confirmed(
                f"Delete {run_id}{named}, {run.status}, with all its files and checkpoints?",
                yes,
            )
        client.call("DELETE", f"/runs/{run_id}")
    SESSION.out.print(f"{run_id} deleted")


def delete_tokenizer(tokenizer_id: TokenizerId, yes: Yes = False) -> None:
    """Delete a finished tokenizer that no run uses."""
    confirmed(f"Delete {tokenizer_id} and its files?", yes)
    with SESSION.client() as client:
        client.call("DELETE", f"/tokenizers/{tokenizer_id}")
    SESSION.out.print(f"{tokenizer_id} deleted")
