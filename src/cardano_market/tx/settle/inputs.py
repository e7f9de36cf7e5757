"""What a purchase or a refund is built from, in one record: the deployment, the UTxOs it spends
and reads, the protocol parameters, the chain's script evaluation and the validity interval."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ...domain.cip30 import Utxo
from ...domain.params import ProtocolParameters
from ...domain.slots import SlotConfig
from ..script import Evaluate, ScriptInput, ScriptTransaction
from .deployment import BatchDeployment
from .fee import ChainEvaluate, ExUnitsMemo, guess_units, settle_order_fee, with_pending


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

    def settle_fee(
        self,
        build: Callable[[int, Evaluate], ScriptTransaction],
        kind: str,
        headroom: int,
        bound: int,
        script_inputs: Sequence[ScriptInput],
        references: Sequence[Utxo],
    ) -> ScriptTransaction:
        """`settle_order_fee` on this chain's evaluation (with the pending UTxOs), starting from
        the memo's ex-units for `kind`; the memo then remembers the result's units."""
        built = settle_order_fee(
            build,
            with_pending(self.evaluate, self.pending_utxos),
            self.params,
            headroom,
            bound,
            kind,
            guess_units(self.units_memo, kind, script_inputs, [self.certificate_utxo, *references]),
        )
        if self.units_memo is not None:
            self.units_memo.remember(kind, built)
        return built
