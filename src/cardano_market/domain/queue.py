"""Reading an order at the queue (PROTOCOL section 6), once, for everyone who reads one.

The batcher serves, the monitor records, the cancel and the settlement builders all read a queue
UTxO through `queue_datum_of` (the datum decodes) and, to decide whether it is an order a batcher
may serve, `read_queued_order` (the datum decodes, asks for at least one bundle, and pays a
non-negative incentive in an allow-listed token).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .cip30 import Utxo
from .datums import QueueDatum
from .errors import MarketError
from .values import AssetId, unit_of

UNSEEN_SLOT = 2**63
"""The sort position of an order whose transaction's slot is not known (last)."""


class MalformedOrderError(MarketError):
    """A queue UTxO that is not an order a batcher may serve (the reason says why)."""


class MissingQueueDatumError(MalformedOrderError):
    """The queue UTxO carries no inline datum."""


class UndecodableQueueDatumError(MalformedOrderError):
    """The queue UTxO's inline datum is not a QueueDatum; `cause` is the decoder's message."""

    def __init__(self, cause: MarketError) -> None:
        super().__init__(f"the QueueDatum does not decode: {cause}")
        self.cause = cause


@dataclass(frozen=True, slots=True)
class QueuedOrder:
    """An order UTxO at the queue with its decoded datum and what the serving order needs."""

    utxo: Utxo
    datum: QueueDatum
    priority: int = 0  # the incentive's position in the allow-list (0 first)
    slot: int = UNSEEN_SLOT  # of the transaction that created it

    @property
    def ref(self) -> str:
        """The order's out-ref as `txhash#index`."""
        return str(self.utxo.out_ref)

    @property
    def sort_key(self) -> tuple[int, int, int, int, bytes]:
        """(incentive priority, -incentive amount, block time, output index, tx id)."""
        return (
            self.priority,
            -self.datum.incentive.amount,
            self.slot,
            self.utxo.index,
            self.utxo.tx_hash,
        )


def queue_datum_of(utxo: Utxo) -> QueueDatum:
    """The UTxO's inline QueueDatum; MissingQueueDatumError or UndecodableQueueDatumError.

    All an owner's cancel needs: the batcher's rules (`read_queued_order`) decide what is
    served, not what its owner may take back."""
    if utxo.inline_datum is None:
        raise MissingQueueDatumError("no inline datum: an order carries its QueueDatum inline")
    try:
        return QueueDatum.from_cbor(utxo.inline_datum)
    except MarketError as exc:
        raise UndecodableQueueDatumError(exc) from None


def read_queued_order(
    utxo: Utxo, incentives: Sequence[AssetId] | None, *, slot: int = UNSEEN_SLOT
) -> QueuedOrder:
    """The order at `utxo`, checked as batchers check it; MalformedOrderError says what is wrong.

    `incentives` is the incentive allow-list in priority order (an order paying its incentive
    in another token is malformed); None accepts any incentive token, at priority 0.
    """
    datum = queue_datum_of(utxo)
    if datum.number_of_bundles <= 0:
        raise MalformedOrderError(
            f"number_of_bundles is {datum.number_of_bundles}, must be at least 1"
        )
    priority = 0
    if incentives is not None:
        if datum.incentive.asset not in incentives:
            allowed = ", ".join(unit_of(a) or "lovelace" for a in incentives)
            raise MalformedOrderError(
                f"incentive {unit_of(datum.incentive.asset) or 'lovelace'} is not allow-listed "
                f"({allowed})"
            )
        priority = list(incentives).index(datum.incentive.asset)
    if datum.incentive.amount < 0:
        raise MalformedOrderError(f"incentive amount {datum.incentive.amount} is negative")
    return QueuedOrder(utxo, datum, priority, slot)
