"""A Conway transaction cut into the fields the ledger rules read, exact bytes kept where needed.

The body's bytes give the id; each output's bytes are what the UTxO set stores; each datum's and
native script's bytes give its hash; the redeemer and datum sections' bytes feed the script data
hash. Small values are decoded with cbor2 (C extension), containers are split with the byte
scanner, so a simple payment parses in tens of microseconds. Malformed input raises CborError.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cbor2

from ...domain.cbor import encode_head, split_array, split_map
from ...domain.cip30 import OutRef, Utxo
from ...domain.errors import CborError
from ...domain.hashes import blake2b_256
from ...domain.values import AssetId

SET_TAG_HEAD = b"\xd9\x01\x02"  # #6.258

REDEEMER_TAGS = ("spend", "mint", "cert", "reward", "vote", "propose")

# Witness-set keys of the Plutus script lists, by language (1 = V1, 2 = V2, 3 = V3).
PLUTUS_WITNESS_KEYS = {3: 1, 6: 2, 7: 3}

_BODY_KEYS = frozenset({0, 1, 2, 3, 4, 5, 7, 8, 9, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22})
_WITNESS_KEYS = frozenset(range(8))


@dataclass(frozen=True, slots=True)
class Redeemer:
    tag: str  # one of REDEEMER_TAGS
    index: int
    mem: int
    steps: int

    @property
    def key(self) -> tuple[str, int]:
        return (self.tag, self.index)


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


def parse_transaction(raw: bytes) -> ParsedTx:
    """Split a Conway transaction `[body, witness set, is_valid, aux | null]`."""
    if not raw or raw[0] >> 5 != 4:
        raise CborError("a transaction must be a CBOR array [body, witness set, is_valid, aux]")
    spans, end = split_array(raw)
    if end != len(raw):
        raise CborError(f"the transaction has {len(raw) - end} bytes after its CBOR item")
    if len(spans) != 4:
        raise CborError(f"a Conway transaction has 4 items, this one has {len(spans)}")
    body = raw[spans[0][0] : spans[0][1]]
    tx_id = blake2b_256(body)
    validity = raw[spans[2][0] : spans[2][1]]
    if validity not in (b"\xf4", b"\xf5"):
        raise CborError("the transaction's third item (is_valid) must be true or false")
    aux = raw[spans[3][0] : spans[3][1]]
    tx = ParsedTx(raw=raw, body=body, tx_id=tx_id, inputs=[], outputs=[], fee=0)
    tx.is_valid = validity == b"\xf5"
    tx.auxiliary_data = None if aux == b"\xf6" else aux
    _parse_body(tx, body)
    _parse_witness_set(tx, raw[spans[1][0] : spans[1][1]])
    return tx


# -- body -----------------------------------------------------------------------------------------


def _parse_body(tx: ParsedTx, body: bytes) -> None:
    if body[0] >> 5 != 5:
        raise CborError("the transaction body must be a CBOR map")
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
    if data[0] >> 5 != 5:
        raise CborError("the witness set must be a CBOR map")
    seen: set[int] = set()
    for key_bytes, value in split_map(data)[0]:
        key = _load(key_bytes, "witness set key")
        if type(key) is not int or key not in _WITNESS_KEYS:
            raise CborError(f"unknown witness set key {key!r}")
        if key in seen:
            raise CborError(f"witness set key {key} appears twice")
        seen.add(key)
        if key == 0:
            tx.vkey_witnesses = _vkeys(value)
        elif key == 1:
            tx.native_scripts = _raw_items(value)
        elif key == 2:
            tx.bootstrap_witnesses = len(_raw_items(value))
        elif key == 4:
            tx.datums_raw = value
            tx.datums = _raw_items(value)
        elif key == 5:
            tx.redeemers_raw = value
            tx.redeemers = _redeemers(value)
        else:
            version = PLUTUS_WITNESS_KEYS[key]
            scripts = _load(_untag_set(value), f"Plutus V{version} scripts")
            if not isinstance(scripts, list) or not all(isinstance(s, bytes) for s in scripts):
                raise CborError(f"Plutus V{version} scripts must be an array of byte strings")
            tx.plutus_scripts.extend((version, s) for s in scripts)


def _vkeys(value: bytes) -> list[tuple[bytes, bytes]]:
    items = _load(_untag_set(value), "vkey witnesses")
    if not isinstance(items, list):
        raise CborError("vkey witnesses must be an array")
    out: list[tuple[bytes, bytes]] = []
    for item in items:
        if (
            not isinstance(item, list)
            or len(item) != 2
            or not isinstance(item[0], bytes)
            or len(item[0]) != 32
            or not isinstance(item[1], bytes)
            or len(item[1]) != 64
        ):
            raise CborError("a vkey witness must be [32-byte vkey, 64-byte signature]")
        out.append((item[0], item[1]))
    return out


def _redeemers(value: bytes) -> list[Redeemer]:
    raw = _load(value, "redeemers")
    entries: list[tuple[Any, Any, Any]] = []
    if isinstance(raw, list):  # [+ [tag, index, data, ex_units]]
        for item in raw:
            if not isinstance(item, list) or len(item) != 4:
                raise CborError("a redeemer must be [tag, index, data, ex_units]")
            entries.append((item[0], item[1], item[3]))
    elif isinstance(raw, dict):  # {+ [tag, index] => [data, ex_units]}
        for key, item in raw.items():
            if not isinstance(key, (list, tuple)) or len(key) != 2:
                raise CborError("a redeemer key must be [tag, index]")
            if not isinstance(item, list) or len(item) != 2:
                raise CborError("a redeemer value must be [data, ex_units]")
            entries.append((key[0], key[1], item[1]))
    else:
        raise CborError("redeemers must be an array or a map")
    out: list[Redeemer] = []
    seen: set[tuple[str, int]] = set()
    for tag, index, units in entries:
        if type(tag) is not int or not 0 <= tag < len(REDEEMER_TAGS):
            raise CborError(f"unknown redeemer tag {tag!r}")
        if type(index) is not int or index < 0:
            raise CborError("a redeemer index must be a uint")
        if (
            not isinstance(units, list)
            or len(units) != 2
            or not all(type(u) is int and u >= 0 for u in units)
        ):
            raise CborError("redeemer ex-units must be [mem, steps]")
        redeemer = Redeemer(REDEEMER_TAGS[tag], index, units[0], units[1])
        if redeemer.key in seen:
            raise CborError(f"two redeemers for {redeemer.tag} {redeemer.index}")
        seen.add(redeemer.key)
        out.append(redeemer)
    return out


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
