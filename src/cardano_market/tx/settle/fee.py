"""Settling a fee paid from the order (purchase, refund): the outputs depend on the fee, so the
transaction is rebuilt with the fee the last build required until they agree, on one set of
ex-units (the `ExUnitsMemo`'s guess from the batcher's last transaction of that kind, or one run);
the scripts then run once on the final bytes, which are kept only when that run used exactly the
declared units. Each fee must stay within the ReferenceDatum's bound (FeeBoundError).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import cbor2

from ...domain.address import encode_address, parse_address
from ...domain.cip30 import OutRef, Utxo
from ...domain.errors import InsufficientFundsError
from ...domain.fees import min_fee, reference_scripts_size
from ...domain.outputs import TxOutput
from ...domain.params import ProtocolParameters
from ...ledger.exunits import ExUnits, RedeemerKey
from ...ledger.references import reference_script_hash
from ..body import sort_inputs
from ..script import Evaluate, ScriptInput, ScriptTransaction
from .errors import BatchError, FeeBoundError

_MAX_FEE_ROUNDS = 6

ChainEvaluate = Callable[[bytes, Sequence[Utxo]], Mapping[RedeemerKey, ExUnits]]
"""`ChainBackend.evaluate`: ex-units per redeemer, with UTxOs not on chain yet (chaining)."""


def referenced_script_bytes(tx: ScriptTransaction) -> int:
    """The reference-script bytes the fee pays for (spent and referenced UTxOs, once each)."""
    return reference_scripts_size((*tx.inputs, *tx.reference_inputs))


def required_fee(tx: ScriptTransaction, params: ProtocolParameters) -> int:
    """The ledger's minimum fee for `tx` once signed (size, ex-units, reference scripts)."""
    return min_fee(
        params,
        tx.signed_size,
        mem=sum(u.mem for u in tx.ex_units.values()),
        steps=sum(u.steps for u in tx.ex_units.values()),
        ref_script_size=referenced_script_bytes(tx),
    )


def settle_order_fee(
    build: Callable[[int, Evaluate], ScriptTransaction],
    evaluate: Evaluate,
    params: ProtocolParameters,
    headroom: int,
    bound: int,
    kind: str,
    guess: Evaluate | None = None,
) -> ScriptTransaction:
    """Build with the fee the outputs take from the order equal to the fee the transaction pays.

    The first build offers the most the queue accepts (the bound, or what the order can give) and
    declares the ex-units `guess` offers for it (the units the same scripts used in the batcher's
    last transaction of this kind), or else runs the scripts once. The next builds reuse those
    units and take the fee the last build required, until it pays exactly that (or, should sizes
    oscillate, the last build paying at least its minimum); no script runs while the fee settles.
    Then the scripts run once on the result, the bytes that will be signed (the devnet ledger
    remembers that run for the submit): when they use exactly the declared units the result is
    returned, otherwise the fee settles again on the units they used. A result is therefore never
    returned on units its own bytes were not measured with; a right guess costs one run in all.
    """
    if headroom <= 0:
        raise BatchError(f"the order's lovelace cannot pay any {kind} fee above its min-ADA")
    cap = min(headroom, bound)
    seen: list[Mapping[RedeemerKey, ExUnits]] = []

    def run_scripts(tx: bytes) -> Mapping[RedeemerKey, ExUnits]:
        seen.append(dict(evaluate(tx)))
        return seen[-1]

    first: dict[RedeemerKey, ExUnits] = {}

    def first_units(tx: bytes) -> Mapping[RedeemerKey, ExUnits]:
        # the first build's units: the guess, else one run of the placeholder build (the build's
        # own confirming call then gets the same units back without a second run)
        if not first:
            guessed = guess(tx) if guess is not None else {}
            first.update(guessed or run_scripts(tx))
        return first

    run: Evaluate = first_units
    fee = cap
    for _ in range(_MAX_FEE_ROUNDS):
        best: ScriptTransaction | None = None
        for _ in range(_MAX_FEE_ROUNDS):
            try:
                built = build(fee, run)
            except InsufficientFundsError as exc:
                if best is not None:
                    break
                raise _unpayable(build, seen, params, headroom, bound, kind) from exc
            required = required_fee(built, params)
            if built.fee == fee and required <= fee:
                best = built
                if required == fee:
                    break
            if required > cap:
                if not seen:  # guessed units: measure them before calling the bound exceeded
                    fee, run = cap, _known_units(run_scripts(built.cbor))
                    continue
                raise _unpayable(build, [built.ex_units], params, headroom, bound, kind)
            fee, run = required, _known_units(built.ex_units)
        if best is None:
            break
        units = run_scripts(best.cbor)  # the one run on the bytes that will be signed
        if units == best.ex_units:
            return best
        fee, run = cap, _known_units(units)  # settle again from the top on the measured units
    raise BatchError(f"the {kind} fee did not settle")


class ExUnitsMemo:
    """The ex-units each script used in the batcher's earlier transactions of each kind
    (purchase, refund): the guess the next transaction's fee settles on before its scripts run,
    once, on its final bytes. A script's cost depends on where its inputs sit in ledger order
    (it walks the inputs until it finds one) and on how many assets each value holds, so units
    are remembered per script and per that layout (each spent and referenced UTxO's address
    credential, reference script and asset count, in ledger order); a layout not seen yet takes
    the script's latest units. A wrong guess costs one more run, never a wrong transaction
    (see `settle_order_fee`).
    """

    def __init__(self) -> None:
        self._units: dict[tuple[str, _Layout, bytes], ExUnits] = {}
        self._latest: dict[tuple[str, bytes], ExUnits] = {}

    def guess(self, kind: str, script_inputs: Sequence[Utxo], others: Sequence[Utxo]) -> Evaluate:
        """Units for each redeemer of a transaction of `kind` spending `script_inputs` (and any
        of `others`, which it may also reference); an empty answer when some script has no units
        remembered."""
        scripts = {u.out_ref: _script_of(u) for u in script_inputs}
        known = {u.out_ref: u for u in (*script_inputs, *others)}

        def units(tx: bytes) -> Mapping[RedeemerKey, ExUnits]:
            spent, referenced = _input_refs(tx)
            if any(ref not in known for ref in (*spent, *referenced)):
                return {}
            layout = _layout([known[r] for r in spent], [known[r] for r in referenced])
            found: dict[RedeemerKey, ExUnits] = {}
            for index, ref in enumerate(spent):
                script = scripts.get(ref)
                if script is None:
                    continue
                remembered = self._units.get((kind, layout, script))
                if remembered is None:
                    remembered = self._latest.get((kind, script))
                if remembered is None:
                    return {}
                found[("spend", index)] = remembered
            return found

        return units

    def remember(self, kind: str, tx: ScriptTransaction) -> None:
        layout = _layout(tx.inputs, tx.reference_inputs)
        for (tag, index), units in tx.ex_units.items():
            if tag == "spend":
                script = _script_of(tx.inputs[index])
                self._units.pop((kind, layout, script), None)  # newest last
                self._units[(kind, layout, script)] = units
                self._latest[(kind, script)] = units
        while len(self._units) > _REMEMBERED_LAYOUTS:  # a long-running batcher stays bounded
            del self._units[next(iter(self._units))]


_REMEMBERED_LAYOUTS = 1024
"""Units the memo keeps (per kind, layout and script), the oldest dropped first."""


_Layout = tuple[tuple[tuple[bytes, bytes | None, int], ...], ...]


def _script_of(utxo: Utxo) -> bytes:
    """The hash of the script (or key) `utxo`'s address pays to."""
    return parse_address(utxo.address).payment.hash


def _layout(spent: Sequence[Utxo], referenced: Sequence[Utxo]) -> _Layout:
    return tuple(
        tuple((_script_of(u), reference_script_hash(u), len(u.value.assets)) for u in group)
        for group in (spent, referenced)
    )


def _input_refs(tx: bytes) -> tuple[list[OutRef], list[OutRef]]:
    """The spent and the referenced out-refs of a transaction, in ledger order."""
    body = cbor2.loads(tx)[0]
    groups: list[list[OutRef]] = []
    for key in (0, 18):
        raw = body.get(key, [])
        raw = raw.value if isinstance(raw, cbor2.CBORTag) else raw
        groups.append(sort_inputs(OutRef(bytes(tx_hash), int(index)) for tx_hash, index in raw))
    return groups[0], groups[1]


def guess_units(
    memo: ExUnitsMemo | None,
    kind: str,
    script_inputs: Sequence[ScriptInput],
    others: Sequence[Utxo],
) -> Evaluate | None:
    if memo is None:
        return None
    return memo.guess(kind, [s.utxo for s in script_inputs], others)


def _unpayable(
    build: Callable[[int, Evaluate], ScriptTransaction],
    seen: Sequence[Mapping[RedeemerKey, ExUnits]],
    params: ProtocolParameters,
    headroom: int,
    bound: int,
    kind: str,
) -> BatchError:
    """Why no fee up to the bound works: the fee needed (measured with the ex-units the scripts
    reported, at the most the order can give) is above the bound, or above the order's lovelace."""
    if seen:
        try:
            probe = build(headroom, _known_units(seen[-1]))
        except InsufficientFundsError:
            probe = None
        if probe is not None and required_fee(probe, params) > bound:
            return FeeBoundError(
                _over_bound(kind, probe, params, bound), required_fee(probe, params), bound
            )
    return BatchError(
        f"the order's lovelace cannot pay the {kind} fee: it can give {headroom} lovelace above "
        "its min-ADA"
    )


def _over_bound(kind: str, tx: ScriptTransaction, params: ProtocolParameters, bound: int) -> str:
    mem = sum(u.mem for u in tx.ex_units.values())
    steps = sum(u.steps for u in tx.ex_units.values())
    return (
        f"the {kind} needs a fee of {required_fee(tx, params)} lovelace ({tx.signed_size} bytes, "
        f"{mem} mem / {steps} steps, {referenced_script_bytes(tx)} reference-script bytes); the "
        f"reference datum bounds it at {bound}"
    )


def check_min_ada(outputs: Sequence[TxOutput], params: ProtocolParameters) -> None:
    for output in outputs:
        needed = output.min_ada(params)
        if output.value.coin < needed:
            raise BatchError(
                f"the output to {encode_address(output.address)} would hold {output.value.coin} "
                f"lovelace, below its min-ADA of {needed}"
            )


def fee_headroom(order_output: TxOutput, params: ProtocolParameters) -> int:
    """The most lovelace the order's output can give up and keep its min-ADA."""
    return order_output.value.coin - order_output.min_ada(params)


def _known_units(units: Mapping[RedeemerKey, ExUnits]) -> Evaluate:
    def evaluate(_tx: bytes) -> Mapping[RedeemerKey, ExUnits]:
        return units

    return evaluate


def with_pending(evaluate: ChainEvaluate, pending: Sequence[Utxo]) -> Evaluate:
    def run(tx: bytes) -> Mapping[RedeemerKey, ExUnits]:
        return evaluate(tx, pending)

    return run
