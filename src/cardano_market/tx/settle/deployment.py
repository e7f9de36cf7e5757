"""The live marketplace UTxOs a settlement reads, and the checks on the UTxOs it spends (the
sale, the order, the oracle, the batcher's certificate): each as the scripts expect, or BatchError.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...domain.address import encode_address, parse_address, script_address
from ...domain.cip30 import Utxo
from ...domain.datums import OracleDatum, QueueDatum, ReferenceDatum, SaleDatum
from ...domain.protocol import batcher_certificate
from ...domain.queue import UndecodableQueueDatumError, queue_datum_of
from ...domain.values import unit_of
from ...ledger.references import reference_datum_of
from .errors import BatchError

KEY_HASH_SIZE = 28


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


def oracle_datum(utxo: Utxo | None, deployment: BatchDeployment) -> OracleDatum | None:
    if utxo is None:
        return None
    if utxo.address != deployment.oracle_address or utxo.inline_datum is None:
        raise BatchError(
            f"{utxo.out_ref} is not an oracle UTxO: the feed lives at "
            f"{encode_address(deployment.oracle_address)} with an inline price datum"
        )
    return OracleDatum.from_cbor(utxo.inline_datum)


def sale_datum(utxo: Utxo, deployment: BatchDeployment) -> SaleDatum:
    if utxo.address != deployment.sale_address or utxo.inline_datum is None:
        raise BatchError(f"{utxo.out_ref} is not a sale UTxO (address or inline SaleDatum)")
    return SaleDatum.from_cbor(utxo.inline_datum)


def order_datum(utxo: Utxo, deployment: BatchDeployment) -> QueueDatum:
    """The order's QueueDatum (`domain.queue.queue_datum_of`) at the deployment's queue."""
    if utxo.address != deployment.queue_address or utxo.inline_datum is None:
        raise BatchError(f"{utxo.out_ref} is not an order (queue address, inline QueueDatum)")
    try:
        return queue_datum_of(utxo)
    except UndecodableQueueDatumError as exc:
        raise exc.cause from None  # the decoder's own error (DatumError, CborError)


def check_pointer(sale_utxo: Utxo, reference: ReferenceDatum, order: QueueDatum) -> None:
    if sale_utxo.value.quantity((reference.pointer, order.pointer_name)) != 1:
        raise BatchError(
            f"sale {sale_utxo.out_ref} does not hold the order's pointer "
            f"{unit_of((reference.pointer, order.pointer_name))}"
        )


def check_certificate(utxo: Utxo, reference: ReferenceDatum) -> None:
    if batcher_certificate(utxo.value, reference.batcher_data.batcher_pid) is None:
        raise BatchError(f"{utxo.out_ref} holds no batcher certificate")
