"""The fixed parts of every seeded devnet world: names, label-derived hashes, constants, addresses.

Every key, policy id and address is derived from a label ("cardano-market devnet ..."), so one
seed always yields the same chain. The oracle, the reference-data holder, the script store and
the band and stake hashes are stand-ins (no script exists behind them: nothing spends from them).
The marketplace scripts are the project's (`deployment.project_deployment`) unless a seed's
`contracts` section names others. The protocol constants the devnet world uses (the batcher
certificate prefix) come from `domain.protocol`.
"""

from __future__ import annotations

import hashlib

from ....domain.address import script_address
from ....domain.datums import Fees
from ....domain.pointer import pointer_asset_name
from ....domain.protocol import BATCHER_PREFIX
from ....domain.values import AssetId
from ..deployment import (
    PROJECT_REFERENCE_DATA_HASH,
    PROJECT_STARTER_NFT,
    Deployment,
    label_hash,
    project_deployment,
)

_LABEL = "cardano-market devnet"
ORACLE_FEED_NAME = b"OracleFeed"


def token_policy(name: str) -> bytes:
    """Default policy id of token `name`: blake2b-224("cardano-market devnet token/<name>")."""
    return label_hash(f"token/{name}")


ORACLE_SCRIPT_HASH = label_hash("oracle")
ORACLE_FEED_POLICY = label_hash("oracle feed")
STARTER_POLICY, STARTER_NAME = PROJECT_STARTER_NFT
STARTER_NFT: AssetId = PROJECT_STARTER_NFT
REFERENCE_DATA_SCRIPT_HASH = PROJECT_REFERENCE_DATA_HASH
"""Holds the starter NFT and the ReferenceDatum; no script exists behind it (nothing spends it)."""
SCRIPT_STORE_HASH = label_hash("script references")
"""Holds the reference-script UTxOs; no script exists behind it (they stay forever)."""
STAKE_SCRIPT_HASH = label_hash("stake stand-in")
BAND_SCRIPT_HASH = label_hash("band stand-in")
FEE_BOUND = 1_000_000
"""Each ReferenceDatum fee bound, in lovelace, unless the seed sets it (mainnet's)."""
MAINNET_FEE_BOUNDS = Fees(FEE_BOUND, FEE_BOUND, FEE_BOUND)
BATCHER_POLICY = label_hash("batcher certificate")
BATCHER_CERTIFICATE: AssetId = (BATCHER_POLICY, BATCHER_PREFIX + b"devnet batcher")
"""The batcher's certificate token: the ReferenceDatum's batcher policy, the certificate prefix."""
CERTIFICATE_LOVELACE = 5_000_000
"""Lovelace beside the certificate: its UTxO also collects the incentives (a second policy)."""
VAULT_MINIMUM_LOVELACE = 10_000_000
"""What a vault UTxO must always keep (the vault validator's minimum)."""
ORACLE_FEED_ASSET: AssetId = (ORACLE_FEED_POLICY, ORACLE_FEED_NAME)


def pointer_script() -> bytes:
    """The pointer minting policy applied to the devnet starter NFT (ledger form)."""
    return project_deployment().pointer_script


def sale_script() -> bytes:
    """The sale validator applied to the devnet starter NFT (ledger form)."""
    return project_deployment().sale_script


def queue_script() -> bytes:
    """The queue validator applied to the devnet starter NFT (ledger form)."""
    return project_deployment().queue_script


def vault_script() -> bytes:
    """The vault validator applied to the devnet starter NFT (ledger form)."""
    return project_deployment().vault_script


def pointer_policy() -> bytes:
    """The devnet pointer policy id (the applied pointer script's hash)."""
    return project_deployment().pointer_policy


def sale_script_hash() -> bytes:
    """The devnet sale validator's hash (the applied sale script's hash)."""
    return project_deployment().sale_script_hash


def queue_script_hash() -> bytes:
    """The devnet queue validator's hash (the applied queue script's hash)."""
    return project_deployment().queue_script_hash


def vault_script_hash() -> bytes:
    """The devnet vault validator's hash (the applied vault script's hash)."""
    return project_deployment().vault_script_hash


_LAZY_HASHES = {
    "POINTER_POLICY": pointer_policy,
    "SALE_SCRIPT_HASH": sale_script_hash,
    "QUEUE_SCRIPT_HASH": queue_script_hash,
    "VAULT_SCRIPT_HASH": vault_script_hash,
}


def __getattr__(name: str) -> bytes:
    """`POINTER_POLICY`, `SALE_SCRIPT_HASH`, `QUEUE_SCRIPT_HASH` and `VAULT_SCRIPT_HASH` of the
    project's deployment, computed on first use (applying a script imports uplc, which would make
    importing this module slow)."""
    if name in _LAZY_HASHES:
        return _LAZY_HASHES[name]()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def oracle_address(network_id: int = 0) -> bytes:
    """The devnet oracle's address (a script address nothing can spend from)."""
    return script_address(ORACLE_SCRIPT_HASH, None, network_id)


def sale_address(network_id: int = 0, deployment: Deployment | None = None) -> bytes:
    """The sale contract's address: the applied sale validator with the stake stand-in."""
    d = deployment or project_deployment()
    return script_address(d.sale_script_hash, STAKE_SCRIPT_HASH, network_id)


def queue_address(network_id: int = 0, deployment: Deployment | None = None) -> bytes:
    """Where orders go: the applied queue validator with the stake part, so batchers see them."""
    d = deployment or project_deployment()
    return script_address(d.queue_script_hash, STAKE_SCRIPT_HASH, network_id)


def vault_address(network_id: int = 0, deployment: Deployment | None = None) -> bytes:
    """Where purchases pay the profit: the applied vault validator with the stake part."""
    d = deployment or project_deployment()
    return script_address(d.vault_script_hash, STAKE_SCRIPT_HASH, network_id)


def reference_data_address(network_id: int = 0, deployment: Deployment | None = None) -> bytes:
    return (deployment or project_deployment()).reference_data_address(network_id)


def script_store_address(network_id: int = 0) -> bytes:
    return script_address(SCRIPT_STORE_HASH, None, network_id)


def sale_pointer_name(sale_id: str) -> bytes:
    """The pointer name of a seeded sale: `domain.pointer` over a pseudo input
    `(blake2b-256("cardano-market devnet sale start/<id>"), 0)`."""
    pseudo_tx = hashlib.blake2b(f"{_LABEL} sale start/{sale_id}".encode(), digest_size=32)
    return pointer_asset_name([(pseudo_tx.digest(), 0)])
