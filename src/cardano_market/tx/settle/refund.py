"""The refund (PROTOCOL section 6): an order (QueueRefund) that can no longer be filled goes back
to its owner less the fee and one incentive; the sale is a reference input. The fee comes out of
the order (`fee.settle_order_fee`)."""

from __future__ import annotations

from ...domain.datums import address_from_wallet
from ...domain.outputs import TxOutput
from ...domain.redeemers import QueueRedeemer
from ..script import Evaluate, ScriptInput, ScriptTransaction, Shape, build_script_transaction
from .deployment import check_certificate, check_pointer, oracle_datum, order_datum, sale_datum
from .errors import BatchError, StillFillableError
from .fee import check_min_ada, fee_headroom
from .inputs import SettlementInputs
from .pricing import check_oracle_window, order_can_be_filled, order_pricing, value_of_amount
from .result import BatchTransaction

QUEUE_REFUND = QueueRedeemer.REFUND.to_cbor()


def build_refund_transaction(inputs: SettlementInputs) -> BatchTransaction:
    """The unsigned refund: output 0 the batcher (+incentive), output 1 the owner with exactly
    `queue - fee - incentive`; the fee (from the order's lovelace) within `refund_queue_bound`.

    Raises StillFillableError when the queue would refuse the refund (purchase the order).
    """
    deployment = inputs.deployment
    queue_utxo, sale_utxo = inputs.queue_utxo, inputs.sale_utxo
    certificate_utxo, oracle_utxo = inputs.certificate_utxo, inputs.oracle_utxo
    params = inputs.params
    reference = deployment.reference_datum
    sale = sale_datum(sale_utxo, deployment)
    order = order_datum(queue_utxo, deployment)
    check_pointer(sale_utxo, reference, order)
    check_certificate(certificate_utxo, reference)
    oracle = oracle_datum(oracle_utxo, deployment)
    pricing = order_pricing(reference, sale, oracle)
    if order_can_be_filled(queue_utxo.value, order, sale_utxo, sale, pricing):
        raise StillFillableError(
            f"order {queue_utxo.out_ref} can still be filled from sale {sale_utxo.out_ref}: the "
            "queue only refunds an order that is short-paid or whose sale is sold out"
        )
    incentive = value_of_amount(order.incentive.asset, order.incentive.amount)
    if not queue_utxo.value.covers(incentive):
        raise BatchError(f"order {queue_utxo.out_ref} does not hold its incentive")
    owner = address_from_wallet(order.owner, deployment.network_id)
    batcher_output = TxOutput(certificate_utxo.address, certificate_utxo.value + incentive)
    owed = queue_utxo.value - incentive
    references = [deployment.reference_utxo, deployment.queue_script_utxo, sale_utxo]
    if pricing.needs_oracle and oracle is not None and oracle_utxo is not None:
        check_oracle_window(oracle, inputs.slot_config, inputs.validity_start, inputs.ttl)
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
            collateral_utxos=inputs.collateral_utxos,
            script_inputs=[ScriptInput(queue_utxo, QUEUE_REFUND)],
            reference_inputs=references,
            validity_start=inputs.validity_start,
            ttl=inputs.ttl,
            leftover_to_fee=True,  # the owner's output gives up exactly `fee` (see purchase)
        )

    check_min_ada([batcher_output], params)
    headroom = fee_headroom(outputs(0)[1], params)
    bound = reference.fees.refund_queue_bound
    refund_input = [ScriptInput(queue_utxo, QUEUE_REFUND)]
    built = inputs.settle_fee(build, "refund", headroom, bound, refund_input, references)
    return BatchTransaction("refund", built, 0, queue_index=None)
