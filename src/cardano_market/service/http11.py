"""A lean keep-alive HTTP/1.1 client on asyncio streams, for one upstream on the hot path.

The reCAPTCHA verifier POSTs one small JSON body per request to one host. httpx spends ~2 ms of
CPU on each (its pool bookkeeping, anyio streams, h11, models), more than the whole route should
cost; this client writes the request in one buffer, reads `Content-Length` or chunked answers and
keeps up to `max_connections` sockets open. Its exceptions carry httpx's class names
(`ConnectError`, `ReadError`, ...) so the causes clients see do not change.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections import deque
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 4 * 1024 * 1024
"""An assessment answer is about 1 kB; anything near this is not one."""


class HttpError(Exception):
    """The exchange failed before a complete answer was read."""


class ConnectError(HttpError):
    """The connection (or TLS handshake) could not be made."""


class WriteError(HttpError):
    """The request could not be sent."""


class ReadError(HttpError):
    """The connection broke while the answer was read."""


class RemoteProtocolError(HttpError):
    """The answer is not HTTP/1.1 we understand."""


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status_code: int
    content: bytes

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


@dataclass(slots=True)
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    idle_since: float

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


class Http11Client:
    """POSTs to one `http://` or `https://` URL over at most `max_connections` kept-alive sockets.

    Use from one event loop. A request cancelled mid-way (a deadline) closes its socket, so no
    half-read answer is ever handed to the next request.
    """

    def __init__(
        self,
        url: str,
        *,
        max_connections: int,
        keepalive_seconds: float,
        headers: dict[str, str],
        tls: ssl.SSLContext | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("the URL must be http:// or https:// with a host")
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._tls = (tls or ssl.create_default_context()) if parts.scheme == "https" else None
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        default_port = self._port == (443 if self._tls else 80)
        host = self._host if default_port else f"{self._host}:{self._port}"
        lines = [f"POST {target} HTTP/1.1", f"Host: {host}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        self._head = ("\r\n".join(lines) + "\r\nContent-Length: ").encode("latin-1")
        self._keepalive = keepalive_seconds
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: deque[_Connection] = deque()
        self._closed = False

    async def post(self, body: bytes) -> HttpResponse:
        """One exchange; a kept-alive socket the server had closed is replaced once."""
        async with self._slots:
            connection = self._idle_connection()
            reused = connection is not None
            if connection is None:
                connection = await self._connect()
            try:
                response, keep = await self._exchange(connection, body)
            except HttpError:
                connection.close()
                if not reused:
                    raise
                connection = await self._connect()  # the idle socket was stale: one retry
                try:
                    response, keep = await self._exchange(connection, body)
                except BaseException:
                    connection.close()
                    raise
            except BaseException:  # cancelled (a deadline) or worse: the socket is mid-exchange
                connection.close()
                raise
            if keep and not self._closed:
                connection.idle_since = time.monotonic()
                self._idle.append(connection)
            else:
                connection.close()
            return response

    async def aclose(self) -> None:
        self._closed = True
        while self._idle:
            connection = self._idle.pop()
            connection.close()
            with contextlib.suppress(Exception):
                await connection.writer.wait_closed()

    def _idle_connection(self) -> _Connection | None:
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()  # the most recent: least likely to have been dropped
            if now - connection.idle_since < self._keepalive and not connection.reader.at_eof():
                return connection
            connection.close()
        return None

    async def _connect(self) -> _Connection:
        try:
            reader, writer = await asyncio.open_connection(
                self._host, self._port, ssl=self._tls, limit=MAX_HEADER_BYTES
            )
        except (OSError, ssl.SSLError) as exc:
            raise ConnectError(str(exc) or type(exc).__name__) from exc
        return _Connection(reader, writer, time.monotonic())

    async def _exchange(self, connection: _Connection, body: bytes) -> tuple[HttpResponse, bool]:
        reader, writer = connection.reader, connection.writer
        try:
            writer.write(self._head + b"%d\r\n\r\n" % len(body) + body)
            await writer.drain()
        except OSError as exc:
            raise WriteError(str(exc) or type(exc).__name__) from exc
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            status, headers = _parse_head(head)
            if headers.get("transfer-encoding", "").lower() == "chunked":
                content = await _read_chunked(reader)
            elif "content-length" in headers:
                length = int(headers["content-length"])
                if not 0 <= length <= MAX_BODY_BYTES:
                    raise RemoteProtocolError(f"content-length {length} is out of range")
                content = await reader.readexactly(length)
            else:  # the body runs to the end of the connection
                return HttpResponse(status, await reader.read(MAX_BODY_BYTES)), False
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            raise ReadError("the server closed the connection mid-answer") from exc
        except (asyncio.LimitOverrunError, ValueError) as exc:
            raise RemoteProtocolError(str(exc)) from exc
        keep = headers.get("connection", "").lower() != "close"
        return HttpResponse(status, content), keep


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    if not version.startswith("HTTP/1.") or len(rest) < 3 or not rest[:3].isdigit():
        raise RemoteProtocolError(f"not an HTTP/1.x status line: {lines[0][:60]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    if version == "HTTP/1.0" and headers.get("connection", "").lower() != "keep-alive":
        headers["connection"] = "close"
    return int(rest[:3]), headers


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    total = 0
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers, then the blank line
                pass
            return b"".join(parts)
        total += size
        if total > MAX_BODY_BYTES:
            raise RemoteProtocolError("the chunked body is too large")
        parts.append(await reader.readexactly(size))
        if await reader.readexactly(2) != b"\r\n":
            raise RemoteProtocolError("a chunk does not end with CRLF")
