"""`model-trainer runs ...`: train, watch, inspect, evaluate, sample and fetch runs."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.text import Text

from model_trainer.cli.config_file import ConfigFileError, build_named, given
from model_trainer.cli.downloads import download_artifact
from model_trainer.cli.fields import FieldNames, Flags, flag_names, named_fields
from model_trainer.cli.manage import run_hints
from model_trainer.cli.options import ConfigPath, Follow, JsonFlag, RunId, Sets
from model_trainer.cli.progress import parse_log_line
from model_trainer.cli.run_report import regression_words
from model_trainer.cli.session import SESSION, Exit, fail, print_json, read_stdin
from model_trainer.cli.streaming import stream_generation
from model_trainer.cli.tables import Col, Grid, Kind, facts, status_text, table
from model_trainer.cli.watch import RunWatch, exit_status, watch_to_end
from model_trainer.client.api import ApiClient
from model_trainer.client.follow import follow_events
from model_trainer.client.text import (
    compact,
    duration,
    figure,
    integer,
    moment,
    percent,
    queue_words,
)
from model_trainer.client.text import size as byte_size
from model_trainer.client.views import (
    EstimateView,
    EvalView,
    GenerateView,
    LogsView,
    QueuedView,
    RunsView,
    RunView,
)
from model_trainer.core.job_status import TERMINAL, JobStatus
from model_trainer.core.json_types import JsonObject, JsonValue

EVAL_WAIT_S = 3600.0
"""`evaluate --wait` gives up after this long (the evaluation itself goes on)."""
EVAL_POLL_S = 0.5
"""How often `evaluate --wait` asks how the evaluation is doing."""


TokenizerOpt = Annotated[str | None, typer.Option("--tokenizer", "-t", help="data.tokenizer_id")]
CorpusOpt = Annotated[str | None, typer.Option("--corpus", help="data.corpus_path")]
FamilyOpt = Annotated[str | None, typer.Option(help="model.family (a model plugin)")]
SizeOpt = Annotated[str | None, typer.Option(help="model.size, e.g. nano, tiny, small")]
MaxStepsOpt = Annotated[int | None, typer.Option(help="trainer.max_steps")]
NameOpt = Annotated[str | None, typer.Option("--name", help="A name for the run.")]
NotesOpt = Annotated[str | None, typer.Option("--notes", help="Notes on the run.")]
TagOpt = Annotated[list[str] | None, typer.Option("--tag", help="A tag (repeatable).")]
BaselineOpt = Annotated[
    str | None,
    typer.Option("--baseline", help="A run whose evaluation this run's is compared with."),
]

RUN_FLAGS: Flags = {
    "data.tokenizer_id": ("-t", "--tokenizer"),
    "data.corpus_path": ("--corpus",),
    "model.family": ("--family",),
    "model.size": ("--size",),
    "trainer.max_steps": ("--max-steps",),
    "name": ("--name",),
    "notes": ("--notes",),
    "tags": ("--tag",),
    "baseline_run_id": ("--baseline",),
}
"""`runs train` and `runs estimate`: each flag's field in the request body."""
LIST_FLAGS: Flags = {
    "status": ("--status",),
    "tag": ("--tag",),
    "family": ("--family",),
    "q": ("-q", "--search"),
    "sort": ("--sort",),
    "limit": ("--limit",),
}
EVAL_FLAGS: Flags = {"split": ("--split",), "corpus_path": ("--corpus",)}


def run_body(
    config: Path | None,
    sets: list[str] | None,
    fields: JsonObject,
) -> tuple[JsonObject, FieldNames]:
    """The body of `POST /runs/train` (and `/runs/estimate`): the --config file, then the
    flags (`fields`, by field path), then each --set; and how the user named each field."""
    try:
        return build_named(config, sets or [], fields, RUN_FLAGS)
    except ConfigFileError as exc:
        fail(str(exc), "CONFIG_FILE")


def model_fields(
    tokenizer: str | None,
    corpus: str | None,
    family: str | None,
    size: str | None,
    max_steps: int | None,
) -> JsonObject:
    return given(
        ("data.tokenizer_id", tokenizer),
        ("data.corpus_path", corpus),
        ("model.family", family),
        ("model.size", size),
        ("trainer.max_steps", max_steps),
    )


def label_fields(
    name: str | None, notes: str | None, tags: list[str] | None, baseline: str | None
) -> JsonObject:
    listed: list[JsonValue] | None = list(tags) if tags else None
    return given(("name", name), ("notes", notes), ("tags", listed), ("baseline_run_id", baseline))


def train(
    config: ConfigPath = None,
    sets: Sets = None,
    tokenizer: TokenizerOpt = None,
    corpus: CorpusOpt = None,
    family: FamilyOpt = None,
    size: SizeOpt = None,
    max_steps: MaxStepsOpt = None,
    name: NameOpt = None,
    notes: NotesOpt = None,
    tags: TagOpt = None,
    baseline: BaselineOpt = None,
    follow: Follow = False,
    json_out: JsonFlag = False,
) -> None:
    """Start a training run (the body is the API's: --config file, flags, then --set)."""
    fields = model_fields(tokenizer, corpus, family, size, max_steps) | label_fields(
        name, notes, tags, baseline
    )
    body, names = run_body(config, sets, fields)
    with SESSION.client() as client:
        with named_fields(names):
            answer = client.call("POST", "/runs/train", body)
        run_id = answer.parse(QueuedView).run_id or ""
        if not follow:
            if json_out:
                print_json(answer)
            else:
                SESSION.out.print(
                    f"{run_id} queued  (follow it: model-trainer runs logs -f {run_id})"
                )
            return
        SESSION.err.print(f"{run_id} queued", highlight=False)
        _watch(client, run_id, every_line=False, json_out=json_out)


def estimate(
    config: ConfigPath = None,
    sets: Sets = None,
    tokenizer: TokenizerOpt = None,
    corpus: CorpusOpt = None,
    family: FamilyOpt = None,
    size: SizeOpt = None,
    max_steps: MaxStepsOpt = None,
    name: NameOpt = None,
    notes: NotesOpt = None,
    tags: TagOpt = None,
    baseline: BaselineOpt = None,
    json_out: JsonFlag = False,
) -> None:
    """What `runs train` with the same options would make and need, and whether a live
    worker can take it; nothing is queued."""
    fields = model_fields(tokenizer, corpus, family, size, max_steps) | label_fields(
        name, notes, tags, baseline
    )
    body, names = run_body(config, sets, fields)
    with SESSION.client() as client, named_fields(names):
        answer = client.call("POST", "/runs/estimate", body)
    if json_out:
        print_json(answer)
        return
    e = answer.parse(EstimateView)
    a, m, b = e.architecture, e.memory, e.budget
    on = f"{b.device} of {b.worker}" if b.worker else f"{b.device} of this machine"
    share = f"{percent(b.memory_fraction, 0)} of {byte_size(b.device_memory_bytes)}"
    rows: list[tuple[str, str | Text]] = [
        ("model", f"{e.family}, {a.n_layer} layers, {a.n_head} heads, {a.n_embd} wide"),
        ("context", f"{integer(a.max_seq_len)} tokens, vocabulary {integer(a.vocab_size)}"),
        ("parameters", f"{compact(e.parameters)} ({integer(e.parameters)})"),
        ("FLOPs/token", compact(e.flops_per_token)),
        ("tokens/step", integer(e.tokens_per_step)),
        (
            "memory",
            f"{byte_size(m.total_bytes)} (state {byte_size(m.state_bytes)}, activations "
            f"{byte_size(m.activation_bytes)}, process {byte_size(m.overhead_bytes)})",
        ),
        ("budget", f"{byte_size(b.budget_bytes)} ({share}, {on})"),
        ("fits", Text("yes", style="green") if e.fits else Text(f"no: {e.code}", style="red")),
    ]
    if e.reason:
        rows.append(("why", Text(e.reason)))
    SESSION.out.print(facts(rows))


def _watch(client: ApiClient, run_id: str, every_line: bool, json_out: bool) -> NoReturn:
    console = SESSION.err if json_out else SESSION.out
    watch = RunWatch(client, run_id, console, every_line)
    watch_to_end(watch, json_out, run_hints(run_id))


SortOpt = Annotated[
    str, typer.Option("--sort", help="newest, oldest, name or final_loss (lowest first).")
]


def list_runs(
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many at most.")] = 20,
    status: Annotated[
        str | None, typer.Option("--status", help="queued, running, completed, failed, ...")
    ] = None,
    tag: Annotated[str | None, typer.Option("--tag", help="Runs with this tag.")] = None,
    family: Annotated[str | None, typer.Option("--family", help="gpt2, llama, ...")] = None,
    search: Annotated[
        str | None, typer.Option("--search", "-q", help="Text in the run's name or id.")
    ] = None,
    sort: SortOpt = "newest",
    json_out: JsonFlag = False,
) -> None:
    """Runs, newest first unless --sort says else; the filters combine."""
    filters = (("status", status), ("tag", tag), ("family", family), ("q", search))
    params: dict[str, str | int] = {"limit": limit, "sort": sort}
    params |= {key: value for key, value in filters if value is not None}
    with SESSION.client() as client, named_fields(flag_names(LIST_FLAGS, dict(params))):
        answer = client.call("GET", "/runs", params=params)
    if json_out:
        print_json(answer)
        return
    runs = answer.parse(RunsView)
    if not runs.data:
        SESSION.out.print(Text("no runs" + (" match" if len(params) > 2 else ""), style="dim"))
        return
    SESSION.out.print(runs_table(runs))


def runs_table(runs: RunsView) -> Grid:
    grid = table(
        Col("run", Kind.ID),
        Col("name", keep=9, least=12),
        Col("status", keep=8),
        Col("family", keep=3),
        Col("params", Kind.NUMBER, keep=2),
        Col("step", Kind.NUMBER, keep=6),
        Col("loss", Kind.NUMBER, keep=4),
        Col("val loss", Kind.NUMBER, keep=5),
        Col("created", keep=1),
    )
    for run in runs.data:
        p = run.progress
        grid.add_row(
            run.run_id,
            Text(run.name or ""),
            status_text(str(run.status)),
            run.family,
            compact(run.parameters),
            f"{integer(p.step)}/{integer(p.max_steps)}",
            figure(p.train_loss),
            figure(p.val_loss),
            moment(run.created_at),
        )
    return grid


def logs(
    run_id: RunId,
    follow: Follow = False,
    tail: Annotated[int, typer.Option(min=1, max=10_000, help="Lines to show.")] = 100,
    json_out: Annotated[
        bool, typer.Option("--json", help="The log's JSON lines as written.")
    ] = False,
) -> None:
    """The run's log; with -f, every line as it is written, with a progress bar."""
    if follow:
        if json_out:
            _stream_raw(run_id)
        with SESSION.client() as client:
            _watch(client, run_id, every_line=True, json_out=False)
    with SESSION.client() as client:
        answer = client.call("GET", f"/runs/{run_id}/logs", params={"tail": tail})
    for line in answer.parse(LogsView).lines:
        SESSION.out.print(line if json_out else parse_log_line(line).text(), soft_wrap=True)


def _stream_raw(run_id: str) -> None:
    """`logs -f --json`: the lines as written, for a pipe, until the run ends."""
    with SESSION.client() as client:
        state: list[RunView] = []

        def finished() -> bool:
            state[:] = [client.get(RunView, f"/runs/{run_id}")]
            return state[0].finished

        try:
            for event in follow_events(
                client, f"/runs/{run_id}/logs/stream", finished, lambda _: None
            ):
                SESSION.out.print(event.data, soft_wrap=True, markup=False, highlight=False)
        except KeyboardInterrupt:
            raise typer.Exit(Exit.INTERRUPTED) from None
    raise typer.Exit(exit_status(state[0].status) if state else Exit.OK)


def cancel(run_id: RunId, json_out: JsonFlag = False) -> None:
    """Stop a run: a queued one ends at once, a training one at its next step (saved)."""
    with SESSION.client() as client:
        answer = client.call("POST", f"/runs/{run_id}/cancel")
    if json_out:
        print_json(answer)
        return
    run = answer.parse(RunView)
    SESSION.out.print(Text(f"{run.run_id} {run.status}: {run.message or 'cancel requested'}"))


def evaluate(
    run_id: RunId,
    split: Annotated[str, typer.Option(help="train or val (the run's own data).")] = "val",
    corpus: Annotated[
        str | None, typer.Option("--corpus", help="Evaluate on another corpus instead.")
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the result.")] = False,
    json_out: JsonFlag = False,
) -> None:
    """Queue an evaluation of a completed run (see it with `runs eval`)."""
    body: JsonObject = {"corpus_path": corpus} if corpus is not None else {"split": split}
    with SESSION.client() as client:
        with named_fields(flag_names(EVAL_FLAGS, body)):
            answer = client.call("POST", f"/runs/{run_id}/evaluate", body)
        if not wait:
            if json_out:
                print_json(answer)
            else:
                SESSION.out.print(
                    f"evaluation of {run_id} queued (model-trainer runs eval {run_id})"
                )
            return
        eval_id = answer.parse(QueuedView).eval_id
        _wait_for_eval(client, run_id, eval_id)
    show_eval(run_id, json_out)


def eval_doing(result: EvalView, run_id: str) -> str:
    """What an evaluation is doing, in words: its place in the queue while it waits."""
    if result.queue is not None:
        return f"evaluation of {run_id} queued: {queue_words(result.queue)}"
    if result.status is JobStatus.RUNNING:
        return f"evaluating {run_id}"
    return f"evaluation of {run_id} {result.status}"


def _wait_for_eval(client: ApiClient, run_id: str, eval_id: str | None) -> None:
    """Until the evaluation has ended, saying where it is (a queue place while it waits:
    it may wait behind a run for long); a failed one ends the command at once (status 3)."""
    deadline = time.monotonic() + EVAL_WAIT_S
    said = ""
    console = SESSION.err
    with console.status(f"evaluation of {run_id} queued") as status:
        while True:
            now = client.get(EvalView, f"/runs/{run_id}/eval")
            if now.eval_id == eval_id and now.status in TERMINAL:
                _eval_ended(now)
                return
            doing = eval_doing(now, run_id) if now.eval_id == eval_id else said
            if doing and doing != said:
                said = doing
                status.update(Text(doing))
                if not console.is_terminal:  # no spinner to read: a line per change
                    console.print(Text(doing), soft_wrap=True)
            if time.monotonic() > deadline:
                fail(f"no result after {duration(EVAL_WAIT_S)}; see the run's log", "TIMEOUT")
            time.sleep(EVAL_POLL_S)


def _eval_ended(result: EvalView) -> None:
    """Exit as a failed (3) or cancelled (4) run would; return when it completed."""
    if result.status is JobStatus.FAILED:
        error = result.error
        code, message = (error.code, error.message) if error else ("FAILED", result.message)
        fail(f"evaluation {result.eval_id} failed: {message}", code, Exit.JOB_FAILED)
    if result.status is JobStatus.CANCELLED:
        fail(f"evaluation {result.eval_id} was cancelled", "CANCELLED", Exit.JOB_CANCELLED)


def show_eval(run_id: RunId, json_out: JsonFlag = False) -> None:
    """The latest evaluation: loss, perplexity and samples (or how far it has got)."""
    with SESSION.client() as client:
        answer = client.call("GET", f"/runs/{run_id}/eval")
    if json_out:
        print_json(answer)
        return
    result = answer.parse(EvalView)
    _eval_ended(result)
    m = result.metrics
    if m is None:
        note = f": {result.message}" if result.message else ""
        SESSION.out.print(Text(f"evaluation {result.eval_id} of {run_id} {result.status}{note}"))
        return
    where = f"corpus {m.corpus_path}" if m.corpus_path else f"{m.split} split"
    bpb = f", {figure(m.bits_per_byte)} bits/byte" if m.bits_per_byte is not None else ""
    SESSION.out.print(
        Text(
            f"{run_id} on the {where}: loss {figure(m.loss)}, perplexity "
            f"{figure(m.perplexity)}{bpb}, {integer(m.tokens)} tokens"
        )
    )
    for r in m.regressions:
        SESSION.out.print(Text(f"regression: {regression_words(r)}", style="red"), soft_wrap=True)
    for sample in result.samples:
        SESSION.out.print(Text(f"\n{sample.prompt!r} (seed {sample.seed}):", style="bold"))
        SESSION.out.print(Text(sample.prompt + sample.completion), soft_wrap=True)


def generate(
    run_id: RunId,
    prompt: Annotated[str, typer.Argument(help="Text to continue ('-' reads stdin).")] = "",
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", "-n", min=1)] = 64,
    temperature: Annotated[float, typer.Option(min=0.0, max=10.0)] = 0.8,
    top_k: Annotated[int | None, typer.Option(min=1)] = 40,
    seed: Annotated[int, typer.Option(min=0)] = 0,
    no_stream: Annotated[
        bool, typer.Option("--no-stream", help="Print the text only once it is all made.")
    ] = False,
    json_out: JsonFlag = False,
) -> None:
    """Sample text from a completed run's model, printed as it is made."""
    if prompt == "-":
        prompt = read_stdin()
    body: JsonObject = {
        "prompt": prompt,
        "max_new_tokens": max_new_tokens,
        "temperature": temperature,
        "top_k": top_k,
        "seed": seed,
    }
    with SESSION.client() as client:
        if not (no_stream or json_out):  # --json prints the one answer, as it always has
            stream_generation(client, run_id, body, prompt)
            return
        answer = client.call("POST", f"/runs/{run_id}/generate", body)
    if json_out:
        print_json(answer)
        return
    result = answer.parse(GenerateView)
    text = Text(result.prompt, style="dim")
    text.append(result.text)
    SESSION.out.print(text, soft_wrap=True)


def download(
    run_id: RunId,
    path: Annotated[
        str | None, typer.Option("--path", "-p", help="One file or folder (default: all).")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Where to write it.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
) -> None:
    """Download a run's files (a tar of the folder, or one file with --path)."""
    download_artifact("models", run_id, path, output, force)
