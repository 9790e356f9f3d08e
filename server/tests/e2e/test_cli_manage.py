"""Managing runs from the CLI against real API, worker and Redis processes: names and tags,
list filters, edits, resume, delete, compare's differing settings, download names, errors
that name the flag the user typed, a waiting job's queue place, and tables whose ids stay
whole at 60 and 80 columns."""

from __future__ import annotations

import re
import signal
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from model_trainer.client.api import ApiClient
from model_trainer.client.views import RunView, TokenizerView
from model_trainer.core.json_types import JsonValue

from .conftest import story
from .processes import ProcessStack
from .test_cli import API_KEY, Cli, Result, _wait_ready, at

pytestmark = pytest.mark.timeout(900)

ID = re.compile(r"\b(?:run|tok)-[a-z0-9]{8}-[0-9a-f]{8}\b")


class Stack:
    def __init__(self, stack: ProcessStack, cli: Cli, tokenizer_id: str, work: Path) -> None:
        self.stack, self.cli, self.tokenizer_id, self.work = stack, cli, tokenizer_id, work
        self.runs: dict[str, str] = {}

    def at_width(self, columns: int, *args: str) -> Result:
        return Cli(self.cli.env | {"COLUMNS": str(columns)}, self.work)(*args)

    def run(self, run_id: str) -> RunView:
        with ApiClient(self.stack.base, API_KEY) as client:
            return client.get(RunView, f"/runs/{run_id}")

    def tokenizer(self, tokenizer_id: str) -> TokenizerView:
        with ApiClient(self.stack.base, API_KEY) as client:
            return client.get(TokenizerView, f"/tokenizers/{tokenizer_id}")


def _config(work: Path, tokenizer_id: str) -> Path:
    path = work / "run.toml"
    path.write_text(
        f"""
[model]
size = "nano"
max_seq_len = 32

[data]
tokenizer_id = "{tokenizer_id}"
corpus_path = "story.txt"

[trainer]
max_steps = 10
batch_size = 2
eval_interval = 5
eval_steps = 1
checkpoint_interval = 5
""",
        encoding="utf-8",
    )
    return path


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp("cli-manage")
    corpus = work / "corpus"
    corpus.mkdir()
    (corpus / "story.txt").write_text(story(800, 3), encoding="utf-8")
    stack = ProcessStack(work, work / "artifacts", corpus)
    stack.env["SECURITY__API_KEY"] = API_KEY
    for name in ("redis", "api", "worker"):
        stack.start(name)
    cli = Cli(dict(stack.env) | {"API_BASE_URL": stack.base, "COLUMNS": "200"}, work)
    try:
        with ApiClient(stack.base, API_KEY) as client:
            _wait_ready(client)
        made = cli(
            "tokenizers", "train", "--corpus", "story.txt", "--vocab-size", "300",
            "--follow", "--json",
        )  # fmt: skip
        assert made.code == 0, made.err
        env = Stack(stack, cli, str(at(made.json(), "tokenizer_id")), work)
        config = str(_config(work, env.tokenizer_id))
        for key, extra in (
            ("alpha", ["--name", "alpha", "--tag", "exp", "--tag", "Small"]),
            ("beta", ["--name", "beta", "--tag", "exp", "--set", "trainer.learning_rate=0.002"]),
        ):
            done = cli("runs", "train", "-c", config, *extra, "--follow", "--json")
            assert done.code == 0, done.err
            env.runs[key] = str(at(done.json(), "run_id"))
        yield env
    finally:
        stack.stop_all()


def _ids(result: Result) -> list[str]:
    return [str(at(run, "run_id")) for run in _data(result)]


def _data(result: Result) -> list[JsonValue]:
    data = at(result.json(), "data")
    assert isinstance(data, list), result
    return list(data)


def test_list_filters_combine(env: Stack) -> None:
    alpha, beta = env.runs["alpha"], env.runs["beta"]
    cli = env.cli
    assert _ids(cli("runs", "list", "--tag", "small", "--json")) == [alpha]  # any case
    assert _ids(cli("runs", "list", "-q", "bet", "--json")) == [beta]
    assert _ids(cli("runs", "list", "--search", alpha[-8:], "--json")) == [alpha]
    assert set(_ids(cli("runs", "list", "--status", "completed", "--json"))) >= {alpha, beta}
    assert _ids(cli("runs", "list", "--tag", "exp", "--sort", "name", "--json")) == [alpha, beta]
    assert _ids(cli("runs", "list", "--tag", "exp", "--sort", "oldest", "--json")) == [alpha, beta]
    assert _ids(cli("runs", "list", "--tag", "exp", "--status", "failed", "--json")) == []
    none = cli("runs", "list", "--family", "llama")
    assert none.code == 0 and "no runs match" in none.out
    table = cli("runs", "list", "--tag", "exp")
    assert re.search(rf"{alpha}\s+alpha\s+completed", table.out), table.out  # name beside id
    bad = cli("runs", "list", "--sort", "loudest")
    assert bad.code == 1 and bad.err.startswith("error: ") and "--sort" in bad.err, bad


def test_show_and_edit_labels(env: Stack) -> None:
    alpha = env.runs["alpha"]
    shown = env.cli("runs", "show", alpha)
    assert re.search(r"name\s+alpha\b", shown.out) and re.search(r"tags\s+exp, Small", shown.out)
    assert re.search(r"bits per byte\s+\d\.\d{3}\b", shown.out), shown.out
    edited = env.cli(
        "runs", "edit", alpha, "--name", "alpha two", "--notes", "first try",
        "--tag", "kept", "--untag", "SMALL",
    )  # fmt: skip
    assert edited.code == 0, edited.err
    run = env.run(alpha)
    assert (run.name, run.notes, run.tags) == ("alpha two", "first try", ["exp", "kept"])
    assert re.search(r"notes\s+first try", env.cli("runs", "show", alpha).out)
    cleared = env.cli("runs", "edit", alpha, "--notes", "", "--name", "alpha")
    assert cleared.code == 0, cleared.err
    assert (env.run(alpha).name, env.run(alpha).notes) == ("alpha", None)
    nothing = env.cli("runs", "edit", alpha)
    assert nothing.code == 2 and "nothing to change" in nothing.err


def test_tokenizers_edit_and_list_filters(env: Stack) -> None:
    cli, tokenizer_id = env.cli, env.tokenizer_id
    edited = cli(
        "tokenizers", "edit", tokenizer_id, "--name", "story bpe", "--notes", "for runs",
        "--tag", "exp", "--tag", "Small",
    )  # fmt: skip
    assert edited.code == 0, edited.err
    assert "name 'story bpe'; tags exp, Small; notes" in edited.out, edited.out
    tok = env.tokenizer(tokenizer_id)
    assert (tok.name, tok.notes, tok.tags) == ("story bpe", "for runs", ["exp", "Small"])
    cleared = cli("tokenizers", "edit", tokenizer_id, "--untag", "SMALL", "--notes", "")
    assert cleared.code == 0, cleared.err
    tok = env.tokenizer(tokenizer_id)
    assert (tok.name, tok.notes, tok.tags) == ("story bpe", None, ["exp"])
    nothing = cli("tokenizers", "edit", tokenizer_id)
    assert nothing.code == 2 and "nothing to change" in nothing.err
    missing = cli("tokenizers", "edit", "tok-00000000-00000000", "--name", "x")
    assert missing.code != 0 and "does not exist" in missing.err, missing

    def listed(*args: str) -> list[str]:
        result = cli("tokenizers", "list", *args, "--json")
        assert result.code == 0, result.err
        return [str(at(tok, "tokenizer_id")) for tok in _data(result)]

    assert listed("--tag", "EXP") == [tokenizer_id]  # any case
    assert listed("--method", "bpe", "--status", "completed", "-q", "STORY") == [tokenizer_id]
    assert listed("--q", tokenizer_id[-8:]) == [tokenizer_id]
    assert listed("--tag", "exp", "--method", "char") == []
    none = cli("tokenizers", "list", "--tag", "absent")
    assert none.code == 0 and "no tokenizers match" in none.out
    table = cli("tokenizers", "list", "--tag", "exp")
    assert re.search(rf"{tokenizer_id}\s+story bpe\s+completed", table.out), table.out
    bad = cli("tokenizers", "list", "--status", "sleeping")
    assert bad.code == 1 and bad.err.startswith("error: ") and "--status" in bad.err, bad


def test_compare_shows_the_settings_that_differ_and_marks_the_better(env: Stack) -> None:
    alpha, beta = env.runs["alpha"], env.runs["beta"]
    shown = env.at_width(120, "runs", "compare", alpha, beta)
    assert shown.code == 0, shown.err
    row = next(line for line in shown.out.splitlines() if "trainer.learning_rate" in line)
    assert "0.002" in row, shown.out
    assert re.search(r"name\s+alpha\s+beta", shown.out), shown.out
    assert "data.tokenizer_id" not in shown.out  # the same in both
    for figure in ("final val loss", "tokens/s"):
        line = next(line for line in shown.out.splitlines() if line.startswith(figure))
        assert line.count("*") == 1, shown.out  # the better of the two
    assert "* marks the better value" in shown.out
    same = env.at_width(120, "runs", "compare", alpha, alpha)
    assert "the settings are the same" in same.out


def test_ids_stay_whole_at_60_and_80_columns(env: Stack) -> None:
    alpha, beta = env.runs["alpha"], env.runs["beta"]
    commands: list[tuple[str, ...]] = [
        ("runs", "list"),
        ("tokenizers", "list"),
        ("runs", "compare", alpha, beta),
        ("runs", "show", alpha),
    ]
    for columns in (60, 80):
        for args in commands:
            result = env.at_width(columns, *args)
            assert result.code == 0, (args, result.err)
            lines = result.out.splitlines()
            assert all(len(line) <= columns for line in lines), (columns, args, result.out)
            whole = {found.group() for found in ID.finditer(result.out)}
            wanted = {env.tokenizer_id} if args[0] == "tokenizers" else {alpha}
            if args[1] in ("list", "compare") and args[0] == "runs":
                wanted.add(beta)
            assert wanted <= whole, (columns, args, result.out)
            # Nothing that starts like an id is cut: each `run-`/`tok-` is a whole id.
            starts = result.out.count("run-") + result.out.count("tok-")
            assert starts == sum(result.out.count(i) for i in whole), (columns, args, result.out)


def test_download_names_a_folder_tar_after_the_run_and_path(env: Stack) -> None:
    alpha = env.runs["alpha"]
    into = env.work / "fetched"
    into.mkdir()
    cli = Cli(env.cli.env, into)
    done = cli("runs", "download", alpha, "--path", "export/")
    assert done.code == 0, done.err
    target = into / f"{alpha}-export.tar"
    assert tarfile.is_tarfile(target), sorted(p.name for p in into.iterdir())
    again = cli("runs", "download", alpha, "--path", "export")
    assert again.code == 1 and "FILE_EXISTS" in again.err and "--force" in again.err
    assert cli("runs", "download", alpha, "-p", "export", "--force").code == 0
    assert cli("runs", "download", alpha, "-p", "checkpoints/").code == 0
    assert cli("runs", "download", alpha, "-p", "export/config.json").code == 0
    assert (into / "config.json").is_file()
    made = sorted(p.name for p in into.iterdir())
    assert made == ["config.json", f"{alpha}-checkpoints.tar", f"{alpha}-export.tar"], made


def test_errors_name_the_flag_the_user_typed(env: Stack) -> None:
    config = str(env.work / "run.toml")
    cases = [
        (("runs", "train", "-c", config, "--size", "galactic"), "--size", "model.size"),
        (("runs", "estimate", "-c", config, "-t", "tok-00000000-00000000"), "-t", None),
        (("runs", "train", "-c", config, "--max-steps", "0"), "--max-steps", "trainer.max_steps"),
        (("runs", "train", "-c", config, "--set", "model.size=galactic"), "--set model.size", None),
        (("runs", "train", "-c", config, "--tag", "no spaces"), "--tag", None),
    ]
    for args, named, unnamed in cases:
        result = env.cli(*args)
        assert result.code == 1, (args, result)
        assert named in result.err, (args, result.err)
        if unnamed is not None:
            assert f" {unnamed}" not in result.err, (args, result.err)
    bad = env.work / "bad.toml"
    bad.write_text(_config(env.work, env.tokenizer_id).read_text().replace('"nano"', '"galactic"'))
    from_file = env.cli("runs", "train", "-c", str(bad))
    assert from_file.code == 1 and "bad.toml: model.size" in from_file.err, from_file.err


def test_queue_place_resume_and_delete(env: Stack) -> None:
    cli = env.cli
    config = str(env.work / "run.toml")
    # A long run holds the only worker; a second waits, and says where it waits.
    blocker = str(
        at(cli("runs", "train", "-c", config, "--max-steps", "100000", "--json").json(), "run_id")
    )
    waiting = str(at(cli("runs", "train", "-c", config, "--json").json(), "run_id"))
    follower = cli.start("runs", "logs", "-f", waiting)
    try:
        assert follower.stdout is not None
        first = follower.stdout.readline()
        assert re.search(r"queued: \d+\w\w in line.*, waiting for ", first), first
        follower.send_signal(signal.SIGINT)
        assert follower.wait(timeout=60) == 130
        assert follower.stderr is not None
        err = follower.stderr.read()
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.communicate()
    assert f"runs logs -f {waiting}" in err and "still queued" in err, err
    shown = cli("runs", "show", waiting)
    assert re.search(r"queue\s+\d+\w\w in line", shown.out), shown.out
    busy = cli("runs", "delete", blocker, "--yes")
    assert busy.code == 1 and "RUN_ACTIVE" in busy.err, busy
    asked = cli("runs", "delete", waiting)  # no terminal to ask at
    assert asked.code == 1 and "--yes" in asked.err, asked
    assert cli("runs", "cancel", waiting).code == 0
    assert cli("runs", "cancel", blocker).code == 0
    resumed = cli("runs", "resume", waiting, "--wait")
    assert resumed.code == 0, resumed.err
    assert f"{waiting} completed at step 10" in resumed.out, resumed.out
    assert env.run(waiting).status == "completed"
    refused = cli("runs", "resume", waiting, "--max-steps", "5")
    assert refused.code == 1 and "--max-steps" in refused.err, refused.err
    assert cli("runs", "delete", waiting, "--yes").code == 0
    gone = cli("runs", "show", waiting)
    assert gone.code == 1 and "NOT_FOUND" in gone.err
    in_use = cli("tokenizers", "delete", env.tokenizer_id, "--yes")
    assert in_use.code == 1 and "TOKENIZER_IN_USE" in in_use.err, in_use


def test_an_evaluation_waiting_behind_a_run_says_so(env: Stack) -> None:
    cli = env.cli
    config = str(env.work / "run.toml")
    blocker = str(
        at(cli("runs", "train", "-c", config, "--max-steps", "100000", "--json").json(), "run_id")
    )
    waiter = subprocess.Popen(
        cli.argv("runs", "evaluate", env.runs["beta"], "--wait"),
        env=cli.env,
        cwd=cli.cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert waiter.stderr is not None
        line = waiter.stderr.readline()
        while "in line" not in line and line:
            line = waiter.stderr.readline()
        assert re.search(r"queued: \d+\w\w in line.*, waiting for ", line), line
        assert cli("runs", "cancel", blocker).code == 0
        assert waiter.wait(timeout=300) == 0, waiter.stderr.read()
        assert waiter.stdout is not None
        out = waiter.stdout.read()
    finally:
        if waiter.poll() is None:
            waiter.kill()
            waiter.communicate()
    assert "bits/byte" in out, out
