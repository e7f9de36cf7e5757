"""Cancelling a custodial user's queued order: check the request now, build later.

`request_order_cancel` checks that the order sits in the queue and belongs to the user's
custodial wallet, and stores an `order_cancel` transaction under the token the order buys (the
token whose asset the order's sale sells), so the status route and the user's transaction list
show it. The worker then builds the QueueCancel transaction (`app.order_cancel`) from the user's
wallet, which pays the fee and backs the collateral, and signs it with the user's key. Once it is
on chain the transaction is `completed`: the whole order is back in the wallet (the chain monitor
records the order as cancelled).

The worker may run in another process, without the service's deployment settings: the request
stores where the deployment is (`DeploymentRefs`) in the transaction's payload, and the worker
reads the deployment from the chain again when it builds.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ...domain.address import decode_address, parse_address, payment_key_hash
from ...domain.cip30 import OutRef
from ...domain.keys import PaymentKey
from ...domain.values import asset_from_unit, unit_of
from ...security.jwt_auth import AccessDeniedError
from ...store.sales import SaleRepo
from ...store.tokens import TokenRepo
from ...store.transactions import V2Transaction, V2TransactionRepo, V2TxType
from ...store.users import UserRepo
from ..errors import NotFoundError, UnprocessableError
from ..order_cancel import (
    build_order_cancel,
    find_queued_order,
    load_cancel_deployment,
    parse_order_tx_id,
)
from ..sale_lifecycle import DeploymentRefs
from ..signing import SigningKind, custodial_mandate
from .context import V2Context
from .custody import signing_key, wallet_of
from .processing import BuiltTx, register

NOT_OWNED = "Order belongs to another user"


def request_order_cancel(
    ctx: V2Context,
    session: Session,
    refs: DeploymentRefs | None,
    *,
    user_id: str,
    order_tx_id: str,
    output_index: int,
) -> V2Transaction:
    """Check the cancel of the order at `order_tx_id#output_index` and queue it for the worker.

    NotFoundError (404) for an unknown user or no order at that out-ref; AccessDeniedError (403)
    when the order's owner is not the user's custodial key; BadRequestError (400) for a malformed
    transaction id; UnprocessableError (422) for an order whose sale no token record sells;
    ChainUnavailableError (503) when cancelling is not configured.
    """
    ref = OutRef(parse_order_tx_id(order_tx_id, "order_tx_id"), output_index)
    user = UserRepo(session).get(user_id)
    if user is None:
        raise NotFoundError(f"User {user_id} not found")
    wallet = wallet_of(ctx, session, user.id)
    deployment = load_cancel_deployment(ctx.chain, refs)
    order = find_queued_order(ctx.chain, ctx.market.addresses.queue, deployment, ref)
    if order.datum.owner.pkh != payment_key_hash(wallet.address):
        raise AccessDeniedError(NOT_OWNED)
    pointer = (deployment.reference_datum.pointer, order.datum.pointer_name)
    stored = SaleRepo(session).get_by_pointer(pointer)
    token = None if stored is None else TokenRepo(session).get_by_asset(stored.sale.bundle)
    if stored is None or token is None:
        raise UnprocessableError(
            f"Order {order.ref} buys from a sale (pointer {unit_of(pointer)}) that no token "
            "record sells: it cannot be cancelled through the custodial API"
        )
    assert refs is not None  # load_cancel_deployment refuses None
    return V2TransactionRepo(session).create(
        user_id=user.id,
        token_id=token.id,
        type=V2TxType.ORDER_CANCEL,
        payload={
            "order_tx_hash": ref[0].hex(),
            "order_output_index": ref[1],
            "sale_id": str(stored.sale.id),
            "bundles": order.datum.number_of_bundles,
            "quantity": order.datum.number_of_bundles * stored.sale.bundle_amount,
            "deployment": _refs_payload(refs),
        },
        now=ctx.clock(),
    )


class OrderCancelHandler:
    """Builds the QueueCancel transaction of an `order_cancel` from the user's wallet."""

    def build(self, ctx: V2Context, tx: V2Transaction) -> BuiltTx:
        payload = tx.payload
        tx_hash, index = str(payload["order_tx_hash"]), int(payload["order_output_index"])
        ref = OutRef(bytes.fromhex(tx_hash), index)
        deployment = load_cancel_deployment(ctx.chain, _refs_from(payload["deployment"]))
        with ctx.database.session() as session:
            wallet = wallet_of(ctx, session, tx.user_id)
            key = signing_key(ctx, session, tx.user_id)
        try:
            order = find_queued_order(ctx.chain, ctx.market.addresses.queue, deployment, ref)
        except NotFoundError:
            raise NotFoundError(
                f"Order {ref} is no longer in the queue (filled, refunded or cancelled already)"
            ) from None
        if order.datum.owner.pkh != payment_key_hash(wallet.address):
            raise AccessDeniedError(NOT_OWNED)
        utxos = ctx.chain.utxos_at(wallet.address)
        built = build_order_cancel(
            ctx.market,
            deployment,
            order,
            owner_utxos=utxos,
            collateral_utxos=[u for u in utxos if u.value.is_ada_only],
            change_address=wallet.address,
        )
        queue_script = parse_address(ctx.market.addresses.queue).payment.hash
        mandate = custodial_mandate(
            SigningKind.CUSTODIAL_CANCEL, user=PaymentKey(key), scripts=[queue_script]
        )
        return BuiltTx(built.cbor, mandate)

    def on_confirmed(self, ctx: V2Context, session: Session, tx: V2Transaction) -> None:
        """Nothing to apply: the order's value is back in the wallet, which is the chain's."""

    def on_failed(self, ctx: V2Context, session: Session, tx: V2Transaction, reason: str) -> None:
        """Nothing was reserved: the order stays in the queue."""


def _refs_payload(refs: DeploymentRefs) -> dict[str, Any]:
    return {
        "reference_address": refs.reference_address.hex(),
        "starter_nft": unit_of(refs.starter_nft),
        "pointer_script_ref": str(OutRef.of(refs.pointer_script_ref)),
        "sale_script_ref": str(OutRef.of(refs.sale_script_ref)),
        "sale_address": refs.sale_address.hex(),
        "queue_script_ref": _optional_ref_text(refs.queue_script_ref),
        "vault_script_ref": _optional_ref_text(refs.vault_script_ref),
    }


def _optional_ref_text(ref: OutRef | None) -> str | None:
    return None if ref is None else str(OutRef.of(ref))


def _refs_from(payload: dict[str, Any]) -> DeploymentRefs:
    def optional(key: str) -> OutRef | None:  # absent from payloads stored before these keys
        text = payload.get(key)
        return None if text is None else OutRef.parse(str(text))

    return DeploymentRefs(
        reference_address=decode_address(str(payload["reference_address"])),
        starter_nft=asset_from_unit(str(payload["starter_nft"])),
        pointer_script_ref=OutRef.parse(str(payload["pointer_script_ref"])),
        sale_script_ref=OutRef.parse(str(payload["sale_script_ref"])),
        sale_address=decode_address(str(payload["sale_address"])),
        queue_script_ref=optional("queue_script_ref"),
        vault_script_ref=optional("vault_script_ref"),
    )


register(V2TxType.ORDER_CANCEL.value, OrderCancelHandler())
