"""Orders (PROTOCOL sections 3 and 4): the fee quote, the priced amount, the order transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from ..domain.address import MAINNET, decode_address
from ..domain.cip30 import Utxo, parse_utxos
from ..domain.errors import AddressError, CborError, InvalidValueError
from ..domain.pricing import FeesQuote, order_amount, order_fees
from ..store.quotes import PendingOrder, PendingOrderRepo
from ..store.sales import SaleRepo
from ..store.transactions import IssuedTransactionRepo, TxKind
from ..tx.order import OrderTransaction, OrderTransactionRequest, build_order_transaction
from .context import Context
from .errors import BadRequestError, EmptyWalletError
from .sales import SaleCatalog, sale_not_found
from .signing import refuse_service_utxos

_LAST_SHELLEY_TYPE = 7
"""Header types 0..7 are Shelley payment addresses, their low nibble the network id."""


class OrderDesk:
    """The v1 order endpoints' work, one method each."""

    def __init__(self, market: Context, catalog: SaleCatalog) -> None:
        self._market = market
        self._catalog = catalog

    def fees(self) -> FeesQuote:
        return order_fees(self._market.config)

    def quote(
        self, sale_id: uuid.UUID, bundle_quantity: int, incentive_amount: int | None
    ) -> PendingOrder:
        """Price an order and keep it as a single-use pending order for the configured TTL.

        404 (NotFoundError) for an unknown sale, 422 (PricingError) for values the sale cannot
        take; the chain's error when the oracle cannot be read. Nothing is stored on failure.
        """
        market = self._market
        stored = self._catalog.recent(sale_id)  # availability up to ~1 s old; terms exact
        price = market.prices.current().price
        amount = order_amount(stored.sale, bundle_quantity, incentive_amount, price, market.config)
        with market.database.session() as session:
            return PendingOrderRepo(session).add(
                sale_id=stored.sale.id,
                amount=amount,
                now=market.clock(),
                ttl_seconds=market.config.order_ttl_seconds,
            )

    def transaction(
        self, order_id: str, change_address: str, utxo_cbor_hex_list: Sequence[str]
    ) -> OrderTransaction:
        """Build the unsigned order transaction for a pending order, using it up.

        The claim, the build and the record of the issued bytes are one database transaction:
        when the wallet's UTxOs cannot pay, the order stays usable for another try.
        """
        market = self._market
        change = request_address("changeAddress", change_address, market.network_id)
        if not utxo_cbor_hex_list:
            raise EmptyWalletError("utxoCborHexList is empty: the wallet offered no UTxOs")
        try:
            utxos = parse_utxos(utxo_cbor_hex_list)
        except (CborError, InvalidValueError) as exc:
            raise BadRequestError(str(exc)) from None
        # before the order id is claimed: a wallet on the wrong network leaves it usable
        check_utxo_networks("utxoCborHexList", utxos, market.network_id)
        refuse_service_utxos(utxos, market.service_keys)
        params = market.backend.protocol_parameters()
        ttl = market.ttl_slot()
        with market.database.session() as session:
            order = PendingOrderRepo(session).claim_order(order_id, market.clock())
            stored = SaleRepo(session).get(order.sale_id)
            if stored is None:  # a pending order's sale is never deleted (foreign key)
                raise sale_not_found(order.sale_id)
            tx = build_order_transaction(
                OrderTransactionRequest(
                    amount=order.amount,
                    sale=stored.sale,
                    config=market.config,
                    utxos=utxos,
                    change_address=change,
                    queue_address=market.addresses.queue,
                    cash_register_address=market.addresses.cash_register,
                    params=params,
                    ttl=ttl,
                )
            )
            IssuedTransactionRepo(session).record(
                tx_id=tx.tx_id,
                cbor=tx.balanced.cbor,
                kind=TxKind.ORDER,
                now=market.clock(),
                reference_id=order.id,
            )
            PendingOrderRepo(session).set_owner(order.id, change)
        # The sale's UTxO is about to be spent: the next quote reads the sale afresh.
        self._catalog.forget(order.sale_id)
        return tx


def request_address(field: str, text: str, network_id: int | None = None) -> bytes:
    """A bech32 or hex address from a request; BadRequestError naming `field` otherwise, also
    when `network_id` is given and the address is of another network."""
    try:
        raw = decode_address(text)
    except AddressError as exc:
        raise BadRequestError(f"{field}: {exc}") from None
    if network_id is not None:
        check_network(field, raw, network_id)
    return raw


def network_name(network_id: int) -> str:
    return "mainnet" if network_id == MAINNET else "a testnet"


def check_network(field: str, raw: bytes, network_id: int) -> None:
    """BadRequestError naming `field` when the raw Shelley address is not of `network_id`."""
    found = raw[0] & 0x0F
    if found != network_id:
        raise BadRequestError(
            f"{field}: the address is on {network_name(found)} (network id {found}), but this "
            f"service runs on {network_name(network_id)} (network id {network_id}): use a wallet "
            "of the service's network"
        )


def check_utxo_networks(field: str, utxos: Sequence[Utxo], network_id: int) -> None:
    """BadRequestError naming the element (`field[i]`) holding an address of another network.

    Only Shelley addresses carry a network id in their header; Byron ones are left alone (the
    builder refuses them itself)."""
    for i, utxo in enumerate(utxos):
        if utxo.address and utxo.address[0] >> 4 <= _LAST_SHELLEY_TYPE:
            check_network(f"{field}[{i}]", utxo.address, network_id)
