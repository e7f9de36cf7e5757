"""Cancelling a queued order (PROTOCOL section 6, QueueCancel): the owner takes the whole order
back, signs, and pays the fee and the collateral from their own UTxOs.

The v1 route builds the unsigned transaction for the owner's CIP-30 wallet (`OrderCancelDesk`);
the v2 worker builds it from a custodial wallet (`app.custodial_cancel`). Both read the order and
the deployment from the chain as they are now: the reference data (found by its starter NFT) and
the queue and vault validators' reference scripts, at their configured out-refs
(`QUEUE_SCRIPT_REF`, `VAULT_SCRIPT_REF`; on the devnet the seed's) or else beside the sale
validator's, each recognised by the hash the live ReferenceDatum names.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..chain.base import ChainBackend
from ..domain.address import encode_address, payment_key_hash
from ..domain.cip30 import OutRef, Utxo, parse_utxos
from ..domain.errors import CborError, InvalidValueError
from ..domain.queue import (
    MissingQueueDatumError,
    QueuedOrder,
    UndecodableQueueDatumError,
    queue_datum_of,
)
from ..ledger.references import reference_datum_of, reference_script_hash
from ..store.transactions import IssuedTransactionRepo, TxKind
from ..tx.script import CollateralError
from ..tx.settle.cancel import build_cancel_transaction
from ..tx.settle.deployment import BatchDeployment
from ..tx.settle.result import BatchTransaction
from .context import Context
from .errors import (
    BadRequestError,
    ChainUnavailableError,
    EmptyWalletError,
    NotFoundError,
    UnprocessableError,
)
from .orders import check_utxo_networks, request_address
from .sale_lifecycle import DeploymentRefs
from .signing import refuse_service_utxos

NOT_CONFIGURED = (
    "order cancellation is not configured on this network: set CARDANO_MARKET_REFERENCE_ADDRESS, "
    "CARDANO_MARKET_STARTER_NFT_UNIT, CARDANO_MARKET_SALE_SCRIPT_REF (with the operator keys, "
    "as for sale start and end), CARDANO_MARKET_QUEUE_SCRIPT_REF and "
    "CARDANO_MARKET_VAULT_SCRIPT_REF"
)
_TX_ID_HEX = 64


def parse_order_tx_id(text: str, field: str = "orderTxId") -> bytes:
    """A transaction id given as 64 hex digits; BadRequestError naming `field` otherwise."""
    try:
        tx_id = bytes.fromhex(text) if len(text) == _TX_ID_HEX else b""
    except ValueError:
        tx_id = b""
    if not tx_id:
        raise BadRequestError(f"{field}: {text!r} is not a transaction id (64 hex digits)")
    return tx_id


# -- the deployment -------------------------------------------------------------------------------


def load_cancel_deployment(backend: ChainBackend, refs: DeploymentRefs | None) -> BatchDeployment:
    """The live deployment a cancel needs: the reference data and the queue validator's reference
    script (the sale's and the vault's complete `BatchDeployment`; a cancel reads neither).

    ChainUnavailableError (503) when cancelling is not configured or the deployment's UTxOs are
    not on chain; the chain's own error when it cannot be read.
    """
    if refs is None:
        raise ChainUnavailableError(NOT_CONFIGURED)
    holders = backend.utxos_with_asset(refs.reference_address, refs.starter_nft)
    if not holders:
        raise ChainUnavailableError(
            "order cancellation is unavailable: the marketplace reference UTxO (starter NFT) is "
            "not on chain"
        )
    reference = holders[0]
    found = backend.utxos_by_ref([refs.sale_script_ref])
    if not found:
        raise ChainUnavailableError(
            "order cancellation is unavailable: the sale reference-script UTxO "
            f"{OutRef.of(refs.sale_script_ref)} is spent (CARDANO_MARKET_SALE_SCRIPT_REF)"
        )
    sale_script = found[0]
    contracts = reference_datum_of(reference).contracts
    configured = [r for r in (refs.queue_script_ref, refs.vault_script_ref) if r is not None]
    # the configured out-refs (QUEUE_SCRIPT_REF, VAULT_SCRIPT_REF), else beside the sale's script
    candidates = (
        backend.utxos_by_ref(configured)
        if len(configured) == 2
        else backend.utxos_at(sale_script.address)
    )
    beside = _reference_scripts(candidates)
    queue_script = beside.get(contracts.queue)
    vault_script = beside.get(contracts.vault)
    if queue_script is None or vault_script is None:
        missing = "queue" if queue_script is None else "vault"
        raise ChainUnavailableError(
            f"{NOT_CONFIGURED}; the {missing} validator's reference script (hash "
            f"{(contracts.queue if queue_script is None else contracts.vault).hex()}) is not "
            + (
                "at the configured out-refs"
                if len(configured) == 2
                else f"beside the sale validator's at {encode_address(sale_script.address)}"
            )
        )
    return BatchDeployment(reference, sale_script, queue_script, vault_script)


def _reference_scripts(utxos: Sequence[Utxo]) -> dict[bytes, Utxo]:
    """The UTxOs carrying a reference script, by the script's hash (the first of each)."""
    by_hash: dict[bytes, Utxo] = {}
    for utxo in sorted(utxos, key=lambda u: u.out_ref):
        hashed = reference_script_hash(utxo)
        if hashed is not None:
            by_hash.setdefault(hashed, utxo)
    return by_hash


# -- the order ------------------------------------------------------------------------------------


def find_queued_order(
    backend: ChainBackend, queue_address: bytes, deployment: BatchDeployment, ref: OutRef
) -> QueuedOrder:
    """The order at `ref`: NotFoundError (404) unless an unspent UTxO sits there at the queue
    address; UnprocessableError (422) when its datum is not a QueueDatum (no owner can cancel
    it: only the hot key's fallback spends it)."""
    if deployment.queue_address != queue_address:
        raise ChainUnavailableError(
            "order cancellation is unavailable: the reference datum's queue "
            f"{encode_address(deployment.queue_address)} is not the configured queue address "
            f"{encode_address(queue_address)}"
        )
    ref = OutRef.of(ref)
    found = [u for u in backend.utxos_by_ref([ref]) if u.address == queue_address]
    if not found:
        raise NotFoundError(f"Order {ref} not found in the queue")
    utxo = found[0]
    try:
        datum = queue_datum_of(utxo)
    except MissingQueueDatumError:
        raise UnprocessableError(
            f"UTxO {ref} at the queue has no inline QueueDatum: it is not an order "
            "its owner can cancel"
        ) from None
    except UndecodableQueueDatumError as exc:
        raise UnprocessableError(
            f"UTxO {ref} at the queue holds no valid QueueDatum ({exc.cause}): it is not "
            "an order its owner can cancel"
        ) from None
    return QueuedOrder(utxo, datum)


def build_order_cancel(
    market: Context,
    deployment: BatchDeployment,
    order: QueuedOrder,
    *,
    owner_utxos: Sequence[Utxo],
    collateral_utxos: Sequence[Utxo],
    change_address: bytes,
) -> BatchTransaction:
    """The unsigned QueueCancel transaction: the whole order to its owner's address, the fee
    from `owner_utxos` (change to `change_address`), the owner's key a required signer.

    InsufficientFundsError (422) when the UTxOs cannot pay the fee; UnprocessableError (422)
    when no ADA-only key UTxO can back the collateral.
    """
    backend = market.backend
    if not [u for u in collateral_utxos if u.value.is_ada_only]:
        raise UnprocessableError(
            "the wallet offered no ADA-only UTxO for the collateral a script transaction needs"
        )
    try:
        return build_cancel_transaction(
            deployment=deployment,
            queue_utxo=order.utxo,
            owner_utxos=owner_utxos,
            collateral_utxos=collateral_utxos,
            params=backend.protocol_parameters(),
            evaluate=backend.evaluate,
            ttl=market.ttl_slot(),
            change_address=change_address,
        )
    except CollateralError as exc:
        # The operator's collateral failing is the service's problem (503); the owner's is not.
        raise UnprocessableError(f"the wallet cannot back the collateral: {exc}") from None


# -- v1: the owner's CIP-30 wallet ----------------------------------------------------------------


class OrderCancelDesk:
    """`POST /v1/marketplace/orders/cancel/transaction`: the unsigned cancel for the owner's
    wallet, recorded as issued, so `submitTx` takes it whole (`cborHex`) or as the CIP-30
    `signTx` witness set (`txId`, `witnessSetCborHex`)."""

    def __init__(self, market: Context, refs: DeploymentRefs | None) -> None:
        self._market = market
        self.refs = refs

    def deployment(self) -> BatchDeployment:
        return load_cancel_deployment(self._market.backend, self.refs)

    def transaction(
        self,
        order_tx_id: str,
        order_output_index: int,
        change_address: str,
        utxo_cbor_hex_list: Sequence[str],
        collateral_utxo_cbor_hex_list: Sequence[str] | None = None,
    ) -> BatchTransaction:
        """Build the cancel of the order at `order_tx_id#order_output_index`.

        400 for a malformed field (named), 402 for an empty UTxO list, 404 when no order sits
        there, 422 when the change address's payment key is not the order's owner or the
        wallet cannot pay the fee or back the collateral, 503 when cancelling is unavailable.
        Collateral defaults to the ADA-only UTxOs among `utxo_cbor_hex_list`.
        """
        market = self._market
        ref = OutRef(parse_order_tx_id(order_tx_id), order_output_index)
        change = request_address("changeAddress", change_address, market.network_id)
        if not utxo_cbor_hex_list:
            raise EmptyWalletError("utxoCborHexList is empty: the wallet offered no UTxOs")
        utxos = _utxos(utxo_cbor_hex_list, "utxoCborHexList")
        check_utxo_networks("utxoCborHexList", utxos, market.network_id)
        collateral = utxos
        if collateral_utxo_cbor_hex_list is not None:
            collateral = _utxos(collateral_utxo_cbor_hex_list, "collateralUtxoCborHexList")
            check_utxo_networks("collateralUtxoCborHexList", collateral, market.network_id)
        refuse_service_utxos(utxos, market.service_keys)
        if collateral is not utxos:
            refuse_service_utxos(collateral, market.service_keys, "collateralUtxoCborHexList")
        deployment = self.deployment()
        order = find_queued_order(market.backend, market.addresses.queue, deployment, ref)
        signer = payment_key_hash(change)
        if signer != order.datum.owner.pkh:
            raise UnprocessableError(
                f"Order {order.ref} belongs to another wallet: only its owner "
                f"({order.datum.owner.pkh.hex()}) can sign its cancellation, and changeAddress's "
                "payment key is not the owner's"
            )
        built = build_order_cancel(
            market,
            deployment,
            order,
            owner_utxos=utxos,
            collateral_utxos=collateral,
            change_address=change,
        )
        with market.database.session() as session:
            IssuedTransactionRepo(session).record(
                tx_id=built.transaction.tx_id_hex,
                cbor=built.transaction.cbor,
                kind=TxKind.ORDER_CANCEL,
                now=market.clock(),
            )
        return built


def _utxos(hex_list: Sequence[str], field: str) -> list[Utxo]:
    try:
        return parse_utxos(hex_list, field)
    except (CborError, InvalidValueError) as exc:
        raise BadRequestError(str(exc)) from None
