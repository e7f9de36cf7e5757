"""The one transaction parser: a Conway transaction cut into pieces and fields, exact bytes kept.

`split_transaction` cuts the outer array (head, body, witness set, rest) for witness splicing and
the transaction id; `parse_transaction` reads every field the devnet's ledger rules, the signing
gate and the chain history read.

The body's bytes give the id; each output's bytes are what the UTxO set stores; each datum's and
native script's bytes give its hash; the redeemer and datum sections' bytes feed the script data
hash. Small values are decoded with cbor2 (C extension), containers are split with the byte
scanner, so a simple payment parses in tens of microseconds. Malformed input raises CborError.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cbor2

from ..domain.cbor import encode_head, split_array, split_map
from ..domain.cip30 import OutRef, Utxo
from ..domain.errors import CborError
from ..domain.hashes import blake2b_256
from ..domain.values import AssetId
from .redeemers import Redeemer, read_redeemers

SET_TAG = 258
"""Conway's optional set tag, `#6.258([...])` (inputs, vkey witnesses, required signers ...)."""
SET_TAG_HEAD = b"\xd9\x01\x02"  # #6.258

VkeyWitness = tuple[bytes, bytes]
"""(verification key, signature)."""

# Witness-set keys of the Plutus script lists, by language (1 = V1, 2 = V2, 3 = V3).
PLUTUS_WITNESS_KEYS = {3: 1, 6: 2, 7: 3}

_BODY_KEYS = frozenset({0, 1, 2, 3, 4, 5, 7, 8, 9, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22})
_WITNESS_KEYS = frozenset(range(8))


@dataclass(slots=True)
class ParsedTx:
    raw: bytes
    body: bytes
    tx_id: bytes
    inputs: list[OutRef]  # ledger order (tx id bytes, then index)
    outputs: list[Utxo]  # with this transaction's id and their index, exact bytes kept
    fee: int
    ttl: int | None = None  # body key 3: first slot at which the tx is no longer valid
    validity_start: int | None = None  # body key 8
    certificates: list[Any] = field(default_factory=list)
    withdrawals: list[tuple[bytes, int]] = field(default_factory=list)  # reward account, coin
    mint: dict[AssetId, int] = field(default_factory=dict)  # signed quantities
    aux_data_hash: bytes | None = None
    script_data_hash: bytes | None = None
    collateral: list[OutRef] = field(default_factory=list)
    required_signers: list[bytes] = field(default_factory=list)
    network_id: int | None = None
    collateral_return: Utxo | None = None  # index = number of outputs, as the ledger assigns
    collateral_return_raw: bytes | None = None
    total_collateral: int | None = None
    reference_inputs: list[OutRef] = field(default_factory=list)
    has_votes: bool = False
    has_proposals: bool = False  # body key 20 present (whatever the deposits)
    proposal_deposits: int = 0
    donation: int = 0
    # witness set
    vkey_witnesses: list[tuple[bytes, bytes]] = field(default_factory=list)
    native_scripts: list[bytes] = field(default_factory=list)  # each script's exact CBOR
    plutus_scripts: list[tuple[int, bytes]] = field(default_factory=list)  # (version, bytes)
    bootstrap_witnesses: int = 0
    datums: list[bytes] = field(default_factory=list)  # each datum's exact CBOR
    datums_raw: bytes | None = None  # witness key 4 exactly as written
    redeemers: list[Redeemer] = field(default_factory=list)
    redeemers_raw: bytes | None = None  # witness key 5 exactly as written
    is_valid: bool = True
    auxiliary_data: bytes | None = None

    @property
    def size(self) -> int:
        return len(self.raw)


@dataclass(frozen=True, slots=True)
class TxPieces:
    """A transaction cut into its exact byte pieces (nothing decoded or re-encoded)."""

    head: bytes  # the outer array header, exactly as written
    body: bytes
    witness_set: bytes
    rest: bytes  # is_valid and auxiliary data (or aux only), plus the break of an indefinite array
    items: int  # 4, or 3 before Alonzo
    is_valid: bool  # the third item of a 4-item transaction (True before Alonzo)
    auxiliary_data: bytes | None  # the last item's bytes; None when it is null


def split_transaction(data: bytes, where: str = "transaction") -> TxPieces:
    """Cut `[body, witness set, is_valid, aux]` (or the 3-item pre-Alonzo form) into its pieces.

    Checks the outer shape only: an array of 3 or 4 items, a map body and witness set, a boolean
    is_valid; CborError (naming `where`) otherwise.
    """
    if not data:
        raise CborError(f"{where} is empty")
    if data[0] >> 5 != 4:
        raise CborError(f"{where} must be a CBOR array [body, witness set, is_valid, aux]")
    spans, end = split_array(data)
    if end != len(data):
        raise CborError(f"{where} has {len(data) - end} trailing bytes after the CBOR item")
    if len(spans) not in (3, 4):
        raise CborError(
            f"{where} must have 4 items [body, witness set, is_valid, aux] (or 3 before Alonzo),"
            f" got {len(spans)}"
        )
    (body_start, body_end), (ws_start, ws_end) = spans[0], spans[1]
    if data[body_start] >> 5 != 5:
        raise CborError(f"{where} body must be a CBOR map")
    if data[ws_start] >> 5 != 5:
        raise CborError(f"{where} witness set must be a CBOR map")
    validity = data[spans[2][0] : spans[2][1]] if len(spans) == 4 else b"\xf5"
    if validity not in (b"\xf4", b"\xf5"):
        raise CborError(f"{where} is_valid must be true or false")
    aux = data[spans[-1][0] : spans[-1][1]]
    return TxPieces(
        head=data[:body_start],
        body=data[body_start:body_end],
        witness_set=data[ws_start:ws_end],
        rest=data[ws_end:],
        items=len(spans),
        is_valid=validity == b"\xf5",
        auxiliary_data=None if aux == b"\xf6" else aux,
    )


def as_bytes(data: bytes | str, where: str) -> bytes:
    """`data` itself, or the bytes of a hex string; CborError for anything else."""
    if isinstance(data, str):
        try:
            return bytes.fromhex(data)
        except ValueError:
            raise CborError(f"{where} is not valid hex") from None
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data)
    raise CborError(f"{where} must be bytes or a hex string, got {type(data).__name__}")


def body_bytes(tx: bytes | str) -> bytes:
    """The body exactly as written in `tx` (bytes or hex)."""
    return split_transaction(as_bytes(tx, "transaction")).body


def transaction_id(tx: bytes | str) -> bytes:
    """The transaction's id: the hash of its exact body bytes (never of a re-encoding)."""
    return blake2b_256(body_bytes(tx))


def parse_transaction(raw: bytes) -> ParsedTx:
    """Read a Conway transaction `[body, witness set, is_valid, aux | null]` field by field."""
    pieces = split_transaction(raw)
    if pieces.items != 4:
        raise CborError(f"a Conway transaction has 4 items, this one has {pieces.items}")
    body = pieces.body
    tx = ParsedTx(raw=raw, body=body, tx_id=blake2b_256(body), inputs=[], outputs=[], fee=0)
    tx.is_valid = pieces.is_valid
    tx.auxiliary_data = pieces.auxiliary_data
    _parse_body(tx, pieces.body)
    _parse_witness_set(tx, pieces.witness_set)
    return tx


# -- body -----------------------------------------------------------------------------------------


def _parse_body(tx: ParsedTx, body: bytes) -> None:
    seen: set[int] = set()
    pairs, _ = split_map(body)
    for key_bytes, value in pairs:
        key = _load(key_bytes, "body key")
        if type(key) is not int or key not in _BODY_KEYS:
            raise CborError(f"unknown transaction body key {key!r}")
        if key in seen:
            raise CborError(f"transaction body key {key} appears twice")
        seen.add(key)
        _body_field(tx, key, value)
    for required in (0, 1, 2):
        if required not in seen:
            raise CborError(f"the transaction body has no key {required}")
    if tx.collateral_return_raw is not None:
        tx.collateral_return = _output(tx.tx_id, len(tx.outputs), tx.collateral_return_raw)


def _body_field(tx: ParsedTx, key: int, value: bytes) -> None:
    if key == 0:
        tx.inputs = _inputs(value, "inputs")
    elif key == 1:
        tx.outputs = [
            _output(tx.tx_id, ix, value[start:end])
            for ix, (start, end) in enumerate(split_array(value)[0])
        ]
    elif key == 2:
        tx.fee = _uint(value, "fee")
    elif key == 3:
        tx.ttl = _uint(value, "ttl")
    elif key == 4:
        certs = _load(_untag_set(value), "certificates")
        if not isinstance(certs, list) or not all(isinstance(c, list) and c for c in certs):
            raise CborError("certificates must be an array of certificate arrays")
        tx.certificates = certs
    elif key == 5:
        tx.withdrawals = _withdrawals(value)
    elif key == 7:
        tx.aux_data_hash = _hash(value, 32, "auxiliary data hash")
    elif key == 8:
        tx.validity_start = _uint(value, "validity interval start")
    elif key == 9:
        tx.mint = _mint(value)
    elif key == 11:
        tx.script_data_hash = _hash(value, 32, "script data hash")
    elif key == 13:
        tx.collateral = _inputs(value, "collateral inputs")
    elif key == 14:
        signers = _load(_untag_set(value), "required signers")
        if not isinstance(signers, list) or not all(
            isinstance(s, bytes) and len(s) == 28 for s in signers
        ):
            raise CborError("required signers must be a set of 28-byte key hashes")
        tx.required_signers = signers
    elif key == 15:
        tx.network_id = _uint(value, "network id")
    elif key == 16:
        tx.collateral_return_raw = value
    elif key == 17:
        tx.total_collateral = _uint(value, "total collateral")
    elif key == 18:
        tx.reference_inputs = _inputs(value, "reference inputs")
    elif key == 19:
        tx.has_votes = True
    elif key == 20:
        proposals = _load(_untag_set(value), "proposal procedures")
        if not isinstance(proposals, list) or not all(
            isinstance(p, list) and p and type(p[0]) is int for p in proposals
        ):
            raise CborError("proposal procedures must be [deposit, reward account, action, anchor]")
        tx.has_proposals = True
        tx.proposal_deposits = sum(p[0] for p in proposals)
    elif key == 22:
        tx.donation = _uint(value, "treasury donation")
    # key 21 (current treasury value) is read and ignored: the devnet keeps no treasury


def _output(tx_id: bytes, index: int, output: bytes) -> Utxo:
    prefix = b"\x82\x82\x58\x20" + tx_id + encode_head(0, index)
    try:
        return Utxo.from_cbor(prefix + output, f"output {index}")
    except CborError:
        raise
    except Exception as exc:  # a value cbor2 decodes but the domain rejects
        raise CborError(f"output {index}: {exc}") from exc


def _inputs(value: bytes, what: str) -> list[OutRef]:
    items = _load(_untag_set(value), what)
    if not isinstance(items, list):
        raise CborError(f"{what} must be an array of [tx id, index]")
    refs: list[OutRef] = []
    for item in items:
        if (
            not isinstance(item, list)
            or len(item) != 2
            or not isinstance(item[0], bytes)
            or len(item[0]) != 32
            or type(item[1]) is not int
            or not 0 <= item[1] < 2**16
        ):
            raise CborError(f"{what} must hold [32-byte tx id, output index] pairs")
        refs.append(OutRef(item[0], item[1]))
    if len(set(refs)) != len(refs):
        raise CborError(f"{what} hold the same input twice")
    return sorted(refs)


def _withdrawals(value: bytes) -> list[tuple[bytes, int]]:
    raw = _load(value, "withdrawals")
    if not isinstance(raw, dict):
        raise CborError("withdrawals must be a map of reward account to coin")
    out: list[tuple[bytes, int]] = []
    for account, coin in raw.items():
        if not isinstance(account, bytes) or len(account) != 29 or account[0] >> 4 not in (14, 15):
            raise CborError("a withdrawal's key must be a 29-byte reward account")
        if type(coin) is not int or coin < 0:
            raise CborError("a withdrawal's amount must be a uint")
        out.append((account, coin))
    return out


def _mint(value: bytes) -> dict[AssetId, int]:
    raw = _load(value, "mint")
    if not isinstance(raw, dict):
        raise CborError("mint must be a map of policy id to asset map")
    out: dict[AssetId, int] = {}
    for policy, names in raw.items():
        if not isinstance(policy, bytes) or len(policy) != 28:
            raise CborError("a mint policy id must be 28 bytes")
        if not isinstance(names, dict) or not names:
            raise CborError(f"mint policy {policy.hex()} must map to a non-empty asset map")
        for name, qty in names.items():
            if not isinstance(name, bytes) or len(name) > 32:
                raise CborError(f"a mint asset name under {policy.hex()} must be <= 32 bytes")
            if type(qty) is not int or qty == 0 or not -(2**63) <= qty < 2**63:
                raise CborError(
                    f"mint quantity of {policy.hex()}{name.hex()} must be a nonzero int64"
                )
            out[(policy, name)] = qty
    return out


# -- witness set ----------------------------------------------------------------------------------


def _parse_witness_set(tx: ParsedTx, data: bytes) -> None:
    seen: set[int] = set()
    for key_bytes, value in split_map(data)[0]:
        key = _load(key_bytes, "witness set key")
        if type(key) is not int or key not in _WITNESS_KEYS:
            raise CborError(f"unknown witness set key {key!r}")
        if key in seen:
            raise CborError(f"witness set key {key} appears twice")
        seen.add(key)
        if key == 0:
            tx.vkey_witnesses = read_vkey_witnesses(value, "vkey witnesses")[0]
        elif key == 1:
            tx.native_scripts = _raw_items(value)
        elif key == 2:
            tx.bootstrap_witnesses = len(_raw_items(value))
        elif key == 4:
            tx.datums_raw = value
            tx.datums = _raw_items(value)
        elif key == 5:
            tx.redeemers_raw = value
            tx.redeemers = read_redeemers(value)
        else:
            version = PLUTUS_WITNESS_KEYS[key]
            scripts = _load(_untag_set(value), f"Plutus V{version} scripts")
            if not isinstance(scripts, list) or not all(isinstance(s, bytes) for s in scripts):
                raise CborError(f"Plutus V{version} scripts must be an array of byte strings")
            tx.plutus_scripts.extend((version, s) for s in scripts)


# -- vkey witnesses (read here for the ledger rules and for witness splicing) ---------------------


def read_vkey_witnesses(value: bytes, where: str) -> tuple[list[VkeyWitness], bool]:
    """Witness key 0: the `[vkey, signature]` pairs in written order, and whether the array was
    written as a tag-258 set."""
    pos, tagged = 0, False
    if value[0] >> 5 == 6:
        tag, pos = _tag_head(value, where)
        if tag != SET_TAG:
            raise CborError(f"{where} carries tag {tag}; only the set tag {SET_TAG} is allowed")
        tagged = True
    if value[pos] >> 5 != 4:
        raise CborError(f"{where} must be an array of [vkey, signature]")
    spans, _end = split_array(value, pos)
    witnesses: list[VkeyWitness] = []
    for i, (start, end) in enumerate(spans):
        item = _load(value[start:end], f"{where} item {i}")
        if not isinstance(item, list) or len(item) != 2:
            raise CborError(f"{where} item {i} must be [vkey, signature]")
        vkey, sig = item
        check_vkey_witness(vkey, sig, f"{where} item {i}")
        witnesses.append((vkey, sig))
    return witnesses, tagged


def _tag_head(data: bytes, where: str) -> tuple[int, int]:
    """(tag number, position after the tag head) of the tag at the start of `data`."""
    info = data[0] & 0x1F
    if info < 24:
        return info, 1
    if info > 27:
        raise CborError(f"{where} has an invalid tag head 0x{data[0]:02x}")
    size = 1 << (info - 24)
    return int.from_bytes(data[1 : 1 + size], "big"), 1 + size


def check_vkey_witness(vkey: Any, sig: Any, where: str) -> None:
    """CborError unless `vkey` is 32 bytes and `sig` 64."""
    if not isinstance(vkey, bytes) or len(vkey) != 32:
        raise CborError(f"{where}: vkey must be 32 bytes, got {_describe(vkey)}")
    if not isinstance(sig, bytes) or len(sig) != 64:
        raise CborError(f"{where}: signature must be 64 bytes, got {_describe(sig)}")


def _describe(value: Any) -> str:
    return f"{len(value)} bytes" if isinstance(value, bytes) else type(value).__name__


# -- small helpers --------------------------------------------------------------------------------


def _untag_set(value: bytes) -> bytes:
    return value[3:] if value.startswith(SET_TAG_HEAD) else value


def _raw_items(value: bytes) -> list[bytes]:
    """Exact bytes of each element of an array (or tag-258 set)."""
    data = _untag_set(value)
    if not data or data[0] >> 5 != 4:
        raise CborError("expected an array")
    spans, end = split_array(data)
    if end != len(data):
        raise CborError("trailing bytes after an array")
    return [data[s:e] for s, e in spans]


def _load(data: bytes, what: str) -> Any:
    """Decode one item whose span the byte scanner already delimited."""
    try:
        return cbor2.loads(data)
    except Exception as exc:  # cbor2 raises several types for malformed input
        raise CborError(f"{what} is not well-formed CBOR: {exc}") from exc


def _uint(data: bytes, what: str) -> int:
    value = _load(data, what)
    if type(value) is not int or not 0 <= value < 2**64:
        raise CborError(f"{what} must be a uint")
    return value


def _hash(data: bytes, size: int, what: str) -> bytes:
    value = _load(data, what)
    if not isinstance(value, bytes) or len(value) != size:
        raise CborError(f"{what} must be {size} bytes")
    return value
