"""scripts/preprod_smoke.py end to end against the fake Blockfrost, with a made-up NEWM deployment.

The real run needs preprod; this one serves a reference datum, a started USD sale, the Charli3
feed and a funded wallet from the fake server, then checks what the script read, priced, built,
signed and submitted (once).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cbor2
import pytest
from fake_blockfrost import FakeBlockfrost, Fixture, tx_id_of
from nacl.signing import VerifyKey

from cardano_market.domain.address import Credential, encode_address, make_address, script_address
from cardano_market.domain.datums import (
    BatcherData,
    Contracts,
    Fees,
    Keepers,
    ProfitData,
    QueueDatum,
    ReferenceDatum,
    SaleDatum,
    Staking,
    Token,
    Wallet,
)
from cardano_market.domain.keys import PaymentKey
from cardano_market.domain.values import AssetId, asset_from_unit, unit_of

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "preprod_smoke.py"
TNEWM = asset_from_unit("769c4c6e9bc3ba5406b9b89fb7beb6819e638ff2e2de63f008d5bcff744e45574d")


def h(seed: str, size: int = 28) -> bytes:
    return hashlib.blake2b(seed.encode(), digest_size=size).digest()


def load_script() -> Any:
    spec = importlib.util.spec_from_file_location("preprod_smoke", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["preprod_smoke"] = module
    spec.loader.exec_module(module)
    return module


def utxo_entry(
    address: bytes, tag: str, assets: dict[AssetId, int], datum: bytes | None
) -> dict[str, Any]:
    amount = [{"unit": "lovelace", "quantity": "10000000"}]
    amount += [{"unit": unit_of(a), "quantity": str(q)} for a, q in assets.items()]
    return {
        "address": encode_address(address),
        "tx_hash": h(tag, 32).hex(),
        "tx_index": 0,
        "output_index": 0,
        "amount": amount,
        "block": h(f"block {tag}", 32).hex(),
        "data_hash": hashlib.blake2b(datum, digest_size=32).hexdigest() if datum else None,
        "inline_datum": datum.hex() if datum else None,
        "reference_script_hash": None,
    }


def serve(server: FakeBlockfrost, name: str, path: str, body: list[dict[str, Any]]) -> None:
    endpoint = "/addresses/{address}/utxos" + ("/{asset}" if path.count("/") == 4 else "")
    server.add(Fixture(name, "GET", endpoint, path, 200, True, body))


@pytest.fixture
def deployment() -> Iterator[tuple[FakeBlockfrost, dict[str, Any]]]:
    with FakeBlockfrost() as server:
        oracle_path = server.fixture("oracle_feed_utxos").path
        _, _, oracle_address, _, feed_unit = oracle_path.split("/")
        feed = asset_from_unit(feed_unit)
        stake, sale_hash, queue_hash = h("stake"), h("sale"), h("queue")
        pointer_policy = h("pointer policy")
        reference = ReferenceDatum(
            hot_key=h("hot key"),
            keepers=Keepers((h("keeper"),), 1),
            staking=Staking(h("pool"), Wallet(h("reward"), b"")),
            contracts=Contracts(sale_hash, queue_hash, h("band"), h("vault"), stake),
            fees=Fees(1_000_000, 1_000_000, 1_000_000),
            pointer=pointer_policy,
            batcher_data=BatcherData(h("m1"), h("m2"), (b"\xaf",), h("batcher")),
            profit_data=ProfitData(h("feed vkh"), feed[0], feed[1], b"", b"", 500_000_000_000),
        )
        reference_address = script_address(h("reference data"), stake, 0)
        starter = (h("starter policy"), b"NEWMarketplace")
        serve(
            server,
            "reference",
            f"/addresses/{encode_address(reference_address)}/utxos/{unit_of(starter)}",
            [utxo_entry(reference_address, "reference", {starter: 1}, reference.to_cbor())],
        )
        sale_address = script_address(sale_hash, stake, 0)
        pointer_name = b"\xca\x11\xab\x1e" + h("pointer name", 28)
        song = (h("song policy"), b"SongToken")
        sale_datum = SaleDatum(
            Wallet(h("artist"), b""), Token(song[0], song[1], 10), Token(b"USD", b"", 10**12)
        )
        stray = utxo_entry(sale_address, "stray", {}, None)  # no pointer: not a sale
        sale = utxo_entry(
            sale_address,
            "sale",
            {(pointer_policy, pointer_name): 1, song: 1000},
            sale_datum.to_cbor(),
        )
        serve(server, "sale", f"/addresses/{encode_address(sale_address)}/utxos", [stray, sale])
        key = PaymentKey.derive("preprod smoke buyer")
        wallet = make_address(Credential.key(key.hash), None, 0)
        funds = [
            utxo_entry(wallet, "funds 1", {TNEWM: 10**10}, None),
            utxo_entry(wallet, "funds 2", {}, None),
        ]
        serve(server, "wallet", f"/addresses/{encode_address(wallet)}/utxos", funds)
        yield (
            server,
            {
                "reference_address": encode_address(reference_address),
                "starter": unit_of(starter),
                "oracle_address": oracle_address,
                "key": key,
                "wallet": wallet,
                "queue_address": script_address(queue_hash, stake, 0),
                "pointer_name": pointer_name,
                "reference": reference,
            },
        )


def test_help_runs_without_network(capsys: pytest.CaptureFixture[str]) -> None:
    module = load_script()
    with pytest.raises(SystemExit) as exit_info:
        module.parse_args(["--help"])
    assert exit_info.value.code == 0
    assert "BLOCKFROST_PROJECT_ID" in capsys.readouterr().out


def test_missing_environment_is_a_clear_exit(monkeypatch: pytest.MonkeyPatch) -> None:
    module = load_script()
    monkeypatch.delenv("BLOCKFROST_PROJECT_ID", raising=False)
    with pytest.raises(SystemExit, match="BLOCKFROST_PROJECT_ID is required"):
        module.main([])


def test_key_formats(tmp_path: Path) -> None:
    module = load_script()
    seed = bytes(range(32))
    skey = tmp_path / "payment.skey"
    skey.write_text(
        json.dumps({"type": "PaymentSigningKeyShelley_ed25519", "cborHex": "5820" + seed.hex()})
    )
    assert module.load_seed(str(skey)) == seed
    assert module.load_seed("5820" + seed.hex()) == seed
    assert module.load_seed(seed.hex()) == seed
    with pytest.raises(SystemExit, match="32-byte"):
        module.load_seed("abcd")


def test_smoke_reads_prices_builds_signs_and_submits_once(
    deployment: tuple[FakeBlockfrost, dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server, d = deployment
    module = load_script()
    monkeypatch.setenv("BLOCKFROST_PROJECT_ID", "preprodFAKE")
    monkeypatch.setenv("CARDANO_MARKET_PREPROD_SKEY", d["key"].seed.hex())
    args = [
        "--base-url",
        server.url,
        "--reference-address",
        d["reference_address"],
        "--starter-nft",
        d["starter"],
        "--oracle-address",
        d["oracle_address"],
        "--bundles",
        "2",
        "--submit",
        "--wait",
        "0",
    ]
    assert module.main(args) == 0
    report = json.loads(capsys.readouterr().out)

    assert report["sale"]["pointer"] == d["pointer_name"].hex()
    assert report["sale"]["availableBundles"] == 100
    assert report["oracle"]["price"] == 2723
    # USD sale: $1 x 2 bundles, 10% fee, $0.50 profit, +2.5%, at $0.002723; two incentives.
    sub = 2 * 10**12 + 2 * 10**11 + 500_000_000_000
    assert report["amount"]["currencyAmount"] == (sub + sub * 25 // 1000) // 2723 + 2 * 5_000_000

    signed = bytes.fromhex(report["signedTxCborHex"])
    tx = cbor2.loads(signed)
    body, witnesses = tx[0], tx[1]
    queue_output = body[1][0]
    assert queue_output[0] == d["queue_address"]
    datum = QueueDatum.from_cbor(queue_output[2][1].value)
    assert datum.pointer_name == d["pointer_name"] and datum.number_of_bundles == 2
    # Signed by the buyer's key over the body hash, and sent once.
    tx_id = bytes.fromhex(tx_id_of(signed))
    ((vkey, signature),) = list(witnesses[0])
    VerifyKey(vkey).verify(tx_id, signature)
    assert vkey == d["key"].vkey
    assert report["submitted"] == tx_id.hex()
    assert server.state.submits[tx_id.hex()] == 1
    assert report["status"]["state"] == "in_mempool"
