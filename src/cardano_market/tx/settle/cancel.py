"""The cancel (PROTOCOL section 6, QueueCancel): the owner takes the whole order back, signs, and
pays the fee from their own UTxOs."""

from __future__ import annotations

from collections.abc import Sequence

from ...domain.cip30 import Utxo
from ...domain.datums import address_from_wallet
from ...domain.outputs import TxOutput
from ...domain.params import ProtocolParameters
from ...domain.redeemers import QueueRedeemer
from ..script import ScriptInput, Shape, build_script_transaction
from .deployment import BatchDeployment, order_datum
from .fee import ChainEvaluate, with_pending
from .result import BatchTransaction

QUEUE_CANCEL = QueueRedeemer.CANCEL.to_cbor()


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
    order = order_datum(queue_utxo, deployment)
    owner = address_from_wallet(order.owner, deployment.network_id)
    refund = TxOutput(owner, queue_utxo.value).with_min_ada(params)
    built = build_script_transaction(
        wallet_utxos=owner_utxos,
        change_address=change_address or owner,
        shape=Shape([refund]),
        params=params,
        evaluate=with_pending(evaluate, pending_utxos),
        collateral_utxos=collateral_utxos,
        script_inputs=[ScriptInput(queue_utxo, QUEUE_CANCEL)],
        reference_inputs=[deployment.queue_script_utxo],
        required_signers=[order.owner.pkh],
        ttl=ttl,
    )
    return BatchTransaction("cancel", built, 0, queue_index=None)
