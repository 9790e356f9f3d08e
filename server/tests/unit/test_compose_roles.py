"""The compose files for an installation over several hosts (`deploy/`): a hub (Redis, an
S3-compatible store, the API) and workers that share only those, checked as the main compose
file is, without a Docker engine."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from model_trainer.core.settings import WorkerSettings

from .test_containers import BIN, ROOT, Compose, _seconds, load_compose

ROLES = ("compose.hub.yml", "compose.worker.yml")
SECRETS = ("SECURITY__API_KEY", "AWS_SECRET_ACCESS_KEY", "REDIS_PASSWORD", "MINIO_ROOT_PASSWORD")


def _load(name: str) -> Compose:
    return load_compose(ROOT / "deploy" / name)


def _env(compose: Compose, service: str) -> dict[str, str | None]:
    env = compose.services[service].environment
    assert isinstance(env, dict)
    return {k: None if v is None else str(v) for k, v in env.items()}


@pytest.mark.parametrize("name", ROLES)
def test_each_role_follows_the_compose_specification(name: str) -> None:
    tool = BIN / "check-jsonschema"
    args = [str(tool), "--builtin-schema", "vendor.compose-spec", f"deploy/{name}"]
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("name", ROLES)
def test_no_secret_is_written_down(name: str) -> None:
    from_outside = re.compile(r"\$\{\w+(:[?-][^}]*)?\}")
    compose = _load(name)
    for service, spec in compose.services.items():
        for key, value in _env(compose, service).items():
            if key in SECRETS and value:
                assert from_outside.fullmatch(value), f"{name} {service}: {key} is written down"
        assert spec.healthcheck is not None or service == "bucket", f"{service} has no check"


def test_the_hub_and_the_workers_share_only_redis_and_the_store() -> None:
    api = _env(_load("compose.hub.yml"), "api")
    worker = _env(_load("compose.worker.yml"), "worker")
    assert (api["ARTIFACTS_ROOT"] or "").startswith("s3://")
    assert "ARTIFACTS_ROOT" in worker and "REDIS_URL" in worker
    for env in (api, worker):
        # each container's own cache, never a volume two containers could share
        assert (env["ARTIFACTS_CACHE"] or "").startswith("/tmp/")
    volumes = _load("compose.worker.yml").services["worker"].volumes
    assert not [v for v in volumes if "artifacts" in str(v)], "workers must not share a folder"


def test_a_stopping_worker_has_time_for_its_warm_stop() -> None:
    grace = _load("compose.worker.yml").services["worker"].stop_grace_period
    assert grace is not None
    assert _seconds(grace) >= WorkerSettings().stop_grace_s + 10


def test_the_worker_file_names_what_it_needs() -> None:
    text = (ROOT / "deploy" / "compose.worker.yml").read_text(encoding="utf-8")
    assert "${REDIS_URL:?" in text and "${ARTIFACTS_ROOT:?" in text
    assert Path(ROOT / "Dockerfile").is_file()
