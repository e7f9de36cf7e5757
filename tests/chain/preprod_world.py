"""A preprod-shaped world for the local fake Blockfrost, built from PROTOCOL section 10's constants
(the shipped preprod profile): the reference UTxO holding the starter NFT and a ReferenceDatum
naming preprod's contract hashes, policies, hot key and fee bounds; the reference-script UTxOs at
preprod's out-refs (as Blockfrost reports them: their script hashes); the Charli3 oracle with a
fresh (or stale) price; and one sale at the preprod sale address, under the preprod pointer
policy. The queue starts empty; `add_queue_utxo` puts an order there as a block would.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from fake_blockfrost import FakeBlockfrost, Fixture

from cardano_market.domain.address import decode_address, encode_address, parse_address
from cardano_market.domain.cip30 import Utxo
from cardano_market.domain.datums import (
    USD,
    BatcherData,
    Contracts,
    Fees,
    Keepers,
    OracleDatum,
    ProfitData,
    ReferenceDatum,
    SaleDatum,
    Staking,
    Token,
    Wallet,
    wallet_from_address,
)
from cardano_market.domain.profiles import NetworkProfile, profile_for
from cardano_market.domain.sale import Sale, SaleStatus
from cardano_market.domain.values import AssetId, Value, asset_from_unit, unit_of
from cardano_market.synthetic import tx_hash, wallet

PREPROD = profile_for("preprod")
assert PREPROD is not None
SALE_ID = "6a3c8f3e-2d8e-4d8f-9a51-0c2b7e1f5a10"
BUNDLE: AssetId = (bytes.fromhex("ab" * 28), b"PREPROD-SONG")
BUNDLES = 20
BUNDLE_AMOUNT = 1_000_000
COST_USD = 500_000_000_000  # $0.50 a bundle, USD x 10^12
SALE_LOVELACE = 4_504_110
PRICE = 2_723  # USD x 10^6 per tNEWM


def _hash28(label: str) -> bytes:
    return tx_hash(label)[:28]


@dataclass
class PreprodWorld:
    fake: FakeBlockfrost
    profile: NetworkProfile
    artist_address: bytes
    pointer_name: bytes

    @property
    def queue_address_bytes(self) -> bytes:
        return decode_address(self.profile.queue_address)

    @property
    def currency(self) -> AssetId:
        assert self.profile.currency is not None
        return asset_from_unit(self.profile.currency)

    def sale(self) -> Sale:
        return Sale(
            id=SALE_ID,
            status=SaleStatus.STARTED,
            pointer_name=self.pointer_name,
            owner_address=self.artist_address,
            bundle=BUNDLE,
            bundle_amount=BUNDLE_AMOUNT,
            cost=None,
            cost_amount=COST_USD,
            total_bundle_quantity=BUNDLES,
            available_bundle_quantity=BUNDLES,
        )

    # -- what the fake serves ---------------------------------------------------------------------

    def reference_datum(self, **changes: Any) -> ReferenceDatum:
        profile = self.profile
        bounds = profile.fee_bounds or (1_000_000, 1_000_000, 1_000_000)
        oracle = parse_address(decode_address(profile.oracle_address)).payment.hash
        feed = asset_from_unit(profile.oracle_feed_unit)
        stake = profile.stake_script_hash
        assert stake is not None and profile.hot_key is not None
        assert profile.band_script_hash is not None and profile.profit_margin is not None
        fields: dict[str, Any] = {
            "hot_key": profile.hot_key,
            "keepers": Keepers(tuple(_hash28(f"keeper {i}") for i in range(3)), 2),
            "staking": Staking(_hash28("preprod pool"), Wallet(profile.hot_key)),
            "contracts": Contracts(
                sale=profile.script_hash("sale"),
                queue=profile.script_hash("queue"),
                band=profile.band_script_hash,
                vault=profile.script_hash("vault"),
                stake=stake,
            ),
            "fees": Fees(*bounds),
            "pointer": profile.pointer_policy,
            "batcher_data": BatcherData(
                _hash28("monster 1"),
                _hash28("monster 2"),
                (bytes.fromhex("affab1e0005e77ab1e"),),
                profile.batcher_policy,
            ),
            "profit_data": ProfitData(
                oracle, feed[0], feed[1], *self.currency, profile.profit_margin
            ),
        }
        fields.update(changes)
        return ReferenceDatum(**fields)

    def serve_reference(self, datum: ReferenceDatum | None = None) -> None:
        profile = self.profile
        self._serve_utxos(
            f"/addresses/{profile.reference_address}/utxos/{profile.starter_nft}",
            [
                _entry(
                    profile.reference_address,
                    tx_hash("preprod reference utxo"),
                    0,
                    Value.of(5_000_000, {profile.starter_asset: 1}),
                    (datum or self.reference_datum()).to_cbor(),
                )
            ],
        )

    def serve_reference_scripts(self, wrong: str | None = None) -> None:
        """Each reference-script UTxO as Blockfrost lists it; `wrong`: that one holds another
        script."""
        holder = "addr_test1vpdhs4kp98kyagc5zy098yrhxn5tsc7d4z4g8vd8d32ez4cq6r27z"
        for name, ref in self.profile.script_refs.items():
            tx, ix = ref.split("#")
            script = self.profile.script_hash(name) if name != wrong else _hash28("another")
            outputs = [
                {
                    "address": holder,
                    "amount": [{"unit": "lovelace", "quantity": str(20_000_000 + i)}],
                    "output_index": i,
                    "data_hash": None,
                    "inline_datum": None,
                    "collateral": False,
                    "reference_script_hash": script.hex() if i == int(ix) else None,
                }
                for i in range(int(ix) + 1)
            ]
            self.fake.add(
                Fixture(
                    f"txs_{name}_script_utxos",
                    "GET",
                    "/txs/{hash}/utxos",
                    f"/txs/{tx}/utxos",
                    200,
                    False,
                    {"hash": tx, "inputs": [], "outputs": outputs},
                )
            )

    def serve_oracle(self, *, stale: bool = False) -> None:
        now = int(time.time() * 1000)
        start, end = (
            (now - 7_200_000, now - 3_600_000) if stale else (now - 3_600_000, now + 3_600_000)
        )
        profile = self.profile
        self._serve_utxos(
            f"/addresses/{profile.oracle_address}/utxos/{profile.oracle_feed_unit}",
            [
                _entry(
                    profile.oracle_address,
                    tx_hash(f"preprod oracle {stale}"),
                    0,
                    Value.of(2_000_000, {asset_from_unit(profile.oracle_feed_unit): 1}),
                    OracleDatum(PRICE, start, end).to_cbor(),
                )
            ],
        )

    def serve_sale(self) -> None:
        profile = self.profile
        sale = self.sale()
        datum = SaleDatum(
            owner=wallet_from_address(self.artist_address),
            bundle=Token(*BUNDLE, BUNDLE_AMOUNT),
            cost=Token(*USD, COST_USD),  # the USD sentinel, PROTOCOL section 1
        )
        value = Value.of(
            SALE_LOVELACE,
            {BUNDLE: BUNDLES * BUNDLE_AMOUNT, (profile.pointer_policy, sale.pointer_name): 1},
        )
        entry = _entry(profile.sale_address, tx_hash("preprod sale"), 0, value, datum.to_cbor())
        self._serve_utxos(f"/addresses/{profile.sale_address}/utxos", [entry])
        pointer = unit_of((profile.pointer_policy, sale.pointer_name))
        self._serve_utxos(f"/addresses/{profile.sale_address}/utxos/{pointer}", [entry])

    def add_queue_utxo(self, utxo: Utxo) -> None:
        """The order's queue output, as Blockfrost lists the queue address once it is in."""
        self._serve_utxos(
            f"/addresses/{self.profile.queue_address}/utxos",
            [_entry(self.profile.queue_address, utxo.tx_hash, utxo.index, utxo.value,
                    utxo.inline_datum)],
        )  # fmt: skip

    def _serve_utxos(self, path: str, entries: list[dict[str, Any]]) -> None:
        self.fake.add(Fixture(path, "GET", "/addresses/{address}/utxos", path, 200, True, entries))


def build_world(fake: FakeBlockfrost, *, stale_oracle: bool = False) -> PreprodWorld:
    world = PreprodWorld(
        fake=fake,
        profile=PREPROD,
        artist_address=wallet("preprod artist").address,
        pointer_name=bytes.fromhex("ca11ab1e") + tx_hash("preprod pointer")[:28],
    )
    world.serve_reference()
    world.serve_reference_scripts()
    world.serve_oracle(stale=stale_oracle)
    world.serve_sale()
    return world


def _entry(
    address: str | bytes,
    tx: bytes,
    index: int,
    value: Value,
    inline_datum: bytes | None,
) -> dict[str, Any]:
    amount = [{"unit": "lovelace", "quantity": str(value.coin)}] + [
        {"unit": unit_of(a), "quantity": str(q)} for a, q in sorted(value.assets.items())
    ]
    return {
        "address": address if isinstance(address, str) else encode_address(address),
        "tx_hash": tx.hex(),
        "tx_index": 0,
        "output_index": index,
        "amount": amount,
        "block": uuid.uuid5(uuid.NAMESPACE_OID, tx.hex()).hex * 2,
        "data_hash": None,
        "inline_datum": None if inline_datum is None else inline_datum.hex(),
        "reference_script_hash": None,
    }
