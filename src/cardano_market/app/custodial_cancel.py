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

from sqlalchemy.orm import Session

from ..domain.address import parse_address, payment_key_hash
from ..domain.cip30 import OutRef
from ..domain.keys import PaymentKey
from ..domain.values import unit_of
from ..security.jwt_auth import AccessDeniedError
from ..store.sales import SaleRepo
from ..store.tokens import TokenRepo
from ..store.transactions import V2Transaction, V2TransactionRepo, V2TxType
from ..store.users import UserRepo
from .context import Context
from .custodial_tx import BuiltTx
from .custody import signing_key, wallet_of
from .errors import NotFoundError, UnprocessableError
from .order_cancel import (
    build_order_cancel,
    find_queued_order,
    load_cancel_deployment,
    parse_order_tx_id,
)
from .payloads import OrderCancelPayload
from .sale_lifecycle import DeploymentRefs
from .signing import SigningKind, custodial_mandate

NOT_OWNED = "Order belongs to another user"


def request_order_cancel(
    ctx: Context,
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
    deployment = load_cancel_deployment(ctx.backend, refs)
    order = find_queued_order(ctx.backend, ctx.addresses.queue, deployment, ref)
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
        payload=OrderCancelPayload(
            order=ref,
            sale_id=stored.sale.id,
            bundles=order.datum.number_of_bundles,
            quantity=order.datum.number_of_bundles * stored.sale.bundle_amount,
            deployment=refs,
        ).to_json(),
        now=ctx.clock(),
    )


class OrderCancelHandler:
    """Builds the QueueCancel transaction of an `order_cancel` from the user's wallet."""

    def build(self, ctx: Context, tx: V2Transaction) -> BuiltTx:
        payload = OrderCancelPayload.from_json(tx.payload)
        ref = payload.order
        deployment = load_cancel_deployment(ctx.backend, payload.deployment)
        with ctx.database.session() as session:
            wallet = wallet_of(ctx, session, tx.user_id)
            key = signing_key(ctx, session, tx.user_id)
        try:
            order = find_queued_order(ctx.backend, ctx.addresses.queue, deployment, ref)
        except NotFoundError:
            raise NotFoundError(
                f"Order {ref} is no longer in the queue (filled, refunded or cancelled already)"
            ) from None
        if order.datum.owner.pkh != payment_key_hash(wallet.address):
            raise AccessDeniedError(NOT_OWNED)
        utxos = ctx.backend.utxos_at(wallet.address)
        built = build_order_cancel(
            ctx,
            deployment,
            order,
            owner_utxos=utxos,
            collateral_utxos=[u for u in utxos if u.value.is_ada_only],
            change_address=wallet.address,
        )
        queue_script = parse_address(ctx.addresses.queue).payment.hash
        mandate = custodial_mandate(
            SigningKind.CUSTODIAL_CANCEL, user=PaymentKey(key), scripts=[queue_script]
        )
        return BuiltTx(built.cbor, mandate)

    def on_confirmed(self, ctx: Context, session: Session, tx: V2Transaction) -> None:
        """Nothing to apply: the order's value is back in the wallet, which is the chain's."""

    def on_failed(self, ctx: Context, session: Session, tx: V2Transaction, reason: str) -> None:
        """Nothing was reserved: the order stays in the queue."""

