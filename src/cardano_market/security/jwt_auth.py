"""Bearer JWT authentication for the v2 (custodial) API: who is calling, and may they do this.

One algorithm per deployment, HS256 with a shared secret or RS256 with the issuer's public key,
and a token must name exactly that algorithm in its header: `alg: none`, an HS256 token offered to
an RS256 verifier (the public key used as an HMAC secret), or any other algorithm is refused
before its signature is looked at. `sub` is the user id (24 hex digits), `exp` is required, and
`role: "admin"` marks an administrator. Every refusal is an `AuthenticationError`, which the edge
answers with 401 `{"error": "Authentication required"}`; the reason is for logs only.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..domain.errors import ConfigError, MarketError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

__all__ = [
    "AUTHENTICATION_REQUIRED",
    "AccessDeniedError",
    "AuthenticationError",
    "JwtVerifier",
    "Principal",
    "issue_token",
    "load_rsa_public_key",
]

Algorithm = Literal["HS256", "RS256"]

AUTHENTICATION_REQUIRED = {"error": "Authentication required"}
DEFAULT_LEEWAY_SECONDS = 30
"""Clock skew allowed between the token issuer and this service."""
DEFAULT_MAX_LIFETIME_SECONDS = 86_400
"""Tokens living longer than a day are refused (`exp: 1e308` is not a session)."""
"""The body of every v2 401 answer: it never says which check failed."""

MIN_HMAC_SECRET_BYTES = 32
"""RFC 7518 section 3.2: an HS256 key at least as long as the hash output."""
MIN_RSA_BITS = 2048
MAX_TOKEN_CHARS = 8192
"""Longer Authorization headers are refused unread (no JWT this service accepts comes close)."""
DEFAULT_TTL_SECONDS = 3600

_USER_ID = re.compile(r"[0-9a-fA-F]{24}")
_BEARER = re.compile(r"Bearer +([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)", re.IGNORECASE)


class AuthenticationError(MarketError):
    """No acceptable credentials (HTTP 401). `reason` says why, for logs, never for the client."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AccessDeniedError(MarketError):
    """Authenticated, but not allowed to act on this resource (HTTP 403)."""


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller a valid token names."""

    user_id: str
    """24 lowercase hex digits."""
    is_admin: bool

    def require_user(self, user_id: str) -> None:
        """AccessDeniedError unless the caller is `user_id` (a route's path user).

        Administrators are not exempt: acting for another user goes through the admin routes.
        """
        if not isinstance(user_id, str) or user_id.lower() != self.user_id:
            raise AccessDeniedError(f"user {self.user_id} may not act on user {user_id!r}")

    def require_admin(self) -> None:
        if not self.is_admin:
            raise AccessDeniedError(f"user {self.user_id} is not an administrator")


class JwtVerifier:
    """Checks `Authorization: Bearer <jwt>` headers against one configured key and algorithm."""

    def __init__(
        self,
        *,
        algorithm: Algorithm,
        key: bytes | RSAPublicKey,
        audience: str | None = None,
        issuer: str | None = None,
        leeway_seconds: int = DEFAULT_LEEWAY_SECONDS,
        max_lifetime_seconds: int = DEFAULT_MAX_LIFETIME_SECONDS,
    ) -> None:
        """`key`: the HS256 secret (at least 32 bytes) or an RSA public key of 2048+ bits.

        ConfigError when the key does not fit the algorithm.
        """
        if algorithm == "HS256":
            if not isinstance(key, bytes) or len(key) < MIN_HMAC_SECRET_BYTES:
                raise ConfigError(
                    f"the HS256 secret must be at least {MIN_HMAC_SECRET_BYTES} bytes"
                )
        elif algorithm == "RS256":
            _check_rsa(key)
        else:
            raise ConfigError(f"unsupported JWT algorithm {algorithm!r} (use HS256 or RS256)")
        if leeway_seconds < 0:
            raise ConfigError(f"JWT leeway must not be negative, got {leeway_seconds}")
        self.algorithm: Algorithm = algorithm
        self._key = key
        self.audience = audience
        self.issuer = issuer
        self.leeway_seconds = leeway_seconds
        self.max_lifetime_seconds = max_lifetime_seconds

    def verify(self, authorization_header: str | None) -> Principal:
        """The principal an `Authorization` header's Bearer token names; AuthenticationError for
        a missing, malformed, expired, wrongly signed or wrongly formed token."""
        import jwt

        token = _bearer_token(authorization_header)
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise AuthenticationError(f"malformed token header: {exc}") from None
        if header.get("alg") != self.algorithm:
            raise AuthenticationError(
                f"token algorithm {header.get('alg')!r} is not the configured {self.algorithm}"
            )
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[self.algorithm],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway_seconds,
                options={
                    "require": ["exp", "sub"],
                    "verify_aud": self.audience is not None,
                    "verify_iss": self.issuer is not None,
                },
            )
        except jwt.ExpiredSignatureError:
            raise AuthenticationError("token expired") from None
        except jwt.PyJWTError as exc:
            raise AuthenticationError(f"token rejected: {exc}") from None
        self._check_lifetime(claims)
        return _principal(claims)

    def _check_lifetime(self, claims: dict[str, Any]) -> None:
        """`exp` at most `max_lifetime_seconds` after `iat` (or now, without `iat`)."""
        exp, iat = claims.get("exp"), claims.get("iat")
        if isinstance(exp, bool) or not isinstance(exp, int):
            raise AuthenticationError("token exp is not an integer")
        start = time.time()
        if iat is not None:
            if isinstance(iat, bool) or not isinstance(iat, int):
                raise AuthenticationError("token iat is not an integer")
            start = min(start, iat)
        if exp - start > self.max_lifetime_seconds + self.leeway_seconds:
            raise AuthenticationError(
                f"token lifetime exceeds the maximum of {self.max_lifetime_seconds} s"
            )

    def issue_token(
        self,
        user_id: str,
        *,
        admin: bool = False,
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
        now: int | None = None,
    ) -> str:
        """A token this verifier accepts (HS256 only: RS256 tokens need the issuer's private
        key, see the module's `issue_token`). For tests and the devnet demo."""
        if self.algorithm != "HS256" or not isinstance(self._key, bytes):
            raise ConfigError("an RS256 verifier holds no private key: use issue_token(key=...)")
        return issue_token(
            user_id,
            key=self._key,
            algorithm="HS256",
            admin=admin,
            ttl_seconds=ttl_seconds,
            audience=self.audience,
            issuer=self.issuer,
            now=now,
        )


def issue_token(
    user_id: str,
    *,
    key: bytes | Any,
    algorithm: Algorithm = "HS256",
    admin: bool = False,
    ttl_seconds: int = DEFAULT_TTL_SECONDS,
    audience: str | None = None,
    issuer: str | None = None,
    now: int | None = None,
) -> str:
    """A signed token for `user_id`: `sub`, `iat`, `exp` (`now` + `ttl_seconds`, `now` in Unix
    seconds, default the clock), `role` ("admin" or "user"), and `aud`/`iss` when given.

    `key` is the HS256 secret or, for RS256, the private key (PEM bytes or a cryptography key).
    """
    import jwt

    if not isinstance(user_id, str) or not _USER_ID.fullmatch(user_id):
        raise ValueError(f"user id must be 24 hex digits, got {user_id!r}")
    issued_at = int(time.time()) if now is None else now
    claims: dict[str, Any] = {
        "sub": user_id.lower(),
        "iat": issued_at,
        "exp": issued_at + ttl_seconds,
        "role": "admin" if admin else "user",
    }
    if audience is not None:
        claims["aud"] = audience
    if issuer is not None:
        claims["iss"] = issuer
    return jwt.encode(claims, key, algorithm=algorithm)


def load_rsa_public_key(pem: str | bytes) -> RSAPublicKey:
    """An RSA public key (2048+ bits) from PEM; ConfigError for anything else."""
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    data = pem.encode() if isinstance(pem, str) else pem
    try:
        key = load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"the JWT public key is not a PEM public key: {exc}") from None
    _check_rsa(key)
    return key  # type: ignore[return-value]  # _check_rsa narrowed it


def read_public_key_file(path: Path) -> str:
    """The PEM text of a public key file; ConfigError when it cannot be read."""
    try:
        return path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the JWT public key file {path}: {exc}") from None


def _check_rsa(key: object) -> None:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

    if not isinstance(key, RSAPublicKey):
        raise ConfigError(f"RS256 needs an RSA public key, got {type(key).__name__}")
    if key.key_size < MIN_RSA_BITS:
        raise ConfigError(f"the RSA key has {key.key_size} bits; at least {MIN_RSA_BITS} needed")


def _bearer_token(header: str | None) -> str:
    if header is None or not header.strip():
        raise AuthenticationError("no Authorization header")
    if len(header) > MAX_TOKEN_CHARS:
        raise AuthenticationError(f"Authorization header longer than {MAX_TOKEN_CHARS} characters")
    match = _BEARER.fullmatch(header.strip())
    if match is None:
        raise AuthenticationError("Authorization header is not 'Bearer <jwt>'")
    return match.group(1)


def _principal(claims: dict[str, Any]) -> Principal:
    subject = claims.get("sub")
    if not isinstance(subject, str) or not _USER_ID.fullmatch(subject):
        raise AuthenticationError("token subject is not a 24-hex-digit user id")
    role = claims.get("role", "user")
    if not isinstance(role, str):
        raise AuthenticationError("token role is not a string")
    return Principal(user_id=subject.lower(), is_admin=role == "admin")
