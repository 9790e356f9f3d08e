"""`model-trainer corpus list` and `model-trainer backends`: what there is to train with."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from model_trainer.cli.options import JsonFlag
from model_trainer.cli.session import SESSION, print_json
from model_trainer.cli.tables import Col, Kind, table
from model_trainer.client.text import integer, size
from model_trainer.client.views import BackendsView, CorpusFolderView


def corpus_list(
    path: Annotated[str, typer.Argument(help="A folder under the corpus root.")] = "",
    json_out: JsonFlag = False,
) -> None:
    """Folders and corpus files of the corpus root, with what training on each would read."""
    with SESSION.client() as client:
        answer = client.call("GET", "/corpus", params={"path": path} if path else None)
    if json_out:
        print_json(answer)
        return
    folder = answer.parse(CorpusFolderView)
    grid = table(Col("corpus_path", keep=9), "kind", "format", "files", "size", "rows", "columns")
    for entry in folder.data:
        rows = integer(entry.rows) if entry.rows is not None else ""
        columns = Text(", ".join(entry.columns))  # names as written, never markup
        shown = (Text(entry.path), entry.kind, entry.format or "", integer(entry.files))
        grid.add_row(*shown, size(entry.bytes), rows, columns)
    SESSION.out.print(grid)
    where = folder.path or "the corpus root"
    SESSION.out.print(Text(f"{where}: {folder.files} files, {size(folder.bytes)}", style="dim"))


def backends(json_out: JsonFlag = False) -> None:
    """Installed tokenizer and model plugins, with their status."""
    with SESSION.client() as client:
        answer = client.call("GET", "/backends")
    if json_out:
        print_json(answer)
        return
    grid = table(
        "kind", Col("name", Kind.ID), Col("status", keep=8), "distribution", "version",
        Col("sizes / reason", keep=5),
    )  # fmt: skip
    for b in answer.parse(BackendsView).data:
        extra = b.reason or (", ".join(b.sizes) if b.sizes else "")
        if b.status == "ok" and not b.trains:
            extra = "registers tokenizers made elsewhere; does not train"
        status = Text(b.status, style="green" if b.status == "ok" else "red")
        grid.add_row(b.kind, b.name, status, b.distribution, b.version, Text(extra))
    SESSION.out.print(grid)
