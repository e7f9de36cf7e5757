"""Test-side transaction drafting for the devnet: bodies, witness sets and fees written out here.

The devnet's own encoders are not used to build what it validates: bodies go through
`tx.body.encode_body` (the builders' encoder, already checked against CSL) and witness sets, the
fee formula and the script data hash are written independently below.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import cbor2

from cardano_market.domain.address import Credential, make_address
from cardano_market.domain.cbor import encode_head
from cardano_market.domain.cip30 import OutRef, Utxo
from cardano_market.domain.keys import PaymentKey
from cardano_market.domain.outputs import TxOutput
from cardano_market.domain.params import ProtocolParameters
from cardano_market.domain.slots import SlotConfig
from cardano_market.domain.values import AssetId, Value
from cardano_market.ledger.exunits import ExUnits, RedeemerKey
from cardano_market.tx.body import encode_body
from txcheck import expected_min_fee

if TYPE_CHECKING:
    from cardano_market.chain.devnet.seed import Seed

ALWAYS_SUCCEEDS_V3 = bytes.fromhex("450101002499")  # (program 1.1.0 (lam ctx (con unit ())))
ALWAYS_FAILS_V3 = bytes.fromhex("450101002601")  # (program 1.1.0 (lam ctx (error)))
UNIT_DATA = bytes.fromhex("d87980")  # Constr 0 []


def declared_units(
    tx: bytes,
    resolved: Mapping[OutRef, Utxo],
    params: ProtocolParameters,
    slot_config: SlotConfig,
    *,
    enforce_budget: bool = True,
) -> dict[RedeemerKey, ExUnits]:
    """A phase-2 stand-in that passes every script, using exactly the declared budget."""
    del resolved, params, slot_config, enforce_budget
    witness_set = cbor2.loads(tx)[1]
    raw = witness_set.get(5, {})
    if isinstance(raw, dict):
        return {(_TAGS[k[0]], k[1]): ExUnits(v[1][0], v[1][1]) for k, v in raw.items()}
    return {(_TAGS[r[0]], r[1]): ExUnits(r[3][0], r[3][1]) for r in raw}


_TAGS = ("spend", "mint", "cert", "reward", "vote", "propose")


def key_hash(key: PaymentKey) -> bytes:
    return key.hash


def script_address(script_hash: bytes) -> bytes:
    return make_address(Credential.script(script_hash), None, 0)


def native_hash(script: bytes) -> bytes:
    return hashlib.blake2b(b"\x00" + script, digest_size=28).digest()


def plutus_v3_hash(script: bytes) -> bytes:
    return hashlib.blake2b(b"\x03" + script, digest_size=28).digest()


def sig_script(key: PaymentKey) -> bytes:
    return cbor2.dumps([0, key.hash])


def datum_hash(datum: bytes) -> bytes:
    return hashlib.blake2b(datum, digest_size=32).digest()


# -- the fee, written out independently -----------------------------------------------------------


# -- drafting --------------------------------------------------------------------------------------


@dataclass
class Redeemer:
    tag: int  # 0 spend, 1 mint, 2 cert, 3 reward
    index: int
    mem: int = 1_000_000
    steps: int = 500_000_000
    data: bytes = UNIT_DATA


@dataclass
class Draft:
    """A transaction to build; the last output is the change unless `balance` is False."""

    inputs: list[Utxo]
    outputs: list[TxOutput]
    signers: list[PaymentKey] = field(default_factory=list)
    fee: int | None = None  # None: the minimum for the final size
    fee_delta: int = 0  # added to the computed minimum (negative: underpay)
    balance: bool = True
    ttl: int | None = None
    validity_start: int | None = None
    mint: dict[AssetId, int] = field(default_factory=dict)
    reference_inputs: list[Utxo] = field(default_factory=list)
    collateral: list[Utxo] = field(default_factory=list)
    collateral_return: TxOutput | None = None
    total_collateral: int | None = None
    required_signers: list[bytes] = field(default_factory=list)
    native_scripts: list[bytes] = field(default_factory=list)
    plutus_v3: list[bytes] = field(default_factory=list)
    datums: list[bytes] = field(default_factory=list)
    redeemers: list[Redeemer] = field(default_factory=list)
    script_data_hash: bytes | str | None = "auto"
    cost_model_v3: Sequence[int] = ()
    is_valid: bool = True
    auxiliary_data: bytes | None = None
    aux_hash: bytes | str | None = "auto"
    ref_script_bytes: int = 0  # reference-script bytes the fee must pay for
    extra_body: dict[int, bytes] = field(default_factory=dict)


@dataclass
class Built:
    cbor: bytes
    body: bytes
    tx_id: bytes
    fee: int
    outputs: list[TxOutput]

    def utxo(self, index: int) -> OutRef:
        return (self.tx_id, index)


def redeemers_cbor(redeemers: Sequence[Redeemer]) -> bytes:
    """Map form `{[tag, index]: [data, [mem, steps]]}`, entries in (tag, index) order."""
    entries = sorted(redeemers, key=lambda r: (r.tag, r.index))
    return encode_head(5, len(entries)) + b"".join(
        cbor2.dumps([r.tag, r.index]) + b"\x82" + r.data + cbor2.dumps([r.mem, r.steps])
        for r in entries
    )


def expected_script_data_hash(
    redeemers: bytes | None, datums: bytes | None, v3_cost_model: Sequence[int] | None
) -> bytes:
    """blake2b-256(redeemers || datums || {2: [cost model]}) for a PlutusV3-only transaction."""
    views = b"\xa1\x02" + cbor2.dumps(list(v3_cost_model)) if v3_cost_model else b"\xa0"
    payload = (redeemers if redeemers is not None else b"\xa0") + (datums or b"") + views
    return hashlib.blake2b(payload, digest_size=32).digest()


def build(draft: Draft, params: ProtocolParameters) -> Built:
    fee = 0 if draft.fee is None else draft.fee
    for _ in range(8):
        built = _encode(draft, params, fee)
        if draft.fee is not None:
            return built
        mem = sum(r.mem for r in draft.redeemers)
        steps = sum(r.steps for r in draft.redeemers)
        needed = (
            expected_min_fee(params, len(built.cbor), mem, steps, draft.ref_script_bytes)
            + draft.fee_delta
        )
        if needed == fee:
            return built
        fee = needed
    raise AssertionError("the fee did not converge")


def _encode(draft: Draft, params: ProtocolParameters, fee: int) -> Built:
    outputs = list(draft.outputs)
    if draft.balance:
        spent = sum(u.value.coin for u in draft.inputs)
        paid = sum(o.value.coin for o in outputs[:-1])
        change = outputs[-1]
        outputs[-1] = change.with_coin(spent - paid - fee)
    extra: list[tuple[int, bytes]] = list(draft.extra_body.items())
    if draft.validity_start is not None:
        extra.append((8, cbor2.dumps(draft.validity_start)))
    if draft.mint:
        grouped: dict[bytes, dict[bytes, int]] = {}
        for (policy, name), qty in sorted(draft.mint.items()):
            grouped.setdefault(policy, {})[name] = qty
        extra.append((9, cbor2.dumps(grouped)))
    redeemers = redeemers_cbor(draft.redeemers) if draft.redeemers else None
    datums = encode_head(4, len(draft.datums)) + b"".join(draft.datums) if draft.datums else None
    if draft.script_data_hash == "auto":
        if redeemers is not None or datums is not None:
            model = (list(draft.cost_model_v3) or _v3(params)) if redeemers else None
            extra.append((11, cbor2.dumps(expected_script_data_hash(redeemers, datums, model))))
    elif isinstance(draft.script_data_hash, bytes):
        extra.append((11, cbor2.dumps(draft.script_data_hash)))
    if draft.collateral:
        extra.append((13, cbor2.dumps([list(u.out_ref) for u in draft.collateral])))
    if draft.required_signers:
        extra.append((14, cbor2.dumps(draft.required_signers)))
    if draft.collateral_return is not None:
        extra.append((16, draft.collateral_return.to_cbor()))
    if draft.total_collateral is not None:
        extra.append((17, cbor2.dumps(draft.total_collateral)))
    if draft.reference_inputs:
        extra.append((18, cbor2.dumps(sorted(list(u.out_ref) for u in draft.reference_inputs))))
    if draft.auxiliary_data is not None and draft.aux_hash == "auto":
        aux_hash = hashlib.blake2b(draft.auxiliary_data, digest_size=32).digest()
        extra.append((7, cbor2.dumps(aux_hash)))
    elif isinstance(draft.aux_hash, bytes):
        extra.append((7, cbor2.dumps(draft.aux_hash)))
    inputs = sorted(u.out_ref for u in draft.inputs)
    body = encode_body(inputs, [o.to_cbor() for o in outputs], fee, draft.ttl, extra)
    tx_id = hashlib.blake2b(body, digest_size=32).digest()
    entries: list[tuple[int, bytes]] = []
    if draft.signers:
        witnesses = {k.vkey: k.sign(tx_id) for k in draft.signers}
        entries.append((0, cbor2.dumps([[vk, sig] for vk, sig in witnesses.items()])))
    if draft.native_scripts:
        entries.append(
            (1, encode_head(4, len(draft.native_scripts)) + b"".join(draft.native_scripts))
        )
    if datums is not None:
        entries.append((4, datums))
    if redeemers is not None:
        entries.append((5, redeemers))
    if draft.plutus_v3:
        entries.append((7, cbor2.dumps(list(draft.plutus_v3))))
    witness_set = encode_head(5, len(entries)) + b"".join(cbor2.dumps(k) + v for k, v in entries)
    tx = (
        b"\x84"
        + body
        + witness_set
        + (b"\xf5" if draft.is_valid else b"\xf4")
        + (draft.auxiliary_data or b"\xf6")
    )
    return Built(tx, body, tx_id, fee, outputs)


def _v3(params: ProtocolParameters) -> list[int]:
    model: Any = params.cost_models["PlutusV3"]
    return list(model)


def fund(value: Value, address: bytes) -> TxOutput:
    return TxOutput(address, value)


def traced_demo_seed() -> Seed:
    """The demo seed deploying the traced build of the project's validators, so a refused
    transaction's error says why (the demo seed deploys the trace-free build). Traced scripts
    are larger, so its purchase bound is 1.5 ADA (a purchase costs about 1.29 ADA with them)."""
    import json

    from cardano_market.chain.devnet.seed import DEFAULT_SEED, parse_seed

    data = json.loads(DEFAULT_SEED.read_text(), parse_float=str)
    data["contracts"] = {"traced": True}
    data["marketplace"]["purchaseQueueBound"] = 1_500_000
    return parse_seed(data)
