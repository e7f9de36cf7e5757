"""The marketplace deployed by a seed: the ReferenceDatum, the reference scripts, the batcher's
certificate and vault; and finding them again on a seeded ledger (`SeededContracts`).

A starter NFT (policy derived from a label, name "NEWMarketplace") holds the ReferenceDatum at a
reference-data address; the pointer policy and the sale, queue and vault validators (the project's
OpShin scripts applied to the starter NFT, or a seed's `contracts`, e.g. NEWM's mainnet ones) sit
in reference-script UTxOs. The batcher (a wallet named by the marketplace's `batcher`, default
the cash register) holds a batcher-certificate token and, when the profit margin is not zero,
owns a vault UTxO holding the vault minimum.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import cbor2

from ....domain.cip30 import Utxo
from ....domain.datums import (
    BatcherData,
    Contracts,
    Keepers,
    ProfitData,
    ReferenceDatum,
    Staking,
    Wallet,
)
from ....domain.errors import SeedError
from ....domain.outputs import TxOutput
from ....domain.protocol import BATCHER_PREFIX
from ....domain.values import AssetId, Value
from ....ledger.scripts import PLUTUS_V3
from ....synthetic import SyntheticWallet, wallet
from ..deployment import label_hash
from ..ledger import Ledger
from .schema import Seed
from .world import (
    BAND_SCRIPT_HASH,
    BATCHER_CERTIFICATE,
    BATCHER_POLICY,
    CERTIFICATE_LOVELACE,
    ORACLE_FEED_NAME,
    ORACLE_FEED_POLICY,
    ORACLE_SCRIPT_HASH,
    STAKE_SCRIPT_HASH,
    VAULT_MINIMUM_LOVELACE,
    queue_address,
    sale_address,
    script_store_address,
    vault_address,
)


@dataclass(frozen=True, slots=True)
class SeededContracts:
    """The deployed marketplace: what the sale and batch builders and the service read.

    UTxOs that transactions spend (the vault, the batcher's certificate) are the ones on the
    ledger when the seed was (re)applied.
    """

    starter_nft: AssetId
    reference_utxo: Utxo  # the starter NFT with the inline ReferenceDatum
    reference_datum: ReferenceDatum
    pointer_script_utxo: Utxo  # reference script: the pointer minting policy
    sale_script_utxo: Utxo  # reference script: the sale validator
    pointer_policy: bytes
    sale_script_hash: bytes
    sale_address: bytes
    queue_address: bytes  # the queue validator with the stake part
    queue_script_utxo: Utxo  # reference script: the queue validator
    vault_script_utxo: Utxo  # reference script: the vault validator
    queue_script_hash: bytes
    vault_script_hash: bytes
    vault_address: bytes
    batcher_certificate: AssetId
    certificate_utxo: Utxo | None  # the batcher's UTxO holding the certificate
    vault_utxo: Utxo | None  # owned by the batcher; None when the profit margin is zero


def hot_key_hash(seed: Seed) -> bytes:
    """The ReferenceDatum's hot key: the cash register's key hash (a label-derived hash when the
    seed names no cash register: then nobody can start sales, but seeded ones can be ended)."""
    if seed.cash_register is None:
        return label_hash("hot key")
    return wallet(seed.cash_register).payment_key.hash


def reference_datum(seed: Seed) -> ReferenceDatum:
    """The devnet ReferenceDatum (PROTOCOL section 1) for `seed`."""
    hot_key = hot_key_hash(seed)
    market = seed.marketplace
    profit = (market.currency if market else None) or (b"", b"")
    deployed = seed.contracts
    return ReferenceDatum(
        hot_key=hot_key,
        keepers=Keepers((label_hash("keeper"),), 1),
        staking=Staking(label_hash("stake pool"), Wallet(hot_key)),
        contracts=Contracts(
            sale=deployed.sale_script_hash,
            queue=deployed.queue_script_hash,
            band=BAND_SCRIPT_HASH,
            vault=deployed.vault_script_hash,
            stake=STAKE_SCRIPT_HASH,
        ),
        fees=seed.fee_bounds,
        pointer=deployed.pointer_policy,
        batcher_data=BatcherData(
            label_hash("monster 1"),
            label_hash("monster 2"),
            (BATCHER_PREFIX,),
            BATCHER_POLICY,
        ),
        profit_data=ProfitData(
            ORACLE_SCRIPT_HASH,
            ORACLE_FEED_POLICY,
            ORACLE_FEED_NAME,
            profit[0],
            profit[1],
            market.profit_amount_usd if market else 0,
        ),
    )


def contract_outputs(
    ledger: Ledger, seed: Seed, keys: Mapping[str, SyntheticWallet]
) -> list[TxOutput]:
    """The starter NFT with the ReferenceDatum, the pointer, sale, queue and vault reference
    scripts, then the batcher's certificate and (with a profit margin) its vault."""
    network = ledger.network_id
    datum = reference_datum(seed)
    deployed = seed.contracts
    reference = TxOutput(
        deployed.reference_data_address(network),
        Value.of(0, {deployed.starter_nft: 1}),
        inline_datum=datum.to_cbor(),
    )
    store = script_store_address(network)
    outputs = [reference] + [
        TxOutput(store, Value(0), script_ref=cbor2.dumps([PLUTUS_V3, script]))
        for script in deployed.scripts
    ]
    if seed.batcher is not None:
        batcher = keys[seed.batcher]
        certificate = Value.of(CERTIFICATE_LOVELACE, {BATCHER_CERTIFICATE: 1})
        outputs.append(TxOutput(batcher.address, certificate))
        if datum.profit_data.profit_margin != 0:
            owner = Wallet(batcher.payment_key.hash).to_cbor()
            vault = Value(VAULT_MINIMUM_LOVELACE)
            vault_at = vault_address(network, deployed)
            outputs.append(TxOutput(vault_at, vault, inline_datum=owner))
    return [o.with_min_ada(ledger.params) for o in outputs]


def find_contracts(
    ledger: Ledger, seed: Seed, batcher: SyntheticWallet | None
) -> SeededContracts | None:
    network = ledger.network_id
    deployed = seed.contracts
    holders = [
        (u, u.inline_datum)
        for u in ledger.utxos_at(deployed.reference_data_address(network))
        if u.value.quantity(deployed.starter_nft) == 1
    ]
    if not holders:
        return None
    reference_utxo, datum = holders[0]
    if datum is None:
        raise SeedError("$", "the starter NFT's UTxO has lost its ReferenceDatum")
    by_script = {
        u.script_ref: u
        for u in ledger.utxos_at(script_store_address(network))
        if u.script_ref is not None
    }
    found = [by_script.get(cbor2.dumps([PLUTUS_V3, s])) for s in deployed.scripts]
    pointer_utxo, sale_utxo, queue_utxo, vault_utxo = found
    if pointer_utxo is None or sale_utxo is None or queue_utxo is None or vault_utxo is None:
        raise SeedError("$", "the seeded reference-script UTxOs are missing from the ledger")
    certificates = [] if batcher is None else ledger.utxos_at(batcher.address)
    owner = None if batcher is None else Wallet(batcher.payment_key.hash).to_cbor()
    vault_at = vault_address(network, deployed)
    vaults = [u for u in ledger.utxos_at(vault_at) if u.inline_datum == owner]
    return SeededContracts(
        starter_nft=deployed.starter_nft,
        reference_utxo=reference_utxo,
        reference_datum=ReferenceDatum.from_cbor(datum),
        pointer_script_utxo=pointer_utxo,
        sale_script_utxo=sale_utxo,
        pointer_policy=deployed.pointer_policy,
        sale_script_hash=deployed.sale_script_hash,
        sale_address=sale_address(network, deployed),
        queue_address=queue_address(network, deployed),
        queue_script_utxo=queue_utxo,
        vault_script_utxo=vault_utxo,
        queue_script_hash=deployed.queue_script_hash,
        vault_script_hash=deployed.vault_script_hash,
        vault_address=vault_at,
        batcher_certificate=BATCHER_CERTIFICATE,
        certificate_utxo=next(
            (u for u in certificates if u.value.quantity(BATCHER_CERTIFICATE)), None
        ),
        vault_utxo=vaults[0] if vaults else None,
    )
