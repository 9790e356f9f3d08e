"""The CLI's pieces that need no server: request bodies from files and `--set`, the event
stream format, log lines for people."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from model_trainer.cli.app import main as cli_main
from model_trainer.cli.config_file import ConfigFileError, build_body, parse_value
from model_trainer.cli.failures import describe
from model_trainer.cli.progress import StepState, parse_log_line
from model_trainer.client.api import StreamEvent, _parse_events
from model_trainer.client.errors import BAD_ANSWER, UNREACHABLE, ApiError, error_from_answer
from model_trainer.client.follow import patiently
from model_trainer.client.text import moment


def test_a_toml_file_then_flags_then_sets(tmp_path: Path) -> None:
    config = tmp_path / "run.toml"
    config.write_text('[model]\nsize = "tiny"\n[trainer]\nmax_steps = 100\nlr = 1e-3\n')
    body = build_body(
        config,
        ["trainer.max_steps=500", "model.size=nano", "trainer.tags=[1, 2]", 'data.x="5"'],
        {"data.tokenizer_id": "tok-1"},
    )
    assert body == {
        "model": {"size": "nano"},
        "trainer": {"max_steps": 500, "lr": 1e-3, "tags": [1, 2]},
        "data": {"tokenizer_id": "tok-1", "x": "5"},
    }


def test_a_json_file(tmp_path: Path) -> None:
    config = tmp_path / "run.json"
    config.write_text('{"trainer": {"max_steps": 3}}')
    assert build_body(config, [], {}) == {"trainer": {"max_steps": 3}}


@pytest.mark.parametrize(
    ("text", "sets", "fragment"),
    [
        ("[model\n", [], "not valid TOML"),
        ("when = 1979-05-27T07:32:00Z\n", [], "does not hold a JSON-like object"),
        ("", ["trainer.max_steps"], "expected FIELD.PATH=VALUE"),
        ("", ["trainer..x=1"], "not a field path"),
        ("model = 3\n", ["model.size=nano"], "model is not an object"),
        # tomllib recurses per level: thousands exhaust Python's stack (RecursionError).
        ("a = " + "[" * 5000 + "]" * 5000 + "\n", [], "not valid TOML: .* nested too deeply"),
        ("a = " + "{b = " * 5000 + "}" * 5000 + "\n", [], "not valid TOML: .* nested too deeply"),
    ],
)
def test_bad_files_and_sets_say_why(
    tmp_path: Path, text: str, sets: list[str], fragment: str
) -> None:
    config = tmp_path / "run.toml"
    config.write_text(text)
    with pytest.raises(ConfigFileError, match=fragment):
        build_body(config, sets, {})


def test_pydantic_errors_read_as_the_field_and_the_reason(tmp_path: Path) -> None:
    config = tmp_path / "run.toml"
    config.write_text("[trainer]\nwhen = 1979-05-27T07:32:00Z\n")
    with pytest.raises(ConfigFileError) as caught:
        build_body(config, [], {})
    # Not pydantic's text: no "1 validation error for", input_value=..., or docs URL.
    assert str(caught.value) == (
        f"{config} does not hold a JSON-like object: trainer.when: input was not a valid JSON value"
    )


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError, match="cannot read"):
        build_body(tmp_path / "nope.toml", [], {})


def test_values_are_json_when_they_parse() -> None:
    assert parse_value("1e-3") == 1e-3
    assert parse_value("true") is True
    assert parse_value("null") is None
    assert parse_value("nano") == "nano"
    assert parse_value('"5"') == "5"


def test_event_stream_format() -> None:
    lines = iter(
        [": ping", "event: log", "id: 1", "data: {\"a\": 1}", "", "id: 2", "data: x", "data: y",
         "", "id: x", "data: lost", "", "id: 3", "data: last"]
    )  # fmt: skip
    assert list(_parse_events(lines)) == [StreamEvent(1, '{"a": 1}'), StreamEvent(2, "x\ny")]


def test_log_lines_for_people() -> None:
    record = parse_log_line(
        '{"event": "eval_completed", "level": "info", "timestamp": "2026-11-30T12:00:01Z",'
        ' "run_id": "run-1", "step": 20, "val_loss": 1.23456789}'
    )
    written = moment(datetime(2026, 11, 30, 12, 0, 1, tzinfo=UTC))  # local time, one format
    assert record.text().plain == f"{written} eval_completed step=20 val_loss=1.235"
    assert parse_log_line("not json").event == "not json"


def test_an_answer_that_is_not_the_apis() -> None:
    error = error_from_answer(502, b"<html>Bad gateway</html>", None)
    assert error.code == BAD_ANSWER and "HTTP 502" in error.message
    api = error_from_answer(404, b'{"code": "NOT_FOUND", "message": "no", "request_id": "r"}', None)
    assert api.one_line() == "NOT_FOUND: no (request r)"


def _options(capsys: pytest.CaptureFixture[str], *command: str) -> set[str]:
    assert cli_main([*command, "--help"]) == 0
    return {m.group() for m in re.finditer(r"--[a-z][a-z-]+", capsys.readouterr().out)}


def test_estimate_takes_the_options_of_train(capsys: pytest.CaptureFixture[str]) -> None:
    train = _options(capsys, "runs", "train")
    estimate = _options(capsys, "runs", "estimate")
    assert {"--config", "--set", "--tokenizer", "--corpus", "--size", "--json"} <= estimate
    assert estimate == train - {"--follow"}


def test_the_progress_bar_shows_the_mfu_once_known() -> None:
    state = StepState(step=5, max_steps=10, loss=2.0, tokens_per_s=1200.0, status="running")
    assert state.detail() == "loss 2.000  1,200 tok/s"
    state.mfu = 0.0123
    assert state.detail() == "loss 2.000  1,200 tok/s  MFU 1.23%"


def test_shell_completion_offers_commands() -> None:
    env = dict(os.environ) | {
        "_MODEL_TRAINER_COMPLETE": "complete_bash",
        "COMP_WORDS": "model-trainer runs sh",
        "COMP_CWORD": "2",
        "API_BASE_URL": "http://127.0.0.1:9",  # ids are completed from the API: none here
    }
    script = Path(sys.executable).parent / "model-trainer"
    done = subprocess.run([script], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0 and done.stdout.split() == ["show"]


def test_calls_wait_out_an_api_restart_but_not_a_refusal() -> None:
    answers: list[ApiError | str] = [
        ApiError(UNREACHABLE, "connection refused"),
        ApiError("NOT_READY", "starting", status=503),
        "ok",
    ]
    heard: list[ApiError | None] = []

    def call() -> str:
        answer = answers.pop(0)
        if isinstance(answer, ApiError):
            raise answer
        return answer

    assert patiently(call, heard.append, sleep=lambda _: None) == "ok"
    assert [e.code for e in heard if e is not None] == [UNREACHABLE, "NOT_READY"]
    answers.append(ApiError("NOT_FOUND", "no such run", status=404))
    with pytest.raises(ApiError, match="NOT_FOUND"):
        patiently(call, heard.append, sleep=lambda _: None)


def test_a_bug_of_ours_is_one_line_saying_where() -> None:
    try:
        int("many")
    except ValueError as exc:
        line = describe(exc)
    assert line.startswith("INTERNAL_ERROR: ValueError: invalid literal for int()"), line
    assert " at test_cli_parts.py:" in line and "\n" not in line
