"""HTTP as uvicorn serves it (the API in a process of its own, without a key): which hosts a
keyless API answers, and HEAD answered with a head alone, so the connection stays usable."""

from __future__ import annotations

import http.client
import subprocess
import time
from collections.abc import Iterator

import pytest

from model_trainer.api.schemas.common import ErrorBody, Health
from model_trainer.core.settings import Settings

from .processes import api_process

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def port(stack_settings: Settings, worker: subprocess.Popen[bytes]) -> Iterator[int]:
    """`model-trainer api` without a key, answering the compose service name `api` too."""
    log = stack_settings.artifacts_root.parent / "served-http.log"
    with api_process(stack_settings, log, {"SECURITY__ALLOWED_HOSTS": '["api"]'}) as base:
        deadline = time.monotonic() + 60
        port = int(base.rsplit(":", 1)[1])
        while _status(port, "GET", "/readyz") != 200:
            assert time.monotonic() < deadline, "the API did not become ready"
            time.sleep(0.2)
        yield port


def _status(port: int, method: str, path: str, host: str = "127.0.0.1") -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, headers={"Host": host})
        return conn.getresponse().status
    except OSError:
        return 0
    finally:
        conn.close()


def test_a_keyless_server_answers_loopback_and_listed_names_only(port: int) -> None:
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", "[::1]", "api:8000", "API"):
        assert _status(port, "GET", "/healthz", host) == 200, host
    for host in ("evil.example.com", f"evil.example.com:{port}", "api.evil.example.com"):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/ui/", headers={"Host": host})
        answer = conn.getresponse()
        assert answer.status == 421, host
        body = ErrorBody.model_validate_json(answer.read())
        assert body.code == "HOST_NOT_ALLOWED" and body.request_id == answer.getheader(
            "X-Request-ID"
        )
        conn.close()


def test_head_sends_the_head_alone_and_the_connection_goes_on(port: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        for path in ("/healthz", "/readyz", "/runs", "/openapi.json", "/docs"):
            conn.request("HEAD", path)
            head = conn.getresponse()
            assert head.status == 200, path
            assert head.read() == b"", path
            assert int(head.getheader("Content-Length") or "0") > 0, path
        # The same connection: had any body bytes followed a head, this answer would be
        # misread.
        conn.request("GET", "/healthz")
        answer = conn.getresponse()
        assert Health.model_validate_json(answer.read()).status == "ok"
    finally:
        conn.close()
