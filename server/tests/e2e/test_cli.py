"""The CLI as a person drives it, against real API, worker and Redis processes: a tokenizer
and a run followed to the end, `--config` with `--set`, `--json` read by a script, a
download, a cancel seen by the follower, an API restart while following, and errors that
are one line with the API's code."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import TypeAdapter

from model_trainer.client.api import ApiClient
from model_trainer.client.errors import ApiError
from model_trainer.client.views import RunView
from model_trainer.core.json_types import JsonValue

from .conftest import story
from .processes import ProcessStack

pytestmark = pytest.mark.timeout(600)

API_KEY = "cli-test-key"
IGNORING_SIGINT = ["sh", "-c", 'trap "" INT; exec "$@"', "sh"]
JSON: TypeAdapter[JsonValue] = TypeAdapter(JsonValue)


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    def json(self) -> JsonValue:
        return JSON.validate_json(self.out)


def at(value: JsonValue, *path: str | int) -> JsonValue:
    """The value at `path` inside JSON objects and lists (a failed step fails the test)."""
    for step in path:
        if isinstance(step, int):
            assert isinstance(value, list), (value, step)
            value = value[step]
        else:
            assert isinstance(value, dict), (value, step)
            value = value[step]
    return value


class Cli:
    """`model-trainer` run as a separate process, as a shell would run it."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.env = env
        self.cwd = cwd

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "model_trainer", *args]

    def __call__(self, *args: str, timeout: float = 300) -> Result:
        done = subprocess.run(
            self.argv(*args),
            env=self.env,
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return Result(done.returncode, done.stdout, done.stderr)

    def start(self, *args: str, sigint_ignored: bool = False) -> subprocess.Popen[str]:
        """The command in the background; `sigint_ignored`: started as a shell's `cmd &`
        without job control starts it, with SIGINT ignored (Python then keeps it so)."""
        prefix = IGNORING_SIGINT if sigint_ignored else []
        return subprocess.Popen(
            [*prefix, *self.argv(*args)],
            env=self.env,
            cwd=self.cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


@dataclass
class Env:
    stack: ProcessStack
    cli: Cli
    tokenizer_id: str
    work: Path


def _wait_ready(client: ApiClient, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            client.call("GET", "/readyz")
            return
        except ApiError:
            assert time.monotonic() < deadline, "the stack did not get ready"
            time.sleep(0.2)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    work = tmp_path_factory.mktemp("cli")
    corpus = work / "corpus"
    corpus.mkdir()
    (corpus / "story.txt").write_text(story(3000, 5), encoding="utf-8")
    stack = ProcessStack(work, work / "artifacts", corpus)
    stack.env["SECURITY__API_KEY"] = API_KEY
    for name in ("redis", "api", "worker"):
        stack.start(name)
    cli_env = dict(stack.env) | {"API_BASE_URL": stack.base, "COLUMNS": "200"}
    cli = Cli(cli_env, work)
    try:
        with ApiClient(stack.base, API_KEY) as client:
            _wait_ready(client)
        made = cli(
            "tokenizers", "train", "--corpus", "story.txt", "--method", "bpe",
            "--vocab-size", "300", "--follow", "--json",
        )  # fmt: skip
        assert made.code == 0, made.err
        tokenizer = made.json()
        assert at(tokenizer, "status") == "completed"
        yield Env(stack, cli, str(at(tokenizer, "tokenizer_id")), work)
    finally:
        stack.stop_all()


def _config(work: Path, tokenizer_id: str, steps: int) -> Path:
    path = work / f"run-{steps}.toml"
    path.write_text(
        f"""
[model]
size = "nano"
max_seq_len = 32

[data]
tokenizer_id = "{tokenizer_id}"
corpus_path = "story.txt"

[trainer]
max_steps = {steps}
batch_size = 4
eval_interval = 20
eval_steps = 2
checkpoint_interval = 20
""",
        encoding="utf-8",
    )
    return path


def test_a_run_followed_to_the_end_then_read_by_scripts(env: Env) -> None:
    cli = env.cli
    config = _config(env.work, env.tokenizer_id, 500)
    done = cli("runs", "train", "-c", str(config), "--set", "trainer.max_steps=40", "--follow")
    assert done.code == 0, done.err
    assert "completed at step 40" in done.out
    assert done.out.count("eval_completed step=20") == 1
    assert "Traceback" not in done.err

    run = at(cli("runs", "list", "--json").json(), "data", 0)
    run_id = str(at(run, "run_id"))
    assert at(run, "status") == "completed"
    assert at(run, "config", "trainer", "max_steps") == 40

    table = cli("runs", "list")
    assert run_id in table.out and "completed" in table.out
    shown = cli("runs", "show", run_id)
    assert "40 / 40" in shown.out
    assert re.search(r"MFU\s+\d+\.\d\d%", shown.out), shown.out  # of the worker's measured peak

    sample = cli("runs", "generate", run_id, "The king", "-n", "8", "--json").json()
    assert at(sample, "count") == 8

    target = env.work / "run.tar"
    fetched = cli("runs", "download", run_id, "-o", str(target))
    assert fetched.code == 0, fetched.err
    with tarfile.open(target) as tar:
        assert any(name.endswith("manifest.json") for name in tar.getnames())
    again = cli("runs", "download", run_id, "-o", str(target))
    assert again.code == 1 and "FILE_EXISTS" in again.err
    into = env.work / "downloads"
    into.mkdir()
    assert cli("runs", "download", run_id, "-o", str(into), "-p", "manifest.json").code == 0
    assert (into / "manifest.json").is_file()
    assert not list(env.work.glob("*.part"))

    evaluated = cli("runs", "evaluate", run_id, "--wait")
    assert evaluated.code == 0, evaluated.err
    assert "perplexity" in evaluated.out
    (env.work / "corpus" / "not-text.txt").write_bytes(b"\xff\xfe not UTF-8")
    started = time.monotonic()
    broken = cli("runs", "evaluate", run_id, "--corpus", "not-text.txt", "--wait")
    assert broken.code == 3 and "CORPUS_NOT_UTF8" in broken.err, broken  # as a failed run
    assert time.monotonic() - started < 60  # told at once, not after the hour --wait allows
    shown_failed = cli("runs", "eval", run_id)
    assert shown_failed.code == 3 and "CORPUS_NOT_UTF8" in shown_failed.err
    compared = cli("runs", "compare", run_id, run_id, "--json").json()
    assert isinstance(compared, list) and len(compared) == 2

    logs = cli("runs", "logs", run_id, "-f")  # an ended run: the whole log, then its status
    assert logs.code == 0 and "run_completed" in logs.out


def test_estimate_takes_what_train_takes_and_queues_nothing(env: Env) -> None:
    cli = env.cli
    config = _config(env.work, env.tokenizer_id, 40)
    before = at(cli("runs", "list", "--json").json(), "count")
    shown = cli("runs", "estimate", "-c", str(config), "--set", "model.n_layer=2")
    assert shown.code == 0, shown.err
    for row in ("parameters", "FLOPs/token", "tokens/step", "memory", "budget", "fits"):
        assert row in shown.out, row
    assert "gpt2, 2 layers" in shown.out and "yes" in shown.out
    answer = cli("runs", "estimate", "-c", str(config), "--set", "model.n_layer=2", "--json")
    assert at(answer.json(), "fits") is True and at(answer.json(), "architecture", "n_layer") == 2
    assert at(answer.json(), "tokens_per_step") == 4 * 32
    big = [
        "runs", "estimate", "-c", str(config), "--set", "trainer.batch_size=2048",
        "--set", "model.max_seq_len=2048",
    ]  # fmt: skip
    refused = cli(*big)
    assert refused.code == 0 and "no: MEMORY_LIMIT_EXCEEDED" in refused.out, refused
    assert "GiB" in refused.out
    bad = cli("runs", "estimate", "-c", str(config), "--size", "galactic")
    assert bad.code == 1 and "CONFIG_INVALID: --size: " in bad.err  # the flag typed
    assert at(cli("runs", "list", "--json").json(), "count") == before


def test_a_cancelled_run_ends_the_follower_with_its_own_status(env: Env) -> None:
    config = _config(env.work, env.tokenizer_id, 100_000)
    run_id = str(at(env.cli("runs", "train", "-c", str(config), "--json").json(), "run_id"))
    follower = env.cli.start("runs", "logs", "-f", run_id)
    _wait_step(env, run_id, 5)
    assert env.cli("runs", "cancel", run_id).code == 0
    out, err = follower.communicate(timeout=120)
    assert follower.wait() == 4, err
    assert "cancelled" in out


def _wait_step(env: Env, run_id: str, step: int) -> RunView:
    with ApiClient(env.stack.base, API_KEY) as client:
        deadline = time.monotonic() + 120
        while True:
            try:
                run = client.get(RunView, f"/runs/{run_id}")
                if run.progress.step >= step or run.finished:
                    return run
            except ApiError:
                pass  # the API is restarting
            assert time.monotonic() < deadline, f"{run_id} never reached step {step}"
            time.sleep(0.1)


def test_following_survives_an_api_restart(env: Env) -> None:
    config = _config(env.work, env.tokenizer_id, 160)
    run_id = str(at(env.cli("runs", "train", "-c", str(config), "--json").json(), "run_id"))
    follower = env.cli.start("runs", "logs", "-f", run_id)
    assert follower.stdout is not None
    first = follower.stdout.readline()  # it is following
    _wait_step(env, run_id, 30)
    env.stack.kill("api")
    time.sleep(2.0)  # the run goes on; the follower waits
    env.stack.start("api")
    try:
        rest, err = follower.communicate(timeout=300)
    finally:
        with ApiClient(env.stack.base, API_KEY) as client:
            _wait_ready(client)  # for the tests after this one
    out = first + rest
    assert follower.wait() == 0, err
    assert "waiting for the API" in out
    # Resumed after the last line seen: no line twice, none lost.
    for step in (20, 40, 60, 80, 100, 120, 140, 160):
        assert out.count(f"eval_completed step={step} ") == 1, out
    assert "completed at step 160" in out


def test_errors_are_one_line_with_the_api_code(env: Env) -> None:
    cases = [
        (("runs", "show", "run-00000000-00000000"), "NOT_FOUND"),
        # Ids the API could not have made never reach it (`/runs/` would answer 307).
        (("runs", "show", ""), "NOT_FOUND"),
        (("runs", "show", "run-nope"), "NOT_FOUND"),
        (("runs", "logs", "../tokenizers"), "NOT_FOUND"),
        (("runs", "compare", "run-00000000-00000000", "x?y"), "NOT_FOUND"),
        (("tokenizers", "show", "tok-1/.."), "NOT_FOUND"),
        (("runs", "train", "--set", "trainer.max_steps=-5"), "CONFIG_INVALID"),
        (("runs", "train", "--set", "trainer.learning_rate=NaN"), "CONFIG_INVALID"),
        (("runs", "train", "-c", "missing.toml"), "CONFIG_FILE"),
        (("runs", "train", "--set", "no-equals-sign"), "CONFIG_FILE"),
        (("tokenizers", "train", "--corpus", "../etc/passwd"), "PATH_OUTSIDE_ROOT"),
        (("--api-url", "http://127.0.0.1:9", "runs", "list"), "API_UNREACHABLE"),
    ]
    for args, code in cases:
        result = env.cli(*args)
        assert result.code == 1, (args, result)
        lines = result.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: {code}: "), (args, result.err)
    odd = subprocess.run(
        env.cli.argv("runs", "generate", "run-00000000-00000000", "-"),
        env=env.cli.env,
        input=b"\xff\xfe not text",
        capture_output=True,
        check=False,
    )
    assert odd.returncode == 1 and odd.stderr.startswith(b"error: INPUT_NOT_UTF8: ")
    keyless = Cli(env.cli.env | {"SECURITY__API_KEY": ""}, env.work)("runs", "list")
    assert keyless.code == 1 and keyless.err.startswith("error: UNAUTHORIZED: ")
    usage = env.cli("runs", "list", "--limit", "0")
    assert usage.code == 2 and "Traceback" not in usage.err


def test_config_masks_secrets(env: Env) -> None:
    key = at(env.cli("config", "--json").json(), "SECURITY__API_KEY")
    assert at(key, "value") == "***" and at(key, "source") == "env"
    assert API_KEY not in env.cli("config").out


def test_interrupting_a_follower_leaves_the_run_going(env: Env) -> None:
    config = _config(env.work, env.tokenizer_id, 100_000)
    run_id = str(at(env.cli("runs", "train", "-c", str(config), "--json").json(), "run_id"))
    # Started with SIGINT ignored, as from a test run launched with `make test &`: Ctrl-C
    # must stop it all the same (it once ran on, 60 s after the signal).
    follower = env.cli.start("runs", "logs", "-f", run_id, sigint_ignored=True)
    try:
        _wait_step(env, run_id, 3)
        assert follower.stdout is not None
        assert follower.stdout.readline()  # it is following (its handler came before)
        os.kill(follower.pid, signal.SIGINT)
        _, err = follower.communicate(timeout=10)
    finally:
        if follower.poll() is None:  # failed: leave no follower behind
            follower.kill()
            follower.communicate()
    assert follower.wait() == 130, err
    assert "Traceback" not in err
    run = _wait_step(env, run_id, 6)
    assert run.status == "running"
    assert env.cli("runs", "cancel", run_id).code == 0


def test_a_reader_that_stops_early_is_no_failure(env: Env) -> None:
    many = env.work / "corpus" / "many"
    many.mkdir()
    for i in range(1500):
        (many / f"chapter-{i:05d}-of-a-long-and-winding-story.txt").write_text("once\n")
    for args in (("corpus", "list", "many"), ("corpus", "list", "many", "--json")):
        whole = env.cli(*args)
        assert whole.code == 0 and len(whole.out.encode()) > 64 * 1024, whole.err
        for wanted in (0, 1):  # `| true`, `| head -c1`
            reader = env.cli.start(*args)
            assert reader.stdout is not None
            reader.stdout.read(wanted)
            reader.stdout.close()
            _, err = reader.communicate(timeout=60)
            assert reader.wait() == 0, (args, wanted, err)
            assert err == "", (args, wanted, err)


def test_a_download_never_writes_through_a_planted_part_file(env: Env) -> None:
    folder = env.work / "planted"
    folder.mkdir()
    victim = env.work / "victim.txt"
    victim.write_text("precious\n")
    target = folder / "tok.tar"
    planted = folder / "tok.tar.part"
    planted.symlink_to(victim)
    done = env.cli("tokenizers", "download", env.tokenizer_id, "-o", str(target))
    assert done.code == 0, done.err
    assert victim.read_text() == "precious\n"
    assert planted.is_symlink() and planted.readlink() == victim
    assert not target.is_symlink() and tarfile.is_tarfile(target)
    assert sorted(p.name for p in folder.iterdir()) == ["tok.tar", "tok.tar.part"]
