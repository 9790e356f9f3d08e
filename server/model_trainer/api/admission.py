"""Whether a request may reach a route at all (its host, its id, the API key, its body), and
which encodings its answer may use."""

from __future__ import annotations

import hmac
import re
import uuid
from collections.abc import Iterable

from starlette.datastructures import Headers
from starlette.responses import Response

from model_trainer.api.errors import error_response
from model_trainer.core.errors import HTTP_STATUS, ErrorCode

REQUEST_ID_HEADER = "X-Request-ID"
API_KEY_HEADER = "X-Api-Key"
OPEN_PATHS = frozenset({"/healthz", "/", "/ui", "/docs", "/redoc", "/openapi.json"})
"""Paths that answer without an API key: the liveness probe, the way to the dashboard, and
the documentation pages with the schema they show (which hold no data; "Authorize" on the
page sends the key with the requests tried from it)."""
OPEN_PREFIXES = ("/ui/", "/docs-assets/")
"""The dashboard's files hold no data (the app asks for the key and sends it itself), nor do
the documentation pages' scripts and styles."""
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]"})
"""Names a keyless API always answers. A page of another site that rebinds its own name to
this machine still makes the browser send that name, never one of these."""

_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_DIGITS = re.compile(r"[0-9]+")
_HOST = re.compile(r"\[[0-9a-f:.]+\]|[a-z0-9._-]+")
_PORT = re.compile(r"(?::[0-9]{1,5})?")
_QUALITY = re.compile(r"0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?")


def request_id_for(incoming: str) -> str:
    """The client's `X-Request-ID` when it is safe to echo and log, else a new one."""
    return incoming if _SAFE_ID.fullmatch(incoming) else uuid.uuid4().hex


def is_open(path: str) -> bool:
    """Whether `path` answers without an API key."""
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


def answered_hosts(allowed: Iterable[str]) -> frozenset[str]:
    """The loopback names and `allowed` (`SECURITY__ALLOWED_HOSTS`), as `host_name` reads them."""
    return LOOPBACK_HOSTS | {name.lower() for name in allowed}


def host_name(host: str) -> str | None:
    """The name a `Host` header gives, lower-cased, without its port or a final dot; None
    when the header is not a host at all."""
    text = host.strip().lower()
    match = _HOST.match(text)
    if match is None or _PORT.fullmatch(text, match.end()) is None:
        return None
    return match.group().removesuffix(".")


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether `Accept-Encoding` lets the answer be gzip: `gzip` (else `*`) is named with a
    quality above zero. `gzip;q=0` means "anything but gzip"."""
    qualities: dict[str, bool] = {}
    for item in accept_encoding.split(","):
        coding, *params = (part.strip().lower() for part in item.split(";"))
        qualities.setdefault(coding, _positive_quality(params))
    return qualities.get("gzip", qualities.get("*", False))


def _positive_quality(params: list[str]) -> bool:
    """Whether a coding's parameters give it a quality above zero (none given means 1); an
    unreadable quality counts as zero, so nothing is sent that the client may not read."""
    for param in params:
        name, _, value = param.partition("=")
        if name.strip() == "q":
            value = value.strip()
            return _QUALITY.fullmatch(value) is not None and float(value) > 0
    return True


def refusal(
    path: str,
    headers: Headers,
    api_key: str | None,
    max_body: int,
    hosts: frozenset[str] = LOOPBACK_HOSTS,
) -> Response | None:
    """An error response when the request must not reach a route, else None; `hosts` are the
    names answered while there is no key (`answered_hosts`)."""
    return _access_refusal(path, headers, api_key, hosts) or _body_refusal(headers, max_body)


def _refused(code: ErrorCode, message: str) -> Response:
    return error_response(HTTP_STATUS[code], code, message)


def _access_refusal(
    path: str, headers: Headers, api_key: str | None, hosts: frozenset[str]
) -> Response | None:
    """Without a key, only requests addressed to `hosts`; with one, the key unless `path` is
    open."""
    if not api_key:
        if host_name(headers.get("host", "")) in hosts:
            return None
        return _refused(
            ErrorCode.HOST_NOT_ALLOWED,
            "this API has no key, so it answers only requests addressed to localhost, "
            "127.0.0.1, [::1] or a name in SECURITY__ALLOWED_HOSTS",
        )
    if is_open(path):
        return None
    given = headers.get(API_KEY_HEADER, "")
    if hmac.compare_digest(given.encode(), api_key.encode()):
        return None
    return _refused(ErrorCode.UNAUTHORIZED, f"missing or wrong {API_KEY_HEADER} header")


def _body_refusal(headers: Headers, max_body: int) -> Response | None:
    """A body that is too big, of unknown length, or encoded is not read at all."""
    length = headers.get("content-length", "")
    # ASCII digits only: str.isdigit() also says yes to '²', which int() then refuses.
    if _DIGITS.fullmatch(length) and (len(length) > 18 or int(length) > max_body):
        return error_response(413, "PAYLOAD_TOO_LARGE", f"request body over {max_body} bytes")
    if headers.get("transfer-encoding", "").lower() == "chunked":
        return error_response(411, "LENGTH_REQUIRED", "send a Content-Length header")
    codings = {part.strip().lower() for part in headers.get("content-encoding", "").split(",")}
    if codings - {"", "identity"}:
        # The size limit above counts the bytes sent: a compressed body could unpack to far
        # more, and the routes read JSON as it is.
        return _refused(
            ErrorCode.UNSUPPORTED_CONTENT_ENCODING,
            "send the request body without Content-Encoding (it is read as it is sent)",
        )
    return None
