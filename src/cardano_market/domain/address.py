"""Shelley payment addresses (CIP-19) and their bech32 text form, without pycardano.

Addresses are handled as raw bytes (what a transaction output holds). `decode_address` turns user or
wallet text (bech32 `addr`/`addr_test`, or CIP-30 hex) into checked bytes; `payment_key_hash` is a
header check plus a slice because coin selection calls it once per UTxO.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .errors import AddressError

HASH_SIZE = 28
MAINNET = 1
TESTNET = 0

CredentialKind = Literal["key", "script"]

_BASE_TYPES = range(0, 4)  # payment + stake credential
_ENTERPRISE_TYPES = (6, 7)
_BYRON_TYPE = 8
_REWARD_TYPES = (14, 15)
_HRP = {MAINNET: "addr", TESTNET: "addr_test"}
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


@dataclass(frozen=True, slots=True)
class Credential:
    """A payment or stake credential: a key hash or a script hash (28 bytes)."""

    kind: CredentialKind
    hash: bytes

    def __post_init__(self) -> None:
        if self.kind not in ("key", "script"):
            raise AddressError(f"credential kind must be 'key' or 'script', got {self.kind!r}")
        if not isinstance(self.hash, bytes) or len(self.hash) != HASH_SIZE:
            size = len(self.hash) if isinstance(self.hash, bytes) else type(self.hash).__name__
            raise AddressError(f"a {self.kind} hash must be {HASH_SIZE} bytes, got {size}")

    @property
    def is_script(self) -> bool:
        return self.kind == "script"

    @classmethod
    def key(cls, key_hash: bytes) -> Credential:
        return cls("key", key_hash)

    @classmethod
    def script(cls, script_hash: bytes) -> Credential:
        return cls("script", script_hash)


@dataclass(frozen=True, slots=True)
class ShelleyAddress:
    """A parsed Shelley payment address (header types 0..7)."""

    header_type: int
    network_id: int
    payment: Credential
    stake: Credential | None = None  # base addresses (types 0..3)
    pointer: bytes | None = None  # pointer addresses (types 4, 5): three CIP-19 varints

    def to_bytes(self) -> bytes:
        header = bytes([(self.header_type << 4) | self.network_id])
        tail = self.stake.hash if self.stake else (self.pointer or b"")
        return header + self.payment.hash + tail


# -- bech32 (BIP-173; no length limit, as CIP-19 asks) --------------------------------------------

_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_CHAR_VALUE = {c: i for i, c in enumerate(_CHARSET)}
_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
_CHECKSUM_SIZE = 6


def _polymod(values: list[int]) -> int:
    chk = 1
    for value in values:
        top = chk >> 25
        chk = ((chk & 0x1FFFFFF) << 5) ^ value
        for i, gen in enumerate(_GENERATOR):
            if (top >> i) & 1:
                chk ^= gen
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _to_words(data: bytes) -> list[int]:
    acc = bits = 0
    words: list[int] = []
    for byte in data:
        acc = (acc << 8) | byte
        bits += 8
        while bits >= 5:
            bits -= 5
            words.append((acc >> bits) & 31)
    if bits:
        words.append((acc << (5 - bits)) & 31)
    return words


def _from_words(words: list[int]) -> bytes:
    acc = bits = 0
    out = bytearray()
    for word in words:
        acc = ((acc << 5) | word) & 0xFFF
        bits += 5
        if bits >= 8:
            bits -= 8
            out.append((acc >> bits) & 0xFF)
    if bits >= 5 or (acc << (8 - bits)) & 0xFF:
        raise AddressError("bech32 data has invalid padding")
    return bytes(out)


def bech32_encode(hrp: str, data: bytes) -> str:
    """Bech32 (BIP-173) text of `data` under the human-readable part `hrp`."""
    if not hrp or any(not 33 <= ord(c) <= 126 for c in hrp) or hrp.lower() != hrp:
        raise AddressError(f"invalid bech32 prefix {hrp!r}")
    words = _to_words(data)
    polymod = _polymod([*_hrp_expand(hrp), *words, 0, 0, 0, 0, 0, 0]) ^ 1
    checksum = [(polymod >> (5 * (5 - i))) & 31 for i in range(_CHECKSUM_SIZE)]
    return hrp + "1" + "".join(_CHARSET[w] for w in words + checksum)


def bech32_decode(text: str) -> tuple[str, bytes]:
    """(prefix, data) of a bech32 string; AddressError says what is wrong with it."""
    if text.lower() != text and text.upper() != text:
        raise AddressError("bech32 text mixes upper and lower case")
    text = text.lower()
    sep = text.rfind("1")
    if sep < 1:
        raise AddressError("bech32 text has no prefix and '1' separator")
    hrp, data_part = text[:sep], text[sep + 1 :]
    if any(not 33 <= ord(c) <= 126 for c in hrp):
        raise AddressError(f"bech32 prefix {hrp!r} has invalid characters")
    if len(data_part) < _CHECKSUM_SIZE:
        raise AddressError("bech32 text is too short to hold a checksum")
    try:
        words = [_CHAR_VALUE[c] for c in data_part]
    except KeyError as exc:
        raise AddressError(f"bech32 text has invalid character {exc.args[0]!r}") from None
    if _polymod([*_hrp_expand(hrp), *words]) != 1:
        raise AddressError("bech32 checksum is wrong (mistyped or truncated address?)")
    return hrp, _from_words(words[:-_CHECKSUM_SIZE])


# -- raw addresses ---------------------------------------------------------------------------------


def decode_address(text: str) -> bytes:
    """Raw bytes of a Shelley payment address given as bech32 (`addr`, `addr_test`) or hex."""
    if not text:
        raise AddressError("address is empty")
    if _HEX_DIGITS.issuperset(text):
        if len(text) % 2:
            raise AddressError("hex address has an odd number of digits")
        raw = bytes.fromhex(text)
        parse_address(raw)
        return raw
    hrp, raw = bech32_decode(text)
    if hrp in ("stake", "stake_test"):
        raise AddressError("a stake (reward) address is not a payment address")
    if hrp not in ("addr", "addr_test"):
        raise AddressError(f"address prefix {hrp!r} is neither 'addr' nor 'addr_test'")
    parsed = parse_address(raw)
    expected = _HRP[MAINNET] if parsed.network_id == MAINNET else _HRP[TESTNET]
    if hrp != expected:
        raise AddressError(
            f"address prefix {hrp!r} does not match its network id {parsed.network_id}"
        )
    return raw


def encode_address(raw: bytes) -> str:
    """Bech32 text of raw Shelley address bytes: `addr` on mainnet (id 1), else `addr_test`."""
    _expect_bytes(raw)
    if not raw:
        raise AddressError("address is empty")
    network_id = raw[0] & 0x0F
    return bech32_encode(_HRP[MAINNET] if network_id == MAINNET else _HRP[TESTNET], raw)


def parse_address(raw: bytes) -> ShelleyAddress:
    """Parse and check raw Shelley payment address bytes (header types 0..7)."""
    _expect_bytes(raw)
    if not raw:
        raise AddressError("address is empty")
    header_type, network_id = raw[0] >> 4, raw[0] & 0x0F
    if header_type == _BYRON_TYPE:
        raise AddressError("Byron (bootstrap) addresses are not supported")
    if header_type in _REWARD_TYPES:
        raise AddressError("a stake (reward) address is not a payment address")
    if header_type > 7:
        raise AddressError(f"unknown address header type {header_type}")
    if network_id not in (TESTNET, MAINNET):
        raise AddressError(
            f"address network id {network_id} is neither 0 (testnet) nor 1 (mainnet)"
        )
    payment = Credential("script" if header_type & 1 else "key", raw[1 : 1 + HASH_SIZE])
    if header_type in _BASE_TYPES:
        _expect_length(raw, 1 + 2 * HASH_SIZE, "base")
        stake = Credential("script" if header_type & 2 else "key", raw[1 + HASH_SIZE :])
        return ShelleyAddress(header_type, network_id, payment, stake=stake)
    if header_type in _ENTERPRISE_TYPES:
        _expect_length(raw, 1 + HASH_SIZE, "enterprise")
        return ShelleyAddress(header_type, network_id, payment)
    if len(raw) < 1 + HASH_SIZE + 3:
        raise AddressError(f"pointer address is {len(raw)} bytes; at least {HASH_SIZE + 4} needed")
    pointer = raw[1 + HASH_SIZE :]
    decode_pointer(pointer)
    return ShelleyAddress(header_type, network_id, payment, pointer=pointer)


def decode_pointer(pointer: bytes) -> tuple[int, int, int]:
    """(slot, transaction index, certificate index) of a pointer address's stake reference."""
    numbers: list[int] = []
    value = 0
    for pos, byte in enumerate(pointer):
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            numbers.append(value)
            value = 0
            if len(numbers) == 3:
                if pos != len(pointer) - 1:
                    raise AddressError("pointer address has bytes after its three numbers")
                return numbers[0], numbers[1], numbers[2]
    raise AddressError("pointer address stake reference is truncated")


def payment_key_hash(raw: bytes) -> bytes | None:
    """Payment key hash of an address; None when no payment key can spend from it.

    None for a script payment credential and for a Byron address (spent with a bootstrap
    witness, not a payment key witness). Hot path (once per UTxO): only the header and the
    minimum length are checked, trusting bytes that came from the ledger. Reward addresses,
    unknown header types and too-short bytes raise AddressError.
    """
    if len(raw) >= 1 + HASH_SIZE and raw[0] < 0x80:
        return None if raw[0] & 0x10 else raw[1 : 1 + HASH_SIZE]
    if raw and raw[0] >> 4 == _BYRON_TYPE:
        return None
    raise AddressError(_no_payment_credential(raw))


def make_address(payment: Credential, stake: Credential | None, network_id: int) -> bytes:
    """Raw base address (payment + stake) or, with no stake credential, enterprise address."""
    if network_id not in (TESTNET, MAINNET):
        raise AddressError(f"network id {network_id} is neither 0 (testnet) nor 1 (mainnet)")
    if stake is None:
        header_type = 6 | int(payment.is_script)
        return bytes([(header_type << 4) | network_id]) + payment.hash
    header_type = int(payment.is_script) | (int(stake.is_script) << 1)
    return bytes([(header_type << 4) | network_id]) + payment.hash + stake.hash


def with_stake(payment_address: bytes, stake: Credential) -> bytes:
    """The base address with the payment credential and network of `payment_address`."""
    parsed = parse_address(payment_address)
    return make_address(parsed.payment, stake, parsed.network_id)


def script_address(script_hash: bytes, stake_script_hash: bytes | None, network_id: int) -> bytes:
    """A contract address: script payment with a script stake part (type 3, e.g. 0x31), or none."""
    stake = Credential.script(stake_script_hash) if stake_script_hash is not None else None
    return make_address(Credential.script(script_hash), stake, network_id)


def _expect_bytes(raw: object) -> None:
    """Raw address bytes, not text: name the function that turns text into them."""
    if isinstance(raw, (bytes, bytearray, memoryview)):
        return
    if isinstance(raw, str):
        raise AddressError(
            f"expected the raw address bytes, got the text {raw[:24]!r}...: turn a bech32 or "
            "hex address into bytes with cardano_market.domain.address.decode_address"
        )
    raise AddressError(f"expected the raw address bytes, got {type(raw).__name__}")


def _expect_length(raw: bytes, size: int, kind: str) -> None:
    if len(raw) != size:
        raise AddressError(f"{kind} address is {len(raw)} bytes; it must be {size}")


def _no_payment_credential(raw: bytes) -> str:
    if not raw:
        return "address is empty"
    header_type = raw[0] >> 4
    if header_type in _REWARD_TYPES:
        return "a stake (reward) address has no payment credential"
    if header_type > 7:
        return f"unknown address header type {header_type}"
    return f"address is {len(raw)} bytes; too short for a payment credential"
