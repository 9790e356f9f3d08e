"""`model-trainer runs ...`: train, watch, inspect, evaluate, sample and fetch runs."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.text import Text

from model_trainer.cli.config_file import ConfigFileError, build_body, given
from model_trainer.cli.downloads import download_artifact
from model_trainer.cli.options import ConfigPath, Follow, JsonFlag, RunId, RunIds, Sets
from model_trainer.cli.progress import parse_log_line
from model_trainer.cli.session import SESSION, Exit, fail, print_json, read_stdin
from model_trainer.cli.tables import ago, count, facts, num, status_text, table
from model_trainer.cli.watch import RunWatch, exit_status, watch_to_end
from model_trainer.client.api import ApiClient
from model_trainer.client.follow import follow_events
from model_trainer.client.views import (
    EstimateView,
    EvalView,
    FinetuneView,
    GenerateView,
    LogsView,
    QueuedView,
    RunsView,
    RunView,
)
from model_trainer.core.job_status import TERMINAL, JobStatus
from model_trainer.core.json_types import JsonObject

EVAL_WAIT_S = 3600.0
"""`evaluate --wait` gives up after this long (the evaluation itself goes on)."""
EVAL_POLL_S = 0.5
"""How often `evaluate --wait` asks how the evaluation is doing."""


TokenizerOpt = Annotated[str | None, typer.Option("--tokenizer", "-t", help="data.tokenizer_id")]
CorpusOpt = Annotated[str | None, typer.Option("--corpus", help="data.corpus_path")]
FamilyOpt = Annotated[str | None, typer.Option(help="model.family (a model plugin)")]
SizeOpt = Annotated[str | None, typer.Option(help="model.size, e.g. nano, tiny, small")]
MaxStepsOpt = Annotated[int | None, typer.Option(help="trainer.max_steps")]


def run_body(
    config: Path | None,
    sets: list[str] | None,
    tokenizer: str | None,
    corpus: str | None,
    family: str | None,
    size: str | None,
    max_steps: int | None,
) -> JsonObject:
    """The body of `POST /runs/train` (and `/runs/estimate`): the --config file, then the
    flags, then each --set."""
    flags = given(
        ("data.tokenizer_id", tokenizer),
        ("data.corpus_path", corpus),
        ("model.family", family),
        ("model.size", size),
        ("trainer.max_steps", max_steps),
    )
    try:
        return build_body(config, sets or [], flags)
    except ConfigFileError as exc:
        fail(str(exc), "CONFIG_FILE")


def train(
    config: ConfigPath = None,
    sets: Sets = None,
    tokenizer: TokenizerOpt = None,
    corpus: CorpusOpt = None,
    family: FamilyOpt = None,
    size: SizeOpt = None,
    max_steps: MaxStepsOpt = None,
    follow: Follow = False,
    json_out: JsonFlag = False,
) -> None:
    """Start a training run (the body is the API's: --config file, flags, then --set)."""
    body = run_body(config, sets, tokenizer, corpus, family, size, max_steps)
    with SESSION.client() as client:
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
    json_out: JsonFlag = False,
) -> None:
    """What `runs train` with the same options would make and need, and whether a live
    worker can take it; nothing is queued."""
    body = run_body(config, sets, tokenizer, corpus, family, size, max_steps)
    with SESSION.client() as client:
        answer = client.call("POST", "/runs/estimate", body)
    if json_out:
        print_json(answer)
        return
    e = answer.parse(EstimateView)
    a, m, b = e.architecture, e.memory, e.budget
    on = f"{b.device} of {b.worker}" if b.worker else f"{b.device} of this machine"
    share = f"{b.memory_fraction:.0%} of {gib(b.device_memory_bytes)}"
    rows: list[tuple[str, str | Text]] = [
        ("model", f"{e.family}, {a.n_layer} layers, {a.n_head} heads, {a.n_embd} wide"),
        ("context", f"{a.max_seq_len} tokens, vocabulary {a.vocab_size:,}"),
        ("parameters", f"{count(e.parameters)} ({e.parameters:,})"),
        ("FLOPs/token", count(e.flops_per_token)),
        ("tokens/step", f"{e.tokens_per_step:,}"),
        (
            "memory",
            f"{gib(m.total_bytes)} (state {gib(m.state_bytes)}, activations "
            f"{gib(m.activation_bytes)}, process {gib(m.overhead_bytes)})",
        ),
        (
            "budget",
            f"{gib(b.budget_bytes)} ({share}, {on})",
        ),
        ("fits", Text("yes", style="green") if e.fits else Text(f"no: {e.code}", style="red")),
    ]
    if e.reason:
        rows.append(("why", Text(e.reason)))
    SESSION.out.print(facts(rows))


def gib(n: int) -> str:
    return f"{n / 1024**3:.2f} GiB"


def _watch(client: ApiClient, run_id: str, every_line: bool, json_out: bool) -> NoReturn:
    console = SESSION.err if json_out else SESSION.out
    watch = RunWatch(client, run_id, console, every_line)
    watch_to_end(watch, json_out, f" (model-trainer runs cancel {run_id})")


def list_runs(
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many, newest first.")] = 20,
    json_out: JsonFlag = False,
) -> None:
    """Recent runs, newest first."""
    with SESSION.client() as client:
        answer = client.call("GET", "/runs", params={"limit": limit})
    if json_out:
        print_json(answer)
        return
    grid = table(
        "run", "status", "family", "params", "step", "steps", "loss", "val loss", "created"
    )
    for run in answer.parse(RunsView).data:
        p = run.progress
        grid.add_row(
            run.run_id,
            status_text(str(run.status)),
            run.family,
            count(run.parameters),
            str(p.step),
            str(p.max_steps),
            num(p.train_loss),
            num(p.val_loss),
            ago(run.created_at),
        )
    SESSION.out.print(grid)


def show(run_id: RunId, json_out: JsonFlag = False) -> None:
    """One run: status, progress, losses, ETA and files."""
    with SESSION.client() as client:
        answer = client.call("GET", f"/runs/{run_id}")
    if json_out:
        print_json(answer)
        return
    run = answer.parse(RunView)
    p, m = run.progress, run.metrics
    rows: list[tuple[str, str | Text]] = [
        ("run", run.run_id),
        ("status", Text(str(run.status))),
        ("message", Text(run.message or "-")),
        ("model", f"{run.family}, {count(run.parameters)} parameters"),
        ("tokenizer", f"{run.tokenizer.tokenizer_id} ({run.tokenizer.method})"),
        ("step", f"{p.step} / {p.max_steps}"),
        ("train loss", num(p.train_loss)),
        ("val loss", num(p.val_loss)),
        ("best val loss", f"{num(m.best_val_loss)} at step {m.best_step}" if m.best_step else "-"),
        ("tokens/s", count(p.tokens_per_s or m.tokens_per_s)),
        ("MFU", f"{p.mfu:.2%}" if p.mfu is not None else "-"),
        ("ETA", f"{p.eta_s:.0f} s" if p.eta_s is not None and not run.finished else "-"),
        ("created", ago(run.created_at)),
        ("files", ", ".join(run.artifacts) or "-"),
    ]
    if run.error_code:
        rows.insert(3, ("error", run.error_code))
    if run.eval is not None:
        rows.append(("evaluation", f"{run.eval.split}: loss {run.eval.loss:.4f}"))
    if run.finetune is not None:
        rows[4:4] = finetune_rows(run.finetune, run.parameters)
    SESSION.out.print(facts(rows))


def finetune_rows(ft: FinetuneView, parameters: int) -> list[tuple[str, str | Text]]:
    """Where a fine-tuning run's weights came from, and what of them trains."""
    origin = ft.origin
    source = f"run {origin.run_id}" if origin.run_id else f"models/{origin.path}"
    sha = f", sha256 {origin.weights_sha256[:12]}" if origin.weights_sha256 else ""
    trains = f"{ft.method}, {count(ft.trainable_parameters)} parameters"
    if ft.lora is not None:
        lora = ft.lora
        share = ft.trainable_parameters / parameters if parameters else 0.0
        trains += (
            f" ({share:.2%}; rank {lora.rank}, alpha {lora.alpha}, "
            f"{', '.join(lora.target_modules)})"
        )
    return [("from", f"{source} ({origin.model_type}{sha})"), ("trains", trains)]


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
        with SESSION.err.status(f"evaluating {run_id}"):
            _wait_for_eval(client, run_id, eval_id)
    show_eval(run_id, json_out)


def _wait_for_eval(client: ApiClient, run_id: str, eval_id: str | None) -> None:
    """Until the evaluation has ended; a failed one ends the command at once (status 3)."""
    deadline = time.monotonic() + EVAL_WAIT_S
    while True:
        now = client.get(EvalView, f"/runs/{run_id}/eval")
        if now.eval_id == eval_id and now.status in TERMINAL:
            _eval_ended(now)
            return
        if time.monotonic() > deadline:
            fail(f"no result after {EVAL_WAIT_S:.0f} s; see the run's log", "TIMEOUT")
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
    SESSION.out.print(
        f"{run_id} on the {where}: loss {m.loss:.4f}, perplexity {m.perplexity:.2f}, "
        f"{m.tokens:,} tokens"
    )
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
    json_out: JsonFlag = False,
) -> None:
    """Sample text from a completed run's model."""
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


def compare(
    run_ids: RunIds,
    json_out: JsonFlag = False,
) -> None:
    """Runs side by side: model, steps, losses, speed, time."""
    with SESSION.client() as client:
        answers = [client.call("GET", f"/runs/{run_id}") for run_id in run_ids]
    if json_out:
        print_json(*answers)
        return
    runs = [a.parse(RunView) for a in answers]
    grid = table("", *(r.run_id for r in runs))
    rows: list[tuple[str, list[str]]] = [
        ("status", [str(r.status) for r in runs]),
        ("family", [r.family for r in runs]),
        ("params", [count(r.parameters) for r in runs]),
        ("tokenizer", [r.tokenizer.tokenizer_id for r in runs]),
        ("steps", [f"{r.progress.step}/{r.progress.max_steps}" for r in runs]),
        ("final train loss", [num(r.metrics.final_train_loss) for r in runs]),
        ("final val loss", [num(r.metrics.final_val_loss) for r in runs]),
        ("best val loss", [num(r.metrics.best_val_loss) for r in runs]),
        ("perplexity", [num(r.metrics.final_val_perplexity, 2) for r in runs]),
        ("tokens/s", [count(r.metrics.tokens_per_s) for r in runs]),
        ("time", [f"{r.durations.total_s:.0f} s" for r in runs]),
    ]
    for name, values in rows:
        grid.add_row(Text(name, style="bold"), *values)
    SESSION.out.print(grid)
