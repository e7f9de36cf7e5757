"""Applying a seed to a `Ledger`: one genesis transaction minting the whole world, once.

Wallets get their lovelace and tokens, the oracle its feed token and price datum, the marketplace
its contracts (`contracts.py`), and each seeded sale its bundle tokens and its pointer token
(under the real pointer policy, named over a pseudo input derived from the sale id) at the real
sale address (script payment + script stake part, header 0x31 like mainnet), so its owner can end
it and batchers can fill orders from it. A seeded ledger records the seed's hash: applying the
same seed again is a no-op, a different one asks for a reset.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ....domain.cip30 import Utxo
from ....domain.datums import USD, OracleDatum, SaleDatum, Token, wallet_from_address
from ....domain.errors import SeedError
from ....domain.outputs import TxOutput
from ....domain.pricing import MarketplaceConfig
from ....domain.sale import Sale, SaleStatus
from ....domain.values import AssetId, Value
from ....synthetic import SyntheticWallet, wallet
from ..ledger import Ledger
from .contracts import SeededContracts, contract_outputs, find_contracts
from .schema import Seed, SeedSale, SeedUser
from .world import ORACLE_FEED_ASSET, oracle_address, sale_address, sale_pointer_name

SEED_HASH_META = "seed_hash"
"""Ledger meta key holding the applied seed's hash (its first 7 bytes, as an integer)."""


@dataclass(frozen=True, slots=True)
class SeededOracle:
    address: bytes
    feed_asset: AssetId
    utxo: Utxo
    datum: OracleDatum


@dataclass(frozen=True, slots=True)
class SeededSale:
    sale: Sale
    utxo: Utxo | None  # None once the sale UTxO is no longer on the ledger (ended)


@dataclass(frozen=True, slots=True)
class SeedResult:
    """What a seed put on the ledger; `applied` is False when the ledger already held it."""

    seed: Seed
    applied: bool
    wallets: dict[str, SyntheticWallet]
    oracle: SeededOracle | None
    sales: tuple[SeededSale, ...]
    marketplace: MarketplaceConfig | None
    cash_register: SyntheticWallet | None  # its key is the hot key
    users: tuple[SeedUser, ...]
    token_ids: dict[str, str]
    contracts: SeededContracts | None = None
    collateral: SyntheticWallet | None = None  # the operator's collateral key and UTxOs
    batcher: SyntheticWallet | None = None  # holds the batcher certificate, owns the vault

    @property
    def hot_key(self) -> SyntheticWallet | None:
        return self.cash_register


def seed_tag(seed: Seed) -> int:
    """The integer a seeded ledger records for `seed` (its hash's first 7 bytes)."""
    return int.from_bytes(seed.hash[:7], "big")


def ledger_seed_tag(ledger: Ledger) -> int | None:
    """The seed tag a ledger records; None when it was never seeded (or was reset)."""
    return ledger.store.meta(SEED_HASH_META)


def apply_seed(ledger: Ledger, seed: Seed) -> SeedResult:
    """Put `seed` on `ledger` in one genesis transaction; a no-op when it is there already.

    Raises SeedError when the ledger holds a different seed (reset it first) or when a declared
    output is below the ledger's minimum ADA.

    Processes and replicas starting on one devnet file may apply the seed at the same time. The
    slow part, the marketplace's scripts (applied to their parameters in the deep-stack child,
    seconds on a loaded machine), is built before the write transaction: held during it, the
    lock kept the other process waiting past its busy timeout ("database is locked"). The
    transaction checks the recorded seed again; only the first process there writes the genesis.
    """
    network = ledger.network_id
    keys = {name: wallet(name, network) for name in sorted(seed.wallets)}
    prepared = None if ledger_seed_tag(ledger) is not None else _world_outputs(ledger, seed, keys)
    with ledger.store.write():
        recorded = ledger_seed_tag(ledger)
        if recorded is not None and recorded != seed_tag(seed):
            raise SeedError(
                "$",
                "this ledger was seeded from a different seed; reset it first "
                "(cardano-market devnet reset)",
            )
        applied = recorded is None
        if applied:
            wallets, contracts, offers = prepared or _world_outputs(ledger, seed, keys)
            now_ms = ledger.slot_config.slot_to_posix_ms(ledger.current_slot())
            oracle_out = _oracle_output(ledger, seed, now_ms)
            feed = [] if oracle_out is None else [oracle_out]
            ledger.genesis(wallets + feed + contracts + offers)
            ledger.store.set_meta(SEED_HASH_META, seed_tag(seed))
    oracle = _find_oracle(ledger, seed)
    sales = tuple(_seeded_sale(ledger, seed, sale, keys) for sale in seed.sales)
    return SeedResult(
        seed=seed,
        applied=applied,
        wallets=keys,
        oracle=oracle,
        sales=sales,
        marketplace=seed.marketplace,
        cash_register=keys[seed.cash_register] if seed.cash_register else None,
        users=seed.users,
        token_ids=dict(seed.token_ids),
        contracts=find_contracts(ledger, seed, keys[seed.batcher] if seed.batcher else None),
        collateral=keys[seed.collateral] if seed.collateral else None,
        batcher=keys[seed.batcher] if seed.batcher else None,
    )


def _world_outputs(
    ledger: Ledger, seed: Seed, keys: Mapping[str, SyntheticWallet]
) -> tuple[list[TxOutput], list[TxOutput], list[TxOutput]]:
    """The genesis outputs but the oracle's (its datum is dated when the genesis is written):
    the wallets', the deployed contracts', the seeded sales'."""
    wallets = _wallet_outputs(ledger, seed, keys)
    contracts = contract_outputs(ledger, seed, keys)
    sales = [_sale_output(ledger, seed, sale, keys) for sale in seed.sales]
    return wallets, contracts, sales


def _wallet_outputs(
    ledger: Ledger, seed: Seed, keys: Mapping[str, SyntheticWallet]
) -> list[TxOutput]:
    outputs: list[TxOutput] = []
    for name, spec in sorted(seed.wallets.items()):
        share, rest = divmod(spec.lovelace, spec.utxos)
        tokens = {seed.asset(t): q for t, q in spec.assets.items()}
        for i in range(spec.utxos):
            coin = share + (rest if i == 0 else 0)
            out = TxOutput(keys[name].address, Value.of(coin, tokens if i == 0 else None))
            needed = out.min_ada(ledger.params)
            if coin < needed:
                raise SeedError(
                    f"$.wallets.{name}.lovelace",
                    f"UTxO {i} of this wallet would hold {coin} lovelace, below the minimum "
                    f"ADA of {needed} for its value; raise lovelace or lower utxos",
                )
            outputs.append(out)
    return outputs


def _oracle_output(ledger: Ledger, seed: Seed, now_ms: int) -> TxOutput | None:
    if seed.oracle is None:
        return None
    datum = OracleDatum(
        seed.oracle.price,
        now_ms + seed.oracle.start_offset_ms,
        now_ms + seed.oracle.end_offset_ms,
    )
    out = TxOutput(
        oracle_address(ledger.network_id),
        Value.of(0, {ORACLE_FEED_ASSET: 1}),
        inline_datum=datum.to_cbor(),
    )
    return out.with_min_ada(ledger.params)


def _find_oracle(ledger: Ledger, seed: Seed) -> SeededOracle | None:
    if seed.oracle is None:
        return None
    address = oracle_address(ledger.network_id)
    for utxo in ledger.utxos_at(address):
        if utxo.value.quantity(ORACLE_FEED_ASSET) and utxo.inline_datum is not None:
            datum = OracleDatum.from_cbor(utxo.inline_datum)
            return SeededOracle(address, ORACLE_FEED_ASSET, utxo, datum)
    raise SeedError("$.oracle", "the seeded oracle UTxO is missing from the ledger")


def _sale_output(
    ledger: Ledger, seed: Seed, sale: SeedSale, keys: Mapping[str, SyntheticWallet]
) -> TxOutput:
    bundle = seed.asset(sale.bundle_token)
    cost = USD if sale.cost_token is None else seed.asset(sale.cost_token)
    datum = SaleDatum(
        wallet_from_address(keys[sale.owner].address),
        Token.of(bundle, sale.bundle_amount),
        Token.of(cost, sale.cost_amount),
    )
    value = Value.of(
        seed.marketplace.sale_lovelace if seed.marketplace else 0,
        {
            bundle: sale.bundle_amount * sale.total_bundle_quantity,
            (seed.contracts.pointer_policy, sale_pointer_name(sale.id)): 1,
        },
    )
    address = sale_address(ledger.network_id, seed.contracts)
    out = TxOutput(address, value, inline_datum=datum.to_cbor())
    return out.with_min_ada(ledger.params)


def _seeded_sale(
    ledger: Ledger, seed: Seed, sale: SeedSale, keys: Mapping[str, SyntheticWallet]
) -> SeededSale:
    pointer = sale_pointer_name(sale.id)
    cost: AssetId | None = None if sale.cost_token is None else seed.asset(sale.cost_token)
    record = Sale(
        id=sale.id,
        status=SaleStatus.STARTED,
        pointer_name=pointer,
        owner_address=keys[sale.owner].address,
        bundle=seed.asset(sale.bundle_token),
        bundle_amount=sale.bundle_amount,
        cost=cost,
        cost_amount=sale.cost_amount,
        total_bundle_quantity=sale.total_bundle_quantity,
        available_bundle_quantity=sale.total_bundle_quantity,
    )
    deployed = seed.contracts
    holders = [
        u
        for u in ledger.utxos_at(sale_address(ledger.network_id, deployed))
        if u.value.quantity((deployed.pointer_policy, pointer))
    ]
    return SeededSale(record, holders[0] if holders else None)
