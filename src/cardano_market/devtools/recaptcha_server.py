"""A local reCAPTCHA Enterprise assessment server, for tests, demos and load tests.

It answers `POST .../assessments?key=K` with `{"event": {"siteKey", "token", "expectedAction"}}`
the way reCAPTCHA Enterprise does, reading the answer from the token itself, so tests share no
state with it:

    valid:<action>:<score>[:<site key>]   valid for that action and score (a decimal like 0.9);
                                          with a site key, SITE_MISMATCH when the event's differs
    invalid:<reason>                      invalid, `invalidReason` <REASON> (e.g. invalid:expired)
    slow:<ms>[:<token>]                   waits <ms>, then answers <token> (default: valid for the
                                          expected action, score 0.9)
    fail:<status>                         answers HTTP <status> with a Google-shaped error body
    garbage:text | garbage:json           200 with a body that is not JSON / JSON of another shape
    anything else                         invalid, MALFORMED (as Google says of a garbage token)

A `key` other than the configured API key is answered 403 PERMISSION_DENIED. `GET /stats` reports
the counters. Raw asyncio streams and HTTP/1.1 keep-alive, no framework: it must stay cheap while
a load test drives the service hard.

    python -m cardano_market.devtools.recaptcha_server --port 8555 --delay-ms 50 --api-key K
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

DEFAULT_SCORE = Decimal("0.9")
MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 1024 * 1024

_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


class _Reply:
    """One HTTP answer: status, body bytes and content type."""

    __slots__ = ("body", "content_type", "status")

    def __init__(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.status = status
        self.body = body
        self.content_type = content_type

    @classmethod
    def json(cls, status: int, payload: Any) -> _Reply:
        return cls(status, json.dumps(payload, separators=(",", ":")).encode())

    @classmethod
    def error(cls, status: int, message: str) -> _Reply:
        """Google's error shape: `{"error": {"code", "message", "status"}}`."""
        name = _STATUS_NAMES.get(status, "UNKNOWN")
        return cls.json(status, {"error": {"code": status, "message": message, "status": name}})


class _BadRequest(Exception):
    """A request this server cannot read; answered 400 and the connection closed."""


class RecaptchaAssessmentServer:
    """The server's state and handlers. Run it with `start` (in a loop) or `running` (a thread).

    `api_key` None accepts any key. `delay_ms` is added to every assessment (network latency).
    `requests_served`, `connections_accepted` and `max_in_flight` are plain counters (read them
    from any thread); `events` holds the last `keep_events` assessment events received.
    """

    def __init__(
        self, *, api_key: str | None = None, delay_ms: int = 0, keep_events: int = 1000
    ) -> None:
        if delay_ms < 0:
            raise ValueError(f"delay_ms must not be negative, got {delay_ms}")
        self.api_key = api_key
        self.delay_ms = delay_ms
        self.requests_served = 0
        self.connections_accepted = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.events: deque[dict[str, Any]] = deque(maxlen=keep_events)
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on `host`:`port` (0: any free port) and return the base URL."""
        self._server = await asyncio.start_server(
            self._connection, host, port, backlog=1024, limit=MAX_HEAD_BYTES
        )
        bound_host, bound_port = self._server.sockets[0].getsockname()[:2]
        if ":" in bound_host:
            bound_host = f"[{bound_host}]"
        return f"http://{bound_host}:{bound_port}"

    async def close(self) -> None:
        """Stop listening and drop every open connection."""
        if self._server is not None:
            self._server.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    @contextlib.contextmanager
    def running(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
        """Serve from a background thread (its own event loop); yields the base URL."""
        loop = asyncio.new_event_loop()
        started = threading.Event()
        outcome: list[str | BaseException] = []

        def serve() -> None:
            asyncio.set_event_loop(loop)
            try:
                outcome.append(loop.run_until_complete(self.start(host, port)))
            except BaseException as exc:  # reported to the caller's thread below
                outcome.append(exc)
                started.set()
                loop.close()
                return
            started.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self.close())
                loop.close()

        thread = threading.Thread(target=serve, name="recaptcha-server", daemon=True)
        thread.start()
        started.wait()
        if isinstance(outcome[0], BaseException):
            thread.join()
            raise outcome[0]
        try:
            yield outcome[0]
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One keep-alive connection: read a request, answer it, until either side closes."""
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self.connections_accepted += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    return  # the client closed between requests
                except asyncio.LimitOverrunError:
                    await _send(writer, _Reply.error(431, "request head too large"), False)
                    return
                try:
                    method, target, keep_alive, length = _parse_head(head)
                except _BadRequest as exc:
                    await _send(writer, _Reply.error(400, str(exc)), False)
                    return
                body = await reader.readexactly(length)
                reply = await self._dispatch(method, target, body)
                # Counted before the reply is written: a client that has read it must see it
                # counted (counting after the write raced the next test's read of the counter).
                self.requests_served += 1
                await _send(writer, reply, keep_alive)
                if not keep_alive:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        except asyncio.CancelledError:
            # Only `close` cancels a connection, and it is over: end quietly, since asyncio
            # 3.11's stream callback raises on a cancelled handler task ("Exception in callback").
            return
        finally:
            self._handlers.discard(task)
            writer.close()

    async def _dispatch(self, method: str, target: str, body: bytes) -> _Reply:
        parts = urlsplit(target)
        if method == "GET" and parts.path == "/stats":
            return _Reply.json(200, self.stats())
        if not parts.path.endswith("/assessments"):
            return _Reply.error(404, f"no such resource {parts.path}")
        if method != "POST":
            return _Reply.error(405, f"{method} is not allowed on {parts.path}")
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay_ms:
                await asyncio.sleep(self.delay_ms / 1000)
            return await self._assessment(parse_qs(parts.query).get("key", []), body)
        finally:
            self.in_flight -= 1

    async def _assessment(self, keys: list[str], body: bytes) -> _Reply:
        if not keys or not keys[0]:
            return _Reply.error(403, "The request is missing a valid API key.")
        if self.api_key is not None and keys[0] != self.api_key:
            return _Reply.error(403, "API key not valid. Please pass a valid API key.")
        try:
            event = json.loads(body)["event"]
            token, site_key = event["token"], event["siteKey"]
            expected_action = event.get("expectedAction", "")
            if not all(isinstance(s, str) for s in (token, site_key, expected_action)):
                raise TypeError("token, siteKey and expectedAction must be strings")
        except (ValueError, KeyError, TypeError) as exc:
            return _Reply.error(400, f"Invalid JSON payload received: {exc}")
        self.events.append(event)
        return await _answer(token, event, expected_action)

    def stats(self) -> dict[str, int]:
        return {
            "requestsServed": self.requests_served,
            "connectionsAccepted": self.connections_accepted,
            "inFlight": self.in_flight,
            "maxInFlight": self.max_in_flight,
        }


async def _answer(token: str, event: dict[str, Any], expected_action: str) -> _Reply:
    """The reply `token` encodes (see the module docstring)."""
    kind, _, rest = token.partition(":")
    if kind == "slow":
        ms, _, inner = rest.partition(":")
        if not ms.isdigit():
            return _assessment_reply(event, valid=False, reason="MALFORMED")
        await asyncio.sleep(int(ms) / 1000)
        if not inner:
            return _assessment_reply(event, action=expected_action, score=DEFAULT_SCORE)
        return await _answer(inner, event, expected_action)
    if kind == "valid":
        action, _, tail = rest.partition(":")
        score_text, _, bound_site_key = tail.partition(":")
        score = _score(score_text)
        if score is None:
            return _assessment_reply(event, valid=False, reason="MALFORMED")
        if bound_site_key and bound_site_key != event["siteKey"]:
            return _assessment_reply(event, valid=False, reason="SITE_MISMATCH")
        return _assessment_reply(event, action=action, score=score)
    if kind == "invalid":
        return _assessment_reply(event, valid=False, reason=rest.upper() or "MALFORMED")
    if kind == "fail" and rest.isdigit() and 100 <= int(rest) <= 599:
        return _Reply.error(int(rest), f"simulated failure {rest}")
    if token == "garbage:text":
        return _Reply(200, b"<html><body>Service temporarily borked</body></html>", "text/html")
    if token == "garbage:json":
        return _Reply.json(200, {"unexpected": "shape"})
    return _assessment_reply(event, valid=False, reason="MALFORMED")


def _score(text: str) -> Decimal | None:
    try:
        score = Decimal(text)
    except InvalidOperation:
        return None
    return score if score.is_finite() and 0 <= score <= 1 else None


def _assessment_reply(
    event: dict[str, Any],
    *,
    valid: bool = True,
    reason: str = "INVALID_REASON_UNSPECIFIED",
    action: str = "",
    score: Decimal = Decimal(0),
) -> _Reply:
    """An assessment in reCAPTCHA Enterprise's shape (an invalid token has no action, score 0)."""
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return _Reply.json(
        200,
        {
            "name": f"projects/local/assessments/{time.monotonic_ns():x}",
            "event": event,
            "riskAnalysis": {"score": float(score), "reasons": []},
            "tokenProperties": {
                "valid": valid,
                "invalidReason": reason,
                "hostname": "localhost" if valid else "",
                "action": action if valid else "",
                "createTime": created,
            },
        },
    )


def _parse_head(head: bytes) -> tuple[str, str, bool, int]:
    """Method, target, keep-alive and Content-Length of a request head."""
    try:
        lines = head.decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ")
    except ValueError:
        raise _BadRequest("malformed request line") from None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, sep, value = line.partition(":")
            if not sep:
                raise _BadRequest(f"malformed header line {line[:40]!r}")
            headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raise _BadRequest("chunked request bodies are not supported: send Content-Length")
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError:
        raise _BadRequest("malformed Content-Length") from None
    if not 0 <= length <= MAX_BODY_BYTES:
        raise _BadRequest(f"Content-Length must be within 0..{MAX_BODY_BYTES}")
    connection = headers.get("connection", "").lower()
    keep_alive = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
    return method, target, keep_alive, length


async def _send(writer: asyncio.StreamWriter, reply: _Reply, keep_alive: bool) -> None:
    try:
        phrase = HTTPStatus(reply.status).phrase
    except ValueError:
        phrase = "Unknown"
    head = (
        f"HTTP/1.1 {reply.status} {phrase}\r\n"
        f"Content-Type: {reply.content_type}\r\n"
        f"Content-Length: {len(reply.body)}\r\n"
        f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
    )
    writer.write(head.encode("latin-1") + reply.body)
    await writer.drain()


async def _serve(host: str, port: int, server: RecaptchaAssessmentServer) -> None:
    base_url = await server.start(host, port)
    print(f"reCAPTCHA assessment server on {base_url}/v1/projects/local/assessments", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await server.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m cardano_market.devtools.recaptcha_server",
        description="A local reCAPTCHA Enterprise assessment server (answers read from tokens).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8555)
    parser.add_argument("--delay-ms", type=int, default=0, help="latency added to each answer")
    parser.add_argument("--api-key", default=None, help="the only key accepted (default: any)")
    args = parser.parse_args(argv)
    server = RecaptchaAssessmentServer(api_key=args.api_key, delay_ms=args.delay_ms)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.host, args.port, server))


if __name__ == "__main__":
    main()
