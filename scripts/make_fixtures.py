"""Regenerate the order scenarios in fixtures/orders/ (deterministic: same bytes every run).

    python scripts/make_fixtures.py

Two scenarios: a USD-priced sale and a token-priced sale (priced in a stablecoin-like token), each
with a synthetic buyer wallet of mixed UTxOs. The worked vectors the tests check come from these.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from cardano_market.domain.address import Credential, encode_address, make_address, script_address
from cardano_market.domain.values import unit_of
from cardano_market.scenario import load_scenario, run_order
from cardano_market.synthetic import wallet, wallet_utxos

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "fixtures" / "orders"

NEWM = (bytes.fromhex("769c4c6e9bc3ba5406b9b89fb7beb6819e638ff2e2de63f008d5bcff"), b"tNEWM")
SONG = (hashlib.blake2b(b"song policy", digest_size=28).digest(), b"SongToken")
STABLE = (hashlib.blake2b(b"stablecoin policy", digest_size=28).digest(), b"USDM")
QUEUE_SCRIPT = bytes.fromhex("fd4572b20a1d76e7dc0aaa548579bacc2b318a4862a7e12f94b7e76d")
STAKE_SCRIPT = bytes.fromhex("db7245ff4fe23633e2c10ef62374ca6b64efd80d31fc3f7c431386e0")
TESTNET = 0


def scenario(name: str, sale: dict[str, object], quantity: int, wallet_tokens: dict) -> dict:
    buyer = wallet(f"{name}-buyer")
    artist = wallet(f"{name}-artist")
    cash_register = wallet("cash-register")
    enterprise_cash = make_address(Credential.key(cash_register.payment_key.hash), None, TESTNET)
    utxos = wallet_utxos(buyer, 12, tokens=wallet_tokens, lovelace=3_000_000)
    return {
        "description": f"{name}: buy {quantity} bundle(s) from a synthetic 12-UTxO wallet",
        "marketplace": {
            "currency": unit_of(NEWM),
            "orderLovelace": 4504110,
            "saleLovelace": 4504110,
            "incentiveMinAmount": 5000000,
            "profitAmountUsd": 500000000000,
            "usdPriceAdjustmentPercentage": "2.5",
            "serviceFeePercentage": "10.0",
        },
        "oraclePrice": 2723,
        "sale": {**sale, "ownerAddress": artist.bech32},
        "queueAddress": encode_address(script_address(QUEUE_SCRIPT, STAKE_SCRIPT, TESTNET)),
        "cashRegisterAddress": encode_address(enterprise_cash),
        "order": {"bundleQuantity": quantity, "incentiveAmount": None},
        "wallet": {
            "changeAddress": buyer.bech32,
            "utxoCborHexList": [u.to_cbor_hex() for u in utxos],
        },
        "ttl": 90_000_000,
    }


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    usd = scenario(
        "usd-sale",
        {
            "id": "842f5460-76f8-41d8-add9-d043a7a381de",
            "status": "Started",
            "pointerName": "ca11ab1e00" + hashlib.sha3_256(b"usd-sale").hexdigest()[:54],
            "bundle": unit_of(SONG),
            "bundleAmount": 1000000,
            "cost": None,
            "costAmount": 1500000000000,
            "totalBundleQuantity": 100,
            "availableBundleQuantity": 50,
        },
        3,
        {NEWM: 40_000_000_000},
    )
    token = scenario(
        "token-sale",
        {
            "id": "1d0c7f8e-2b43-4d5e-9a6f-0c1b2a3d4e5f",
            "status": "Started",
            "pointerName": "ca11ab1e01" + hashlib.sha3_256(b"token-sale").hexdigest()[:54],
            "bundle": unit_of(SONG),
            "bundleAmount": 500000,
            "cost": unit_of(STABLE),
            "costAmount": 2500000,
            "totalBundleQuantity": 40,
            "availableBundleQuantity": 40,
        },
        4,
        {NEWM: 5_000_000_000, STABLE: 30_000_000},
    )
    for name, body in (("usd-sale", usd), ("token-sale", token)):
        (OUT / f"{name}.json").write_text(json.dumps(body, indent=2) + "\n")
        print(f"wrote {OUT / f'{name}.json'}")
    write_transaction_vectors()


def write_transaction_vectors() -> None:
    """Golden order transactions for the scenarios: any change to the bytes shows up in review."""
    vectors = {}
    for name in ("usd-sale", "token-sale"):
        report = run_order(load_scenario(OUT / f"{name}.json"))
        vectors[name] = {
            "amountCborHex": report["amount"]["amountCborHex"],
            "txId": report["transaction"]["txId"],
            "fee": report["transaction"]["fee"],
            "txCborHex": report["txCborHex"],
        }
    path = ROOT / "fixtures" / "vectors" / "order_transactions.json"
    path.write_text(json.dumps(vectors, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
