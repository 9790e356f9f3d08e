"""The CLI's layout and wording without a server: tables keep ids whole at any width,
numbers read one way, and the API's field paths come back as the flags the user typed."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from model_trainer.cli.fields import FieldNames, flag_names
from model_trainer.cli.session import SESSION
from model_trainer.cli.tables import Col, Kind, table
from model_trainer.client.text import compact, duration, elapsed, figure, integer, ordinal, size

RUN = "run-mxbohr60-518c2ca3"


def _render(width: int) -> str:
    grid = table(
        Col("run", Kind.ID),
        Col("name", keep=9, least=12),
        Col("status", keep=8),
        Col("family", keep=3),
        Col("step", Kind.NUMBER, keep=6),
        Col("created", keep=1),
    )
    grid.add_row(RUN, "a rather long name for a run [with brackets]", "completed", "gpt2",
                 "1,000/1,000", "2026-01-02 03:04:05")  # fmt: skip
    out = io.StringIO()
    Console(file=out, width=width, color_system=None).print(grid)
    return out.getvalue()


def test_ids_stay_whole_and_other_columns_give_way() -> None:
    for width in (40, 60, 80, 120, 200):
        text = _render(width)
        assert RUN in text, (width, text)
        assert all(len(line) <= max(width, len(RUN)) for line in text.splitlines()), text
    assert "2026-01-02 03:04:05" in _render(200)
    narrow = _render(60)
    assert "created" not in narrow and "…" in narrow and "1,000/1,000" in narrow, narrow
    assert "[with brackets]" in _render(200)  # text, never markup


def test_one_way_to_write_each_kind_of_number() -> None:
    assert [figure(v) for v in (2.34567, 0.0123456, 12.3456, 1234.5, 0.0)] == [
        "2.346", "0.01235", "12.35", "1,234", "0",
    ]  # fmt: skip
    assert integer(1234567.0) == "1,234,567" and compact(1_234_567) == "1.23M"
    assert duration(187) == "3m 07s" and size(3 * 1024**3) == "3.00 GiB"
    assert [elapsed(v) for v in (0.04, 42.46, 59.96, 187.0)] == [
        "0.0s",
        "42.5s",
        "1m 00s",
        "3m 07s",
    ]
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 22)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "22nd",
    ]  # fmt: skip


def test_field_paths_become_what_the_user_typed() -> None:
    SESSION.argv = ["runs", "train", "-c", "run.toml", "-t", "tok-x", "--set", "model.size=x"]
    names = FieldNames()
    names.from_file(Path("run.toml"), {"trainer": {"max_steps": 5}, "data": {"corpus_path": "a"}})
    names.from_flags({"data.tokenizer_id": ("-t", "--tokenizer")}, {"data.tokenizer_id": "tok-x"})
    names.from_sets(["model.size=x"])
    message = (
        "data.tokenizer_id: no such tokenizer; trainer.max_steps: too big; "
        "model.size: unknown; tags.2: bad; data.corpus_path_x: other"
    )
    assert names.rename(message) == (
        "-t: no such tokenizer; run.toml: trainer.max_steps: too big; "
        "--set model.size: unknown; tags.2: bad; data.corpus_path_x: other"
    )
    SESSION.argv = ["runs", "train", "--tokenizer=tok-x"]
    long = FieldNames()
    long.from_flags({"data.tokenizer_id": ("-t", "--tokenizer")}, {"data.tokenizer_id": "x"})
    assert long.rename("data.tokenizer_id: no") == "--tokenizer: no"
    SESSION.argv = []


def test_only_a_field_the_message_names_becomes_a_flag() -> None:
    SESSION.argv = ["runs", "list", "--limit", "5", "--name", "x"]
    names = flag_names({"limit": ("--limit",), "name": ("-n", "--name")}, {"limit": 5, "name": "x"})
    # Prose that happens to hold a field's name is left alone ...
    assert names.rename("the page exceeds the limit of 200") == "the page exceeds the limit of 200"
    assert names.rename("a run with that name exists") == "a run with that name exists"
    assert names.rename("no limit; name taken") == "no limit; name taken"
    # ... a field named at the start or before a colon becomes its flag.
    assert names.rename("limit: at most 200") == "--limit: at most 200"
    assert names.rename("limit must be at most 200") == "--limit must be at most 200"
    assert names.rename("bad request; name: too long; limit: too big (the limit is 200)") == (
        "bad request; --name: too long; --limit: too big (the limit is 200)"
    )
    assert names.rename("limitless: no; name.3: bad") == "limitless: no; --name: bad"
    SESSION.argv = []
