"""Custodial signing keys encrypted at rest: AES-256-GCM, bound to the user they belong to.

A blob is `version (1 byte) | key id (4 bytes) | nonce (12 bytes) | ciphertext + tag (16 bytes)`.
The nonce is random per encryption (96 bits: a collision needs about 2^48 encryptions under one
key). The associated data is the header plus the user id, so a blob copied to another user's row,
or with its header edited, fails authentication instead of decrypting. The key id (a keyed hash of
the key-encryption key, not the key) says which key sealed a blob: a `KeyStore` can hold the
current key and retired ones, decrypt with whichever matches, and `rotate` re-seals old blobs.

Where the key-encryption key comes from (`runtime.keys.keystore_from_settings`):
- `CARDANO_MARKET_KEY_ENCRYPTION_KEY`, 32 bytes as base64 or hex. Required off the devnet (the
  settings refuse to start without it).
- On the devnet without it, and only with a SQLite file database: a random key generated once and
  kept in `<database file>.kek` beside it (mode 0600, created exclusively, so processes sharing
  the database agree on it). The demo then works with no configuration, wallets survive restarts,
  and the database file alone still holds no usable key. A PostgreSQL devnet has no file to sit
  beside, so it is refused (set the variable); an in-memory SQLite database gets a key that lives
  as long as the process, which is as long as its data lives.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import itertools
import os
import re
import secrets
import time
from collections.abc import Iterable
from pathlib import Path

from ..domain.errors import ConfigError, MarketError

__all__ = [
    "BLOB_VERSION",
    "KeyStore",
    "KeystoreError",
    "devnet_key_file",
    "generated_key",
    "parse_key_encryption_key",
    "parse_retired_keys",
]

BLOB_VERSION = 1
KEY_BYTES = 32
NONCE_BYTES = 12
KEY_ID_BYTES = 4
TAG_BYTES = 16
HEADER_BYTES = 1 + KEY_ID_BYTES + NONCE_BYTES
KEK_FILE_SUFFIX = ".kek"

_HEX = re.compile(r"[0-9a-fA-F]+")


class KeystoreError(MarketError):
    """A blob that cannot be decrypted here: unknown version, a key that is not configured, or
    a failed authentication (tampered, truncated, or belonging to another user)."""


def parse_key_encryption_key(text: str, *, source: str = "the key-encryption key") -> bytes:
    """32 bytes from hex (64 digits) or base64 (standard or URL-safe, padded or not).

    ConfigError naming `source` and the length found (never the value) otherwise.
    """
    value = text.strip()
    decoded: bytes | None = None
    if len(value) == 2 * KEY_BYTES and _HEX.fullmatch(value):
        decoded = bytes.fromhex(value)
    else:
        try:
            padded = value + "=" * (-len(value) % 4)
            decoded = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
        except (binascii.Error, ValueError):
            decoded = None
    if decoded is None:
        raise ConfigError(f"{source} must be {KEY_BYTES} bytes as hex or base64; it is neither")
    if len(decoded) != KEY_BYTES:
        raise ConfigError(
            f"{source} must be {KEY_BYTES} bytes (AES-256) as hex or base64; "
            f"it decodes to {len(decoded)} bytes"
        )
    return decoded


def weak_key_reason(key: bytes) -> str | None:
    """Why `key` is not a random key (a few repeated bytes, a counting pattern), or None.

    32 random bytes hold about 30 distinct values; fewer than 12 happens by chance with odds
    below 10^-20, so this refuses typed-in and placeholder keys, never a generated one."""
    if len(set(key)) < 12:
        return f"it holds only {len(set(key))} distinct byte values"
    steps = {(b - a) % 256 for a, b in itertools.pairwise(key)}
    if len(steps) == 1:
        return "its bytes count up or down by a fixed step"
    return None


def parse_retired_keys(text: str, *, source: str = "the retired keys") -> list[bytes]:
    """Retired keys (`KEY_ENCRYPTION_KEYS_RETIRED`): comma-separated, each as
    `parse_key_encryption_key` reads them (ConfigError naming `source` and the position, never the
    value)."""
    parts = [part.strip() for part in text.split(",")]
    return [
        parse_key_encryption_key(part, source=f"{source}[{i}]")
        for i, part in enumerate(parts)
        if part
    ]


def key_id(key: bytes) -> bytes:
    """Which key sealed a blob: a keyed hash of the key, useless for recovering it."""
    return hmac.new(key, b"cardano-market key id", hashlib.sha256).digest()[:KEY_ID_BYTES]


class KeyStore:
    """Seals signing keys with the current key-encryption key; opens blobs sealed by it or by
    any retired key it was given."""

    def __init__(self, current: bytes, *, retired: Iterable[bytes] = ()) -> None:
        keys = [current, *retired]
        for key in keys:
            if not isinstance(key, bytes) or len(key) != KEY_BYTES:
                raise ConfigError(f"a key-encryption key must be {KEY_BYTES} bytes")
        self._current_id = key_id(current)
        self._keys = {key_id(key): key for key in reversed(keys)}

    def __repr__(self) -> str:  # never print a key
        return f"KeyStore(current={self._current_id.hex()}, keys={len(self._keys)})"

    @property
    def current_key_id(self) -> bytes:
        return self._current_id

    @property
    def key_ids(self) -> frozenset[bytes]:
        """The ids of every key that opens blobs here: the current one and the retired ones."""
        return frozenset(self._keys)

    def check_stored_key_ids(
        self,
        stored: Iterable[str],
        *,
        current_setting: str = "the key-encryption key",
        retired_setting: str = "the retired keys",
    ) -> None:
        """ConfigError naming each stored key id (hex) that no configured key has, and the
        settings that would hold it: wallets sealed with it could not be opened, so a service
        must not start (a start-up check)."""
        missing = sorted({k for k in stored if bytes.fromhex(k) not in self._keys})
        if missing:
            raise ConfigError(
                f"custodial wallets are sealed with key id(s) {', '.join(missing)}, which no "
                f"configured key has (configured: {', '.join(sorted(k.hex() for k in self._keys))}"
                f"): set {current_setting} to that key, or add it to {retired_setting}"
            )

    def encrypt_signing_key(self, user_id: str, key_bytes: bytes) -> bytes:
        """`key_bytes` sealed for `user_id` under the current key, with a fresh random nonce."""
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        if not isinstance(key_bytes, bytes) or not key_bytes:
            raise KeystoreError("the signing key to encrypt must be non-empty bytes")
        nonce = secrets.token_bytes(NONCE_BYTES)
        header = bytes([BLOB_VERSION]) + self._current_id + nonce
        sealed = AESGCM(self._keys[self._current_id]).encrypt(
            nonce, key_bytes, _associated(header, user_id)
        )
        return header + sealed

    def decrypt_signing_key(self, user_id: str, blob: bytes) -> bytes:
        """The signing key sealed in `blob` for `user_id`; KeystoreError if it cannot be."""
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        header, sealed = self._split(blob)
        key = self._keys.get(header[1 : 1 + KEY_ID_BYTES])
        if key is None:
            raise KeystoreError(
                f"the signing key of user {user_id} was encrypted with key "
                f"{header[1 : 1 + KEY_ID_BYTES].hex()}, which is not configured "
                f"(configured: {', '.join(k.hex() for k in self._keys)})"
            )
        try:
            nonce = header[1 + KEY_ID_BYTES :]
            return AESGCM(key).decrypt(nonce, sealed, _associated(header, user_id))
        except InvalidTag:
            raise KeystoreError(
                f"the signing key blob of user {user_id} failed authentication: it was altered, "
                "or it belongs to another user"
            ) from None

    def needs_rotation(self, blob: bytes) -> bool:
        """True when `blob` was sealed by a key other than the current one."""
        header, _ = self._split(blob)
        return header[1 : 1 + KEY_ID_BYTES] != self._current_id

    def rotate(self, user_id: str, blob: bytes) -> bytes:
        """`blob` re-sealed under the current key (a fresh nonce even if it already was)."""
        return self.encrypt_signing_key(user_id, self.decrypt_signing_key(user_id, blob))

    @staticmethod
    def _split(blob: bytes) -> tuple[bytes, bytes]:
        if not isinstance(blob, bytes) or len(blob) < HEADER_BYTES + TAG_BYTES + 1:
            raise KeystoreError("the encrypted signing key is truncated")
        if blob[0] != BLOB_VERSION:
            raise KeystoreError(
                f"unknown encrypted key format version {blob[0]} (this build reads {BLOB_VERSION})"
            )
        return blob[:HEADER_BYTES], blob[HEADER_BYTES:]


def devnet_key_file(database_url: str, *, setting: str = "a key-encryption key") -> Path | None:
    """Where a devnet keeps its generated key: beside its SQLite file; None for an in-memory
    database; ConfigError for any other database (saying to set `setting` instead)."""
    from sqlalchemy import make_url

    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        raise ConfigError(
            f"a devnet on {url.get_backend_name()} has no file to keep a generated key beside: "
            f"set {setting}"
        )
    database = url.database
    if not database or database == ":memory:" or url.query.get("mode") == "memory":
        return None
    return Path(database).with_name(Path(database).name + KEK_FILE_SUFFIX)


def generated_key(path: Path | None) -> bytes:
    """A devnet's generated key: kept in the file at `path` (created once, exclusively, mode
    0600), or for an in-memory database (`path` None) a fresh one that dies with it."""
    if path is None:
        return secrets.token_bytes(KEY_BYTES)
    return _load_or_create_key_file(path)


def _load_or_create_key_file(path: Path) -> bytes:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_key_file(path)
    except OSError as exc:
        raise ConfigError(f"cannot create the devnet key file {path}: {exc}") from None
    key = secrets.token_bytes(KEY_BYTES)
    try:
        os.write(fd, key.hex().encode() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    return key


def _read_key_file(path: Path) -> bytes:
    for _ in range(50):  # another process may have created it a moment ago and be writing it
        text = path.read_text(encoding="ascii")
        if text.endswith("\n"):
            return parse_key_encryption_key(text, source=f"the devnet key file {path}")
        time.sleep(0.01)
    raise ConfigError(f"the devnet key file {path} is incomplete: delete it only with its database")


def _associated(header: bytes, user_id: str) -> bytes:
    return header + user_id.encode()
