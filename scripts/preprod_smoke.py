"""Preprod smoke test: read the live NEWM marketplace through Blockfrost and build an order.

    BLOCKFROST_PROJECT_ID=preprod... \\
    CARDANO_MARKET_PREPROD_SKEY=path/to/payment.skey \\
    python scripts/preprod_smoke.py [--pointer <hex>] [--bundles 1] [--submit]

The reference-data address, starter NFT and oracle address come from the shipped preprod network
profile (PROTOCOL section 10, `cardano_market/domain/network_preprod.json`); the options and
NEWM_PREPROD_* variables still override them.

Steps: read the reference datum (the UTxO at the reference-data address holding the starter NFT),
find a started sale at the sale contract (a UTxO holding a pointer token of the datum's pointer
policy, with an inline SaleDatum), read the Charli3 price at the oracle address (feed NFT from
the datum's profit data), price the order (PROTOCOL section 3), build the order transaction from
the funded key's UTxOs and sign it. It prints what it read and built; it submits only with
`--submit`, then waits for the transaction to show up. Needs network access to Blockfrost, so it
cannot run in CI. The key: a cardano-cli `.skey` JSON file, its `cborHex`, or a 64-hex-digit seed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

KEY_ENV = "CARDANO_MARKET_PREPROD_SKEY"
PROJECT_ENV = "BLOCKFROST_PROJECT_ID"
TNEWM_UNIT = "769c4c6e9bc3ba5406b9b89fb7beb6819e638ff2e2de63f008d5bcff744e45574d"


def _profile_value(name: str) -> str | None:
    """The shipped preprod profile's value (imported late: `--help` stays fast)."""
    from cardano_market.domain.profiles import profile_for

    profile = profile_for("preprod")
    return None if profile is None else getattr(profile, name)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Read the live NEWM preprod marketplace via Blockfrost and build (optionally "
        f"submit) an order transaction. Environment: {PROJECT_ENV} (a preprod project id) and "
        f"{KEY_ENV} (the funded payment key: .skey file path, cborHex or 64-hex seed).",
    )
    parser.add_argument(
        "--reference-address",
        default=os.environ.get("NEWM_PREPROD_REFERENCE_ADDRESS")
        or _profile_value("reference_address"),
        help="bech32 address of the reference-data contract (env NEWM_PREPROD_REFERENCE_ADDRESS)",
    )
    parser.add_argument(
        "--starter-nft",
        default=os.environ.get("NEWM_PREPROD_STARTER_NFT") or _profile_value("starter_nft"),
        help="unit (policy hex + name hex) of the starter NFT (env NEWM_PREPROD_STARTER_NFT)",
    )
    parser.add_argument(
        "--oracle-address",
        default=os.environ.get("NEWM_PREPROD_ORACLE_ADDRESS") or _profile_value("oracle_address"),
        help="bech32 address of the Charli3 NEWM/USD feed (env NEWM_PREPROD_ORACLE_ADDRESS)",
    )
    parser.add_argument(
        "--currency", default=TNEWM_UNIT, help="currency token unit (default: preprod tNEWM)"
    )
    parser.add_argument("--pointer", help="pointer token name (hex) of the sale to buy from")
    parser.add_argument("--bundles", type=int, default=1, help="bundles to buy (default 1)")
    parser.add_argument("--incentive", type=int, help="incentive per action (default: minimum)")
    parser.add_argument(
        "--cash-register-address",
        help="where the service fee goes (default: the hot key's enterprise address)",
    )
    parser.add_argument(
        "--submit", action="store_true", help="submit the signed transaction and wait for it"
    )
    parser.add_argument("--wait", type=int, default=180, help="seconds to wait after submitting")
    parser.add_argument(
        "--base-url",
        default=os.environ.get("BLOCKFROST_BASE_URL"),
        help="a Blockfrost-compatible API root instead of Blockfrost's preprod (env "
        "BLOCKFROST_BASE_URL; the offline test points it at the fake server)",
    )
    return parser.parse_args(argv)


def load_seed(text: str) -> bytes:
    """A 32-byte Ed25519 seed from a .skey path, a cborHex ("5820" + seed) or a bare hex seed."""
    path = Path(text)
    if path.is_file():
        text = json.loads(path.read_text())["cborHex"]
    raw = bytes.fromhex(text.strip())
    if len(raw) == 34 and raw[:2] == b"\x58\x20":
        raw = raw[2:]
    if len(raw) != 32:
        raise SystemExit(f"{KEY_ENV}: expected a 32-byte Ed25519 signing key, got {len(raw)} bytes")
    return raw


def require(value: str | None, flag: str) -> str:
    if not value:
        raise SystemExit(f"{flag} is required (see --help)")
    return value


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    project_id = require(os.environ.get(PROJECT_ENV), PROJECT_ENV)
    seed = load_seed(require(os.environ.get(KEY_ENV), KEY_ENV))
    reference_address = require(args.reference_address, "--reference-address")
    starter = require(args.starter_nft, "--starter-nft")
    oracle_address = require(args.oracle_address, "--oracle-address")

    # Imported here so that --help stays instant.
    from cardano_market.chain.base import TxState
    from cardano_market.chain.blockfrost import BlockfrostBackend
    from cardano_market.domain.address import (
        Credential,
        decode_address,
        encode_address,
        make_address,
        script_address,
    )
    from cardano_market.domain.datums import ReferenceDatum, SaleDatum, address_from_wallet
    from cardano_market.domain.errors import MarketError
    from cardano_market.domain.keys import PaymentKey
    from cardano_market.domain.pricing import MarketplaceConfig, order_amount
    from cardano_market.domain.sale import Sale, SaleStatus
    from cardano_market.domain.values import asset_from_unit, unit_of
    from cardano_market.ledger.witness import sign_transaction, splice_witnesses
    from cardano_market.tx.order import OrderTransactionRequest, build_order_transaction

    report: dict[str, Any] = {}
    with BlockfrostBackend(project_id, "preprod", args.base_url) as chain:
        tip = chain.tip()
        report["tip"] = {"slot": tip.slot, "epoch": tip.epoch, "height": tip.block_height}

        # 1. The live reference datum.
        refs = chain.utxos_with_asset(decode_address(reference_address), asset_from_unit(starter))
        if len(refs) != 1 or refs[0].inline_datum is None:
            raise SystemExit(f"expected one reference UTxO with an inline datum, found {len(refs)}")
        reference = ReferenceDatum.from_cbor(refs[0].inline_datum)
        contracts = reference.contracts
        sale_address = script_address(contracts.sale, contracts.stake, 0)
        queue_address = script_address(contracts.queue, contracts.stake, 0)
        report["reference"] = {
            "utxo": f"{refs[0].tx_hash.hex()}#{refs[0].index}",
            "pointerPolicy": reference.pointer.hex(),
            "saleAddress": encode_address(sale_address),
            "queueAddress": encode_address(queue_address),
            "profitMargin": reference.profit_data.profit_margin,
        }

        # 2. A started sale: a UTxO at the sale address holding a pointer token.
        sale_utxo, sale_datum, pointer = None, None, None
        for utxo in chain.utxos_at(sale_address):
            names = [n for (p, n) in utxo.value.assets if p == reference.pointer]
            if not names or utxo.inline_datum is None:
                continue
            if args.pointer and names[0].hex() != args.pointer:
                continue
            try:
                sale_datum = SaleDatum.from_cbor(utxo.inline_datum)
            except MarketError:
                continue
            sale_utxo, pointer = utxo, names[0]
            break
        if sale_utxo is None or sale_datum is None or pointer is None:
            raise SystemExit("no started sale found at the sale address")
        bundle = sale_datum.bundle.asset
        available = sale_utxo.value.quantity(bundle) // sale_datum.bundle.amount
        cost = None if sale_datum.cost.policy == b"USD" else sale_datum.cost.asset
        sale = Sale(
            id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"newm-preprod-sale:{pointer.hex()}")),
            status=SaleStatus.STARTED,
            pointer_name=pointer,
            owner_address=address_from_wallet(sale_datum.owner, 0),
            bundle=bundle,
            bundle_amount=sale_datum.bundle.amount,
            cost=cost,
            cost_amount=sale_datum.cost.amount,
            total_bundle_quantity=available,
            available_bundle_quantity=available,
            max_bundle_size=sale_datum.max_bundle_size,
        )
        report["sale"] = {
            "utxo": f"{sale_utxo.tx_hash.hex()}#{sale_utxo.index}",
            "pointer": pointer.hex(),
            "bundle": unit_of(bundle),
            "bundleAmount": sale.bundle_amount,
            "cost": "USD" if cost is None else unit_of(cost),
            "costAmount": sale.cost_amount,
            "availableBundles": available,
        }

        # 3. The oracle price, then the order amount.
        feed = (reference.profit_data.feed_pid, reference.profit_data.feed_tkn)
        price = chain.oracle_price(decode_address(oracle_address), feed)
        config = MarketplaceConfig(currency=asset_from_unit(args.currency))
        amount = order_amount(sale, args.bundles, args.incentive, price.price, config)
        report["oracle"] = {
            "price": price.price,
            "validFromMs": price.valid_from_ms,
            "validToMs": price.valid_to_ms,
        }
        report["amount"] = {
            "currencyAmount": amount.currency_amount,
            "serviceFee": amount.service_fee,
            "amountCborHex": amount.amount_cbor_hex,
        }

        # 4. The order transaction from the funded key's UTxOs, signed.
        key = PaymentKey(seed)
        wallet = make_address(Credential.key(key.hash), None, 0)
        cash_register = (
            decode_address(args.cash_register_address)
            if args.cash_register_address
            else make_address(Credential.key(reference.hot_key), None, 0)
        )
        tx = build_order_transaction(
            OrderTransactionRequest(
                amount=amount,
                sale=sale,
                config=config,
                utxos=chain.utxos_at(wallet),
                change_address=wallet,
                queue_address=queue_address,
                cash_register_address=cash_register,
                params=chain.protocol_parameters(),
                ttl=tip.slot + config.order_ttl_seconds,
            )
        )
        signed = splice_witnesses(tx.balanced.cbor, sign_transaction(tx.balanced.cbor, [seed]))
        report["wallet"] = encode_address(wallet)
        report["transaction"] = tx.summary()
        report["signedTxCborHex"] = signed.hex()

        if args.submit:
            tx_id = chain.submit(signed)
            report["submitted"] = tx_id.hex()
            deadline = time.monotonic() + args.wait
            status = chain.tx_status(tx_id)
            while status.state is not TxState.CONFIRMED and time.monotonic() < deadline:
                time.sleep(10)
                status = chain.tx_status(tx_id)
            report["status"] = {"state": status.state.value, "depth": status.depth}

    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
