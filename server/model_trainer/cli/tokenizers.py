"""`model-trainer tokenizers ...`: train, list, inspect, try and fetch tokenizers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from model_trainer.cli.config_file import ConfigFileError, build_named, given
from model_trainer.cli.downloads import download_artifact
from model_trainer.cli.fields import Flags, flag_names, named_fields
from model_trainer.cli.options import ConfigPath, Follow, JsonFlag, Sets, TokenizerId
from model_trainer.cli.session import SESSION, fail, print_json, read_stdin
from model_trainer.cli.tables import Col, Grid, Kind, facts, status_text, table
from model_trainer.cli.watch import TokenizerWatch, watch_to_end
from model_trainer.client.text import NONE, figure, integer, moment, percent, queue_words
from model_trainer.client.views import EncodeView, QueuedView, TokenizersView, TokenizerView

TOKENIZER_FLAGS: Flags = {
    "corpus_path": ("--corpus",),
    "method": ("--method",),
    "vocab_size": ("--vocab-size",),
    "min_frequency": ("--min-frequency",),
    "holdout_fraction": ("--holdout-fraction",),
    "seed": ("--seed",),
}
LIST_FLAGS: Flags = {
    "status": ("--status",),
    "tag": ("--tag",),
    "method": ("--method",),
    "q": ("-q", "--q", "--search"),
    "limit": ("--limit",),
}


def train(
    corpus: Annotated[
        str | None, typer.Option("--corpus", help="A file or folder under the corpus root.")
    ] = None,
    method: Annotated[str | None, typer.Option(help="bpe, sentencepiece, char, ...")] = None,
    vocab_size: Annotated[int | None, typer.Option("--vocab-size", min=2)] = None,
    min_frequency: Annotated[int | None, typer.Option("--min-frequency", min=1)] = None,
    holdout_fraction: Annotated[float | None, typer.Option("--holdout-fraction")] = None,
    seed: Annotated[int | None, typer.Option(min=0)] = None,
    config: ConfigPath = None,
    sets: Sets = None,
    follow: Follow = False,
    json_out: JsonFlag = False,
) -> None:
    """Train a tokenizer (method bpe and vocab 8000 unless the file or flags say else)."""
    flags = given(
        ("corpus_path", corpus),
        ("method", method),
        ("vocab_size", vocab_size),
        ("min_frequency", min_frequency),
        ("holdout_fraction", holdout_fraction),
        ("seed", seed),
    )
    try:
        body, names = build_named(config, sets or [], flags, TOKENIZER_FLAGS)
    except ConfigFileError as exc:
        fail(str(exc), "CONFIG_FILE")
    body.setdefault("method", "bpe")
    body.setdefault("vocab_size", 8000)
    with SESSION.client() as client:
        with named_fields(names):
            answer = client.call("POST", "/tokenizers/train", body)
        tokenizer_id = answer.parse(QueuedView).tokenizer_id or ""
        if not follow:
            if json_out:
                print_json(answer)
            else:
                SESSION.out.print(f"{tokenizer_id} queued")
            return
        SESSION.err.print(f"{tokenizer_id} queued")
        console = SESSION.err if json_out else SESSION.out
        watch = TokenizerWatch(client, tokenizer_id, console, every_line=False)
        hint = f" (see it: model-trainer tokenizers show {tokenizer_id})"
        watch_to_end(watch, json_out, hint)


def list_tokenizers(
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many, newest first.")] = 20,
    status: Annotated[
        str | None, typer.Option("--status", help="queued, running, completed, failed, ...")
    ] = None,
    tag: Annotated[str | None, typer.Option("--tag", help="Tokenizers with this tag.")] = None,
    method: Annotated[
        str | None, typer.Option("--method", help="bpe, sentencepiece, char, hf, ...")
    ] = None,
    search: Annotated[
        str | None,
        typer.Option("--search", "--q", "-q", help="Text in the tokenizer's name or id."),
    ] = None,
    json_out: JsonFlag = False,
) -> None:
    """Recent tokenizers, newest first; the filters combine."""
    filters = (("status", status), ("tag", tag), ("method", method), ("q", search))
    params: dict[str, str | int] = {"limit": limit}
    params |= {key: value for key, value in filters if value is not None}
    with SESSION.client() as client, named_fields(flag_names(LIST_FLAGS, dict(params))):
        answer = client.call("GET", "/tokenizers", params=params)
    if json_out:
        print_json(answer)
        return
    tokenizers = answer.parse(TokenizersView).data
    if not tokenizers:
        SESSION.out.print(
            Text("no tokenizers" + (" match" if len(params) > 1 else ""), style="dim")
        )
        return
    SESSION.out.print(tokenizers_table(tokenizers))


def tokenizers_table(tokenizers: list[TokenizerView]) -> Grid:
    grid = table(
        Col("tokenizer", Kind.ID),
        Col("name", keep=9, least=12),
        Col("status", keep=8),
        Col("method", keep=7),
        Col("vocab size", Kind.NUMBER, keep=6),
        Col("tokens/char", Kind.NUMBER, keep=4),
        Col("corpus", keep=5),
        Col("created", keep=1),
    )
    for tok in tokenizers:
        corpus = tok.config.get("corpus_path")
        vocab = tok.stats.vocab_size if tok.stats else tok.config.get("vocab_size")
        grid.add_row(
            tok.tokenizer_id,
            Text(tok.name or ""),
            status_text(str(tok.status)),
            tok.method,
            integer(vocab) if isinstance(vocab, int) else NONE,
            figure(tok.stats.tokens_per_char if tok.stats else None),
            Text(corpus if isinstance(corpus, str) else NONE),
            moment(tok.created_at),
        )
    return grid


def show(tokenizer_id: TokenizerId, json_out: JsonFlag = False) -> None:
    """One tokenizer: status, holdout stats, files."""
    with SESSION.client() as client:
        answer = client.call("GET", f"/tokenizers/{tokenizer_id}")
    if json_out:
        print_json(answer)
        return
    tok = answer.parse(TokenizerView)
    st = tok.stats
    rows: list[tuple[str, str | Text]] = [
        ("tokenizer", tok.tokenizer_id),
        ("status", status_text(str(tok.status))),
        ("message", Text(tok.message or NONE)),
        ("method", tok.method),
        ("corpus", Text(str(tok.config.get("corpus_path", NONE)))),
        ("vocab size", integer(st.vocab_size) if st else NONE),
        ("tokens/char", figure(st.tokens_per_char) if st else NONE),
        ("tokens/word", figure(st.tokens_per_word) if st else NONE),
        ("unknown rate", percent(st.unknown_token_rate) if st else NONE),
        ("created", moment(tok.created_at)),
        ("files", Text(", ".join(tok.files) or NONE)),
    ]
    if tok.queue is not None:
        rows.insert(2, ("queue", Text(queue_words(tok.queue))))
    if tok.error_code:
        rows.insert(3, ("error", tok.error_code))
    SESSION.out.print(facts(rows))


def encode(
    tokenizer_id: TokenizerId,
    text: Annotated[str, typer.Argument(help="Text to encode ('-' reads stdin).")],
    json_out: JsonFlag = False,
) -> None:
    """Encode text with a completed tokenizer: ids and the token strings."""
    if text == "-":
        text = read_stdin()
    with SESSION.client() as client:
        answer = client.call("POST", f"/tokenizers/{tokenizer_id}/encode", {"text": text})
    if json_out:
        print_json(answer)
        return
    result = answer.parse(EncodeView)
    line = Text()
    for i, token in enumerate(result.tokens):
        line.append(token, style="on grey23" if i % 2 else "on grey35")
    SESSION.out.print(line, soft_wrap=True)
    SESSION.out.print(f"{integer(len(result.ids))} tokens: {result.ids}", soft_wrap=True)


def download(
    tokenizer_id: TokenizerId,
    path: Annotated[str | None, typer.Option("--path", "-p", help="One file.")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
) -> None:
    """Download a tokenizer's files (a tar, or one file with --path)."""
    download_artifact("tokenizers", tokenizer_id, path, output, force)
