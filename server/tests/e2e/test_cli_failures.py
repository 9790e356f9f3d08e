"""The CLI's failures that need no API: settings, the API's address, config files, ids,
services that cannot start, and Ctrl-C while the API is away. Each is one line
`error: CODE: message` and a documented exit status, never a traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from .processes import free_port

pytestmark = pytest.mark.timeout(300)

NOWHERE = "http://127.0.0.1:9"
"""An address where nothing answers."""
RIVAL_MODULE = """
from model_trainer.plugins.tokenizers.bpe import BpeBackend


class RivalBpe(BpeBackend):
    pass
"""


def _cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "model_trainer", *args],
        env=os.environ | {"API_BASE_URL": NOWHERE} | (env or {}),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def _one_line(done: subprocess.CompletedProcess[str], code: str, status: int = 1) -> str:
    """The message of the one error line, after checking its code and the exit status."""
    lines = done.stderr.strip().splitlines()
    assert done.returncode == status, (done.returncode, done.stderr[-3000:])
    assert len(lines) == 1 and lines[0].startswith(f"error: {code}: "), done.stderr[-3000:]
    return lines[0].removeprefix(f"error: {code}: ")


def test_settings_that_do_not_validate_name_the_field_only() -> None:
    for command in (("runs", "list"), ("config",), ("api",)):
        message = _one_line(_cli(*command, env={"SECURITY": "{not json"}), "SETTINGS_INVALID")
        assert message.startswith("SECURITY is not valid JSON"), message
    message = _one_line(
        _cli("runs", "list", env={"WORKER__THREADS": "many", "SECURITY__API_KEY": "s3cret"}),
        "SETTINGS_INVALID",
    )
    assert (
        message
        == "WORKER__THREADS: Input should be a valid integer, unable to parse string as an integer"
    )


def test_a_malformed_api_address() -> None:
    for url in ("http://[::1", "ftp://example.org", "localhost:8000"):
        message = _one_line(_cli("--api-url", url, "runs", "list"), "API_URL_INVALID")
        assert repr(url) in message


def test_config_files_nested_thousands_deep(tmp_path: Path) -> None:
    deep_toml = tmp_path / "deep.toml"
    deep_toml.write_text("a = " + "[" * 5000 + "]" * 5000 + "\n")
    deep_json = tmp_path / "deep.json"
    deep_json.write_text('{"a": ' + "[" * 5000 + "]" * 5000 + "}")
    for path in (deep_toml, deep_json):
        message = _one_line(_cli("runs", "train", "-c", str(path)), "CONFIG_FILE")
        assert "pydantic.dev" not in message and "input_value" not in message, message


def test_ids_the_api_could_not_have_made_are_refused_before_calling() -> None:
    # Nothing answers at NOWHERE: the refusal is the CLI's own, not API_UNREACHABLE.
    message = _one_line(_cli("runs", "show", ""), "NOT_FOUND")
    assert message.startswith("'' is not a run id"), message
    _one_line(_cli("tokenizers", "download", "../../etc"), "NOT_FOUND")


def test_two_plugins_claiming_one_name_stop_each_service_with_one_line(
    tmp_path: Path, redis_url: str
) -> None:
    site = tmp_path / "site"
    info = site / "rival_bpe-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: rival-bpe\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[model_trainer.tokenizers]\nbpe = mt_probe_rival:RivalBpe\n"
    )
    (site / "mt_probe_rival.py").write_text(RIVAL_MODULE)
    env = {
        "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
        "REDIS_URL": redis_url,
        "ARTIFACTS_ROOT": str(tmp_path / "artifacts"),
        "CORPUS_ROOT": str(tmp_path),
    }
    port = str(free_port())
    for command in (("api", "--port", port), ("worker", "--burst")):
        message = _one_line(_cli(*command, env=env), "PLUGIN_CONFLICT")
        assert "model-trainer and rival-bpe" in message
    message = _one_line(_cli("up", "--port", port, env=env), "SERVICE_FAILED")
    assert "PLUGIN_CONFLICT: tokenizer plugin 'bpe'" in message, message


def test_ctrl_c_stops_a_follower_waiting_for_the_api() -> None:
    # SIGINT ignored at the start, as a shell's `cmd &` leaves it: Ctrl-C works all the same.
    follower = subprocess.Popen(
        ["sh", "-c", 'trap "" INT; exec "$@"', "sh"]
        + [sys.executable, "-m", "model_trainer", "runs", "logs", "-f", "run-00000000-00000000"],
        env=os.environ | {"API_BASE_URL": NOWHERE},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert follower.stdout is not None
        assert "waiting for the API" in follower.stdout.readline()  # it is backing off
        os.kill(follower.pid, signal.SIGINT)
        _, err = follower.communicate(timeout=10)
    finally:
        if follower.poll() is None:  # failed: leave no follower behind
            follower.kill()
            follower.communicate()
    assert follower.wait() == 130, err
    assert "Traceback" not in err
