"""Starting and ending sales (PROTOCOL section 5): amounts, pending sales, and the script
transactions (pointer mint/burn, reference inputs, operator collateral, evaluated ex-units)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from ..chain.base import ChainBackend
from ..domain.address import decode_address, parse_address, payment_key_hash
from ..domain.cip30 import OutRef, Utxo, parse_utxos
from ..domain.datums import USD, wallet_from_address
from ..domain.errors import AddressError, CborError, InvalidValueError
from ..domain.sale import SaleStatus
from ..domain.values import ADA, AssetId, check_asset_id
from ..store.sales import PendingSale, PendingSaleRepo, SaleTerms
from ..store.transactions import IssuedTransaction, IssuedTransactionRepo, TxKind
from ..tx import sale as sale_tx
from .context import Context
from .errors import BadRequestError, EmptyWalletError, UnprocessableError
from .operator import OperatorKeys
from .sales import SaleCatalog
from .signing import (
    Mandate,
    ServiceKeys,
    SigningRefusedError,
    refuse_service_utxos,
    sale_end_mandate,
    sale_start_mandate,
)

MAX_TOKEN_QUANTITY = 2**63 - 1
"""The ledger's largest token quantity in an output (a signed 64-bit integer)."""


@dataclass(frozen=True, slots=True)
class DeploymentRefs:
    """Where the live marketplace UTxOs are: the reference data (found by its starter NFT) and
    the reference scripts of the pointer policy and the sale validator (by out-ref); those of
    the queue and vault when configured (an order's cancel needs the queue's)."""

    reference_address: bytes
    starter_nft: AssetId
    pointer_script_ref: OutRef
    sale_script_ref: OutRef
    sale_address: bytes
    queue_script_ref: OutRef | None = None
    vault_script_ref: OutRef | None = None


def live_deployment(backend: ChainBackend, refs: DeploymentRefs) -> sale_tx.SaleDeployment:
    """Read the deployment from the chain now (the reference datum can change: never cache it)."""
    holders = backend.utxos_with_asset(refs.reference_address, refs.starter_nft)
    if not holders:
        raise UnprocessableError("the marketplace reference UTxO (starter NFT) is not on chain")
    found = {
        u.out_ref: u for u in backend.utxos_by_ref([refs.pointer_script_ref, refs.sale_script_ref])
    }
    missing = [r for r in (refs.pointer_script_ref, refs.sale_script_ref) if r not in found]
    if missing:
        where = ", ".join(str(OutRef.of(ref)) for ref in missing)
        raise UnprocessableError(f"the marketplace reference script UTxO(s) {where} are spent")
    return sale_tx.SaleDeployment(
        reference_utxo=holders[0],
        pointer_script_utxo=found[refs.pointer_script_ref],
        sale_script_utxo=found[refs.sale_script_ref],
        sale_address=refs.sale_address,
    )


@dataclass(frozen=True, slots=True)
class SaleStartRequest:
    """`POST /v1/marketplace/sales/start/amount`, as parsed from the request."""

    owner_address: str
    bundle_policy_id: str
    bundle_asset_name: str
    bundle_amount: int
    cost_policy_id: str | None
    cost_asset_name: str | None
    cost_amount: int
    total_bundle_quantity: int


class SaleDesk:
    """The v1 sale start and end endpoints' work."""

    def __init__(
        self,
        market: Context,
        catalog: SaleCatalog,
        operator: OperatorKeys,
        refs: DeploymentRefs,
    ) -> None:
        self._market = market
        self._catalog = catalog
        self._operator = operator
        self._refs = refs

    # -- start ------------------------------------------------------------------------------------

    def start_amount(self, request: SaleStartRequest) -> PendingSale:
        terms = _terms(request)
        amount = sale_tx.sale_start_amount(
            sale_lovelace=self._market.config.sale_lovelace,
            bundle=terms.bundle,
            bundle_amount=terms.bundle_amount,
            total_bundle_quantity=terms.total_bundle_quantity,
        )
        market = self._market
        with market.database.session() as session:
            return PendingSaleRepo(session).add(
                terms,
                amount_cbor_hex=amount.to_cbor_hex(),
                now=market.clock(),
                ttl_seconds=market.config.sale_ttl_seconds,
            )

    def start_transaction(
        self, sale_id: str, change_address: str, utxo_cbor_hex_list: Sequence[str]
    ) -> sale_tx.SaleTransaction:
        """The unsigned start transaction for a pending sale (used up with it, atomically).

        The signing gate checks it before it is recorded: a transaction the operator would
        refuse to co-sign is never issued, and the pending sale stays usable."""
        change, utxos = _wallet(change_address, utxo_cbor_hex_list, self._market.service_keys)
        market = self._market
        deployment = live_deployment(market.backend, self._refs)
        params = market.backend.protocol_parameters()
        collateral = self._collateral()
        ttl = market.ttl_slot()
        with market.database.session() as session:
            pending = PendingSaleRepo(session).claim_sale(sale_id, market.clock())
            terms = pending.terms
            built = sale_tx.build_sale_start_transaction(
                utxos=utxos,
                change_address=terms.owner_address if change is None else change,
                terms=sale_tx.SaleTerms(
                    bundle=terms.bundle,
                    bundle_amount=terms.bundle_amount,
                    total_bundle_quantity=terms.total_bundle_quantity,
                    cost=terms.cost,
                    cost_amount=terms.cost_amount,
                ),
                sale_lovelace=market.config.sale_lovelace,
                deployment=deployment,
                collateral_utxos=collateral,
                collateral_key_hash=self._operator.collateral.hash,
                hot_key_hash=self._operator.hot.hash,
                params=params,
                evaluate=market.backend.evaluate,
                ttl=ttl,
            )
            market.gate.check(
                built.transaction.cbor,
                self._start_mandate(terms.owner_address, deployment.pointer_policy),
            )
            IssuedTransactionRepo(session).record(
                tx_id=built.tx_id,
                cbor=built.transaction.cbor,
                kind=TxKind.SALE_START,
                now=market.clock(),
                reference_id=pending.id,
            )
        return built

    # -- end --------------------------------------------------------------------------------------

    def end_amount(self, sale_id: uuid.UUID) -> tuple[str, str]:
        stored = self._catalog.get(sale_id)
        if stored.sale.status is SaleStatus.ENDED:
            raise UnprocessableError(f"Sale {sale_id} has already ended")
        amount = sale_tx.sale_end_amount(sale_lovelace=self._market.config.sale_lovelace)
        return stored.sale.id, amount.to_cbor_hex()

    def end_wallet(
        self, change_address: str, utxo_cbor_hex_list: Sequence[str]
    ) -> tuple[bytes | None, list[Utxo]]:
        """The owner's wallet of a sale end: its change address and UTxOs (400 for a malformed
        one, 402 for no UTxOs, 422 for a service wallet's), checked before the sale is read."""
        return _wallet(change_address, utxo_cbor_hex_list, self._market.service_keys)

    def end_transaction(
        self, sale_id: uuid.UUID, wallet: tuple[bytes | None, list[Utxo]]
    ) -> sale_tx.SaleTransaction:
        """The unsigned sale end of `sale_id`, paid from `wallet` (`end_wallet`)."""
        change, utxos = wallet
        stored = self._catalog.get(sale_id)
        if stored.sale.status is SaleStatus.ENDED:
            raise UnprocessableError(f"Sale {sale_id} has already ended")
        market = self._market
        holders = market.backend.utxos_with_asset(self._refs.sale_address, stored.pointer)
        if not holders:
            raise UnprocessableError(
                f"Sale {sale_id} has no UTxO at the sale address (ended or not yet on chain)"
            )
        built = sale_tx.build_sale_end_transaction(
            sale_utxo=holders[0],
            utxos=utxos,
            change_address=stored.sale.owner_address if change is None else change,
            deployment=live_deployment(market.backend, self._refs),
            collateral_utxos=self._collateral(),
            params=market.backend.protocol_parameters(),
            evaluate=market.backend.evaluate,
            ttl=market.ttl_slot(),
        )
        market.gate.check(
            built.transaction.cbor,
            self._end_mandate(stored.sale.owner_address, stored.pointer_policy),
        )
        with market.database.session() as session:
            IssuedTransactionRepo(session).record(
                tx_id=built.tx_id,
                cbor=built.transaction.cbor,
                kind=TxKind.SALE_END,
                now=market.clock(),
                reference_id=stored.sale.id,
            )
        return built

    # -- co-signing -------------------------------------------------------------------------------

    def mandate_for(self, issued: IssuedTransaction) -> Mandate:
        """What the operator's keys may sign for an issued sale start or end, rebuilt from what
        was recorded at issue (the seller, the pointer policy); submitTx's signing gate checks
        the transaction against it, with every input read from the chain again."""
        if issued.kind is TxKind.SALE_START and issued.reference_id is not None:
            with self._market.database.session() as session:
                pending = PendingSaleRepo(session).get(issued.reference_id)
            if pending is not None:
                policy = live_deployment(self._market.backend, self._refs).pointer_policy
                return self._start_mandate(pending.terms.owner_address, policy)
        if issued.kind is TxKind.SALE_END and issued.reference_id is not None:
            # the stored reference is the sale's id as the sale end recorded it
            stored = self._catalog.get(uuid.UUID(issued.reference_id))
            return self._end_mandate(stored.sale.owner_address, stored.pointer_policy)
        raise SigningRefusedError(
            f"transaction {issued.tx_id} was issued as {issued.kind}: the operator co-signs only "
            "sale starts and ends"
        )

    def _start_mandate(self, owner_address: bytes, pointer_policy: bytes) -> Mandate:
        return sale_start_mandate(
            hot=self._operator.hot,
            collateral=self._operator.collateral,
            seller_key=_seller_key(owner_address),
            pointer_policy=pointer_policy,
        )

    def _end_mandate(self, owner_address: bytes, pointer_policy: bytes) -> Mandate:
        return sale_end_mandate(
            collateral=self._operator.collateral,
            seller_key=_seller_key(owner_address),
            sale_script=parse_address(self._refs.sale_address).payment.hash,
            pointer_policy=pointer_policy,
        )

    def _collateral(self) -> list[Utxo]:
        utxos = self._market.backend.utxos_at(self._operator.collateral_address)
        return [u for u in utxos if u.value.is_ada_only]


def _seller_key(owner_address: bytes) -> bytes:
    key = payment_key_hash(owner_address)
    if key is None:  # pragma: no cover - a SaleDatum's owner is a key address (Wallet)
        raise SigningRefusedError("the seller's address has no payment key")
    return key


def _wallet(
    change_address: str, hex_list: Sequence[str], service_keys: ServiceKeys
) -> tuple[bytes | None, list[Utxo]]:
    try:
        change = decode_address(change_address)
    except AddressError as exc:
        raise BadRequestError(f"changeAddress: {exc}") from None
    if not hex_list:
        raise EmptyWalletError("utxoCborHexList is empty: the wallet offered no UTxOs")
    try:
        utxos = parse_utxos(hex_list)
    except (CborError, InvalidValueError) as exc:
        raise BadRequestError(str(exc)) from None
    refuse_service_utxos(utxos, service_keys)
    return change, utxos


def _terms(request: SaleStartRequest) -> SaleTerms:
    try:
        owner = decode_address(request.owner_address)
    except AddressError as exc:
        raise BadRequestError(f"ownerAddress: {exc}") from None
    wallet_from_address(owner)  # a DatumError (422) when the owner cannot be a Wallet datum
    bundle = _asset("bundle", request.bundle_policy_id, request.bundle_asset_name)
    if bundle == ADA:
        raise UnprocessableError("the bundle must be a native token, not ADA")
    cost = _cost(request.cost_policy_id, request.cost_asset_name)
    for field, value, minimum in (
        ("Bundle amount", request.bundle_amount, 1),
        ("Total bundle quantity", request.total_bundle_quantity, 1),
        ("Cost amount", request.cost_amount, 1),
    ):
        if value < minimum:
            raise UnprocessableError(f"{field} ({value}) must be at least {minimum}")
    tokens = request.bundle_amount * request.total_bundle_quantity
    if tokens > MAX_TOKEN_QUANTITY:
        raise UnprocessableError(
            f"Bundle amount ({request.bundle_amount}) x total bundle quantity "
            f"({request.total_bundle_quantity}) = {tokens} exceeds {MAX_TOKEN_QUANTITY}, the most "
            "tokens one output can hold"
        )
    return SaleTerms(
        owner_address=owner,
        bundle=bundle,
        bundle_amount=request.bundle_amount,
        cost=cost,
        cost_amount=request.cost_amount,
        total_bundle_quantity=request.total_bundle_quantity,
    )


def _cost(policy_hex: str | None, name_hex: str | None) -> AssetId | None:
    """None (USD) when both are absent or the policy is USD's `555344`; ADA for two empty
    strings."""
    if policy_hex is None and name_hex is None:
        return None
    usd_policy = USD[0].hex()
    if (policy_hex or "").lower() == usd_policy:
        if name_hex:
            raise UnprocessableError("USD cost requires an empty cost asset name")
        return None
    if not policy_hex and not name_hex:
        return ADA
    return _asset("cost", policy_hex or "", name_hex or "")


def _asset(field: str, policy_hex: str, name_hex: str) -> AssetId:
    try:
        asset = (bytes.fromhex(policy_hex), bytes.fromhex(name_hex))
    except ValueError:
        raise BadRequestError(f"{field}PolicyId and {field}AssetName must be hex") from None
    if asset == ADA:
        return ADA
    try:
        check_asset_id(asset)
    except InvalidValueError as exc:
        raise BadRequestError(f"{field}: {exc}") from None
    return asset
