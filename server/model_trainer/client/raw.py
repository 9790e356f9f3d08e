"""One plain HTTP call with the standard library, for scripts, benches and tests.

It never raises for an HTTP status or a refused connection: (0, b"") means nothing
answered, which is what a loop waiting for a service to come up wants to see.
"""

from __future__ import annotations

import http.client
from urllib.parse import urlsplit

from pydantic import BaseModel


def request(method: str, url: str, body: BaseModel | None = None) -> tuple[int, bytes]:
    """(status, body) of one call; (0, b"") when nothing answers."""
    parts = urlsplit(url)
    data = body.model_dump_json().encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if data else {}
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
    try:
        target = f"{parts.path}?{parts.query}" if parts.query else parts.path
        conn.request(method, target, body=data, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    except OSError:
        return 0, b""
    finally:
        conn.close()
