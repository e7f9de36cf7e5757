"""The suite's shared devnet world: one start time, one settable clock, and a ledger seeded from
a seed file, so every devnet test starts from the same place."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cardano_market.chain.devnet import Ledger
from cardano_market.tx.order import OrderTransactionRequest
from cardano_market.tx.sale import SaleDeployment

if TYPE_CHECKING:
    from cardano_market.chain.devnet.seed import Seed, SeedResult
    from cardano_market.domain.pricing import OrderAmount
    from cardano_market.domain.sale import Sale
    from cardano_market.domain.values import AssetId
    from cardano_market.synthetic import SyntheticWallet

START_MS = 1_700_000_000_000  # the devnet's system start
NOW_SLOT = 1_000  # where the clock starts, in slots after START_MS


class Clock:
    """A settable wall clock (seconds), starting NOW_SLOT slots after START_MS."""

    def __init__(self) -> None:
        self.now = START_MS / 1000 + NOW_SLOT

    def __call__(self) -> float:
        return self.now


@contextmanager
def seeded_ledger(
    path: Path | str, seed: Seed | None = None, clock: Clock | None = None
) -> Iterator[tuple[Ledger, SeedResult]]:
    """A devnet ledger at `path` (":memory:" too) on `clock` (default a fresh `Clock`), seeded
    from `seed` (default: the demo seed)."""
    from cardano_market.chain.devnet.seed import apply_seed, load_seed

    with Ledger(path, system_start_ms=START_MS, clock=clock or Clock()) as ledger:
        yield ledger, apply_seed(ledger, seed if seed is not None else load_seed())


def song_sale_start(owner: str, song: AssetId, bundles: int) -> dict[str, Any]:
    """The body of `POST /v1/marketplace/sales/start/amount` the v1 tests start a sale with:
    `bundles` bundles of one SONG token (6 decimals) at 250,000 ADA a bundle, owned by `owner`."""
    return {
        "ownerAddress": owner,
        "bundlePolicyId": song[0].hex(),
        "bundleAssetName": song[1].hex(),
        "bundleAmount": 1_000_000,
        "costAmount": 250_000_000_000,
        "totalBundleQuantity": bundles,
    }


def order_request(
    ledger: Ledger,
    seeded: SeedResult,
    buyer: SyntheticWallet,
    amount: OrderAmount,
    sale: Sale,
    ttl_slots: int,
) -> OrderTransactionRequest:
    """`buyer`'s order paying `amount` for `sale` from all its UTxOs (change back to it), into the
    seed's queue and cash register, valid for `ttl_slots` from the ledger's current slot."""
    c, register, config = seeded.contracts, seeded.cash_register, seeded.marketplace
    assert c is not None and register is not None and config is not None
    return OrderTransactionRequest(
        amount=amount,
        sale=sale,
        config=config,
        utxos=ledger.utxos_at(buyer.address),
        change_address=buyer.address,
        queue_address=c.queue_address,
        cash_register_address=register.address,
        params=ledger.params,
        ttl=ledger.current_slot() + ttl_slots,
    )


def sale_deployment(seeded: SeedResult) -> SaleDeployment:
    """The seed's deployed sale: reference datum, pointer and sale scripts, sale address."""
    c = seeded.contracts
    assert c is not None
    return SaleDeployment(
        c.reference_utxo, c.pointer_script_utxo, c.sale_script_utxo, c.sale_address
    )
