"""`runs show` and `runs compare`: one run's facts, and runs side by side."""

from __future__ import annotations

import json
import string

from rich.text import Text

from model_trainer.cli.options import JsonFlag, RunId, RunIds
from model_trainer.cli.session import SESSION, print_json
from model_trainer.cli.tables import Col, Grid, Kind, facts, status_text, table
from model_trainer.client.text import (
    NONE,
    compact,
    duration,
    figure,
    integer,
    moment,
    percent,
    queue_words,
)
from model_trainer.client.views import EvalSummaryView, FinetuneView, RegressionView, RunView
from model_trainer.core.json_types import JsonValue

Row = tuple[str, str | Text]
BETTER_MARK = " *"
LABELS = ("name", "notes", "tags")


def show(run_id: RunId, json_out: JsonFlag = False) -> None:
    """One run: labels, status, queue place, progress, losses, ETA, evaluation and files."""
    with SESSION.client() as client:
        answer = client.call("GET", f"/runs/{run_id}")
    if json_out:
        print_json(answer)
        return
    SESSION.out.print(facts(run_rows(answer.parse(RunView))))


def _label_rows(run: RunView) -> list[Row]:
    rows: list[Row] = [("run", run.run_id)]
    if run.name:
        rows.append(("name", Text(run.name)))
    if run.tags:
        rows.append(("tags", Text(", ".join(run.tags))))
    if run.notes:
        rows.append(("notes", Text(run.notes)))
    return rows


def _status_rows(run: RunView) -> list[Row]:
    rows: list[Row] = [("status", status_text(str(run.status)))]
    if run.queue is not None:
        rows.append(("queue", Text(queue_words(run.queue))))
    phase = run.progress.phase
    if not run.finished and phase and run.queue is None:
        rows.append(("phase", phase))
    rows.append(("message", Text(run.message or NONE)))
    if run.error_code:
        rows.append(("error", run.error_code))
    return rows


def run_rows(run: RunView) -> list[Row]:
    p, m = run.progress, run.metrics
    best = f"{figure(m.best_val_loss)} at step {integer(m.best_step)}" if m.best_step else NONE
    counting = not run.finished and p.phase != "finalising"
    rows = [
        *_label_rows(run),
        *_status_rows(run),
        ("model", f"{run.family}, {compact(run.parameters)} parameters"),
        ("tokenizer", f"{run.tokenizer.tokenizer_id} ({run.tokenizer.method})"),
        ("step", f"{integer(p.step)} / {integer(p.max_steps)}"),
        ("train loss", figure(p.train_loss)),
        ("val loss", figure(p.val_loss)),
        ("best val loss", best),
        ("bits per byte", figure(m.final_val_bits_per_byte)),
        ("tokens/s", integer(p.tokens_per_s or m.tokens_per_s)),
        ("MFU", percent(p.mfu)),
        ("ETA", duration(p.eta_s) if counting else NONE),
        ("created", moment(run.created_at)),
        ("files", Text(", ".join(run.artifacts) or NONE)),
    ]
    if run.finetune is not None:
        at = next(i for i, row in enumerate(rows) if row[0] == "model") + 1
        rows[at:at] = finetune_rows(run.finetune, run.parameters)
    if run.stopped_early is not None:
        se = run.stopped_early
        rows.append(
            (
                "stopped early",
                f"at step {integer(se.at_step)}: no better val loss in {se.patience} "
                f"evaluations (best {figure(se.best_val_loss)} at step {integer(se.best_step)})",
            )
        )
    rows.extend(("regression", Text(regression_words(r), style="red")) for r in m.regressions)
    if run.eval is not None:
        rows += eval_rows(run.eval)
    return rows


def eval_rows(ev: EvalSummaryView) -> list[Row]:
    where = f"corpus {ev.corpus_path}" if ev.corpus_path else f"{ev.split} split"
    bpb = f", {figure(ev.bits_per_byte)} bits/byte" if ev.bits_per_byte is not None else ""
    line = f"{where}: loss {figure(ev.loss)}, perplexity {figure(ev.perplexity)}{bpb}"
    rows: list[Row] = [("evaluation", Text(line))]
    rows.extend(("regression", Text(regression_words(r), style="red")) for r in ev.regressions)
    return rows


def regression_words(r: RegressionView) -> str:
    return f"{r.figure} {figure(r.value)}, worse than {figure(r.baseline)} of {r.baseline_run_id}"


def finetune_rows(ft: FinetuneView, parameters: int) -> list[Row]:
    """Where a fine-tuning run's weights came from, and what of them trains."""
    origin = ft.origin
    source = f"run {origin.run_id}" if origin.run_id else f"models/{origin.path}"
    sha = f", sha256 {origin.weights_sha256[:12]}" if origin.weights_sha256 else ""
    trains = f"{ft.method}, {compact(ft.trainable_parameters)} parameters"
    if ft.lora is not None:
        lora = ft.lora
        share = ft.trainable_parameters / parameters if parameters else 0.0
        trains += (
            f" ({percent(share)}; rank {lora.rank}, alpha {lora.alpha}, "
            f"{', '.join(lora.target_modules)})"
        )
    return [("from", Text(f"{source} ({origin.model_type}{sha})")), ("trains", trains)]


def _flat(value: JsonValue, prefix: str, into: dict[str, str]) -> dict[str, str]:
    """Every leaf of a config as `a.b.c` -> its value as written."""
    if isinstance(value, dict) and value:
        for key, child in value.items():
            _flat(child, f"{prefix}.{key}" if prefix else key, into)
    elif prefix:
        into[prefix] = value if isinstance(value, str) else json.dumps(value)
    return into


def differing_settings(runs: list[RunView]) -> list[tuple[str, list[str]]]:
    """(setting, value per run) for each setting whose value is not the same in all."""
    flats = [_flat(r.config, "", {}) for r in runs]
    for flat in flats:  # the labels as they are now are shown above, not as submitted
        for label in LABELS:
            flat.pop(label, None)
    keys = sorted({k for flat in flats for k in flat})
    rows = [(k, [flat.get(k, NONE) for flat in flats]) for k in keys]
    return [(k, values) for k, values in rows if len(set(values)) > 1]


def _marked(values: list[float | None], lower: bool, shown: list[str]) -> list[Text]:
    """The shown values, the better one(s) marked, when at least two runs differ."""
    known = [v for v in values if v is not None]
    best = (min(known) if lower else max(known)) if len(set(known)) > 1 else None
    return [
        Text(text + BETTER_MARK, style="bold green")
        if best is not None and v == best
        else Text(text)
        for v, text in zip(values, shown, strict=True)
    ]


def _figures(runs: list[RunView]) -> list[tuple[str, list[Text]]]:
    def losses(values: list[float | None]) -> list[Text]:
        return _marked(values, True, [figure(v) for v in values])

    bpb = [r.metrics.final_val_bits_per_byte for r in runs]
    speeds = [r.metrics.tokens_per_s for r in runs]
    return [
        ("final train loss", losses([r.metrics.final_train_loss for r in runs])),
        ("final val loss", losses([r.metrics.final_val_loss for r in runs])),
        ("best val loss", losses([r.metrics.best_val_loss for r in runs])),
        ("perplexity", losses([r.metrics.final_val_perplexity for r in runs])),
        ("bits per byte", losses(bpb)),
        ("tokens/s", _marked(speeds, False, [integer(v) for v in speeds])),
    ]


def compare(run_ids: RunIds, json_out: JsonFlag = False) -> None:
    """Runs side by side: the settings that differ, then the results (the better value of
    each marked with *)."""
    with SESSION.client() as client:
        answers = [client.call("GET", f"/runs/{run_id}") for run_id in run_ids]
    if json_out:
        print_json(*answers)
        return
    runs = [a.parse(RunView) for a in answers]
    rows: list[tuple[str, list[Text]]] = [
        ("name", [Text(r.name or NONE) for r in runs]),
        ("tags", [Text(", ".join(r.tags) or NONE) for r in runs]),
        ("status", [status_text(str(r.status)) for r in runs]),
        ("model", [Text(f"{r.family}, {compact(r.parameters)}") for r in runs]),
        (
            "steps",
            [Text(f"{integer(r.progress.step)}/{integer(r.progress.max_steps)}") for r in runs],
        ),
    ]
    settings = differing_settings(runs)
    rows += [(k, [Text(v) for v in values]) for k, values in settings]
    rows += _figures(runs)
    rows.append(("time", [Text(duration(r.durations.total_s)) for r in runs]))
    grid = _compare_grid([r.run_id for r in runs], rows)
    width = SESSION.out.width
    if not grid.fits(width):
        # Too narrow for the ids as headers: letters head the columns, a legend names them.
        letters = [_letter(i) for i in range(len(runs))]
        for letter, run in zip(letters, runs, strict=True):
            legend = Text(f"{letter}  {run.run_id}", style="bold")
            legend.append(f"  {run.name}" if run.name else "", style="")
            SESSION.out.print(legend, no_wrap=True, overflow="ellipsis")
        grid = _compare_grid(letters, rows)
    SESSION.out.print(grid)
    same = "" if settings else "the settings are the same; "
    SESSION.out.print(Text(f"{same}* marks the better value", style="dim"))


def _letter(i: int) -> str:
    letters = string.ascii_uppercase
    return letters[i] if i < len(letters) else f"{letters[i // 26 - 1]}{letters[i % 26]}"


def _compare_grid(headers: list[str], rows: list[tuple[str, list[Text]]]) -> Grid:
    # Setting names stay whole too: letters head the columns sooner than a name is cut.
    grid = table(Col("", Kind.ID), *(Col(h, Kind.HEADED) for h in headers))
    for name, values in rows:
        grid.add_row(Text(name, style="bold"), *values)
    return grid
