"""The v1 marketplace API (non-custodial, NEWM wire-compatible): orders, sales, submit.

Every route verifies reCAPTCHA with its action first (PROTOCOL section 7), then calls one use case
(`app/`). Handlers are plain functions, so FastAPI runs the blocking database and chain work in
its thread pool while the reCAPTCHA check awaits on the event loop. The amount route, the hot path,
is async and sends its work to a few threads of its own (`AMOUNT_THREADS`) instead.
"""

from __future__ import annotations

import json
import logging
import uuid
import weakref
from asyncio import AbstractEventLoop, get_running_loop
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, TypeVar

from anyio import CapacityLimiter, to_thread
from fastapi import APIRouter, Depends, Path, Query, Request, Response, params

from ...app.context import Context
from ...app.errors import BadRequestError, ChainUnavailableError
from ...app.operator import OperatorKeys
from ...app.order_cancel import OrderCancelDesk
from ...app.order_status import OrderStatus, OrderStatusDesk, order_not_found
from ...app.orders import OrderDesk, check_network, check_utxo_networks
from ...app.sale_lifecycle import DeploymentRefs, SaleDesk, SaleStartRequest
from ...app.sales import SaleCatalog, sale_not_found, sale_view
from ...app.submit import TransactionSubmitter
from ...domain.address import decode_address, encode_address
from ...domain.cip30 import parse_utxos
from ...domain.errors import AddressError, CborError, InvalidValueError, WitnessError
from ...domain.sale import SaleStatus
from ...domain.values import Value, unit_of
from ...store.sales import Criteria, SaleFilter, StoredSale
from ..errors import bad_request
from ..observability import Metrics
from ..recaptcha import Action, recaptcha_guard
from ..submit_guard import check_signed, check_witness_set
from .models import (
    CountResponse,
    OrderAmountRequest,
    OrderAmountResponse,
    OrderCancelTransactionRequest,
    OrderFeesResponse,
    OrderStatusResponse,
    OrderTransactionRequest,
    SaleAmountResponse,
    SaleEndAmountRequest,
    SaleResponse,
    SaleStartAmountRequest,
    SaleTransactionRequest,
    SubmitTxRequest,
    SubmitTxResponse,
    TransactionResponse,
)

log = logging.getLogger("cardano_market.orders")

MAX_PAGE = 1000
AMOUNT_THREADS = 8
"""Threads pricing orders at once. Each holds the GIL for most of its work and SQLite takes one
writer at a time, so more threads only add contention (anyio's default pool is 40)."""
INT32_MAX = 2**31 - 1
T = TypeVar("T")
ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    status: {"description": text, "content": {"application/json": {"example": example}}}
    for status, text, example in (
        (400, "Malformed request or CBOR", {"code": 400, "description": "Bad Request",
                                            "cause": "utxoCborHexList[0]: not valid hex"}),
        (403, "reCAPTCHA failed", {"code": 403, "description": "Forbidden",
                                   "cause": "Recaptcha failed"}),
        (404, "Unknown sale or order", {"code": 404, "description": "Not Found",
                                        "cause": "Entity MarketplaceSaleEntity, id=... not found "
                                        "in the database"}),
        (422, "Unacceptable values", {"code": 422, "description": "Unprocessable Entity",
                                      "cause": "Bundle quantity (100) exceeds sale availability "
                                      "(50)"}),
        (503, "reCAPTCHA, chain or database unavailable",
         {"code": 503, "description": "Service Unavailable",
          "cause": "reCAPTCHA assessment unavailable: timed out after 5.0 s"}),
    )
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class V1:
    """The use cases behind the v1 routes (kept on `app.state.v1`)."""

    market: Context
    catalog: SaleCatalog
    orders: OrderDesk
    submitter: TransactionSubmitter
    metrics: Metrics
    sales: SaleDesk | None = None
    """Sale start and end; None when the operator's keys or the deployment are not configured."""
    cancels: OrderCancelDesk | None = None
    """Order cancellation (answers 503 itself when the deployment is not configured)."""
    submit_relay: bool = False
    """submitTx also relays transactions this service did not issue (`SUBMIT_RELAY`)."""
    statuses: OrderStatusDesk | None = None
    """What became of an order (built from `market` when not given)."""

    @classmethod
    def build(
        cls,
        market: Context,
        metrics: Metrics,
        *,
        operator: OperatorKeys | None = None,
        deployment: DeploymentRefs | None = None,
        submit_relay: bool = False,
    ) -> V1:
        catalog = SaleCatalog(market)
        sales = None
        if operator is not None and deployment is not None:
            sales = SaleDesk(market, catalog, operator, deployment)
        return cls(
            market=market,
            catalog=catalog,
            orders=OrderDesk(market, catalog),
            submitter=TransactionSubmitter(
                market, sales.mandate_for if sales is not None else None
            ),
            metrics=metrics,
            sales=sales,
            cancels=OrderCancelDesk(market, deployment),
            submit_relay=submit_relay,
            statuses=OrderStatusDesk(market),
        )

    def sale_desk(self) -> SaleDesk:
        if self.sales is None:
            raise ChainUnavailableError(
                "sale start and end are not configured: set CARDANO_MARKET_OPERATOR_HOT_KEY, "
                "CARDANO_MARKET_OPERATOR_COLLATERAL_KEY and the marketplace deployment"
            )
        return self.sales

    def status_desk(self) -> OrderStatusDesk:
        return self.statuses if self.statuses is not None else OrderStatusDesk(self.market)

    def cancel_desk(self) -> OrderCancelDesk:
        return self.cancels if self.cancels is not None else OrderCancelDesk(self.market, None)

    def view(self, stored: StoredSale, price: int | None) -> SaleResponse:
        market = self.market
        return SaleResponse.model_validate(
            sale_view(
                stored,
                price=price,
                currency_is_cost=stored.sale.cost == market.config.currency,
                address=encode_address(stored.sale.owner_address),
            )
        )


async def _v1(request: Request) -> V1:
    # async, though it awaits nothing: FastAPI would run a plain function in its thread pool,
    # a thread hop per request for one attribute read.
    services: V1 = request.app.state.v1
    return services


Services = Annotated[V1, Depends(_v1)]


def _guard(action: Action) -> list[params.Depends]:
    return [Depends(recaptcha_guard(action))]


marketplace = APIRouter(
    prefix="/v1/marketplace", tags=["v1 marketplace"], responses=ERROR_RESPONSES
)
cardano = APIRouter(prefix="/v1/cardano", tags=["v1 cardano"], responses=ERROR_RESPONSES)


@marketplace.get(
    "/orders/fees",
    response_model=OrderFeesResponse,
    dependencies=_guard(Action.GET_ORDER_FEES),
    summary="The service fee percentage and the profit per order (USD)",
)
def get_order_fees(v1: Services) -> Response:
    quote = v1.orders.fees()
    # Rendered by hand: JSON numbers straight from exact decimals, never through a float.
    body = (
        f'{{"serviceFeePercentage":{_number(quote.service_fee_percentage)},'
        f'"profitAmountUsd":{_number(quote.profit_amount_usd)}}}'
    )
    return Response(body, media_type="application/json")


@marketplace.post(
    "/orders/amount",
    response_model=OrderAmountResponse,
    dependencies=_guard(Action.GENERATE_ORDER_AMOUNT),
    summary="Price an order: the CIP-30 getUtxos(amount) argument and a single-use order id",
)
async def generate_order_amount(body: OrderAmountRequest, v1: Services) -> Response:
    pending = await to_thread.run_sync(
        v1.orders.quote,
        sale_id_of(body.sale_id),
        body.bundle_quantity,
        body.incentive_amount,
        limiter=_amount_limiter(),
    )
    # Rendered here rather than validated again through the response model: both fields are
    # plain strings (a UUID and hex).
    body_json = json.dumps(
        {"orderId": pending.id, "amountCborHex": pending.amount.amount_cbor_hex},
        separators=(",", ":"),
    )
    return Response(body_json, media_type="application/json")


_AMOUNT_LIMITERS: weakref.WeakKeyDictionary[AbstractEventLoop, CapacityLimiter] = (
    weakref.WeakKeyDictionary()
)


def _amount_limiter() -> CapacityLimiter:
    """The amount route's thread limiter, one per event loop (anyio binds it to its loop)."""
    loop = get_running_loop()
    limiter = _AMOUNT_LIMITERS.get(loop)
    if limiter is None:
        limiter = _AMOUNT_LIMITERS[loop] = CapacityLimiter(AMOUNT_THREADS)
    return limiter


@marketplace.post(
    "/orders/transaction",
    response_model=TransactionResponse,
    dependencies=_guard(Action.GENERATE_ORDER_TRANSACTION),
    responses={402: {"description": "The wallet offered no UTxOs"}},
    summary="Build the unsigned order transaction from the wallet's UTxOs (uses the order id up)",
)
def generate_order_transaction(body: OrderTransactionRequest, v1: Services) -> TransactionResponse:
    with v1.metrics.build_timer("order"):
        tx = v1.orders.transaction(body.order_id, body.change_address, body.utxo_cbor_hex_list)
    log.info("order %s issued as transaction %s (fee %d lovelace)", body.order_id, tx.tx_id, tx.fee)
    return TransactionResponse(tx_cbor_hex=tx.cbor_hex, tx_id=tx.tx_id, fee=tx.fee)


@marketplace.post(
    "/orders/cancel/transaction",
    response_model=TransactionResponse,
    dependencies=_guard(Action.GENERATE_ORDER_CANCEL_TRANSACTION),
    responses={402: {"description": "The wallet offered no UTxOs"}},
    summary="Build the unsigned cancel of a queued order (QueueCancel) for its owner's wallet",
    description="The whole order goes back to its owner; the wallet pays the fee and backs the "
    "collateral (its ADA-only UTxOs unless `collateralUtxoCborHexList` is given). Sign it and "
    "submit it whole with `POST /v1/cardano/submitTx` `{cborHex}`. 404 when no order sits at "
    "the out-ref, 422 when `changeAddress` is not the owner's or the wallet cannot pay.",
)
def generate_order_cancel_transaction(
    body: OrderCancelTransactionRequest, v1: Services
) -> TransactionResponse:
    desk = v1.cancel_desk()
    with v1.metrics.build_timer("order_cancel"):
        built = desk.transaction(
            body.order_tx_id,
            body.order_output_index,
            body.change_address,
            body.utxo_cbor_hex_list,
            body.collateral_utxo_cbor_hex_list,
        )
    return TransactionResponse(
        tx_cbor_hex=built.cbor.hex(),
        tx_id=built.transaction.tx_id_hex,
        fee=built.transaction.fee,
    )


@marketplace.get(
    "/orders",
    response_model=list[OrderStatusResponse],
    dependencies=_guard(Action.GET_ORDERS),
    summary="A page of a wallet's orders with their state, oldest first unless sortOrder=desc",
)
def get_orders(
    v1: Services,
    owner_address: Annotated[str, Query(alias="ownerAddress", max_length=256)],
    offset: Annotated[int, Query(ge=0, le=INT32_MAX)] = 0,
    limit: Annotated[int, Query(ge=0, le=MAX_PAGE)] = 25,
    sort_order: Annotated[str | None, Query(alias="sortOrder", pattern="^(?i:asc|desc)$")] = None,
) -> list[OrderStatusResponse]:
    owner = _address("ownerAddress", owner_address)
    descending = (sort_order or "asc").lower() == "desc"
    found = v1.status_desk().of_owner(owner, offset=offset, limit=limit, descending=descending)
    return [_order_status(status) for status in found]


@marketplace.get(
    "/orders/{orderId}",
    response_model=OrderStatusResponse,
    dependencies=_guard(Action.GET_ORDER),
    summary="What became of an order: its state, bundles filled, amounts and transactions",
    description="Pending -> Issued -> Submitted -> Queued -> Filled / PartiallyFilled (the "
    "refund that follows sets refundTxId and settled) or Refunded / Cancelled; Expired when "
    "the order id or its transaction lapsed unused. Kept true by the chain monitor.",
)
def get_order(
    v1: Services, order_id: Annotated[str, Path(alias="orderId", max_length=64)]
) -> OrderStatusResponse:
    return _order_status(v1.status_desk().get(_order_id(order_id)))


def _order_status(status: OrderStatus) -> OrderStatusResponse:
    return OrderStatusResponse(
        order_id=status.order_id,
        state=status.state.value,
        settled=status.settled,
        sale_id=status.sale_id,
        owner_address=(
            None if status.owner_address is None else encode_address(status.owner_address)
        ),
        bundles_requested=status.bundles_requested,
        bundles_filled=status.bundles_filled,
        amount_locked=_amounts(status.amount_locked),
        amount_paid=_amounts(status.amount_paid),
        amount_refunded=_amounts(status.amount_refunded),
        order_tx_id=status.order_tx_id,
        purchase_tx_ids=status.purchase_tx_ids,
        refund_tx_id=status.refund_tx_id,
        cancel_tx_id=status.cancel_tx_id,
        created_at=_local_iso(status.created_at),
        updated_at=_local_iso(status.updated_at),
    )


def _amounts(value: Value | None) -> dict[str, int] | None:
    if value is None:
        return None
    return {"lovelace": value.coin, **{unit_of(a): q for a, q in sorted(value.assets.items())}}


def _local_iso(moment: datetime) -> str:
    """The deployed server's LocalDateTime rendering (UTC, no offset), as the sales'."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat()


def sale_filter(
    ids: Annotated[
        str | None, Query(description="sale UUIDs, comma-separated; -id excludes")
    ] = None,
    addresses: Annotated[
        str | None, Query(description="owner bech32 addresses, comma-separated; -addr excludes")
    ] = None,
    owner_address: Annotated[str | None, Query(alias="ownerAddress")] = None,
    sale_statuses: Annotated[
        str | None,
        Query(alias="saleStatuses", description="Started, SoldOut, Ended; -status excludes"),
    ] = None,
    bundle_policy_ids: Annotated[
        str | None, Query(alias="bundlePolicyIds", description="policy ids (hex), comma-separated")
    ] = None,
    older_than: Annotated[str | None, Query(alias="olderThan")] = None,
    newer_than: Annotated[str | None, Query(alias="newerThan")] = None,
) -> SaleFilter:
    """The deployed server's sale filters: `a,b,-c` includes a and b and excludes c."""
    owners = _criteria("addresses", ",".join(x for x in (addresses, owner_address) if x), _address)
    return SaleFilter(
        ids=_criteria("ids", ids, _uuid),
        owner_addresses=owners,
        statuses=_criteria("saleStatuses", sale_statuses, _status),
        bundle_policies=_criteria("bundlePolicyIds", bundle_policy_ids, _policy),
        older_than=_moment("olderThan", older_than),
        newer_than=_moment("newerThan", newer_than),
    )


Filters = Annotated[SaleFilter, Depends(sale_filter)]


@marketplace.get(
    "/sales",
    response_model=list[SaleResponse],
    dependencies=_guard(Action.GET_SALES),
    summary="A page of sales, oldest first unless sortOrder=desc",
)
def get_sales(
    v1: Services,
    filters: Filters,
    offset: Annotated[int, Query(ge=0, le=INT32_MAX)] = 0,
    limit: Annotated[int, Query(ge=0, le=MAX_PAGE)] = 25,
    sort_order: Annotated[str | None, Query(alias="sortOrder", pattern="^(?i:asc|desc)$")] = None,
) -> list[SaleResponse]:
    descending = (sort_order or "asc").lower() == "desc"
    sales = v1.catalog.find(filters, offset=offset, limit=limit, descending=descending)
    price = v1.catalog.price_or_none() if sales else None
    return [v1.view(stored, price) for stored in sales]


@marketplace.get(
    "/sales/count",
    response_model=CountResponse,
    dependencies=_guard(Action.GET_SALE_COUNT),
    summary="How many sales match the filters",
)
def get_sale_count(v1: Services, filters: Filters) -> CountResponse:
    return CountResponse(count=v1.catalog.count(filters))


@marketplace.get(
    "/sales/{saleId}",
    response_model=SaleResponse,
    dependencies=_guard(Action.GET_SALE),
    summary="One sale, with its cost converted to USD and the currency at the oracle price",
)
def get_sale(v1: Services, sale_id: Annotated[str, Path(alias="saleId")]) -> SaleResponse:
    stored = v1.catalog.get(sale_id_of(sale_id))
    return v1.view(stored, v1.catalog.price_or_none())


@marketplace.post(
    "/sales/start/amount",
    response_model=SaleAmountResponse,
    dependencies=_guard(Action.GENERATE_SALE_START_AMOUNT),
    summary="What the seller's wallet must cover to start a sale, and a single-use sale id",
)
def generate_sale_start_amount(body: SaleStartAmountRequest, v1: Services) -> SaleAmountResponse:
    _same_network(v1, "ownerAddress", body.owner_address)
    pending = v1.sale_desk().start_amount(
        SaleStartRequest(
            owner_address=body.owner_address,
            bundle_policy_id=body.bundle_policy_id,
            bundle_asset_name=body.bundle_asset_name,
            bundle_amount=body.bundle_amount,
            cost_policy_id=body.cost_policy_id,
            cost_asset_name=body.cost_asset_name,
            cost_amount=body.cost_amount,
            total_bundle_quantity=body.total_bundle_quantity,
        )
    )
    return SaleAmountResponse(sale_id=pending.id, amount_cbor_hex=pending.amount_cbor_hex)


@marketplace.post(
    "/sales/start/transaction",
    response_model=TransactionResponse,
    dependencies=_guard(Action.GENERATE_SALE_START_TRANSACTION),
    responses={402: {"description": "The wallet offered no UTxOs"}},
    summary="The unsigned sale-start transaction: sale output, pointer mint, operator collateral",
)
def generate_sale_start_transaction(
    body: SaleTransactionRequest, v1: Services
) -> TransactionResponse:
    desk = v1.sale_desk()
    _same_network(v1, "changeAddress", body.change_address, body.utxo_cbor_hex_list)
    with v1.metrics.build_timer("sale_start"):
        built = desk.start_transaction(body.sale_id, body.change_address, body.utxo_cbor_hex_list)
    return TransactionResponse(tx_cbor_hex=built.cbor_hex, tx_id=built.tx_id, fee=built.fee)


@marketplace.post(
    "/sales/end/amount",
    response_model=SaleAmountResponse,
    dependencies=_guard(Action.GENERATE_SALE_END_AMOUNT),
    summary="What the owner's wallet must cover to end a sale",
)
def generate_sale_end_amount(body: SaleEndAmountRequest, v1: Services) -> SaleAmountResponse:
    sale_id, amount_hex = v1.sale_desk().end_amount(sale_id_of(body.sale_id))
    return SaleAmountResponse(sale_id=sale_id, amount_cbor_hex=amount_hex)


@marketplace.post(
    "/sales/end/transaction",
    response_model=TransactionResponse,
    dependencies=_guard(Action.GENERATE_SALE_END_TRANSACTION),
    responses={402: {"description": "The wallet offered no UTxOs"}},
    summary="The unsigned sale-end transaction: RemoveSale, pointer burned, the rest to the owner",
)
def generate_sale_end_transaction(
    body: SaleTransactionRequest, v1: Services
) -> TransactionResponse:
    desk = v1.sale_desk()
    _same_network(v1, "changeAddress", body.change_address, body.utxo_cbor_hex_list)
    with v1.metrics.build_timer("sale_end"):
        wallet = desk.end_wallet(body.change_address, body.utxo_cbor_hex_list)
        built = desk.end_transaction(sale_id_of(body.sale_id), wallet)
    return TransactionResponse(tx_cbor_hex=built.cbor_hex, tx_id=built.tx_id, fee=built.fee)


@cardano.post(
    "/submitTx",
    response_model=SubmitTxResponse,
    dependencies=_guard(Action.SUBMIT_TX),
    summary="Submit a signed transaction, or splice a wallet's witnesses into one we issued",
)
def submit_tx(body: SubmitTxRequest, v1: Services) -> SubmitTxResponse:
    if body.cbor_hex is not None and body.tx_id is None and body.witness_set_cbor_hex is None:
        check_signed(body.cbor_hex, v1.submitter.issued_cbor, relay=v1.submit_relay)
        with _naming("cborHex"):
            done = v1.submitter.submit_signed(body.cbor_hex)
    elif body.cbor_hex is None and body.tx_id is not None and body.witness_set_cbor_hex is not None:
        check_witness_set(body.witness_set_cbor_hex)
        with _naming("witnessSetCborHex"):
            done = v1.submitter.submit_witnesses(body.tx_id, body.witness_set_cbor_hex)
    else:
        raise bad_request("send either cborHex, or txId together with witnessSetCborHex")
    return SubmitTxResponse(tx_id=done.tx_id, result="MsgAcceptTx")


def _same_network(v1: V1, field: str, address: str, utxo_cbor_hex_list: Sequence[str] = ()) -> None:
    """400 naming the field when the address or a UTxO is of another network than the
    service's, before a single-use id is used up (malformed values are left to the use case,
    which names them)."""
    network = v1.market.network_id
    try:
        check_network(field, decode_address(address), network)
        utxos = parse_utxos(utxo_cbor_hex_list)
    except (AddressError, CborError, InvalidValueError):
        return
    check_utxo_networks("utxoCborHexList", utxos, network)


@contextmanager
def _naming(field: str) -> Iterator[None]:
    """A malformed value's 400 names the request field it came from."""
    try:
        yield
    except (CborError, WitnessError, BadRequestError) as exc:
        cause = str(exc)
        raise bad_request(cause if cause.startswith(field) else f"{field}: {cause}") from None


def _number(value: Decimal) -> str:
    text = format(value, "f")
    return text if "." in text else text + ".0"


def _criteria(field: str, raw: str | None, parse: Callable[[str, str], T]) -> Criteria[T] | None:
    if raw is None or not raw.strip():
        return None
    includes: list[T] = []
    excludes: list[T] = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        if part[0] == "-":
            excludes.append(parse(field, part[1:]))
        else:
            includes.append(parse(field, part.removeprefix("+")))
    return Criteria(includes=includes or None, excludes=excludes)


def _uuid(field: str, text: str) -> str:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise bad_request(f"{field}: {text!r} is not a UUID") from None


def sale_id_of(text: str) -> uuid.UUID:
    """A request's sale id, parsed once here: 404 in the deployed server's wording when it is
    not a UUID (no sale can have it)."""
    try:
        return uuid.UUID(text)
    except (ValueError, AttributeError, TypeError):
        raise sale_not_found(text) from None


def _order_id(text: str) -> uuid.UUID:
    """A path's order id, parsed once here: 404 when it is not a UUID (no order has it)."""
    try:
        return uuid.UUID(text)
    except ValueError:
        raise order_not_found(text) from None


def _address(field: str, text: str) -> bytes:
    try:
        return decode_address(text)
    except AddressError as exc:
        raise bad_request(f"{field}: {exc}") from None


def _status(field: str, text: str) -> SaleStatus:
    for status in SaleStatus:
        if status.value.lower() == text.lower():
            return status
    raise bad_request(f"{field}: {text!r} is not one of {', '.join(s.value for s in SaleStatus)}")


def _policy(field: str, text: str) -> bytes:
    try:
        policy = bytes.fromhex(text)
    except ValueError:
        policy = b""
    if len(policy) != 28:
        raise bad_request(f"{field}: {text!r} is not a policy id (56 hex digits)")
    return policy


def _moment(field: str, text: str | None) -> datetime | None:
    """ISO 8601; without an offset it is UTC (the deployed server's LocalDateTime)."""
    if text is None or not text.strip():
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise bad_request(f"{field}: {text!r} is not an ISO 8601 date-time") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
