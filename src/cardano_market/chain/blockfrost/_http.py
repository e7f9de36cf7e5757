"""HTTP plumbing for the Blockfrost backend: a token-bucket limiter, jittered retries, clear errors.

Blockfrost allows 10 requests/s per IP with a burst of 500 and answers 429 beyond that; 5xx,
timeouts and dropped connections happen too. Idempotent requests (GETs, evaluation) are retried
with jittered exponential backoff, a bounded number of times; `send_once` is for callers that must
decide themselves whether a retry is safe (transaction submission). An optional `on_retry` hook
hears about every retry (metrics count them by reason).
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from ..base import ChainError

log = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], None]
OnRetry = Callable[[str, str, str], None]
"""Called as `on_retry(method, path, reason)` before each retry; `reason` is a short, bounded
label (`timeout`, `transport_error`, `malformed_json`, `http_429`, `http_503`, ...) fit for a
metric, while `path` may name addresses and transactions."""

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
"""Rate limited, or a server-side failure that may pass: worth another try for a safe request."""

TIMEOUT = "timeout"
TRANSPORT_ERROR = "transport_error"
MALFORMED_JSON = "malformed_json"


def status_reason(status: int) -> str:
    """The retry reason for an HTTP status: `http_429`, `http_503`, ..."""
    return f"http_{status}"


class NotFoundError(ChainError):
    """Blockfrost answered 404: the address, transaction, script or page does not exist."""

    def __init__(self, method: str, path: str) -> None:
        super().__init__(f"Blockfrost {method} {path}: not found (404)")
        self.path = path


class StatusError(ChainError):
    """Blockfrost answered a status that retrying cannot fix (400, 402, 403, 418, ...)."""

    def __init__(self, method: str, path: str, status: int, message: str) -> None:
        super().__init__(f"Blockfrost {method} {path}: HTTP {status}: {message}")
        self.status = status
        self.message = message


class RetriesExhaustedError(ChainError):
    """A retryable failure persisted through every attempt; `last` says what the last one was."""

    def __init__(self, method: str, path: str, attempts: int, last: str) -> None:
        super().__init__(
            f"Blockfrost {method} {path} failed after {attempts} attempt(s); last error: {last}"
        )
        self.attempts = attempts
        self.last = last


class TokenBucket:
    """Thread-safe token bucket: `rate` tokens per second, at most `burst` saved up.

    A caller that finds the bucket empty reserves its token anyway (the balance goes negative) and
    sleeps for exactly its share of the deficit outside the lock, so concurrent callers are served
    in arrival order at `rate` per second and none is starved. Clock and sleep are injectable.
    """

    def __init__(
        self,
        rate: float = 10.0,
        burst: int = 500,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"token bucket needs rate > 0 and burst >= 1, got {rate}, {burst}")
        self.rate = float(rate)
        self.burst = float(burst)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = float(burst)
        self._last = clock()

    @property
    def tokens(self) -> float:
        """Tokens available now (negative while callers wait on reserved tokens)."""
        with self._lock:
            self._refill()
            return self._tokens

    def _refill(self) -> None:
        now = self._clock()
        elapsed = max(0.0, now - self._last)
        self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
        self._last = now

    def acquire(self) -> float:
        """Take one token, sleeping until it is due; returns the seconds slept (0.0 if none)."""
        with self._lock:
            self._refill()
            self._tokens -= 1.0
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)
        return wait


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded retries with jittered exponential backoff ("equal jitter": half fixed, half random).

    Attempt n (0-based) that failed waits between cap/2 and cap, cap = min(max_delay,
    base_delay * 2**n); a 429's Retry-After, when given, is honoured up to `max_delay`.
    """

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 10.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("retry delays must not be negative")

    def delay(self, attempt: int, rng: random.Random, retry_after: float | None = None) -> float:
        cap = min(self.max_delay, self.base_delay * 2.0**attempt)
        wait = cap / 2 + rng.uniform(0, cap / 2)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_delay))
        return wait


class BlockfrostHttp:
    """One httpx client, the limiter and the retry policy; bodies come back as parsed JSON."""

    def __init__(
        self,
        base_url: str,
        project_id: str,
        *,
        timeout: float | httpx.Timeout = 20.0,
        retry: RetryPolicy | None = None,
        limiter: TokenBucket | None = None,
        sleep: Sleep = time.sleep,
        rng: random.Random | None = None,
        client: httpx.Client | None = None,
        on_retry: OnRetry | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self.limiter = limiter or TokenBucket()
        self.on_retry = on_retry
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._own_client = client is None
        self.client = client or httpx.Client(
            base_url=self.base_url,
            headers={"project_id": project_id, "User-Agent": "cardano-market"},
            timeout=timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout),
        )

    def close(self) -> None:
        if self._own_client:
            self.client.close()

    # -- one request ------------------------------------------------------------------------------

    def send_once(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        content: bytes | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """One rate-limited request; httpx's timeout and transport exceptions pass through."""
        self.limiter.acquire()
        return self.client.request(
            method,
            self.base_url + path,
            params=params,
            content=content,
            json=json_body,
            headers=headers,
        )

    # -- with retries -----------------------------------------------------------------------------

    def request_json(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        content: bytes | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """The parsed JSON body of a 200, retrying what may pass; only for idempotent requests.

        Raises NotFoundError (404), StatusError (a status retrying cannot fix) or
        RetriesExhaustedError naming the endpoint and the last failure.
        """
        last = "no attempt made"
        reason = ""
        attempts = self.retry.max_attempts
        for attempt in range(attempts):
            retry_after: float | None = None
            try:
                response = self.send_once(
                    method,
                    path,
                    params=params,
                    content=content,
                    json_body=json_body,
                    headers=headers,
                )
            except httpx.TimeoutException as exc:
                reason, last = TIMEOUT, f"timeout ({type(exc).__name__})"
            except httpx.TransportError as exc:
                reason, last = TRANSPORT_ERROR, f"transport error ({type(exc).__name__}: {exc})"
            else:
                status = response.status_code
                if status == 200:
                    try:
                        return parse_json(response)
                    except ValueError as exc:
                        reason = MALFORMED_JSON
                        last = f"HTTP 200 with a malformed JSON body ({exc})"
                elif status == 404:
                    raise NotFoundError(method, path)
                elif status in RETRYABLE_STATUSES:
                    reason = status_reason(status)
                    last = f"HTTP {status}: {error_message(response)}"
                    retry_after = retry_after_seconds(response)
                else:
                    raise StatusError(method, path, status, error_message(response))
            if attempt + 1 < attempts:
                wait = self.retry.delay(attempt, self._rng, retry_after)
                log.debug("Blockfrost %s %s: %s; retrying in %.2f s", method, path, last, wait)
                self.notify_retry(method, path, reason)
                self._sleep(wait)
        raise RetriesExhaustedError(method, path, attempts, last)

    def backoff(self, attempt: int, retry_after: float | None = None) -> None:
        """Sleep as the retry policy says after failed attempt `attempt` (0-based)."""
        self._sleep(self.retry.delay(attempt, self._rng, retry_after))

    def notify_retry(self, method: str, path: str, reason: str) -> None:
        """Tell the `on_retry` hook; a failing hook is logged, never allowed to fail the request."""
        if self.on_retry is None:
            return
        try:
            self.on_retry(method, path, reason)
        except Exception:
            log.exception("on_retry hook failed for Blockfrost %s %s (%s)", method, path, reason)


def parse_json(response: httpx.Response) -> Any:
    """The body as JSON; ValueError (json.JSONDecodeError) when it is not complete JSON."""
    return json.loads(response.content)


def error_message(response: httpx.Response) -> str:
    """Blockfrost's `message` from an error body, else the start of the raw text."""
    try:
        body = json.loads(response.content)
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    text = response.content[:300].decode("utf-8", "replace").strip()
    return text or response.reason_phrase or "no message"


def retry_after_seconds(response: httpx.Response) -> float | None:
    """A 429's Retry-After header in seconds, when it holds a number."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
