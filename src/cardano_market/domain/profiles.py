"""Network profiles: a public deployment's facts shipped as data (`network_<name>.json`), so a
user points the service at preprod or mainnet with their own keys and cash register only.

preprod is NEWM's preprod deployment (PROTOCOL section 10), mainnet NEWM's mainnet deployment
(section 2). A profile fills the settings a user leaves unset (every setting still overrides
it) and names what the live ReferenceDatum must say: contract hashes (read from the contract
addresses), pointer and batcher policies, hot key, fee bounds. Values the protocol only gives
shortened are left out of a profile rather than guessed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from .address import decode_address, parse_address
from .errors import ConfigError
from .values import AssetId, asset_from_unit

PROFILE_DIR = Path(__file__).parent
NETWORKS = ("preprod", "mainnet")


@dataclass(frozen=True, slots=True)
class NetworkProfile:
    network: str
    reference_address: str
    starter_nft: str
    queue_address: str
    sale_address: str
    vault_address: str
    oracle_address: str
    oracle_feed_unit: str
    pointer_policy: bytes
    batcher_policy: bytes
    currency: str | None = None
    hot_key: bytes | None = None
    band_script_hash: bytes | None = None
    fee_bounds: tuple[int, int, int] | None = None
    """(purchase queue, refund queue, start sale) bounds, lovelace."""
    profit_margin: int | None = None
    script_refs: dict[str, str] = field(default_factory=dict)
    """`sale`, `queue`, `vault` (and `pointer`): `txhash#index` of the reference scripts."""
    first_block: tuple[int, int] | None = None
    """(height, slot) of the deployment's first block: nothing of it is older."""

    @property
    def starter_asset(self) -> AssetId:
        return asset_from_unit(self.starter_nft)

    def script_hash(self, contract: str) -> bytes:
        """The payment script hash of the `queue`, `sale` or `vault` address."""
        address = getattr(self, f"{contract}_address")
        return parse_address(decode_address(address)).payment.hash

    @property
    def stake_script_hash(self) -> bytes | None:
        stake = parse_address(decode_address(self.queue_address)).stake
        return None if stake is None else stake.hash

    def settings(self) -> dict[str, Any]:
        """Setting name -> value this profile provides (`config.Settings` field names)."""
        values: dict[str, Any] = {
            "reference_address": self.reference_address,
            "starter_nft_unit": self.starter_nft,
            "queue_address": self.queue_address,
            "sale_address": self.sale_address,
            "oracle_address": self.oracle_address,
            "oracle_feed_unit": self.oracle_feed_unit,
        }
        for name in ("sale", "queue", "vault", "pointer"):
            if name in self.script_refs:
                values[f"{name}_script_ref"] = self.script_refs[name]
        if self.first_block is not None:
            values["monitor_from_block"] = self.first_block[0]
        return values


def profile_for(network: str) -> NetworkProfile | None:
    """The shipped profile of `network` (None for the devnet and preview)."""
    return _load(network) if network in NETWORKS else None


@cache
def _load(network: str) -> NetworkProfile:
    path = PROFILE_DIR / f"network_{network}.json"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        bounds = raw.get("feeBounds")
        first = raw.get("firstBlock")
        return NetworkProfile(
            network=raw["network"],
            reference_address=raw["referenceAddress"],
            starter_nft=raw["starterNft"],
            queue_address=raw["queueAddress"],
            sale_address=raw["saleAddress"],
            vault_address=raw["vaultAddress"],
            oracle_address=raw["oracleAddress"],
            oracle_feed_unit=raw["oracleFeedUnit"],
            pointer_policy=bytes.fromhex(raw["pointerPolicy"]),
            batcher_policy=bytes.fromhex(raw["batcherPolicy"]),
            currency=raw.get("currency"),
            hot_key=bytes.fromhex(raw["hotKey"]) if "hotKey" in raw else None,
            band_script_hash=(
                bytes.fromhex(raw["bandScriptHash"]) if "bandScriptHash" in raw else None
            ),
            fee_bounds=None if bounds is None else _bounds(bounds),
            profit_margin=raw.get("profitMargin"),
            script_refs=dict(raw.get("scriptRefs", {})),
            first_block=None if first is None else (int(first["height"]), int(first["slot"])),
        )
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"network profile {path.name} is unreadable: {exc!r}") from exc


def _bounds(raw: dict[str, Any]) -> tuple[int, int, int]:
    return int(raw["purchaseQueue"]), int(raw["refundQueue"]), int(raw["startSale"])
