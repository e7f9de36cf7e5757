"""What a purchase or a refund is built from, in one record: the deployment, the UTxOs it spends
and reads, the protocol parameters, the chain's script evaluation and the validity interval."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ...domain.cip30 import Utxo
from ...domain.params import ProtocolParameters
from ...domain.slots import SlotConfig
from .deployment import BatchDeployment
from .fee import ChainEvaluate, ExUnitsMemo


@dataclass(frozen=True, slots=True, kw_only=True)
class SettlementInputs:
    """The inputs a purchase and a refund share.

    `validity_start`/`ttl` are slots; with an oracle they must lie inside its window.
    `pending_utxos` are outputs of transactions not on chain yet that this one spends (a refund
    chained on a purchase); `units_memo` offers the ex-units the fee settles on before the
    scripts run (see `fee.settle_order_fee`).
    """

    deployment: BatchDeployment
    sale_utxo: Utxo
    queue_utxo: Utxo
    certificate_utxo: Utxo
    oracle_utxo: Utxo | None
    collateral_utxos: Sequence[Utxo]
    params: ProtocolParameters
    evaluate: ChainEvaluate
    slot_config: SlotConfig
    validity_start: int
    ttl: int
    pending_utxos: Sequence[Utxo] = ()
    units_memo: ExUnitsMemo | None = None
