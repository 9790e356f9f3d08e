"""`model-trainer runs generate` streaming, as a shell runs it against a real API process:
piped, stdout is exactly the prompt and the text (the same as `--no-stream`); on a
terminal stderr shows a spinner until the first token; failures are one line with the
API's code, before the stream and after it began."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from model_trainer.client.stream import DoneEvent
from model_trainer.core.settings import Settings

from .processes import api_process
from .test_generate_stream import BROKEN, plant_run
from .test_runs_api import char_tokenizer, finished_run

__all__ = ["char_tokenizer", "finished_run"]  # the fixtures, shared with test_runs_api

pytestmark = pytest.mark.timeout(300)

WAIT_S = 120.0


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


@pytest.fixture(scope="module")
def base(stack_settings: Settings, finished_run: str) -> Iterator[str]:
    """`model-trainer api` on a free port over the stack's Redis and folders."""
    plant_run(stack_settings, finished_run, BROKEN, wide=False, nan=True)
    log = stack_settings.artifacts_root.parent / "api-cli-generate.log"
    with api_process(stack_settings, log, {}) as url:
        yield url


def _env(base: str) -> dict[str, str]:
    kept = {k: v for k, v in os.environ.items() if k not in ("API_KEY", "FORCE_COLOR")}
    return kept | {"API_BASE_URL": base, "COLUMNS": "200", "NO_COLOR": "1"}


def _cli(base: str, *args: str) -> Result:
    done = subprocess.run(
        [sys.executable, "-m", "model_trainer", "runs", "generate", *args],
        env=_env(base),
        capture_output=True,
        text=True,
        timeout=WAIT_S,
        check=False,
    )
    return Result(done.returncode, done.stdout, done.stderr)


def _whole(base: str, run_id: str, prompt: str, tokens: int, seed: int) -> DoneEvent:
    body = {"prompt": prompt, "max_new_tokens": tokens, "seed": seed}
    answer = httpx.post(f"{base}/runs/{run_id}/generate", json=body, timeout=WAIT_S)
    assert answer.status_code == 200, answer.text
    return DoneEvent.model_validate_json(answer.content)


def test_piped_output_is_the_prompt_and_the_text_only(base: str, finished_run: str) -> None:
    whole = _whole(base, finished_run, "The king", 30, 4)
    streamed = _cli(base, finished_run, "The king", "-n", "30", "--seed", "4")
    assert streamed.code == 0, streamed.err
    assert streamed.out == "The king" + whole.text + "\n"
    assert "30 new tokens in " in streamed.err and "tokens/s" in streamed.err
    assert "waiting for the first token" not in streamed.err  # stderr is no terminal here
    assert "\x1b" not in streamed.out + streamed.err
    plain = _cli(base, finished_run, "The king", "-n", "30", "--seed", "4", "--no-stream")
    assert plain.code == 0, plain.err
    assert plain.out == streamed.out


def test_a_terminal_sees_a_spinner_on_stderr_until_the_first_token(
    base: str, finished_run: str, tmp_path: Path
) -> None:
    leader, follower = os.openpty()
    with subprocess.Popen(
        [sys.executable, "-m", "model_trainer", "runs", "generate", finished_run, "-n", "5"],
        env=_env(base) | {"TERM": "xterm"},
        stdout=subprocess.PIPE,
        stderr=follower,
        text=True,
    ) as proc:
        os.close(follower)
        out, _ = proc.communicate(timeout=WAIT_S)
        err = _drain(leader)
        code = proc.wait()
    assert code == 0, err
    assert "waiting for the first token" in err
    assert "5 new tokens" in err
    assert "waiting" not in out and "\x1b" not in out


def _drain(fd: int) -> str:
    """All a pseudo-terminal's leader can read once its follower has closed."""
    chunks: list[bytes] = []
    try:
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    except OSError:  # EIO: the follower side is closed, nothing more will come
        pass
    finally:
        os.close(fd)
    return b"".join(chunks).decode("utf-8", errors="replace")


def test_failures_are_one_line_with_the_api_code(base: str) -> None:
    missing = _cli(base, "run-00000000-00009999", "The")
    assert missing.code == 1 and missing.out == ""
    assert "NOT_FOUND" in missing.err and "Traceback" not in missing.err
    broken = _cli(base, BROKEN, "The", "-n", "8")
    assert broken.code == 1, broken.err
    assert "DATA_INVALID" in broken.err and "Traceback" not in broken.err
