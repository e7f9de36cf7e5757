"""Coin selection among the wallet's given UTxOs only.

Multi-asset aware and biased toward few inputs: each required token is covered from the UTxOs
holding the most of it; lovelace is then covered largest-first, pure-ADA UTxOs before ones whose
tokens would enlarge the change. UTxOs carrying a reference script are kept back unless nothing
else covers the transaction (spending one would destroy a deployed script). Only UTxOs at key
payment addresses are spendable here: the wallet signs with keys, it runs no scripts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ..domain.address import payment_key_hash
from ..domain.cip30 import OutRef, Utxo
from ..domain.values import AssetId, Value, sum_values

# Extra lovelace to take per top-up round beyond the measured shortage: covers the fee growth of
# the inputs just added (about 40 bytes each) and a slightly larger change output, so that the
# exact balancing rarely needs another round.
TOP_UP_MARGIN = 200_000


@dataclass
class Selection:
    """Inputs chosen so far, and the UTxOs still available (in the order they would be taken)."""

    chosen: list[Utxo] = field(default_factory=list)
    _chosen_refs: set[OutRef] = field(default_factory=set)
    _by_lovelace: list[Utxo] = field(default_factory=list)
    _pool: list[Utxo] = field(default_factory=list)

    def add(self, utxo: Utxo) -> None:
        if utxo.out_ref not in self._chosen_refs:
            self._chosen_refs.add(utxo.out_ref)
            self.chosen.append(utxo)

    def available_total(self) -> Value:
        """Everything spendable, chosen or not (for shortfall messages)."""
        return sum_values(u.value for u in self._by_lovelace)

    def has_remaining(self) -> bool:
        return len(self._chosen_refs) < len(self._by_lovelace)

    def cover_tokens(self, target: Value) -> dict[AssetId, int]:
        """Add UTxOs until every token of `target` is covered; returns what could not be."""
        have: dict[AssetId, int] = {}
        for utxo in self.chosen:
            for asset, qty in utxo.value.assets.items():
                have[asset] = have.get(asset, 0) + qty
        missing: dict[AssetId, int] = {}
        for asset in sorted(target.assets):
            need = target.assets[asset]
            if have.get(asset, 0) >= need:
                continue
            holders = sorted(
                (
                    u
                    for u in self._pool
                    if asset in u.value.assets and u.out_ref not in self._chosen_refs
                ),
                key=lambda u: (
                    u.script_ref is not None,
                    -u.value.assets[asset],
                    -u.value.coin,
                    u.out_ref,
                ),
            )
            for utxo in holders:
                self.add(utxo)
                for a, q in utxo.value.assets.items():
                    have[a] = have.get(a, 0) + q
                if have[asset] >= need:
                    break
            if have.get(asset, 0) < need:
                missing[asset] = need - have.get(asset, 0)
        return missing

    def top_up(self, lovelace: int) -> bool:
        """Add UTxOs worth at least `lovelace` (+ a margin); False when none are left."""
        wanted = lovelace + TOP_UP_MARGIN
        added = 0
        got = 0
        for utxo in self._by_lovelace:
            if utxo.out_ref in self._chosen_refs:
                continue
            self.add(utxo)
            added += 1
            got += utxo.value.coin
            if got >= wanted:
                break
        return added > 0


def start_selection(utxos: Iterable[Utxo]) -> Selection:
    """Deduplicate by out-ref, drop unspendable UTxOs and order the rest for lovelace top-ups."""
    seen: set[OutRef] = set()
    pool: list[Utxo] = []
    for utxo in utxos:
        ref = utxo.out_ref
        if ref in seen or payment_key_hash(utxo.address) is None:
            continue
        seen.add(ref)
        pool.append(utxo)
    by_lovelace = sorted(
        pool,
        key=lambda u: (
            u.script_ref is not None,
            bool(u.value.assets),
            -u.value.coin,
            u.tx_hash,
            u.index,
        ),
    )
    return Selection(_by_lovelace=by_lovelace, _pool=pool)
