"""A built settlement transaction (purchase, refund or cancel): its bytes, fee and bundles, the
outputs a chained transaction spends, and a summary for logs and reports."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cbor2

from ...domain.address import encode_address
from ...domain.cip30 import Utxo
from ...domain.params import ProtocolParameters
from ...domain.values import unit_of
from ..script import ScriptTransaction
from .errors import BatchError
from .fee import referenced_script_bytes, required_fee


@dataclass(frozen=True, slots=True)
class BatchTransaction:
    kind: str  # "purchase", "refund" or "cancel"
    transaction: ScriptTransaction
    bundles: int  # bundles bought (purchase), else 0
    queue_index: int | None = None  # the purchase's new order output

    @property
    def cbor(self) -> bytes:
        return self.transaction.cbor

    @property
    def tx_id(self) -> bytes:
        return self.transaction.tx_id

    @property
    def fee(self) -> int:
        return self.transaction.fee

    def output_utxos(self) -> list[Utxo]:
        """The transaction's outputs as UTxOs (to chain a transaction before this one lands)."""
        tx_id = self.transaction.tx_id
        return [
            Utxo.from_cbor(b"\x82" + _out_ref_cbor(tx_id, i) + o.to_cbor())
            for i, o in enumerate(self.transaction.outputs)
        ]

    @property
    def queue_utxo(self) -> Utxo:
        """The purchase's order output (what a chained refund spends)."""
        if self.queue_index is None:
            raise BatchError(f"a {self.kind} transaction leaves no order behind")
        return self.output_utxos()[self.queue_index]

    @property
    def batcher_utxo(self) -> Utxo:
        """The batcher's output holding the certificate (purchase: last; refund: first)."""
        outputs = self.output_utxos()
        return outputs[-1] if self.kind == "purchase" else outputs[0]

    def summary(self, params: ProtocolParameters) -> dict[str, Any]:
        """Fee, its parts and the ex-units, for logs and reports."""
        tx = self.transaction
        mem = sum(u.mem for u in tx.ex_units.values())
        steps = sum(u.steps for u in tx.ex_units.values())
        return {
            "kind": self.kind,
            "txId": tx.tx_id_hex,
            "fee": tx.fee,
            "minimumFee": required_fee(tx, params),
            "size": tx.signed_size,
            "referenceScriptBytes": referenced_script_bytes(tx),
            "exUnits": {f"{k[0]}:{k[1]}": [u.mem, u.steps] for k, u in tx.ex_units.items()},
            "mem": mem,
            "steps": steps,
            "bundles": self.bundles,
            "outputs": [
                {
                    "address": encode_address(o.address),
                    "lovelace": o.value.coin,
                    "assets": {unit_of(a): q for a, q in sorted(o.value.assets.items())},
                }
                for o in tx.outputs
            ],
        }


def _out_ref_cbor(tx_id: bytes, index: int) -> bytes:
    return cbor2.dumps([tx_id, index])
