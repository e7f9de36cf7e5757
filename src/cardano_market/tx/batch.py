"""Batcher transactions (PROTOCOL section 6): purchase, refund and cancel of queued orders.

Short functions over explicit inputs, built with `tx.script.build_script_transaction`:

- purchase: the batcher spends its certificate UTxO, the sale (Purchase), the order (QueuePurchase)
  and, with a profit margin, a vault (AddToVault); outputs vault (+profit), sale (+payment,
  -bundles), queue (the order less payment, fee, incentive and profit, plus the bundles), batcher
  (+incentive). `plan_purchase` is the arithmetic the scripts check, with no transaction around it.
- refund: the order (QueueRefund) that can no longer be filled goes back to its owner less the fee
  and one incentive; the sale is a reference input.
- cancel: the owner takes the order back (QueueCancel, the owner's signature); the owner's UTxOs
  pay the fee.

The purchase and refund fees come out of the order's lovelace, so the outputs depend on the fee:
the fee is settled by rebuilding with the fee the last build required until they agree (the
builds reuse one set of ex-units: the units the same scripts used in the batcher's last
transaction of that kind, an `ExUnitsMemo`, or else one run at the start; then the scripts run
once on the final transaction, which is kept only when that run used exactly its declared units,
and the devnet ledger reuses that run at submit). Each fee must stay within the
ReferenceDatum's bound. Chained transactions (a refund spending a purchase's queue output before
it is on chain) pass the pending outputs to evaluation (`ChainBackend.evaluate`'s
`additional_utxos`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cbor2

from ..domain.address import encode_address, parse_address, script_address
from ..domain.cip30 import OutRef, Utxo
from ..domain.datums import (
    USD,
    OracleDatum,
    QueueDatum,
    ReferenceDatum,
    SaleDatum,
    Token,
    Wallet,
    address_from_wallet,
    constr,
    encode_plutus,
)
from ..domain.errors import InsufficientFundsError, MarketError
from ..domain.fees import min_fee, reference_scripts_size
from ..domain.outputs import TxOutput
from ..domain.params import ProtocolParameters
from ..domain.slots import SlotConfig
from ..domain.values import ADA, AssetId, Value, unit_of, value_of
from ..ledger.exunits import ExUnits, RedeemerKey
from ..ledger.references import reference_datum_of, reference_script_hash
from .body import sort_inputs
from .script import Evaluate, ScriptInput, ScriptTransaction, Shape, build_script_transaction

SALE_PURCHASE = encode_plutus(constr(0, []))
QUEUE_PURCHASE = encode_plutus(constr(0, []))
QUEUE_REFUND = encode_plutus(constr(1, []))
QUEUE_CANCEL = encode_plutus(constr(2, []))
KEY_HASH_SIZE = 28
BATCHER_PREFIX = bytes.fromhex("affab1e0005e77ab1e")
"""Batcher-certificate names start so (PROTOCOL section 2); the queue checks it."""
_MAX_FEE_ROUNDS = 6

ChainEvaluate = Callable[[bytes, Sequence[Utxo]], Mapping[RedeemerKey, ExUnits]]
"""`ChainBackend.evaluate`: ex-units per redeemer, with UTxOs not on chain yet (chaining)."""


class BatchError(MarketError):
    """A batcher transaction cannot be built as asked."""


class NotFillableError(BatchError):
    """The order cannot be filled (sale sold out or order short-paid): refund it instead."""


class StillFillableError(BatchError):
    """The order can still be filled, so the queue refuses a refund: purchase it instead."""


class FeeBoundError(BatchError):
    """The fee the transaction needs exceeds the ReferenceDatum's bound for it."""

    def __init__(self, message: str, fee: int, bound: int) -> None:
        super().__init__(message)
        self.fee = fee
        self.bound = bound


class OracleWindowError(BatchError):
    """The validity interval is not inside the oracle datum's window (or is not finite)."""


# -- the deployment ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BatchDeployment:
    """The live marketplace UTxOs a batcher reads: the reference data (starter NFT and
    ReferenceDatum) and the sale, queue and vault reference-script UTxOs."""

    reference_utxo: Utxo
    sale_script_utxo: Utxo
    queue_script_utxo: Utxo
    vault_script_utxo: Utxo

    @property
    def reference_datum(self) -> ReferenceDatum:
        return reference_datum_of(self.reference_utxo)

    @property
    def network_id(self) -> int:
        return parse_address(self.reference_utxo.address).network_id

    def contract_address(self, script: bytes) -> bytes:
        """`script` with the reference datum's stake script (when it is a 28-byte hash)."""
        stake = self.reference_datum.contracts.stake
        stake_part = stake if len(stake) == KEY_HASH_SIZE else None
        return script_address(script, stake_part, self.network_id)

    @property
    def sale_address(self) -> bytes:
        return self.contract_address(self.reference_datum.contracts.sale)

    @property
    def queue_address(self) -> bytes:
        return self.contract_address(self.reference_datum.contracts.queue)

    @property
    def vault_address(self) -> bytes:
        return self.contract_address(self.reference_datum.contracts.vault)

    @property
    def oracle_address(self) -> bytes:
        return script_address(self.reference_datum.profit_data.feed_vkh, None, self.network_id)


# -- pricing, as the scripts compute it -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Pricing:
    """One bundle's cost in the asset the order pays with, and the marketplace's profit."""

    unit_asset: AssetId
    unit_cost: int
    profit_asset: AssetId
    profit: int
    needs_oracle: bool


def order_pricing(
    reference: ReferenceDatum, sale: SaleDatum, oracle: OracleDatum | None
) -> Pricing:
    """Floor division as on chain: profit = margin // price; a USD cost = cost // price of the
    profit (currency) token. The oracle is needed when the margin is not zero or the cost is USD."""
    profit_data = reference.profit_data
    profit_asset = (profit_data.profit_pid, profit_data.profit_tkn)
    margin = profit_data.profit_margin
    usd = sale.cost.asset == USD
    if margin == 0 and not usd:
        return Pricing(sale.cost.asset, sale.cost.amount, profit_asset, 0, False)
    if oracle is None:
        raise BatchError("the sale's pricing needs the oracle: pass the oracle UTxO")
    if oracle.price <= 0:
        raise BatchError(f"the oracle price {oracle.price} is not positive")
    profit = margin // oracle.price
    if usd:
        return Pricing(profit_asset, sale.cost.amount // oracle.price, profit_asset, profit, True)
    return Pricing(sale.cost.asset, sale.cost.amount, profit_asset, profit, True)


def _oracle_datum(utxo: Utxo | None, deployment: BatchDeployment) -> OracleDatum | None:
    if utxo is None:
        return None
    if utxo.address != deployment.oracle_address or utxo.inline_datum is None:
        raise BatchError(
            f"{_ref(utxo)} is not an oracle UTxO: the feed lives at "
            f"{encode_address(deployment.oracle_address)} with an inline price datum"
        )
    return OracleDatum.from_cbor(utxo.inline_datum)


def check_oracle_window(
    oracle: OracleDatum, slot_config: SlotConfig, validity_start: int, ttl: int
) -> None:
    """The validity interval [validity_start, ttl] (slots) must lie inside the oracle's window."""
    lower = slot_config.slot_to_posix_ms(validity_start)
    upper = slot_config.slot_to_posix_ms(ttl)
    if not (0 <= oracle.start_ms <= lower and upper <= oracle.end_ms):
        raise OracleWindowError(
            f"the validity interval [{lower}, {upper}] ms (slots {validity_start}..{ttl}) is not "
            f"inside the oracle window [{oracle.start_ms}, {oracle.end_ms}] ms"
        )


# -- the purchase -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PurchasePlan:
    """What a purchase moves (before the fee, which also leaves the queue output's lovelace)."""

    bundles: int  # n = min(requested, whole bundles left)
    pricing: Pricing
    incentive: Token
    vault_output: TxOutput | None
    sale_output: TxOutput
    queue_value: Value  # the order's output before the fee
    queue_address: bytes
    queue_datum: bytes
    batcher_output: TxOutput

    @property
    def payment(self) -> Value:
        return _value_of(self.pricing.unit_asset, self.bundles * self.pricing.unit_cost)

    def outputs(self, fee: int) -> list[TxOutput]:
        """Vault (when spent), sale, queue (less `fee` lovelace), batcher: PROTOCOL's order."""
        queue = TxOutput(
            self.queue_address,
            self.queue_value.with_coin(self.queue_value.coin - fee),
            inline_datum=self.queue_datum,
        )
        head = [self.vault_output] if self.vault_output is not None else []
        return [*head, self.sale_output, queue, self.batcher_output]


def plan_purchase(
    *,
    deployment: BatchDeployment,
    sale_utxo: Utxo,
    queue_utxo: Utxo,
    certificate_utxo: Utxo,
    oracle_utxo: Utxo | None,
    vault_utxo: Utxo | None,
) -> PurchasePlan:
    """The payouts the sale, queue and vault scripts check, for one order filled from one sale.

    Raises NotFillableError when the sale has no whole bundle left or the order cannot pay for
    its bundles, profit and incentive (both call for a refund), BatchError for wrong inputs.
    """
    reference = deployment.reference_datum
    sale = _sale_datum(sale_utxo, deployment)
    order = _queue_datum(queue_utxo, deployment)
    _check_pointer(sale_utxo, reference, order)
    pricing = order_pricing(reference, sale, _oracle_datum(oracle_utxo, deployment))
    bundle = sale.bundle
    if bundle.amount <= 0 or order.number_of_bundles <= 0:
        raise BatchError(
            f"bundle amount {bundle.amount} and requested bundles {order.number_of_bundles} "
            "must be positive"
        )
    left = sale_utxo.value.quantity(bundle.asset) // bundle.amount
    bundles = min(order.number_of_bundles, left)
    if bundles == 0:
        raise NotFillableError(f"sale {_ref(sale_utxo)} is sold out: refund the order")
    payment = _value_of(pricing.unit_asset, bundles * pricing.unit_cost)
    sold = _value_of(bundle.asset, bundles * bundle.amount)
    incentive = _value_of(order.incentive.asset, order.incentive.amount)
    profit = _value_of(pricing.profit_asset, pricing.profit)
    owed = payment + incentive + profit
    if not queue_utxo.value.covers(owed):
        short = ", ".join(f"{q} {u}" for u, q in queue_utxo.value.shortfall(owed).items())
        raise NotFillableError(
            f"order {_ref(queue_utxo)} cannot pay for {bundles} bundle(s), the profit and the "
            f"incentive (short of {short}): refund it"
        )
    vault_output = _vault_output(deployment, vault_utxo, profit, reference)
    sale_output = TxOutput(
        sale_utxo.address, sale_utxo.value + payment - sold, inline_datum=sale_utxo.inline_datum
    )
    batcher_output = TxOutput(certificate_utxo.address, certificate_utxo.value + incentive)
    _check_certificate(certificate_utxo, reference)
    return PurchasePlan(
        bundles=bundles,
        pricing=pricing,
        incentive=order.incentive,
        vault_output=vault_output,
        sale_output=sale_output,
        queue_value=queue_utxo.value - owed + sold,
        queue_address=queue_utxo.address,
        queue_datum=queue_utxo.inline_datum or b"",
        batcher_output=batcher_output,
    )


def build_purchase_transaction(
    *,
    deployment: BatchDeployment,
    sale_utxo: Utxo,
    queue_utxo: Utxo,
    certificate_utxo: Utxo,
    oracle_utxo: Utxo | None,
    vault_utxo: Utxo | None,
    collateral_utxos: Sequence[Utxo],
    params: ProtocolParameters,
    evaluate: ChainEvaluate,
    slot_config: SlotConfig,
    validity_start: int,
    ttl: int,
    pending_utxos: Sequence[Utxo] = (),
    units_memo: ExUnitsMemo | None = None,
) -> BatchTransaction:
    """The unsigned purchase transaction; the batcher (certificate key) and the vault owner sign.

    `validity_start`/`ttl` are slots; with an oracle they must lie inside its window
    (OracleWindowError). The fee is paid from the order's lovelace and must be within
    `purchase_queue_bound` (FeeBoundError).
    """
    plan = plan_purchase(
        deployment=deployment,
        sale_utxo=sale_utxo,
        queue_utxo=queue_utxo,
        certificate_utxo=certificate_utxo,
        oracle_utxo=oracle_utxo,
        vault_utxo=vault_utxo,
    )
    oracle = _oracle_datum(oracle_utxo, deployment)
    references = [
        deployment.reference_utxo,
        deployment.sale_script_utxo,
        deployment.queue_script_utxo,
    ]
    if plan.pricing.needs_oracle and oracle is not None and oracle_utxo is not None:
        check_oracle_window(oracle, slot_config, validity_start, ttl)
        references.append(oracle_utxo)
    script_inputs = [
        ScriptInput(sale_utxo, SALE_PURCHASE),
        ScriptInput(queue_utxo, QUEUE_PURCHASE),
    ]
    signers: list[bytes] = []
    if plan.vault_output is not None and vault_utxo is not None:
        references.append(deployment.vault_script_utxo)
        profit = Token.of(plan.pricing.profit_asset, plan.pricing.profit)
        script_inputs.append(ScriptInput(vault_utxo, add_to_vault([profit])))
        signers.append(Wallet.from_cbor(vault_utxo.inline_datum or b"").pkh)

    def build(fee: int, units: Evaluate) -> ScriptTransaction:
        return build_script_transaction(
            wallet_utxos=[certificate_utxo],
            change_address=certificate_utxo.address,
            shape=Shape(plan.outputs(fee)),
            params=params,
            evaluate=units,
            collateral_utxos=collateral_utxos,
            script_inputs=script_inputs,
            reference_inputs=references,
            required_signers=signers,
            validity_start=validity_start,
            ttl=ttl,
            # the queue output gives up exactly `fee`: a change output would make the transaction
            # pay less than that (the queue refuses it), so any surplus must be fee
            leftover_to_fee=True,
        )

    unpaid = plan.outputs(0)
    _check_min_ada([o for o in unpaid if o.address != plan.queue_address], params)
    headroom = _fee_headroom(unpaid[-2], params)
    bound = deployment.reference_datum.fees.purchase_queue_bound
    built = _settle_order_fee(
        build,
        _with_pending(evaluate, pending_utxos),
        params,
        headroom,
        bound,
        "purchase",
        _guess(units_memo, "purchase", script_inputs, [certificate_utxo, *references]),
    )
    if units_memo is not None:
        units_memo.remember("purchase", built)
    return BatchTransaction("purchase", built, plan.bundles, queue_index=len(unpaid) - 2)


def add_to_vault(tokens: Sequence[Token]) -> bytes:
    """The vault's AddToVault [tokens] redeemer."""
    return encode_plutus(constr(0, [[t.to_plutus() for t in tokens]]))


def _vault_output(
    deployment: BatchDeployment, vault_utxo: Utxo | None, profit: Value, reference: ReferenceDatum
) -> TxOutput | None:
    if reference.profit_data.profit_margin == 0:
        return None
    if vault_utxo is None:
        raise BatchError("the profit margin is not zero: a purchase must spend a vault UTxO")
    if vault_utxo.address != deployment.vault_address or vault_utxo.inline_datum is None:
        raise BatchError(f"{_ref(vault_utxo)} is not a vault UTxO (address or datum)")
    if profit == Value(0):
        raise BatchError("the profit rounds to zero: AddToVault only adds positive amounts")
    return TxOutput(
        vault_utxo.address, vault_utxo.value + profit, inline_datum=vault_utxo.inline_datum
    )


# -- the refund -------------------------------------------------------------------------------


def order_can_be_filled(
    queue_value: Value, order: QueueDatum, sale_utxo: Utxo, sale: SaleDatum, pricing: Pricing
) -> bool:
    """The queue's test: what the order holds of the paying asset, less the incentive and the
    profit when they are paid in it, covers every bundle requested, and a whole bundle is left."""
    payable = _amount(queue_value, pricing.unit_asset)
    if order.incentive.asset == pricing.unit_asset:
        payable -= order.incentive.amount
    if pricing.profit_asset == pricing.unit_asset:
        payable -= pricing.profit
    whole_bundle = sale_utxo.value.quantity(sale.bundle.asset) >= sale.bundle.amount
    return payable >= pricing.unit_cost * order.number_of_bundles and whole_bundle


def build_refund_transaction(
    *,
    deployment: BatchDeployment,
    queue_utxo: Utxo,
    sale_utxo: Utxo,
    certificate_utxo: Utxo,
    oracle_utxo: Utxo | None,
    collateral_utxos: Sequence[Utxo],
    params: ProtocolParameters,
    evaluate: ChainEvaluate,
    slot_config: SlotConfig,
    validity_start: int,
    ttl: int,
    pending_utxos: Sequence[Utxo] = (),
    units_memo: ExUnitsMemo | None = None,
) -> BatchTransaction:
    """The unsigned refund: output 0 the batcher (+incentive), output 1 the owner with exactly
    `queue - fee - incentive`; the fee (from the order's lovelace) within `refund_queue_bound`.

    Raises StillFillableError when the queue would refuse the refund (purchase the order).
    """
    reference = deployment.reference_datum
    sale = _sale_datum(sale_utxo, deployment)
    order = _queue_datum(queue_utxo, deployment)
    _check_pointer(sale_utxo, reference, order)
    _check_certificate(certificate_utxo, reference)
    oracle = _oracle_datum(oracle_utxo, deployment)
    pricing = order_pricing(reference, sale, oracle)
    if order_can_be_filled(queue_utxo.value, order, sale_utxo, sale, pricing):
        raise StillFillableError(
            f"order {_ref(queue_utxo)} can still be filled from sale {_ref(sale_utxo)}: the "
            "queue only refunds an order that is short-paid or whose sale is sold out"
        )
    incentive = _value_of(order.incentive.asset, order.incentive.amount)
    if not queue_utxo.value.covers(incentive):
        raise BatchError(f"order {_ref(queue_utxo)} does not hold its incentive")
    owner = address_from_wallet(order.owner, deployment.network_id)
    batcher_output = TxOutput(certificate_utxo.address, certificate_utxo.value + incentive)
    owed = queue_utxo.value - incentive
    references = [deployment.reference_utxo, deployment.queue_script_utxo, sale_utxo]
    if pricing.needs_oracle and oracle is not None and oracle_utxo is not None:
        check_oracle_window(oracle, slot_config, validity_start, ttl)
        references.append(oracle_utxo)

    def outputs(fee: int) -> list[TxOutput]:
        return [batcher_output, TxOutput(owner, owed.with_coin(owed.coin - fee))]

    def build(fee: int, units: Evaluate) -> ScriptTransaction:
        return build_script_transaction(
            wallet_utxos=[certificate_utxo],
            change_address=certificate_utxo.address,
            shape=Shape(outputs(fee)),
            params=params,
            evaluate=units,
            collateral_utxos=collateral_utxos,
            script_inputs=[ScriptInput(queue_utxo, QUEUE_REFUND)],
            reference_inputs=references,
            validity_start=validity_start,
            ttl=ttl,
            leftover_to_fee=True,  # the owner's output gives up exactly `fee` (see purchase)
        )

    _check_min_ada([batcher_output], params)
    headroom = _fee_headroom(outputs(0)[1], params)
    bound = reference.fees.refund_queue_bound
    refund_input = [ScriptInput(queue_utxo, QUEUE_REFUND)]
    built = _settle_order_fee(
        build,
        _with_pending(evaluate, pending_utxos),
        params,
        headroom,
        bound,
        "refund",
        _guess(units_memo, "refund", refund_input, [certificate_utxo, *references]),
    )
    if units_memo is not None:
        units_memo.remember("refund", built)
    return BatchTransaction("refund", built, 0, queue_index=None)


# -- the cancel -------------------------------------------------------------------------------


def build_cancel_transaction(
    *,
    deployment: BatchDeployment,
    queue_utxo: Utxo,
    owner_utxos: Sequence[Utxo],
    collateral_utxos: Sequence[Utxo],
    params: ProtocolParameters,
    evaluate: ChainEvaluate,
    ttl: int,
    change_address: bytes | None = None,
    pending_utxos: Sequence[Utxo] = (),
) -> BatchTransaction:
    """The unsigned cancel: the whole order back to its owner, whose key is a required signer;
    the owner's UTxOs pay the fee (change to `change_address`, default the owner's address).

    For a CIP-30 wallet the owner signs (splice its witness set); `collateral_utxos` may be the
    owner's ADA-only UTxOs or the operator's (who then co-signs).
    """
    order = _queue_datum(queue_utxo, deployment)
    owner = address_from_wallet(order.owner, deployment.network_id)
    refund = TxOutput(owner, queue_utxo.value).with_min_ada(params)
    built = build_script_transaction(
        wallet_utxos=owner_utxos,
        change_address=change_address or owner,
        shape=Shape([refund]),
        params=params,
        evaluate=_with_pending(evaluate, pending_utxos),
        collateral_utxos=collateral_utxos,
        script_inputs=[ScriptInput(queue_utxo, QUEUE_CANCEL)],
        reference_inputs=[deployment.queue_script_utxo],
        required_signers=[order.owner.pkh],
        ttl=ttl,
    )
    return BatchTransaction("cancel", built, 0, queue_index=None)


# -- the result -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BatchTransaction:
    kind: str  # "purchase", "refund" or "cancel"
    transaction: ScriptTransaction
    bundles: int  # bundles bought (purchase), else 0
    queue_index: int | None = None  # the purchase's new order output

    @property
    def cbor(self) -> bytes:
        return self.transaction.cbor

    @property
    def tx_id(self) -> bytes:
        return self.transaction.tx_id

    @property
    def fee(self) -> int:
        return self.transaction.fee

    def output_utxos(self) -> list[Utxo]:
        """The transaction's outputs as UTxOs (to chain a transaction before this one lands)."""
        tx_id = self.transaction.tx_id
        return [
            Utxo.from_cbor(b"\x82" + _out_ref_cbor(tx_id, i) + o.to_cbor())
            for i, o in enumerate(self.transaction.outputs)
        ]

    @property
    def queue_utxo(self) -> Utxo:
        """The purchase's order output (what a chained refund spends)."""
        if self.queue_index is None:
            raise BatchError(f"a {self.kind} transaction leaves no order behind")
        return self.output_utxos()[self.queue_index]

    @property
    def batcher_utxo(self) -> Utxo:
        """The batcher's output holding the certificate (purchase: last; refund: first)."""
        outputs = self.output_utxos()
        return outputs[-1] if self.kind == "purchase" else outputs[0]

    def summary(self, params: ProtocolParameters) -> dict[str, Any]:
        """Fee, its parts and the ex-units, for logs and reports."""
        tx = self.transaction
        mem = sum(u.mem for u in tx.ex_units.values())
        steps = sum(u.steps for u in tx.ex_units.values())
        return {
            "kind": self.kind,
            "txId": tx.tx_id_hex,
            "fee": tx.fee,
            "minimumFee": required_fee(tx, params),
            "size": tx.signed_size,
            "referenceScriptBytes": referenced_script_bytes(tx),
            "exUnits": {f"{k[0]}:{k[1]}": [u.mem, u.steps] for k, u in tx.ex_units.items()},
            "mem": mem,
            "steps": steps,
            "bundles": self.bundles,
            "outputs": [
                {
                    "address": encode_address(o.address),
                    "lovelace": o.value.coin,
                    "assets": {unit_of(a): q for a, q in sorted(o.value.assets.items())},
                }
                for o in tx.outputs
            ],
        }


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


# -- settling a fee paid from the order -------------------------------------------------------


def _settle_order_fee(
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
    (see `_settle_order_fee`).
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
        groups.append(sort_inputs((bytes(tx_hash), int(index)) for tx_hash, index in raw))
    return groups[0], groups[1]


def _guess(
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


def _value_of(asset: AssetId, quantity: int) -> Value:
    """`quantity` of `asset` as a Value; empty when it is zero (a zero profit or incentive)."""
    return value_of(asset, quantity) if quantity else Value()


def _amount(value: Value, asset: AssetId) -> int:
    return value.coin if asset == ADA else value.quantity(asset)


def _check_min_ada(outputs: Sequence[TxOutput], params: ProtocolParameters) -> None:
    for output in outputs:
        needed = output.min_ada(params)
        if output.value.coin < needed:
            raise BatchError(
                f"the output to {encode_address(output.address)} would hold {output.value.coin} "
                f"lovelace, below its min-ADA of {needed}"
            )


def _fee_headroom(order_output: TxOutput, params: ProtocolParameters) -> int:
    """The most lovelace the order's output can give up and keep its min-ADA."""
    return order_output.value.coin - order_output.min_ada(params)


def _known_units(units: Mapping[RedeemerKey, ExUnits]) -> Evaluate:
    def evaluate(_tx: bytes) -> Mapping[RedeemerKey, ExUnits]:
        return units

    return evaluate


def _with_pending(evaluate: ChainEvaluate, pending: Sequence[Utxo]) -> Evaluate:
    def run(tx: bytes) -> Mapping[RedeemerKey, ExUnits]:
        return evaluate(tx, pending)

    return run


# -- checks on the inputs ---------------------------------------------------------------------


def _sale_datum(utxo: Utxo, deployment: BatchDeployment) -> SaleDatum:
    if utxo.address != deployment.sale_address or utxo.inline_datum is None:
        raise BatchError(f"{_ref(utxo)} is not a sale UTxO (address or inline SaleDatum)")
    return SaleDatum.from_cbor(utxo.inline_datum)


def _queue_datum(utxo: Utxo, deployment: BatchDeployment) -> QueueDatum:
    if utxo.address != deployment.queue_address or utxo.inline_datum is None:
        raise BatchError(f"{_ref(utxo)} is not an order (queue address, inline QueueDatum)")
    return QueueDatum.from_cbor(utxo.inline_datum)


def _check_pointer(sale_utxo: Utxo, reference: ReferenceDatum, order: QueueDatum) -> None:
    if sale_utxo.value.quantity((reference.pointer, order.pointer_name)) != 1:
        raise BatchError(
            f"sale {_ref(sale_utxo)} does not hold the order's pointer "
            f"{unit_of((reference.pointer, order.pointer_name))}"
        )


def _check_certificate(utxo: Utxo, reference: ReferenceDatum) -> None:
    batcher = reference.batcher_data
    if not any(
        policy == batcher.batcher_pid and name.startswith(BATCHER_PREFIX)
        for policy, name in utxo.value.assets
    ):
        raise BatchError(f"{_ref(utxo)} holds no batcher certificate")


def _ref(utxo: Utxo) -> str:
    return f"{utxo.tx_hash.hex()}#{utxo.index}"


def _out_ref_cbor(tx_id: bytes, index: int) -> bytes:
    return cbor2.dumps([tx_id, index])
