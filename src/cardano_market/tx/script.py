"""Transactions that run Plutus V3 scripts: script inputs, mints, reference inputs, collateral.

One function over explicit inputs (`build_script_transaction`). The wallet's UTxOs are selected
with `tx.select` and change is made as `tx.balance` makes it; on top of that:

- outputs and mints may depend on the spent inputs (a pointer name commits to the first input in
  ledger order), so they come from a `Shape` recomputed whenever selection changes the inputs;
- redeemer ex-units are found by building with placeholders, asking `evaluate` (normally the
  chain backend's), rebuilding with the evaluated units, and repeating until nothing changes;
- fee = size fee for the exact signed size (every vkey witness that will be added: wallet inputs,
  collateral inputs and required signers) + ex-units x prices + the tiered reference-script fee
  over every script reference among spent and referenced UTxOs (`domain.fees.min_fee`);
- collateral comes from the operator's ADA-only key UTxOs, with a collateral return and the total
  collateral (body keys 16, 17) set to ceil(fee x collateralPercent / 100).

Redeemers use the Conway map form `{[tag, index]: [data, [mem, steps]]}` (the devnet ledger and
cardano-serialization-lib both read it); spend indices follow the inputs' ledger order, mint
indices the sorted policy ids. The script data hash (body key 11) covers the exact redeemer bytes
and the PlutusV3 language view.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import cbor2

from ..domain.address import payment_key_hash
from ..domain.cbor import encode_head
from ..domain.cip30 import OutRef, Utxo
from ..domain.errors import InsufficientFundsError, MarketError
from ..domain.fees import min_fee, reference_scripts_size
from ..domain.outputs import TxOutput
from ..domain.params import ProtocolParameters
from ..domain.scriptdata import language_views, script_data_hash
from ..domain.values import AssetId, Value, canonical_key, sum_values, unit_of
from ..ledger.exunits import ExUnits, RedeemerKey
from ..ledger.redeemers import encode_redeemers
from ..ledger.scripts import PLUTUS_V3
from ..ledger.witness import witness_set_size
from .balance import TransactionTooLargeError, _make_change, _Short
from .body import SET_TAG, body_hash, encode_body, encode_inputs, encode_transaction
from .select import Selection, start_selection

_MAX_FEE_ROUNDS = 10
_MAX_EVALUATIONS = 6


class ScriptTransactionError(MarketError):
    """The script transaction cannot be built as asked (not a shortfall of the wallet)."""


class CollateralError(ScriptTransactionError):
    """The operator's collateral UTxOs cannot cover the collateral the fee requires."""


@dataclass(frozen=True, slots=True)
class ScriptInput:
    """A UTxO at a script address, spent with `redeemer` (Plutus data CBOR); inline datum only."""

    utxo: Utxo
    redeemer: bytes


@dataclass(frozen=True, slots=True)
class Mint:
    """Tokens of one policy minted (positive) or burned (negative), run with `redeemer`."""

    policy: bytes
    assets: Mapping[bytes, int]  # asset name -> quantity
    redeemer: bytes


@dataclass(frozen=True, slots=True)
class Shape:
    """The outputs (before change) and mints of a transaction spending a given set of inputs."""

    outputs: Sequence[TxOutput]
    mints: Sequence[Mint] = ()


ShapeFor = Callable[[Sequence[OutRef]], Shape]
"""Outputs and mints for the transaction's inputs, in ledger order."""

Evaluate = Callable[[bytes], Mapping[RedeemerKey, ExUnits]]
"""Ex-units per redeemer of an unsigned transaction (e.g. `ChainBackend.evaluate`)."""


@dataclass(frozen=True, slots=True)
class ScriptTransaction:
    cbor: bytes  # the unsigned transaction (witness set: redeemers only)
    body: bytes
    tx_id: bytes
    fee: int
    inputs: list[Utxo]  # every spent input, in ledger order
    outputs: list[TxOutput]  # the shape's outputs, then change
    change_count: int
    mints: list[Mint]
    reference_inputs: list[Utxo]
    collateral: list[Utxo]
    collateral_return: TxOutput | None
    total_collateral: int
    required_signers: list[bytes]
    ex_units: dict[RedeemerKey, ExUnits]
    vkey_witnesses: int  # how many signatures will be added (the fee was paid for that many)
    signed_size: int

    @property
    def tx_id_hex(self) -> str:
        return self.tx_id.hex()

    @property
    def cbor_hex(self) -> str:
        return self.cbor.hex()


_Target = OutRef | bytes  # a spent input's out-ref or a minting policy id


def build_script_transaction(
    *,
    wallet_utxos: Sequence[Utxo],
    change_address: bytes,
    shape: Shape | ShapeFor,
    params: ProtocolParameters,
    evaluate: Evaluate,
    collateral_utxos: Sequence[Utxo],
    collateral_return_address: bytes | None = None,
    script_inputs: Sequence[ScriptInput] = (),
    reference_inputs: Sequence[Utxo] = (),
    required_signers: Iterable[bytes] = (),
    validity_start: int | None = None,
    ttl: int | None = None,
    leftover_to_fee: bool = False,
) -> ScriptTransaction:
    """Select, balance, evaluate and settle a transaction that runs Plutus V3 scripts.

    The scripts must be reachable as reference scripts (among `reference_inputs` or the spent
    inputs). Raises InsufficientFundsError when the wallet cannot pay, CollateralError when the
    collateral UTxOs cannot cover the collateral, and the evaluator's error when a script fails.
    With `leftover_to_fee` no ADA-only change is made: the lovelace left over joins the fee.
    """
    plan = _Plan(
        shape_for=shape if callable(shape) else _fixed(shape),
        change_address=change_address,
        params=params,
        collateral=_collateral_pool(collateral_utxos),
        collateral_return_address=collateral_return_address,
        script_inputs={s.utxo.out_ref: s for s in script_inputs},
        reference_inputs=sorted(
            {u.out_ref: u for u in reference_inputs}.values(), key=lambda u: u.out_ref
        ),
        required_signers=sorted(set(required_signers)),
        validity_start=validity_start,
        ttl=ttl,
        leftover_to_fee=leftover_to_fee,
    )
    selection = start_selection(u for u in wallet_utxos if u.out_ref not in plan.script_inputs)
    units: dict[_Target, ExUnits] = {}
    for _ in range(_MAX_EVALUATIONS):
        built = _balance(plan, selection, units)
        evaluated = evaluate(built.cbor)
        settled = _units_by_target(built, evaluated)
        if settled == {t: units.get(t, _PLACEHOLDER) for t in settled}:
            _check_budget(built, params)
            return built
        units.update(settled)
    raise ScriptTransactionError("the redeemers' ex-units did not settle")


_PLACEHOLDER = ExUnits(0, 0)


def _fixed(shape: Shape) -> ShapeFor:
    def shape_for(_inputs: Sequence[OutRef]) -> Shape:
        return shape

    return shape_for


@dataclass(frozen=True, slots=True)
class _Plan:
    shape_for: ShapeFor
    change_address: bytes
    params: ProtocolParameters
    collateral: list[Utxo]
    collateral_return_address: bytes | None
    script_inputs: dict[OutRef, ScriptInput]
    reference_inputs: list[Utxo]
    required_signers: list[bytes]
    validity_start: int | None
    ttl: int | None
    leftover_to_fee: bool


def _balance(
    plan: _Plan, selection: Selection, units: Mapping[_Target, ExUnits]
) -> ScriptTransaction:
    """Add wallet UTxOs until the shape for the chosen inputs balances; build it."""
    while True:
        chosen = sorted(selection.chosen, key=lambda u: u.out_ref)
        spent = sorted([*chosen, *(s.utxo for s in plan.script_inputs.values())], key=_ref)
        if not spent:  # a shape may depend on the inputs (a pointer name): start with one
            if not selection.top_up(0):
                _raise_short(selection, {"lovelace": plan.params.min_fee_b})
            continue
        shape = plan.shape_for([u.out_ref for u in spent])
        minted, burned = _mint_values(shape.mints)
        needed = sum_values(o.value for o in shape.outputs) + burned
        supplied = sum_values(u.value for u in spent) + minted
        wanted = {a: q - supplied.quantity(a) for a, q in needed.assets.items()}
        missing = selection.cover_tokens(Value(0, {a: q for a, q in wanted.items() if q > 0}))
        if missing:
            _raise_short(selection, {unit_of(a): q for a, q in missing.items()})
        if len(selection.chosen) != len(chosen):
            continue  # new inputs: the shape may change with them
        result = _settle(plan, selection, spent, shape, supplied, needed, units)
        if isinstance(result, ScriptTransaction):
            return result
        if not selection.top_up(result.lovelace):
            _raise_short(selection, {"lovelace": result.lovelace})


def _settle(
    plan: _Plan,
    selection: Selection,
    spent: list[Utxo],
    shape: Shape,
    supplied: Value,
    needed: Value,
    units: Mapping[_Target, ExUnits],
) -> ScriptTransaction | _Short:
    """The fee fixed point for one set of inputs (as `tx.balance`), collateral included."""
    params = plan.params
    if supplied.coin < needed.coin:
        return _Short(needed.coin - supplied.coin + params.min_fee_b)
    change_tokens = supplied.tokens() - needed.tokens()
    wallet_keys = {
        payment_key_hash(u.address) for u in spent if u.out_ref not in plan.script_inputs
    }
    signers = {k for k in wallet_keys | set(plan.required_signers) if k is not None}
    redeemers = _redeemers(spent, shape.mints, plan.script_inputs, units)
    mem = sum(u.mem for _k, _d, u in redeemers)
    steps = sum(u.steps for _k, _d, u in redeemers)
    ref_size = reference_scripts_size((*spent, *plan.reference_inputs))
    redeemer_bytes = encode_redeemers(redeemers)
    witness_set = encode_head(5, 1) + b"\x05" + redeemer_bytes if redeemers else encode_head(5, 0)
    data_hash = (
        script_data_hash(redeemer_bytes, None, language_views({PLUTUS_V3}, params.cost_models))
        if redeemers
        else None
    )
    fee = min_fee(params, 0, mem=mem, steps=steps, ref_script_size=ref_size)
    for _ in range(_MAX_FEE_ROUNDS):
        leftover = supplied.coin - needed.coin - fee
        exhausted = not selection.has_remaining()
        if plan.leftover_to_fee and leftover >= 0 and change_tokens.is_ada_only:
            change: list[TxOutput] | _Short = []
        else:
            change = _make_change(change_tokens, leftover, plan.change_address, params, exhausted)
        if isinstance(change, _Short):
            return change
        # below an ADA-only change's min-ADA with nothing left to add: the dust joins the fee
        fee_paid = fee + leftover - sum(c.value.coin for c in change)
        parts = _Parts(spent, shape, change, fee_paid, plan, redeemers, witness_set, data_hash)
        tx, body, collateral = parts.encode()
        collateral_keys = {payment_key_hash(u.address) for u in collateral[0]}
        witnesses = len(signers | {k for k in collateral_keys if k is not None})
        size = len(tx) + witness_set_size(witnesses) - 1  # key 0 joins the map; head unchanged
        required = min_fee(params, size, mem=mem, steps=steps, ref_script_size=ref_size)
        if required <= fee:
            if size > params.max_tx_size:
                raise TransactionTooLargeError(
                    f"the transaction would be {size} bytes signed; the limit is "
                    f"{params.max_tx_size}"
                )
            coll_utxos, coll_return, coll_total = collateral
            return ScriptTransaction(
                cbor=tx,
                body=body,
                tx_id=body_hash(body),
                fee=fee_paid,
                inputs=spent,
                outputs=[*shape.outputs, *change],
                change_count=len(change),
                mints=_sorted_mints(shape.mints),
                reference_inputs=list(plan.reference_inputs),
                collateral=coll_utxos,
                collateral_return=coll_return,
                total_collateral=coll_total,
                required_signers=list(plan.required_signers),
                ex_units={key: u for key, _data, u in redeemers},
                vkey_witnesses=witnesses,
                signed_size=size,
            )
        fee = required
    raise ScriptTransactionError("the fee did not converge")  # unreachable: sizes are bounded


@dataclass(frozen=True, slots=True)
class _Parts:
    spent: list[Utxo]
    shape: Shape
    change: list[TxOutput]
    fee: int
    plan: _Plan
    redeemers: list[tuple[RedeemerKey, bytes, ExUnits]]
    witness_set: bytes
    data_hash: bytes | None

    def encode(self) -> tuple[bytes, bytes, tuple[list[Utxo], TxOutput | None, int]]:
        plan = self.plan
        extra: list[tuple[int, bytes]] = []
        if plan.validity_start is not None:
            extra.append((8, cbor2.dumps(plan.validity_start)))
        if self.shape.mints:
            extra.append((9, encode_mint(self.shape.mints)))
        if self.data_hash is not None:
            extra.append((11, cbor2.dumps(self.data_hash)))
        collateral: tuple[list[Utxo], TxOutput | None, int] = ([], None, 0)
        if self.redeemers:
            collateral = choose_collateral(
                plan.collateral, self.fee, plan.params, plan.collateral_return_address
            )
            utxos, returned, total = collateral
            extra.append((13, encode_inputs(sorted(u.out_ref for u in utxos))))
            if returned is not None:
                extra.append((16, returned.to_cbor()))
            extra.append((17, cbor2.dumps(total)))
        if plan.required_signers:
            signers = plan.required_signers
            extra.append(
                (14, SET_TAG + encode_head(4, len(signers)) + b"".join(map(cbor2.dumps, signers)))
            )
        if plan.reference_inputs:
            extra.append((18, encode_inputs([u.out_ref for u in plan.reference_inputs])))
        outputs = [o.to_cbor() for o in (*self.shape.outputs, *self.change)]
        body = encode_body([u.out_ref for u in self.spent], outputs, self.fee, plan.ttl, extra)
        return encode_transaction(body, self.witness_set), body, collateral


# -- collateral -----------------------------------------------------------------------------------


def _collateral_pool(utxos: Sequence[Utxo]) -> list[Utxo]:
    """ADA-only UTxOs at key addresses, largest first (the ledger refuses anything else)."""
    pool = {
        u.out_ref: u
        for u in utxos
        if u.value.is_ada_only and payment_key_hash(u.address) is not None
    }
    return sorted(pool.values(), key=lambda u: (-u.value.coin, u.out_ref))


def choose_collateral(
    pool: Sequence[Utxo],
    fee: int,
    params: ProtocolParameters,
    return_address: bytes | None = None,
) -> tuple[list[Utxo], TxOutput | None, int]:
    """(inputs, collateral return, total collateral) for `fee`: total = ceil(fee x pct / 100).

    Takes the largest UTxOs first (at most `max_collateral_inputs`); what is left over goes back
    in the return output (to `return_address`, default the first input's address) when it meets
    min-ADA, otherwise it stays in the total collateral.
    """
    needed = -(-fee * params.collateral_percent // 100)
    chosen: list[Utxo] = []
    total = 0
    for utxo in pool[: params.max_collateral_inputs]:
        chosen.append(utxo)
        total += utxo.value.coin
        if total < needed:
            continue
        address = return_address or chosen[0].address
        if total == needed:
            return chosen, None, total
        returned = TxOutput(address, Value(total - needed))
        if returned.value.coin >= returned.min_ada(params):
            return chosen, returned, needed
    if chosen and total >= needed:
        return chosen, None, total  # the remainder is below min-ADA: all of it is collateral
    raise CollateralError(
        f"the collateral UTxOs hold {total} lovelace in ADA-only key UTxOs (at most "
        f"{params.max_collateral_inputs} used); {needed} are needed for a fee of {fee}"
    )


# -- redeemers, mints, reference scripts ----------------------------------------------------------


def _ref(utxo: Utxo) -> OutRef:
    return utxo.out_ref


def _redeemers(
    spent: Sequence[Utxo],
    mints: Sequence[Mint],
    script_inputs: Mapping[OutRef, ScriptInput],
    units: Mapping[_Target, ExUnits],
) -> list[tuple[RedeemerKey, bytes, ExUnits]]:
    """(key, data, units) of every redeemer, in (tag, index) order."""
    entries: list[tuple[RedeemerKey, bytes, ExUnits]] = []
    for index, utxo in enumerate(spent):
        script = script_inputs.get(utxo.out_ref)
        if script is not None:
            unit = units.get(utxo.out_ref, _PLACEHOLDER)
            entries.append((("spend", index), script.redeemer, unit))
    for index, mint in enumerate(_sorted_mints(mints)):
        unit = units.get(mint.policy, _PLACEHOLDER)
        entries.append((("mint", index), mint.redeemer, unit))
    return entries


def _units_by_target(
    built: ScriptTransaction, evaluated: Mapping[RedeemerKey, ExUnits]
) -> dict[_Target, ExUnits]:
    targets: dict[RedeemerKey, _Target] = {}
    script_refs = {k for k in built.ex_units if k[0] == "spend"}
    for key in script_refs:
        targets[key] = built.inputs[key[1]].out_ref
    for index, mint in enumerate(built.mints):
        targets[("mint", index)] = mint.policy
    missing = sorted(set(targets) - set(evaluated))
    if missing:
        raise ScriptTransactionError(f"the evaluator returned no ex-units for {missing}")
    return {target: evaluated[key] for key, target in targets.items()}


def _check_budget(built: ScriptTransaction, params: ProtocolParameters) -> None:
    mem = sum(u.mem for u in built.ex_units.values())
    steps = sum(u.steps for u in built.ex_units.values())
    if mem > params.max_tx_ex_mem or steps > params.max_tx_ex_steps:
        raise ScriptTransactionError(
            f"the scripts need {mem} mem / {steps} steps; a transaction may use at most "
            f"{params.max_tx_ex_mem} / {params.max_tx_ex_steps}"
        )


def _sorted_mints(mints: Sequence[Mint]) -> list[Mint]:
    policies = [m.policy for m in mints]
    if len(set(policies)) != len(policies):
        raise ScriptTransactionError("give each minting policy once")
    return sorted(mints, key=lambda m: m.policy)


def _mint_values(mints: Sequence[Mint]) -> tuple[Value, Value]:
    """(minted, burned) as two non-negative values."""
    minted: dict[AssetId, int] = {}
    burned: dict[AssetId, int] = {}
    for mint in mints:
        for name, qty in mint.assets.items():
            if qty > 0:
                minted[(mint.policy, name)] = qty
            elif qty < 0:
                burned[(mint.policy, name)] = -qty
            else:
                raise ScriptTransactionError(f"mint of {unit_of((mint.policy, name))} is zero")
    return Value.of(0, minted), Value.of(0, burned)


def encode_mint(mints: Sequence[Mint]) -> bytes:
    """Body key 9: `{policy: {name: int}}`, both levels in canonical key order."""
    parts = []
    for mint in _sorted_mints(mints):
        names = sorted(mint.assets.items(), key=lambda kv: canonical_key(kv[0]))
        parts.append(
            cbor2.dumps(mint.policy)
            + encode_head(5, len(names))
            + b"".join(cbor2.dumps(n) + cbor2.dumps(q) for n, q in names)
        )
    return encode_head(5, len(parts)) + b"".join(parts)


def _raise_short(selection: Selection, known: dict[str, int]) -> None:
    detail = ", ".join(f"{qty} {unit}" for unit, qty in sorted(known.items()))
    raise InsufficientFundsError(f"Insufficient funds: the wallet is short of {detail}", known)
