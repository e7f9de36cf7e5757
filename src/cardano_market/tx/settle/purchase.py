"""The purchase (PROTOCOL section 6): the batcher spends its certificate UTxO, the sale
(Purchase), the order (QueuePurchase) and, with a profit margin, a vault (AddToVault); outputs
vault (+profit), sale (+payment, -bundles), queue (the order less payment, fee, incentive and
profit, plus the bundles), batcher (+incentive). `plan_purchase` is the arithmetic the scripts
check, with no transaction around it; the fee comes out of the order (`fee.settle_order_fee`).
"""

from __future__ import annotations

from dataclasses import dataclass

from ...domain.cip30 import Utxo
from ...domain.datums import ReferenceDatum, Token, Wallet
from ...domain.outputs import TxOutput
from ...domain.redeemers import QueueRedeemer, SaleRedeemer, add_to_vault
from ...domain.values import Value
from ..script import Evaluate, ScriptInput, ScriptTransaction, Shape, build_script_transaction
from .deployment import (
    BatchDeployment,
    check_certificate,
    check_pointer,
    oracle_datum,
    order_datum,
    sale_datum,
)
from .errors import BatchError, NotFillableError
from .fee import check_min_ada, fee_headroom
from .inputs import SettlementInputs
from .pricing import Pricing, check_oracle_window, order_pricing, value_of_amount
from .result import BatchTransaction

SALE_PURCHASE = SaleRedeemer.PURCHASE.to_cbor()
QUEUE_PURCHASE = QueueRedeemer.PURCHASE.to_cbor()


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
        return value_of_amount(self.pricing.unit_asset, self.bundles * self.pricing.unit_cost)

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
    sale = sale_datum(sale_utxo, deployment)
    order = order_datum(queue_utxo, deployment)
    check_pointer(sale_utxo, reference, order)
    pricing = order_pricing(reference, sale, oracle_datum(oracle_utxo, deployment))
    bundle = sale.bundle
    if bundle.amount <= 0 or order.number_of_bundles <= 0:
        raise BatchError(
            f"bundle amount {bundle.amount} and requested bundles {order.number_of_bundles} "
            "must be positive"
        )
    left = sale_utxo.value.quantity(bundle.asset) // bundle.amount
    bundles = min(order.number_of_bundles, left)
    if bundles == 0:
        raise NotFillableError(f"sale {sale_utxo.out_ref} is sold out: refund the order")
    payment = value_of_amount(pricing.unit_asset, bundles * pricing.unit_cost)
    sold = value_of_amount(bundle.asset, bundles * bundle.amount)
    incentive = value_of_amount(order.incentive.asset, order.incentive.amount)
    profit = value_of_amount(pricing.profit_asset, pricing.profit)
    owed = payment + incentive + profit
    if not queue_utxo.value.covers(owed):
        short = ", ".join(f"{q} {u}" for u, q in queue_utxo.value.shortfall(owed).items())
        raise NotFillableError(
            f"order {queue_utxo.out_ref} cannot pay for {bundles} bundle(s), the profit and the "
            f"incentive (short of {short}): refund it"
        )
    vault_output = _vault_output(deployment, vault_utxo, profit, reference)
    sale_output = TxOutput(
        sale_utxo.address, sale_utxo.value + payment - sold, inline_datum=sale_utxo.inline_datum
    )
    batcher_output = TxOutput(certificate_utxo.address, certificate_utxo.value + incentive)
    check_certificate(certificate_utxo, reference)
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
    inputs: SettlementInputs, *, vault_utxo: Utxo | None
) -> BatchTransaction:
    """The unsigned purchase transaction; the batcher (certificate key) and the vault owner sign.

    With an oracle the validity interval must lie inside its window (OracleWindowError). The fee
    is paid from the order's lovelace and must be within `purchase_queue_bound` (FeeBoundError).
    """
    deployment = inputs.deployment
    certificate_utxo, oracle_utxo = inputs.certificate_utxo, inputs.oracle_utxo
    params = inputs.params
    plan = plan_purchase(
        deployment=deployment,
        sale_utxo=inputs.sale_utxo,
        queue_utxo=inputs.queue_utxo,
        certificate_utxo=certificate_utxo,
        oracle_utxo=oracle_utxo,
        vault_utxo=vault_utxo,
    )
    oracle = oracle_datum(oracle_utxo, deployment)
    references = [
        deployment.reference_utxo,
        deployment.sale_script_utxo,
        deployment.queue_script_utxo,
    ]
    if plan.pricing.needs_oracle and oracle is not None and oracle_utxo is not None:
        check_oracle_window(oracle, inputs.slot_config, inputs.validity_start, inputs.ttl)
        references.append(oracle_utxo)
    script_inputs = [
        ScriptInput(inputs.sale_utxo, SALE_PURCHASE),
        ScriptInput(inputs.queue_utxo, QUEUE_PURCHASE),
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
            collateral_utxos=inputs.collateral_utxos,
            script_inputs=script_inputs,
            reference_inputs=references,
            required_signers=signers,
            validity_start=inputs.validity_start,
            ttl=inputs.ttl,
            # the queue output gives up exactly `fee`: a change output would make the transaction
            # pay less than that (the queue refuses it), so any surplus must be fee
            leftover_to_fee=True,
        )

    unpaid = plan.outputs(0)
    check_min_ada([o for o in unpaid if o.address != plan.queue_address], params)
    headroom = fee_headroom(unpaid[-2], params)
    bound = deployment.reference_datum.fees.purchase_queue_bound
    built = inputs.settle_fee(build, "purchase", headroom, bound, script_inputs, references)
    return BatchTransaction("purchase", built, plan.bundles, queue_index=len(unpaid) - 2)


def _vault_output(
    deployment: BatchDeployment, vault_utxo: Utxo | None, profit: Value, reference: ReferenceDatum
) -> TxOutput | None:
    if reference.profit_data.profit_margin == 0:
        return None
    if vault_utxo is None:
        raise BatchError("the profit margin is not zero: a purchase must spend a vault UTxO")
    if vault_utxo.address != deployment.vault_address or vault_utxo.inline_datum is None:
        raise BatchError(f"{vault_utxo.out_ref} is not a vault UTxO (address or datum)")
    if profit == Value(0):
        raise BatchError("the profit rounds to zero: AddToVault only adds positive amounts")
    return TxOutput(
        vault_utxo.address, vault_utxo.value + profit, inline_datum=vault_utxo.inline_datum
    )
