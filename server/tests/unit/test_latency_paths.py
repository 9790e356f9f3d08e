"""The hot paths behind the latency targets: the manifest cache, the shared log tail, and
the plain ASGI request middleware."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Annotated

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from model_trainer.api.admission import REQUEST_ID_HEADER
from model_trainer.api.deps import get_registry
from model_trainer.api.errors import install_error_handlers
from model_trainer.api.middleware import RequestContext
from model_trainer.api.schemas.common import ErrorBody
from model_trainer.core.container import Registry
from model_trainer.orchestrators import manifest_cache, run_logs
from model_trainer.orchestrators.manifest_cache import ManifestCache
from model_trainer.orchestrators.run_logs import RunLogFollower


class Doc(BaseModel):
    """A stand-in manifest."""

    value: int


def _write(path: Path, value: int, age_s: float) -> None:
    """Replace the file by rename (as manifests are written), `age_s` old."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(Doc(value=value).model_dump_json(), encoding="utf-8")
    os.replace(tmp, path)
    stamp = time.time() - age_s
    os.utime(path, (stamp, stamp))


def test_manifest_cache_parses_once_per_version_and_hands_out_copies(tmp_path: Path) -> None:
    reads: list[Path] = []

    def read(path: Path) -> Doc | None:
        reads.append(path)
        return Doc.model_validate_json(path.read_text(encoding="utf-8"))

    cache = ManifestCache(read)
    assert cache.get(tmp_path / "m.json") is None  # no file: nothing read, nothing cached
    _write(tmp_path / "m.json", 1, age_s=10)
    first = cache.get(tmp_path / "m.json")
    assert first is not None and first.value == 1
    first.value = 99  # a caller changing its copy changes nobody else's
    second = cache.get(tmp_path / "m.json")
    assert second is not None and second.value == 1 and len(reads) == 1
    _write(tmp_path / "m.json", 2, age_s=5)
    third = cache.get(tmp_path / "m.json")
    assert third is not None and third.value == 2 and len(reads) == 2


def test_manifest_cache_does_not_trust_a_file_written_just_now(tmp_path: Path) -> None:
    reads: list[int] = []

    def read(path: Path) -> Doc:
        doc = Doc.model_validate_json(path.read_text(encoding="utf-8"))
        reads.append(doc.value)
        return doc

    cache = ManifestCache(read)
    _write(tmp_path / "m.json", 1, age_s=0)
    cache.get(tmp_path / "m.json")
    cache.get(tmp_path / "m.json")
    assert reads == [1, 1]  # a second write in the same clock tick would look the same
    os.utime(tmp_path / "m.json", (time.time() - 1, time.time() - 1))
    cache.get(tmp_path / "m.json")
    cache.get(tmp_path / "m.json")
    assert reads == [1, 1, 1]
    assert manifest_cache.FRESH_NS < 1_000_000_000


class _Run:
    """A run whose log the test writes and whose end it declares."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.ended = False
        self.status_checks = 0

    def log(self, *lines: str) -> None:
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write("".join(f"{line}\n" for line in lines))

    def has_ended(self, _run_id: str) -> bool:
        self.status_checks += 1
        return self.ended


@pytest.fixture()
def fast_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run_logs, "POLL_S", 0.005)
    monkeypatch.setattr(run_logs, "STATUS_EVERY", 2)


async def _collect(follower: RunLogFollower, path: Path, after: int) -> list[tuple[int, str]]:
    return [item async for item in follower.follow("run-1", path, after)]


@pytest.mark.usefixtures("fast_polls")
def test_followers_share_one_reader_and_get_every_line_in_order(tmp_path: Path) -> None:
    run = _Run(tmp_path / "logs.jsonl")
    follower = RunLogFollower(run.has_ended)

    async def scenario() -> list[list[tuple[int, str]]]:
        run.log("a", "b")
        clients = [asyncio.create_task(_collect(follower, run.path, after)) for after in (0, 0, 1)]
        await asyncio.sleep(0.05)
        assert len(follower._tails) == 1  # one reader for the file, however many follow it
        run.log("c")
        with run.path.open("a", encoding="utf-8") as handle:
            handle.write("d-half")  # a line being written is not sent until it is whole
        await asyncio.sleep(0.05)
        run.ended = True
        await asyncio.sleep(0.05)
        run.log("-tail")  # logged after the run's status flipped: still delivered
        return list(await asyncio.gather(*clients))

    results = asyncio.run(asyncio.wait_for(scenario(), timeout=10))
    everything = [(1, "a"), (2, "b"), (3, "c"), (4, "d-half-tail")]
    assert results == [everything, everything, everything[1:]]
    assert not follower._tails  # the reader goes once nobody follows


@pytest.mark.usefixtures("fast_polls")
def test_a_follower_behind_the_kept_lines_reads_them_from_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run_logs, "KEEP_LINES", 3)
    run = _Run(tmp_path / "logs.jsonl")
    run.log(*(f"line {i}" for i in range(1, 21)))
    run.ended = True
    follower = RunLogFollower(run.has_ended)

    async def scenario() -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
        early = asyncio.create_task(_collect(follower, run.path, 18))
        await asyncio.sleep(0.05)  # the reader has read (and trimmed) everything by now
        late = await _collect(follower, run.path, 2)
        return await early, late

    early, late = asyncio.run(asyncio.wait_for(scenario(), timeout=10))
    assert early == [(19, "line 19"), (20, "line 20")]
    assert late == [(i, f"line {i}") for i in range(3, 21)]


@pytest.mark.usefixtures("fast_polls")
def test_a_failing_status_check_ends_every_follower_with_the_error(tmp_path: Path) -> None:
    def broken(_run_id: str) -> bool:
        raise OSError("status unavailable")

    follower = RunLogFollower(broken)
    (tmp_path / "logs.jsonl").write_text("x\n", encoding="utf-8")

    async def scenario() -> list[tuple[int, str]]:
        return await _collect(follower, tmp_path / "logs.jsonl", 0)

    with pytest.raises(OSError, match="status unavailable"):
        asyncio.run(asyncio.wait_for(scenario(), timeout=10))


def _app(registry: Registry) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(RequestContext, registry=registry, api_key="k3y", max_body=1024)

    async def whose(registry: Annotated[Registry, Depends(get_registry)]) -> dict[str, bool]:
        return {"same": registry is expected}

    def boom() -> dict[str, bool]:
        raise RuntimeError("secret detail")

    expected = registry
    app.add_api_route("/whose", whose, methods=["GET"])
    app.add_api_route("/healthz", boom, methods=["GET"])
    return app


def test_the_middleware_binds_ids_and_registry_refuses_and_sanitises() -> None:
    registry = Registry()
    with TestClient(_app(registry), raise_server_exceptions=False) as client:
        refused = client.get("/whose", headers={REQUEST_ID_HEADER: "req-1"})
        assert refused.status_code == 401 and refused.headers[REQUEST_ID_HEADER] == "req-1"
        ok = client.get("/whose", headers={"X-Api-Key": "k3y"})
        assert ok.content == b'{"same":true}' and len(ok.headers[REQUEST_ID_HEADER]) == 32
        crashed = client.get("/healthz")  # open path, no key needed; the route raises
        assert crashed.status_code == 500
        body = ErrorBody.model_validate_json(crashed.content)
        assert body.code == "INTERNAL_ERROR" and "secret" not in crashed.text
        assert body.request_id == crashed.headers[REQUEST_ID_HEADER]
        big = client.post("/whose", headers={"X-Api-Key": "k3y"}, content=b"x" * 2000)
        assert big.status_code == 413
