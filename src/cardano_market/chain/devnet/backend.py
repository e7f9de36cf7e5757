"""`DevnetBackend`: the `ChainBackend` interface over the in-process devnet ledger.

The default network: no keys, no internet. Protocol parameters come from a Blockfrost-shaped file
or the domain's mainnet default, parsed once. Submitting the same transaction twice returns its id
both times, as a node's mempool would.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ...domain.cip30 import OutRef, Utxo
from ...domain.datums import OracleDatum
from ...domain.errors import DatumError
from ...domain.outputs import TxOutput
from ...domain.params import ProtocolParameters
from ...domain.values import ADA, AssetId, unit_of
from ...ledger.exunits import ExUnits, RedeemerKey
from ..base import ChainError, ChainTransaction, OraclePrice, Tip, TxStatus, chain_transaction
from .ledger import Ledger
from .store import TxRecord

DEVNET_NETWORK_ID = 0


class DevnetBackend:
    """A `ChainBackend` backed by a `Ledger` (SQLite file)."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.network_id = ledger.network_id

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        params: ProtocolParameters | str | Path | None = None,
        network_id: int = DEVNET_NETWORK_ID,
        **ledger_options: Any,
    ) -> DevnetBackend:
        """A backend over the ledger at `path`; `params` is parameters, a JSON file, or default."""
        if isinstance(params, (str, Path)):
            params = ProtocolParameters.from_file(params)
        return cls(Ledger(path, params=params, network_id=network_id, **ledger_options))

    def close(self) -> None:
        self.ledger.close()

    # -- ChainBackend -----------------------------------------------------------------------------

    def protocol_parameters(self) -> ProtocolParameters:
        return self.ledger.params

    def tip(self) -> Tip:
        return self.ledger.tip()

    def slot_to_posix_ms(self, slot: int) -> int:
        return self.ledger.slot_config.slot_to_posix_ms(slot)

    def posix_ms_to_slot(self, time_ms: int) -> int:
        return self.ledger.slot_config.posix_ms_to_slot(time_ms)

    def utxos_at(self, address: bytes) -> list[Utxo]:
        return self.ledger.utxos_at(address)

    def utxos_by_ref(self, refs: Iterable[OutRef]) -> list[Utxo]:
        return self.ledger.utxos_by_ref(refs)

    def utxos_with_asset(self, address: bytes, asset: AssetId) -> list[Utxo]:
        utxos = self.ledger.utxos_at(address)
        if asset == ADA:
            return utxos
        return [u for u in utxos if u.value.quantity(asset) > 0]

    def submit(self, tx: bytes) -> bytes:
        return self.ledger.submit(tx)

    def evaluate(
        self, tx: bytes, additional_utxos: Sequence[Utxo] = ()
    ) -> dict[RedeemerKey, ExUnits]:
        return self.ledger.evaluate(tx, additional_utxos)

    def tx_status(self, tx_id: bytes) -> TxStatus:
        return self.ledger.tx_status(tx_id)

    def oracle_price(self, oracle_address: bytes, feed_asset: AssetId) -> OraclePrice:
        holders = self.utxos_with_asset(oracle_address, feed_asset)
        if not holders:
            raise ChainError(
                f"no UTxO at the oracle address holds the feed token {unit_of(feed_asset)}"
            )
        utxo = holders[0]
        if utxo.inline_datum is None:
            raise ChainError(
                f"the oracle UTxO {utxo.tx_hash.hex()}#{utxo.index} has no inline price datum"
            )
        try:
            datum = OracleDatum.from_cbor(utxo.inline_datum)
        except DatumError as exc:
            raise ChainError(f"the oracle datum is not a Charli3 price feed: {exc}") from exc
        return OraclePrice(datum.price, datum.start_ms, datum.end_ms, utxo)

    # -- ChainHistory -----------------------------------------------------------------------------

    def transaction(self, tx_id: bytes) -> ChainTransaction | None:
        record = self.ledger.transaction(tx_id)
        return None if record is None or not record.cbor else _chain_transaction(record)

    def spending_transaction(self, ref: OutRef) -> ChainTransaction | None:
        record = self.ledger.spender_of(ref)
        return None if record is None else _chain_transaction(record)

    # -- devnet extras ----------------------------------------------------------------------------

    def advance(self, slots: int) -> Tip:
        return self.ledger.advance(slots)

    def reset(self) -> None:
        self.ledger.reset()

    def publish_oracle_price(self, oracle_address: bytes, feed_asset: AssetId, price: int) -> Utxo:
        """The price feed's operator publishes `price` (USD x 10^6 per whole currency token):
        its UTxO is replaced by one with the same value and validity window and the new price."""
        current = self.oracle_price(oracle_address, feed_asset)
        datum = OracleDatum(price, current.valid_from_ms, current.valid_to_ms)
        output = TxOutput(
            current.utxo.address, current.utxo.value, inline_datum=datum.to_cbor()
        ).with_min_ada(self.protocol_parameters())
        return self.ledger.republish(current.utxo.out_ref, output)


def _chain_transaction(record: TxRecord) -> ChainTransaction:
    return chain_transaction(record.cbor, block_height=record.block, slot=record.slot)
