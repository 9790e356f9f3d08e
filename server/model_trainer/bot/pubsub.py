"""A typed asyncio subscriber to Redis pub/sub, speaking RESP2 directly.

redis-py's pub/sub API hands back messages typed `Any` (and its handlers take
`dict[str, Any]`), which the strict typing of this package does not let past a named
adapter; the part of the protocol a subscriber needs is small: AUTH, SUBSCRIBE, PING, and
arrays of bulk strings back. A task reads replies as they come and queues them, so a caller
waiting with a timeout never leaves a reply half read. Any fault of the connection ends the
subscription with `ConnectionError`; the caller reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from types import TracebackType
from urllib.parse import unquote, urlsplit

CONNECT_TIMEOUT_S = 5.0
DEFAULT_PORT = 6379

RespValue = bytes | int | None | list["RespValue"]


class RespError(ConnectionError):
    """Redis answered with an error (a wrong password, say)."""


class Pong:
    """The answer to PING while subscribed."""


_PONG = Pong()


async def _read_reply(reader: asyncio.StreamReader) -> RespValue:
    line = await reader.readuntil(b"\r\n")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest
    if kind == b"-":
        raise RespError(rest.decode("utf-8", errors="replace"))
    if kind == b":":
        return int(rest)
    if kind == b"$":
        size = int(rest)
        if size < 0:
            return None
        data = await reader.readexactly(size + 2)
        return data[:-2]
    if kind == b"*":
        size = int(rest)
        return None if size < 0 else [await _read_reply(reader) for _ in range(size)]
    raise ConnectionError(f"unexpected reply type {kind!r}")


def _command(*args: str) -> bytes:
    parts = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg.encode("utf-8")
        parts += [f"${len(data)}\r\n".encode(), data, b"\r\n"]
    return b"".join(parts)


async def _connect(url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return await asyncio.open_unix_connection(parts.path)
    if parts.scheme not in ("redis", "rediss"):
        raise ConnectionError(f"unsupported Redis URL scheme {parts.scheme!r}")
    context = ssl.create_default_context() if parts.scheme == "rediss" else None
    host = parts.hostname or "127.0.0.1"
    return await asyncio.open_connection(host, parts.port or DEFAULT_PORT, ssl=context)


class Subscription:
    """Messages published on some channels, in the order Redis sent them."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._replies: asyncio.Queue[RespValue | Pong | BaseException] = asyncio.Queue()
        self._pump = asyncio.create_task(self._read_all())

    @classmethod
    async def open(cls, url: str, channels: list[str]) -> Subscription:
        """Connect, authenticate as the URL says, and subscribe to `channels`."""
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                reader, writer = await _connect(url)
        except TimeoutError as exc:
            raise ConnectionError("Redis did not accept a connection in time") from exc
        except OSError as exc:  # refused, no such host, TLS: all mean "try again later"
            raise ConnectionError(f"Redis could not be reached ({type(exc).__name__})") from exc
        parts = urlsplit(url)
        try:
            if parts.password is not None:
                user = unquote(parts.username) if parts.username else None
                auth = (
                    ("AUTH", user, unquote(parts.password))
                    if user
                    else ("AUTH", unquote(parts.password))
                )
                writer.write(_command(*auth))
                await asyncio.wait_for(_read_reply(reader), CONNECT_TIMEOUT_S)
            writer.write(_command("SUBSCRIBE", *channels))
            for _ in channels:
                await asyncio.wait_for(_read_reply(reader), CONNECT_TIMEOUT_S)
        except (OSError, asyncio.IncompleteReadError, ValueError, TimeoutError) as exc:
            writer.close()
            raise ConnectionError(f"Redis subscription failed: {type(exc).__name__}") from exc
        except RespError:
            writer.close()
            raise
        return cls(reader, writer)

    async def _read_all(self) -> None:
        try:
            while True:
                reply = await _read_reply(self._reader)
                if isinstance(reply, list) and reply[:1] == [b"pong"]:
                    await self._replies.put(_PONG)
                elif isinstance(reply, list) and len(reply) == 3 and reply[0] == b"message":
                    await self._replies.put(reply[2])
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            await self._replies.put(ConnectionError(f"Redis connection lost: {type(exc).__name__}"))

    async def next(self, timeout_s: float) -> bytes | Pong | None:
        """The next message's data, a `Pong`, or None after `timeout_s` of silence."""
        try:
            reply = await asyncio.wait_for(self._replies.get(), timeout_s)
        except TimeoutError:
            return None
        if isinstance(reply, BaseException):
            raise reply
        if isinstance(reply, bytes | Pong):
            return reply
        return None

    def ping(self) -> None:
        """Ask Redis for a `Pong`: silence after it means the connection is gone."""
        try:
            self._writer.write(_command("PING"))
        except (OSError, RuntimeError) as exc:
            raise ConnectionError("Redis connection lost") from exc

    async def close(self) -> None:
        self._pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._pump
        self._writer.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
