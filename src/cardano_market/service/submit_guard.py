"""What `POST /v1/cardano/submitTx` accepts before the submitter sees it.

- Only transactions this service issued are submitted, unless `SUBMIT_RELAY=true`: a relay would
  spend the operator's chain quota (Blockfrost) on anyone's transactions.
- A caller adds vkey witnesses (witness set key 0) and nothing else: scripts, datums, redeemers
  and bootstrap witnesses come from the transaction as we issued it, never from the caller.
"""

from __future__ import annotations

from collections.abc import Callable

import cbor2

from ..app.submit import hex_field
from ..domain.cbor import split_array, split_map
from ..domain.errors import CborError
from ..ledger.parse import transaction_id
from ..ledger.witness import WITNESS_SET_KEY_NAMES
from .errors import bad_request, not_found


def check_witness_set(text: str, field: str = "witnessSetCborHex") -> None:
    """400 unless the witness set `text` (hex) carries vkey witnesses only."""
    raw = hex_field(field, text)
    extra = _entries(raw, field).keys() - {0}
    if extra:
        raise bad_request(_only_vkeys(field, min(extra)))


def check_signed(text: str, issued_cbor: Callable[[str], bytes | None], *, relay: bool) -> None:
    """A whole signed transaction: 404 when we did not issue it (unless `relay`; `issued_cbor`
    looks up what we issued); for one we issued, 400 when its witness set adds an entry other
    than vkey witnesses."""
    raw = hex_field("cborHex", text)
    try:
        tx_id = transaction_id(raw).hex()
    except CborError as exc:
        raise bad_request(f"cborHex: {exc}") from None
    issued = issued_cbor(tx_id)
    if issued is None:
        if relay:
            return
        raise not_found(
            f"Transaction {tx_id} was not issued by this service (it submits only its own"
            " transactions; relaying is off)"
        )
    ours = _entries(_witness_set(issued, "issued transaction"), "issued transaction")
    theirs = _entries(_witness_set(raw, "cborHex"), "cborHex witness set")
    for key, value in theirs.items():
        if key != 0 and ours.get(key) != value:
            raise bad_request(_only_vkeys("cborHex witness set", key))


def _only_vkeys(field: str, key: int) -> str:
    name = WITNESS_SET_KEY_NAMES.get(key, "an unknown entry")
    return f"{field}: key {key} ({name}) is not accepted: a wallet adds vkey witnesses (key 0) only"


def _witness_set(tx: bytes, field: str) -> bytes:
    try:
        spans, _end = split_array(tx)
    except CborError as exc:
        raise bad_request(f"{field}: {exc}") from None
    if len(spans) < 2:
        raise bad_request(f"{field} must be a CBOR array [body, witness set, ...]")
    start, end = spans[1]
    return tx[start:end]


def _entries(raw: bytes, field: str) -> dict[int, bytes]:
    try:
        pairs, _end = split_map(raw)
        entries: dict[int, bytes] = {}
        for key_bytes, value in pairs:
            key = cbor2.loads(key_bytes)
            if not isinstance(key, int) or isinstance(key, bool):
                raise CborError(f"keys must be unsigned integers, got {key!r}")
            entries[key] = value
        return entries
    except CborError as exc:
        raise bad_request(f"{field}: {exc}") from None
    except (cbor2.CBORDecodeError, ValueError) as exc:
        raise bad_request(f"{field}: not well-formed CBOR: {exc}") from None
