"""Conway ledger values as Plutus V3 data, the pieces of a `ScriptContext`'s `TxInfo`.

Credentials, out-refs, addresses (pointers resolved), values, outputs, validity ranges,
certificates, governance actions, proposals and votes, each in the order and shape the ledger's
`transTxInfo` gives them. `script_context.ContextBuilder` assembles them per transaction. Imports
`uplc` (through `plutus_data`): only `script_context` imports this module.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import cbor2

from ...domain.address import decode_pointer, parse_address
from ...domain.cbor import split_map
from ...domain.cip30 import OutRef, Utxo
from ...domain.errors import AddressError, DatumError
from ...domain.slots import SlotConfig
from .plutus_data import (
    FALSE,
    NOTHING,
    TRUE,
    PlutusData,
    bstr,
    constr,
    data_from_cbor,
    dlist,
    dmap,
    integer,
    just,
)
from .plutus_scripts import ScriptContextError, script_ref_hash

# -- simple translations --------------------------------------------------------------------------


def credential(kind: int, hash_: bytes) -> PlutusData:
    """Wire credential `[0, key hash]` / `[1, script hash]` -> PubKey- / ScriptCredential."""
    return constr(kind, bstr(hash_))


def out_ref(ref: OutRef) -> PlutusData:
    """V3 `TxOutRef{id, idx}`; the V3 TxId is the bare hash."""
    return constr(0, bstr(ref[0]), integer(ref[1]))


def _wire_credential(obj: Any, what: str) -> tuple[int, bytes]:
    if (
        not isinstance(obj, (list, tuple))
        or len(obj) != 2
        or obj[0] not in (0, 1)
        or not isinstance(obj[1], bytes)
        or len(obj[1]) != 28
    ):
        raise ScriptContextError(f"{what} must be a credential [0|1, 28-byte hash]")
    return int(obj[0]), obj[1]


def _credential_sort_key(kind: int, hash_: bytes) -> tuple[int, bytes]:
    """The ledger's `Credential` order: ScriptHashObj before KeyHashObj, then the hash."""
    return (0 if kind == 1 else 1, hash_)


def reward_account(account: bytes, what: str) -> tuple[int, bytes]:
    """(credential kind, hash) of a 29-byte reward account (header 0xe_ key, 0xf_ script)."""
    if not isinstance(account, bytes) or len(account) != 29 or account[0] >> 4 not in (14, 15):
        raise ScriptContextError(f"{what} must be a 29-byte reward account")
    return (1 if account[0] & 0x10 else 0), account[1:]


def reward_sort_key(account: bytes) -> tuple[int, int, bytes]:
    kind, hash_ = reward_account(account, "reward account")
    return (account[0] & 0x0F, *_credential_sort_key(kind, hash_))


def address(raw: bytes, what: str) -> PlutusData:
    """`Address{credential, Maybe StakingCredential}`; Byron addresses cannot be translated."""
    try:
        parsed = parse_address(raw)
    except AddressError as exc:
        if raw and raw[0] >> 4 == 8:
            raise ScriptContextError(
                f"{what} has a Byron address, which Plutus cannot see", rule="ByronTxOutInContext"
            ) from exc
        raise ScriptContextError(f"{what} has an address Plutus cannot see: {exc}") from exc
    payment = credential(1 if parsed.payment.is_script else 0, parsed.payment.hash)
    if parsed.stake is not None:
        stake = constr(0, credential(1 if parsed.stake.is_script else 0, parsed.stake.hash))
        return constr(0, payment, just(stake))
    if parsed.pointer is not None:
        slot, tx_ix, cert_ix = decode_pointer(parsed.pointer)
        return constr(0, payment, just(constr(1, integer(slot), integer(tx_ix), integer(cert_ix))))
    return constr(0, payment, NOTHING)


def value(coin: int | None, assets: Mapping[tuple[bytes, bytes], int]) -> PlutusData:
    """`Map CurrencySymbol (Map TokenName Integer)`: ADA first unless `coin` is None (V3 mint)."""
    grouped: dict[bytes, dict[bytes, int]] = {}
    for (policy, name), qty in sorted(assets.items()):
        grouped.setdefault(policy, {})[name] = qty
    pairs: list[tuple[PlutusData, PlutusData]] = []
    if coin is not None:
        pairs.append((bstr(b""), dmap([(bstr(b""), integer(coin))])))
    for policy, names in grouped.items():
        pairs.append((bstr(policy), dmap((bstr(n), integer(q)) for n, q in names.items())))
    return dmap(pairs)


def tx_out(utxo: Utxo, what: str) -> PlutusData:
    """V2/V3 `TxOut{address, value, datum, referenceScript}`."""
    if utxo.inline_datum is not None:
        datum = constr(2, data_of(utxo.inline_datum, f"{what} inline datum"))
    elif utxo.datum_hash is not None:
        datum = constr(1, bstr(utxo.datum_hash))
    else:
        datum = constr(0)
    ref_script = (
        NOTHING if utxo.script_ref is None else just(bstr(script_ref_hash(utxo.script_ref)))
    )
    return constr(
        0,
        address(utxo.address, what),
        value(utxo.value.coin, utxo.value.assets),
        datum,
        ref_script,
    )


def data_of(raw: bytes, what: str) -> PlutusData:
    try:
        return data_from_cbor(raw, what)
    except DatumError as exc:
        raise ScriptContextError(str(exc)) from exc


def validity_range(
    start_slot: int | None, ttl_slot: int | None, slot_config: SlotConfig
) -> PlutusData:
    """`Interval{LowerBound, UpperBound}` in POSIX ms: `[start, ttl)`, infinite ends closed."""
    if start_slot is None:
        lower = constr(0, constr(0), TRUE)  # NegInf, closed
    else:
        lower = constr(0, constr(1, integer(slot_config.slot_to_posix_ms(start_slot))), TRUE)
    if ttl_slot is None:
        upper = constr(0, constr(2), TRUE)  # PosInf, closed
    else:
        upper = constr(0, constr(1, integer(slot_config.slot_to_posix_ms(ttl_slot))), FALSE)
    return constr(0, lower, upper)


# -- certificates and governance ------------------------------------------------------------------


def _drep(obj: Any, what: str) -> PlutusData:
    if isinstance(obj, (list, tuple)) and obj and obj[0] in (0, 1) and len(obj) == 2:
        return constr(0, credential(*_wire_credential(obj, what)))
    if isinstance(obj, (list, tuple)) and len(obj) == 1 and obj[0] in (2, 3):
        return constr(obj[0] - 1)  # AlwaysAbstain = 1, AlwaysNoConfidence = 2
    raise ScriptContextError(f"{what} is not a DRep")


def _key_hash(obj: Any, what: str) -> PlutusData:
    if not isinstance(obj, bytes) or len(obj) != 28:
        raise ScriptContextError(f"{what} must be a 28-byte key hash")
    return bstr(obj)


def _coin(obj: Any, what: str) -> int:
    if type(obj) is not int or obj < 0:
        raise ScriptContextError(f"{what} must be a coin amount")
    return obj


def tx_cert(cert: Any, protocol_major: int = 10) -> PlutusData:
    """A Conway certificate (decoded CBOR array) as a V3 `TxCert`."""
    if not isinstance(cert, (list, tuple)) or not cert or type(cert[0]) is not int:
        raise ScriptContextError("a certificate must be an array starting with its kind")
    kind, args = cert[0], list(cert[1:])
    what = f"certificate kind {kind}"
    bootstrap = protocol_major == 9  # the ledger omits deposits during the Conway bootstrap

    def cred(i: int = 0) -> PlutusData:
        return credential(*_wire_credential(args[i] if len(args) > i else None, what))

    def need(n: int) -> None:
        if len(args) < n:
            raise ScriptContextError(f"{what} has {len(args)} fields, {n} expected")

    if kind in (0, 1):  # legacy (un)registration: no deposit shown
        need(1)
        return constr(kind, cred(), NOTHING)
    if kind in (7, 8):  # (un)registration with deposit / refund
        need(2)
        deposit = _coin(args[1], what)
        return constr(kind - 7, cred(), NOTHING if bootstrap else just(integer(deposit)))
    if kind == 2:
        need(2)
        return constr(2, cred(), constr(0, _key_hash(args[1], what)))
    if kind == 9:
        need(2)
        return constr(2, cred(), constr(1, _drep(args[1], what)))
    if kind == 10:
        need(3)
        return constr(2, cred(), constr(2, _key_hash(args[1], what), _drep(args[2], what)))
    if kind == 11:
        need(3)
        delegatee = constr(0, _key_hash(args[1], what))
        return constr(3, cred(), delegatee, integer(_coin(args[2], what)))
    if kind == 12:
        need(3)
        return constr(3, cred(), constr(1, _drep(args[1], what)), integer(_coin(args[2], what)))
    if kind == 13:
        need(4)
        delegatee = constr(2, _key_hash(args[1], what), _drep(args[2], what))
        return constr(3, cred(), delegatee, integer(_coin(args[3], what)))
    if kind == 16:
        need(2)
        return constr(4, cred(), integer(_coin(args[1], what)))
    if kind == 18:
        need(1)
        return constr(5, cred())
    if kind == 17:
        need(2)
        return constr(6, cred(), integer(_coin(args[1], what)))
    if kind == 3:
        need(2)
        vrf = args[1]
        if not isinstance(vrf, bytes) or len(vrf) != 32:
            raise ScriptContextError(f"{what} VRF key hash must be 32 bytes")
        return constr(7, _key_hash(args[0], what), bstr(vrf))
    if kind == 4:
        need(2)
        if type(args[1]) is not int or args[1] < 0:
            raise ScriptContextError(f"{what} epoch must be a uint")
        return constr(8, _key_hash(args[0], what), integer(args[1]))
    if kind == 14:
        need(2)
        return constr(9, cred(0), cred(1))
    if kind == 15:
        need(1)
        return constr(10, cred())
    raise ScriptContextError(f"{what} is not a Conway certificate")


def cert_script_hash(cert: Any) -> bytes | None:
    """The script credential a certificate needs a script witness from (None: no script)."""
    if not isinstance(cert, (list, tuple)) or len(cert) < 2 or cert[0] in (3, 4):
        return None
    cred = cert[1]
    if isinstance(cred, (list, tuple)) and len(cred) == 2 and cred[0] == 1:
        return bytes(cred[1])
    return None


_VOTER_GROUP = {0: (0, 0), 1: (0, 1), 2: (1, 0), 3: (1, 1), 4: (2, 0)}
"""Wire voter kind -> (PV3 Voter constructor, credential kind)."""


def _voter(obj: Any) -> tuple[int, int, bytes]:
    if (
        not isinstance(obj, (list, tuple))
        or len(obj) != 2
        or obj[0] not in _VOTER_GROUP
        or not isinstance(obj[1], bytes)
        or len(obj[1]) != 28
    ):
        raise ScriptContextError("a voter must be [0..4, 28-byte hash]")
    group, kind = _VOTER_GROUP[obj[0]]
    return group, kind, obj[1]


def voter_data(group: int, kind: int, hash_: bytes) -> PlutusData:
    if group == 2:
        return constr(2, bstr(hash_))  # StakePoolVoter PubKeyHash
    return constr(group, credential(kind, hash_))


def _voter_sort_key(voter: tuple[int, int, bytes]) -> tuple[int, int, bytes]:
    group, kind, hash_ = voter
    return (group, *_credential_sort_key(kind, hash_))


def _gov_action_id(obj: Any, what: str) -> tuple[bytes, int]:
    if (
        not isinstance(obj, (list, tuple))
        or len(obj) != 2
        or not isinstance(obj[0], bytes)
        or len(obj[0]) != 32
        or type(obj[1]) is not int
    ):
        raise ScriptContextError(f"{what} must be a governance action id [tx id, index]")
    return obj[0], obj[1]


def _maybe_gov_action_id(obj: Any, what: str) -> PlutusData:
    if obj is None:
        return NOTHING
    tx_id, ix = _gov_action_id(obj, what)
    return just(constr(0, bstr(tx_id), integer(ix)))


def _maybe_script_hash(obj: Any, what: str) -> PlutusData:
    if obj is None:
        return NOTHING
    if not isinstance(obj, bytes) or len(obj) != 28:
        raise ScriptContextError(f"{what} must be a 28-byte script hash or null")
    return just(bstr(obj))


def _credential_map(pairs: Sequence[tuple[int, bytes, int]]) -> PlutusData:
    ordered = sorted(pairs, key=lambda p: _credential_sort_key(p[0], p[1]))
    return dmap((credential(k, h), integer(n)) for k, h, n in ordered)


def gov_action(action: Any) -> PlutusData:
    """A Conway governance action (decoded CBOR) as a V3 `GovernanceAction`."""
    if not isinstance(action, (list, tuple)) or not action or type(action[0]) is not int:
        raise ScriptContextError("a governance action must be an array starting with its kind")
    kind, args = action[0], list(action[1:])
    what = f"governance action kind {kind}"
    try:
        if kind == 0:
            raise ScriptContextError(
                "a ParameterChange proposal cannot be shown to a Plutus script on the devnet"
                " (its ChangedParameters translation is not implemented)",
                rule="UnsupportedScriptContext",
            )
        if kind == 1:
            major, minor = args[1]
            version = constr(0, integer(major), integer(minor))
            return constr(1, _maybe_gov_action_id(args[0], what), version)
        if kind == 2:
            withdrawals = args[0]
            if not isinstance(withdrawals, Mapping):
                raise ScriptContextError(f"{what} withdrawals must be a map")
            entries = [
                (*reward_account(acct, what), _coin(coin, what))
                for acct, coin in withdrawals.items()
            ]
            return constr(2, _credential_map(entries), _maybe_script_hash(args[1], what))
        if kind == 3:
            return constr(3, _maybe_gov_action_id(args[0], what))
        if kind == 4:
            removed = args[1].value if isinstance(args[1], cbor2.CBORTag) else args[1]
            members = [_wire_credential(c, what) for c in removed]
            members.sort(key=lambda c: _credential_sort_key(*c))
            added = [(*_wire_credential(c, what), epoch) for c, epoch in args[2].items()]
            quorum = args[3].value if isinstance(args[3], cbor2.CBORTag) else args[3]
            ratio = Fraction(int(quorum[0]), int(quorum[1]))
            return constr(
                4,
                _maybe_gov_action_id(args[0], what),
                dlist(credential(k, h) for k, h in members),
                _credential_map(added),
                constr(0, integer(ratio.numerator), integer(ratio.denominator)),
            )
        if kind == 5:
            constitution = args[1]
            return constr(
                5,
                _maybe_gov_action_id(args[0], what),
                constr(0, _maybe_script_hash(constitution[1], what)),
            )
        if kind == 6:
            return constr(6)
    except (IndexError, TypeError, ValueError, AttributeError, ZeroDivisionError) as exc:
        raise ScriptContextError(f"{what} is malformed: {exc}") from exc
    raise ScriptContextError(f"{what} is not a Conway governance action")


def proposal(obj: Any) -> PlutusData:
    """`[deposit, reward account, action, anchor]` -> `ProposalProcedure{deposit, addr, action}`."""
    if not isinstance(obj, (list, tuple)) or len(obj) != 4:
        raise ScriptContextError("a proposal must be [deposit, reward account, action, anchor]")
    kind, hash_ = reward_account(obj[1], "proposal return address")
    return constr(
        0, integer(_coin(obj[0], "proposal deposit")), credential(kind, hash_), gov_action(obj[2])
    )


def proposal_script_hash(obj: Any) -> bytes | None:
    """The guardrail script a proposal runs (ParameterChange and TreasuryWithdrawals only)."""
    try:
        action = obj[2]
        if action[0] == 0 and isinstance(action[3], bytes):
            return bytes(action[3])
        if action[0] == 2 and isinstance(action[2], bytes):
            return bytes(action[2])
    except (IndexError, TypeError, KeyError):
        return None
    return None


# -- body keys the ledger parser leaves to the script context ----------------------------------


@dataclass(frozen=True, slots=True)
class Governance:
    votes: list[tuple[tuple[int, int, bytes], list[tuple[tuple[bytes, int], int]]]]
    proposals: list[Any]
    treasury: int | None


def read_governance(body: bytes) -> Governance:
    """Body keys 19 (votes), 20 (proposals) and 21 (current treasury), which `ParsedTx` skips."""
    votes: list[tuple[tuple[int, int, bytes], list[tuple[tuple[bytes, int], int]]]] = []
    proposals: list[Any] = []
    treasury: int | None = None
    for key_bytes, raw in split_map(body)[0]:
        key = cbor2.loads(key_bytes)
        if key == 19:
            for voter_bytes, actions_bytes in split_map(raw)[0]:
                voter = _voter(cbor2.loads(voter_bytes))
                cast: list[tuple[tuple[bytes, int], int]] = []
                for gaid_bytes, procedure_bytes in split_map(actions_bytes)[0]:
                    gaid = _gov_action_id(cbor2.loads(gaid_bytes), "voted action")
                    procedure = cbor2.loads(procedure_bytes)
                    if (
                        not isinstance(procedure, list)
                        or len(procedure) != 2
                        or procedure[0] not in (0, 1, 2)
                    ):
                        raise ScriptContextError("a voting procedure must be [vote 0..2, anchor]")
                    cast.append((gaid, procedure[0]))
                votes.append((voter, sorted(cast)))
        elif key == 20:
            items = cbor2.loads(raw[3:] if raw.startswith(b"\xd9\x01\x02") else raw)
            if not isinstance(items, list):
                raise ScriptContextError("proposal procedures must be an array")
            proposals = items
        elif key == 21:
            treasury = _coin(cbor2.loads(raw), "current treasury value")
    votes.sort(key=lambda v: _voter_sort_key(v[0]))
    return Governance(votes, proposals, treasury)
