"""Vkey witnesses: read them, make them (sign), and merge a CIP-30 `signTx` answer into a
transaction by splicing bytes, never re-encoding the body; and the sizes signing will add.

A transaction's id is blake2b-256 of its exact body bytes, and the script data hash covers the
exact redeemer and datum bytes: so the body and every witness-set entry other than the vkey
witnesses are copied byte-for-byte, and only the vkey witness array is written anew.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import cbor2

from ..domain.cbor import encode_head, item_end, split_map
from ..domain.errors import CborError, WitnessError
from ..domain.hashes import blake2b_256, key_hash
from .parse import (
    SET_TAG,
    TxPieces,
    VkeyWitness,
    as_bytes,
    check_vkey_witness,
    read_vkey_witnesses,
    split_transaction,
    transaction_id,
)

VKEY_WITNESS_SIZE = len(encode_head(4, 2) + encode_head(2, 32) + encode_head(2, 64)) + 32 + 64
"""Encoded size of one `[vkey(32), signature(64)]` witness: 101 bytes."""

_EMPTY_MAP = encode_head(5, 0)
WITNESS_SET_KEY_NAMES = {
    0: "vkey witnesses",
    1: "native scripts",
    2: "bootstrap witnesses",
    3: "Plutus V1 scripts",
    4: "Plutus data",
    5: "redeemers",
    6: "Plutus V2 scripts",
    7: "Plutus V3 scripts",
}
"""What each witness-set key holds (for messages)."""


@dataclass(frozen=True, slots=True)
class _WitnessSet:
    entries: list[tuple[int, bytes, bytes]]  # (key, key bytes, value bytes) in written order
    vkeys: list[VkeyWitness]
    tagged: bool  # key 0 was written as a tag-258 set


def vkey_witnesses(tx: bytes | str) -> list[VkeyWitness]:
    """The transaction's vkey witnesses in written order."""
    parsed = split_transaction(as_bytes(tx, "transaction"), "transaction")
    return _parse_witness_set(parsed.witness_set, "transaction witness set").vkeys


def missing_signers(tx: bytes | str, required: Iterable[bytes]) -> set[bytes]:
    """Key hashes in `required` that no vkey witness of `tx` signs for (partial signing check)."""
    wanted = _key_hashes(required)
    return wanted - {vkey_hash(vkey) for vkey, _sig in vkey_witnesses(tx)}


def vkey_hash(vkey: bytes) -> bytes:
    """The key hash that addresses and required signers use."""
    return key_hash(vkey)


def splice_witnesses(
    tx: bytes | str,
    wallet_response: bytes | str,
    *,
    required_signers: Iterable[bytes] | None = None,
) -> bytes:
    """`tx` with the vkey witnesses of a CIP-30 `signTx` answer merged in.

    The answer is normally a witness set; a whole signed transaction is accepted when its body is
    byte-identical to ours. Witnesses already present are de-duplicated by key; every new one must
    verify over the body hash. With `required_signers`, a new witness by a key outside that set is
    refused (the wallet signed with an account the transaction does not need, which would also
    make the transaction larger than the fee paid for); signers still missing are allowed.
    """
    tx = as_bytes(tx, "transaction")
    parsed = split_transaction(tx, "transaction")
    tx_id = blake2b_256(parsed.body)
    offered = _offered_witness_set(as_bytes(wallet_response, "wallet response"), parsed, tx_id)
    own = _parse_witness_set(parsed.witness_set, "transaction witness set")
    required = None if required_signers is None else _key_hashes(required_signers)

    signatures = dict(own.vkeys)
    added: list[VkeyWitness] = []
    for vkey, sig in offered.vkeys:
        if signatures.get(vkey) == sig:
            continue  # an echo of a witness we already hold
        _verify(vkey, sig, tx_id)
        if vkey in signatures:
            continue  # a second valid signature by a key we already hold: keep the first
        if required is not None and vkey_hash(vkey) not in required:
            raise WitnessError(
                f"key {vkey_hash(vkey).hex()} is not a required signer of transaction "
                f"{tx_id.hex()}: the wallet signed with another account"
            )
        signatures[vkey] = sig
        added.append((vkey, sig))

    extra = _merge_entries(own, offered)
    if not added and not extra:
        return tx
    witness_set = _encode_witness_set(own, own.vkeys + added, extra)
    return parsed.head + parsed.body + witness_set + parsed.rest


def make_witness_set(witnesses: Iterable[VkeyWitness]) -> bytes:
    """Witness set `{0: [[vkey, sig], ...]}` as a wallet's `signTx` returns it (`{}` if none)."""
    items = list(witnesses)
    for i, (vkey, sig) in enumerate(items):
        check_vkey_witness(vkey, sig, f"witness {i}")
    if not items:
        return _EMPTY_MAP
    return encode_head(5, 1) + encode_head(0, 0) + _encode_vkeys(items, tagged=True)


def sign_transaction(tx: bytes | str, signing_keys: Iterable[bytes]) -> bytes:
    """The witness set a wallet would return for `tx`, signed with 32-byte Ed25519 seeds."""
    from nacl.signing import SigningKey  # imported here: keeps the CLI's start-up fast

    tx_id = transaction_id(tx)
    witnesses: dict[bytes, bytes] = {}
    for i, seed in enumerate(signing_keys):
        if not isinstance(seed, bytes) or len(seed) != 32:
            size = len(seed) if isinstance(seed, bytes) else type(seed).__name__
            raise WitnessError(f"signing key {i} must be a 32-byte Ed25519 seed, got {size}")
        key = SigningKey(seed)
        witnesses.setdefault(bytes(key.verify_key), key.sign(tx_id).signature)
    return make_witness_set(witnesses.items())


def witness_set_size(n_vkeys: int) -> int:
    """Encoded size of the witness set `{0: [n vkey witnesses]}` (`{}`, one byte, when n is 0).

    This is what `splice_witnesses` writes into a transaction whose witness set was empty, so
    `len(unsigned) - 1 + witness_set_size(n)` is the signed size the fee must pay for.
    """
    if n_vkeys < 0:
        raise ValueError(f"a witness count cannot be negative, got {n_vkeys}")
    if n_vkeys == 0:
        return len(_EMPTY_MAP)
    return len(
        encode_head(5, 1) + encode_head(0, 0) + encode_head(6, SET_TAG) + encode_head(4, n_vkeys)
    ) + (n_vkeys * VKEY_WITNESS_SIZE)


def signed_size(tx: bytes | str, n_new_vkeys: int) -> int:
    """Exact size of `tx` once `n_new_vkeys` more distinct keys have signed it (`splice_witnesses`).

    Unlike `witness_set_size`, this holds for any witness set (redeemers, scripts, a tag-258 set,
    witnesses already present).
    """
    if n_new_vkeys < 0:
        raise ValueError(f"a witness count cannot be negative, got {n_new_vkeys}")
    data = as_bytes(tx, "transaction")
    if n_new_vkeys == 0:
        return len(data)
    parsed = split_transaction(data, "transaction")
    own = _parse_witness_set(parsed.witness_set, "transaction witness set")
    total = len(own.vkeys) + n_new_vkeys
    vkeys_size = (
        (len(encode_head(6, SET_TAG)) if _writes_tag(own) else 0)
        + len(encode_head(4, total))
        + total * VKEY_WITNESS_SIZE
    )
    key0 = next((key_bytes for key, key_bytes, _ in own.entries if key == 0), encode_head(0, 0))
    others = [(kb, vb) for key, kb, vb in own.entries if key != 0]
    entries_size = sum(len(kb) + len(vb) for kb, vb in others) + len(key0) + vkeys_size
    witness_set = len(encode_head(5, len(others) + 1)) + entries_size
    return len(parsed.head) + len(parsed.body) + witness_set + len(parsed.rest)


# -- parsing -------------------------------------------------------------------------------------


def _offered_witness_set(response: bytes, ours: TxPieces, tx_id: bytes) -> _WitnessSet:
    """The witness set in a wallet's answer: the answer itself, or that of a whole transaction."""
    if not response:
        raise CborError("wallet response is empty")
    major = response[0] >> 5
    if major == 5:
        end = item_end(response)
        if end != len(response):
            raise CborError(f"wallet response has {len(response) - end} trailing bytes")
        return _parse_witness_set(response, "wallet response witness set")
    if major == 4:
        theirs = split_transaction(response, "wallet response transaction")
        if theirs.body != ours.body:
            raise WitnessError(
                f"witnesses are for another transaction {blake2b_256(theirs.body).hex()},"
                f" expected {tx_id.hex()}"
            )
        return _parse_witness_set(theirs.witness_set, "wallet response witness set")
    raise CborError(
        "wallet response must be a witness set (CBOR map) or a transaction (CBOR array),"
        f" got CBOR major type {major}"
    )


def _parse_witness_set(data: bytes, where: str) -> _WitnessSet:
    pairs, _end = split_map(data)
    entries: list[tuple[int, bytes, bytes]] = []
    seen: set[int] = set()
    vkeys: list[VkeyWitness] = []
    tagged = False
    for key_bytes, value in pairs:
        key = _decode(key_bytes, f"{where} key")
        if not isinstance(key, int) or isinstance(key, bool) or key < 0:
            raise CborError(f"{where} keys must be unsigned integers, got {key!r}")
        if key in seen:
            raise CborError(f"{where} has key {key} twice")
        seen.add(key)
        entries.append((key, key_bytes, value))
        if key == 0:
            vkeys, tagged = read_vkey_witnesses(value, f"{where} key 0 (vkey witnesses)")
    return _WitnessSet(entries, vkeys, tagged)


# -- merging and writing -------------------------------------------------------------------------


def _merge_entries(own: _WitnessSet, offered: _WitnessSet) -> list[tuple[bytes, bytes]]:
    """The wallet's non-vkey entries we lack; the same key with other bytes is an error."""
    ours = {key: value for key, _kb, value in own.entries}
    extra: list[tuple[bytes, bytes]] = []
    for key, key_bytes, value in offered.entries:
        if key == 0:
            continue
        if key not in ours:
            extra.append((key_bytes, value))
        elif ours[key] != value:
            name = WITNESS_SET_KEY_NAMES.get(key, "unknown entry")
            raise WitnessError(
                f"witness set key {key} ({name}) differs between the transaction and the wallet"
                " response: it must be kept byte-for-byte"
            )
    return extra


def _encode_witness_set(
    own: _WitnessSet, vkeys: list[VkeyWitness], extra: list[tuple[bytes, bytes]]
) -> bytes:
    """Our entries in written order (key 0 rewritten, or put first), then the wallet's extras."""
    vkey_value = _encode_vkeys(vkeys, tagged=_writes_tag(own)) if vkeys else None
    entries: list[tuple[bytes, bytes]] = []
    for key, key_bytes, value in own.entries:
        entries.append((key_bytes, vkey_value if key == 0 and vkey_value else value))
    if vkey_value is not None and not any(key == 0 for key, _kb, _v in own.entries):
        entries.insert(0, (encode_head(0, 0), vkey_value))
    entries.extend(extra)
    return encode_head(5, len(entries)) + b"".join(k + v for k, v in entries)


def _writes_tag(own: _WitnessSet) -> bool:
    """Conway's tag-258 set form, unless the transaction already holds untagged vkey witnesses.

    CSL (what most wallets use) re-encodes and prices every set with the tag, so writing it keeps
    our size, and hence the fee we paid for, equal to what those wallets compute.
    """
    return own.tagged or not own.vkeys


def _encode_vkeys(witnesses: list[VkeyWitness], *, tagged: bool) -> bytes:
    head = encode_head(6, SET_TAG) if tagged else b""
    return (
        head
        + encode_head(4, len(witnesses))
        + b"".join(
            encode_head(4, 2) + encode_head(2, 32) + vkey + encode_head(2, 64) + sig
            for vkey, sig in witnesses
        )
    )


# -- small helpers -------------------------------------------------------------------------------


def _verify(vkey: bytes, sig: bytes, tx_id: bytes) -> None:
    from nacl.exceptions import CryptoError  # imported here: keeps the CLI's start-up fast
    from nacl.signing import VerifyKey

    try:
        VerifyKey(vkey).verify(tx_id, sig)
    except (CryptoError, ValueError, TypeError):
        raise WitnessError(
            f"signature by key {vkey_hash(vkey).hex()} does not verify over transaction"
            f" {tx_id.hex()}: it is for another transaction"
        ) from None


def _key_hashes(hashes: Iterable[bytes]) -> set[bytes]:
    result = set()
    for h in hashes:
        if not isinstance(h, bytes) or len(h) != 28:
            raise WitnessError(f"a required signer must be a 28-byte key hash, got {_describe(h)}")
        result.add(h)
    return result


def _decode(data: bytes, where: str) -> Any:
    try:
        return cbor2.loads(data)
    except Exception as exc:
        raise CborError(f"{where} is not well-formed CBOR: {exc}") from exc


def _describe(value: Any) -> str:
    return f"{len(value)} bytes" if isinstance(value, bytes) else type(value).__name__
