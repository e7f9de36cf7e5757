"""What a UTxO carries for others to reference: its reference script's hash, its ReferenceDatum.

The builders, the batcher, the cancel and the deployment check read deployments through these.
"""

from __future__ import annotations

from ..domain.cip30 import Utxo
from ..domain.datums import ReferenceDatum
from ..domain.errors import CborError, DatumError
from .scripts import script_from_ref


def reference_script_hash(utxo: Utxo) -> bytes | None:
    """The hash of the script `utxo` carries as a reference script; None without one or when
    it is not a readable `[0, native script]` or `[1..3, bytes]` script reference."""
    if utxo.script_ref is None:
        return None
    try:
        return script_from_ref(utxo.script_ref).hash
    except CborError:
        return None


def reference_datum_of(utxo: Utxo) -> ReferenceDatum:
    """The ReferenceDatum inlined in the reference-data UTxO (sale and batch deployments)."""
    if utxo.inline_datum is None:
        raise DatumError("the reference-data UTxO carries no inline ReferenceDatum")
    return ReferenceDatum.from_cbor(utxo.inline_datum)
