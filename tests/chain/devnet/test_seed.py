"""Devnet seed files: the demo seed applies as declared, reapplying is a no-op, errors say where."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import cbor2
import pytest
from typer.testing import CliRunner

from cardano_market.chain.devnet import DevnetBackend, Ledger
from cardano_market.chain.devnet.seed import DEFAULT_SEED, apply_seed, load_seed, parse_seed
from cardano_market.chain.devnet.seed import world as seed_module
from cardano_market.chain.devnet.seed.schema import HOUR_MS, YEAR_MS
from cardano_market.chain.devnet.seed.world import STAKE_SCRIPT_HASH, STARTER_POLICY
from cardano_market.cli import app
from cardano_market.contracts import apply_parameters, load_script
from cardano_market.domain.datums import USD, Fees, ReferenceDatum, SaleDatum, Token, Wallet
from cardano_market.domain.errors import SeedError
from cardano_market.domain.hashes import script_hash
from cardano_market.domain.values import Value, sum_values
from cardano_market.synthetic import wallet
from worlds import START_MS, Clock

REPO = Path(__file__).resolve().parents[3]
NEWM_POLICY = hashlib.blake2b(b"cardano-market devnet token/NEWM", digest_size=28).digest()
NEWM = (NEWM_POLICY, b"NEWM")


def demo() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DEFAULT_SEED.read_text(), parse_float=str)
    return data


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ledger(clock: Clock) -> Ledger:
    return Ledger(":memory:", system_start_ms=START_MS, clock=clock)


def balance(ledger: Ledger, name: str) -> Value:
    return sum_values(u.value for u in ledger.utxos_at(wallet(name).address))


def test_the_shipped_fixture_is_the_package_demo_seed() -> None:
    assert (REPO / "fixtures/devnet/demo-seed.json").read_bytes() == DEFAULT_SEED.read_bytes()


def test_demo_seed_balances_are_as_declared(ledger: Ledger) -> None:
    result = apply_seed(ledger, load_seed())
    assert result.applied
    assert balance(ledger, "alice") == Value.of(1_000_000_000, {NEWM: 100_000_000_000})
    assert balance(ledger, "bob") == Value.of(500_000_000, {NEWM: 50_000_000_000})
    song = (
        hashlib.blake2b(b"cardano-market devnet token/SONG", digest_size=28).digest(),
        b"DemoSong",
    )
    assert balance(ledger, "artist") == Value.of(100_000_000, {song: 500_000_000})
    # the batcher is not the hot key (the cash register): the validators trust the hot key's
    # signature alone in their fallback branches; its certificate sits in a UTxO of its own
    certificate = seed_module.BATCHER_CERTIFICATE
    assert balance(ledger, "cashRegister") == Value.of(50_000_000, {NEWM: 1_000_000_000})
    assert balance(ledger, "batcher") == Value.of(55_000_000, {certificate: 1})
    assert result.batcher == wallet("batcher")
    assert result.batcher.payment_key.hash != result.cash_register.payment_key.hash
    assert balance(ledger, "collateral") == Value.of(30_000_000)
    assert len(ledger.utxos_at(wallet("collateral").address)) == 3
    assert result.collateral == wallet("collateral")
    assert len(ledger.utxos_at(wallet("alice").address)) == 4
    assert result.wallets["alice"].address == wallet("alice").address
    assert result.cash_register == wallet("cashRegister")
    assert result.marketplace is not None and result.marketplace.currency == NEWM
    assert result.marketplace.order_lovelace == 4_504_110
    assert str(result.marketplace.usd_price_adjustment_percentage) == "5/2"
    assert result.token_ids == {
        "NEWM": "65f1a0c0e4b0a1b2c3d4e5f6",
        "SONG": "65f1a0c0e4b0a1b2c3d4e5f7",
    }
    assert [(u.wallet, u.kyc) for u in result.users] == [("alice", True), ("bob", False)]


def test_oracle_price_reads_back_through_the_backend(ledger: Ledger) -> None:
    result = apply_seed(ledger, load_seed())
    assert result.oracle is not None
    now_ms = ledger.slot_config.slot_to_posix_ms(ledger.current_slot())
    price = DevnetBackend(ledger).oracle_price(result.oracle.address, result.oracle.feed_asset)
    assert (price.price, price.valid_from_ms, price.valid_to_ms) == (
        2723,
        now_ms - HOUR_MS,
        now_ms + YEAR_MS,
    )
    assert price.utxo.value.quantity(result.oracle.feed_asset) == 1
    assert price.utxo.address[0] >> 4 == 7  # enterprise script address: nobody can spend it


def test_sales_are_recorded_and_their_tokens_sit_at_the_sale_address(ledger: Ledger) -> None:
    result = apply_seed(ledger, load_seed())
    usd, newm = result.sales
    song = (
        hashlib.blake2b(b"cardano-market devnet token/SONG", digest_size=28).digest(),
        b"DemoSong",
    )
    assert (usd.sale.cost, usd.sale.cost_amount) == (None, 500_000_000_000)
    assert (newm.sale.cost, newm.sale.cost_amount) == (NEWM, 150_000_000)
    assert usd.sale.available_bundle_quantity == usd.sale.total_bundle_quantity == 100
    for seeded in result.sales:
        sale = seeded.sale
        pseudo_tx = hashlib.blake2b(
            f"cardano-market devnet sale start/{sale.id}".encode(), digest_size=32
        ).digest()
        expected = bytes.fromhex("ca11ab1e00") + hashlib.sha3_256(pseudo_tx).digest()[:27]
        assert sale.pointer_name == expected
        assert seeded.utxo is not None
        assert seeded.utxo.value.quantity(song) == 1_000_000 * sale.total_bundle_quantity
        assert seeded.utxo.value.coin == 4_504_110
        assert result.contracts is not None
        assert seeded.utxo.address == result.contracts.sale_address
        pointers = [a for a in seeded.utxo.value.assets if a[1] == sale.pointer_name]
        assert pointers == [(result.contracts.pointer_policy, sale.pointer_name)]
        assert seeded.utxo.value.quantity(pointers[0]) == 1
        assert seeded.utxo.inline_datum is not None
        datum = SaleDatum.from_cbor(seeded.utxo.inline_datum)
        artist = wallet("artist")
        assert datum.owner == Wallet(artist.payment_key.hash, artist.stake_key.hash)
        assert datum.bundle == Token(song[0], song[1], 1_000_000)
    assert usd.utxo is not None and usd.utxo.inline_datum is not None
    assert SaleDatum.from_cbor(usd.utxo.inline_datum).cost == Token(USD[0], USD[1], 5 * 10**11)


def test_contracts_are_deployed_with_the_reference_datum(ledger: Ledger) -> None:
    result = apply_seed(ledger, load_seed())
    c = result.contracts
    assert c is not None and result.cash_register is not None
    assert c.starter_nft == (STARTER_POLICY, b"NEWMarketplace")
    assert c.reference_utxo.value.quantity(c.starter_nft) == 1
    datum = ReferenceDatum.from_cbor(c.reference_utxo.inline_datum or b"")
    assert datum == c.reference_datum
    assert datum.hot_key == result.cash_register.payment_key.hash
    assert datum.pointer == c.pointer_policy and datum.contracts.sale == c.sale_script_hash
    assert datum.contracts.stake == STAKE_SCRIPT_HASH
    assert datum.fees == Fees(10**6, 10**6, 10**6)  # mainnet's bounds
    assert datum.profit_data.profit_margin == 500_000_000_000
    assert (datum.profit_data.profit_pid, datum.profit_data.profit_tkn) == NEWM
    # the reference scripts hash to what the datum names; the parameters are baked in
    for holder, expected in (
        (c.pointer_script_utxo, c.pointer_policy),
        (c.sale_script_utxo, c.sale_script_hash),
    ):
        assert holder.script_ref is not None
        language, script = cbor2.loads(holder.script_ref)
        assert language == 3 and script_hash(3, script) == expected
    raw = load_script("pointer")
    assert script_hash(3, raw) != c.pointer_policy  # unapplied differs from applied
    assert (
        apply_parameters(raw, cbor2.dumps(STARTER_POLICY), cbor2.dumps(b"NEWMarketplace"))
        == (cbor2.loads(c.pointer_script_utxo.script_ref or b"")[1])
    )
    # header 0x30 (testnet) / 0x31 (mainnet): script payment + script stake part
    assert c.sale_address[0] == 0x30 and c.sale_address[29:] == STAKE_SCRIPT_HASH
    assert c.queue_address[0] == 0x30 and c.queue_address[29:] == STAKE_SCRIPT_HASH
    assert c.sale_address == seed_module.sale_address(0)
    assert c.pointer_policy == seed_module.POINTER_POLICY  # the service reads these names
    assert c.sale_script_hash == seed_module.SALE_SCRIPT_HASH


def test_queue_vault_and_batcher_are_deployed(ledger: Ledger) -> None:
    result = apply_seed(ledger, load_seed())
    c = result.contracts
    assert c is not None and result.batcher is not None
    datum = c.reference_datum
    # the queue and vault are the project's validators applied to the starter NFT
    starter = (cbor2.dumps(STARTER_POLICY), cbor2.dumps(b"NEWMarketplace"))
    for name, holder, expected in (
        ("queue", c.queue_script_utxo, c.queue_script_hash),
        ("vault", c.vault_script_utxo, c.vault_script_hash),
    ):
        language, script = cbor2.loads(holder.script_ref or b"")
        assert language == 3 and script == apply_parameters(load_script(name), *starter)
        assert script_hash(3, script) == expected
    assert (datum.contracts.queue, datum.contracts.vault) == (
        c.queue_script_hash,
        c.vault_script_hash,
    )
    assert c.queue_address == seed_module.queue_address(0)
    assert c.queue_address[1:29] == c.queue_script_hash
    assert c.queue_address[29:] == STAKE_SCRIPT_HASH
    assert c.vault_address[1:29] == c.vault_script_hash
    assert c.queue_script_hash == seed_module.QUEUE_SCRIPT_HASH
    assert c.vault_script_hash == seed_module.VAULT_SCRIPT_HASH
    # the batcher's certificate: the reference datum's batcher policy, the certificate prefix
    policy, name = c.batcher_certificate
    assert policy == datum.batcher_data.batcher_pid
    assert name.startswith(bytes.fromhex("affab1e0005e77ab1e"))
    assert c.certificate_utxo is not None
    assert c.certificate_utxo.address == result.batcher.address
    assert c.certificate_utxo.value.quantity(c.batcher_certificate) == 1
    # the vault: owned by the batcher (not the hot key), holding the vault minimum
    assert c.vault_utxo is not None and c.vault_utxo.address == c.vault_address
    owner = Wallet.from_cbor(c.vault_utxo.inline_datum or b"")
    assert owner == Wallet(result.batcher.payment_key.hash) and owner.pkh != datum.hot_key
    assert c.vault_utxo.value == Value(10_000_000)


def test_no_vault_without_a_profit_margin(ledger: Ledger) -> None:
    data = demo()
    data["marketplace"]["profitAmountUsd"] = 0
    result = apply_seed(ledger, parse_seed(data))
    assert result.contracts is not None and result.contracts.vault_utxo is None
    assert result.contracts.certificate_utxo is not None


def test_fee_bounds_come_from_the_seed() -> None:
    data = demo()
    assert parse_seed(data).fee_bounds == Fees(10**6, 10**6, 10**6)  # mainnet's by default
    data["marketplace"]["refundQueueBound"] = 700_000
    data["marketplace"]["purchaseQueueBound"] = 1_500_000
    assert parse_seed(data).fee_bounds == Fees(1_500_000, 700_000, 10**6)


def test_reapplying_the_same_seed_is_a_no_op(ledger: Ledger, clock: Clock) -> None:
    seed = load_seed()
    first = apply_seed(ledger, seed)
    before = {n: ledger.utxos_at(w.address) for n, w in first.wallets.items()}
    clock.now += 60
    again = apply_seed(ledger, load_seed())
    assert not again.applied
    assert {n: ledger.utxos_at(w.address) for n, w in again.wallets.items()} == before
    assert again.oracle == first.oracle
    assert again.sales == first.sales
    assert again.contracts == first.contracts


def test_a_different_seed_asks_for_a_reset(ledger: Ledger) -> None:
    apply_seed(ledger, load_seed())
    other = demo()
    other["wallets"]["alice"]["lovelace"] = 2_000_000_000
    with pytest.raises(SeedError, match="reset"):
        apply_seed(ledger, parse_seed(other))
    assert balance(ledger, "alice").coin == 1_000_000_000  # nothing half done
    ledger.reset()
    assert apply_seed(ledger, parse_seed(other)).applied
    assert balance(ledger, "alice").coin == 2_000_000_000


def test_token_policy_and_hex_names() -> None:
    data = demo()
    data["tokens"]["SONG"] = {"assetNameHex": "cafe", "decimals": 0, "policyId": "ab" * 28}
    seed = parse_seed(data)
    assert seed.tokens["SONG"].asset == (bytes.fromhex("ab" * 28), b"\xca\xfe")
    assert seed.tokens["NEWM"].asset == NEWM
    assert seed.tokens["NEWM"].decimals == 6


def _set(path: str, value: Any) -> dict[str, Any]:
    data = demo()
    keys = path.split("/")
    node: Any = data
    for key in keys[:-1]:
        node = node[int(key)] if isinstance(node, list) else node[key]
    last = keys[-1]
    if value is _DELETE:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return data


_DELETE = object()


@pytest.mark.parametrize(
    ("edit", "value", "where", "says"),
    [
        ("wallets/alice/lovelace", -5, "$.wallets.alice.lovelace", "at least 1"),
        ("wallets/alice/lovelace", "100", "$.wallets.alice.lovelace", "integer"),
        ("wallets/alice/lovelace", "1.5", "$.wallets.alice.lovelace", "decimal number"),
        ("wallets/alice/lovelace", _DELETE, "$.wallets.alice.lovelace", "required"),
        ("wallets/bob/assets", {"GOLD": 1}, "$.wallets.bob.assets.GOLD", "unknown token 'GOLD'"),
        ("wallets/bob/colour", "red", "$.wallets.bob.colour", "unknown key"),
        ("tokens/NEWM/policyId", "abcd", "$.tokens.NEWM.policyId", "28 bytes"),
        ("tokens/NEWM/policyId", "zz" * 28, "$.tokens.NEWM.policyId", "not hex"),
        ("tokens/NEWM/assetName", "x" * 33, "$.tokens.NEWM", "at most 32"),
        ("tokens/NEWM/assetNameHex", "00", "$.tokens.NEWM", "exactly one"),
        ("oracle/price", 0, "$.oracle.price", "at least 1"),
        ("oracle/token", "SONG", "$.oracle.token", "marketplace currency is NEWM"),
        ("oracle/validityMs", {"start": 5, "end": 5}, "$.oracle.validityMs", "after start"),
        ("marketplace/currency", "ADA", "$.marketplace.currency", "unknown token"),
        ("marketplace/serviceFeePercentage", "150", "$.marketplace", "between 0 and 100"),
        ("marketplace/orderLovlace", 1, "$.marketplace", "unknown marketplace setting"),
        ("marketplace/cashRegister", "carol", "$.marketplace.cashRegister", "unknown wallet"),
        ("marketplace/collateral", "carol", "$.marketplace.collateral", "unknown wallet"),
        ("marketplace/collateral", "alice", "$.marketplace.collateral", "ADA-only"),
        ("marketplace/batcher", "carol", "$.marketplace.batcher", "unknown wallet"),
        ("marketplace/purchaseQueueBound", -1, "$.marketplace.purchaseQueueBound", "at least 0"),
        ("marketplace/refundQueueBound", "1", "$.marketplace.refundQueueBound", "integer"),
        ("sales/0/id", "sale-1", "$.sales[0].id", "not a UUID"),
        ("sales/1/id", "0b7346aa-137a-5041-9b23-7afaa88573d5", "$.sales[1].id", "duplicate"),
        ("sales/0/owner", "carol", "$.sales[0].owner", "unknown wallet 'carol'"),
        ("sales/0/bundleAmount", 0, "$.sales[0].bundleAmount", "at least 1"),
        ("sales/0/costToken", "NEWM", "$.sales[0]", "not both"),
        ("sales/1/costAmount", _DELETE, "$.sales[1].costAmount", "required"),
        ("sales/1/costToken", "GOLD", "$.sales[1].costToken", "unknown token"),
        ("sales", {}, "$.sales", "must be a list"),
        ("users/0/id", "65F1A0C0E4B0A1B2C3D4E501", "$.users[0].id", "24 lower-case hex"),
        ("users/1/kyc", "yes", "$.users[1].kyc", "true or false"),
        ("users/1/wallet", "carol", "$.users[1].wallet", "unknown wallet"),
        ("tokenIds/SONG", "65f1a0c0e4b0a1b2c3d4e5f6", "$.tokenIds.SONG", "used twice"),
        ("tokenIds/GOLD", "65f1a0c0e4b0a1b2c3d4e5f9", "$.tokenIds.GOLD", "unknown token"),
        ("extra", 1, "$.extra", "unknown key"),
    ],
)
def test_bad_seeds_name_the_json_path(edit: str, value: Any, where: str, says: str) -> None:
    with pytest.raises(SeedError, match=says) as info:
        parse_seed(_set(edit, value))
    assert info.value.path == where
    assert str(info.value).startswith(f"{where}: ")


def test_a_wallet_below_min_ada_is_refused_before_anything_is_written(ledger: Ledger) -> None:
    data = demo()
    data["wallets"]["bob"] = {"lovelace": 1_000_000, "assets": {"NEWM": 1}}
    with pytest.raises(SeedError, match="minimum ADA") as info:
        apply_seed(ledger, parse_seed(data))
    assert info.value.path == "$.wallets.bob.lovelace"
    assert ledger.utxos_at(wallet("alice").address) == []
    assert apply_seed(ledger, load_seed()).applied


def test_load_seed_reports_unreadable_and_non_json_files(tmp_path: Path) -> None:
    with pytest.raises(SeedError, match="cannot read"):
        load_seed(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{wallets: 1}")
    with pytest.raises(SeedError, match="not JSON"):
        load_seed(bad)
    top = tmp_path / "list.json"
    top.write_text("[]")
    with pytest.raises(SeedError, match=r"^\$: must be an object"):
        load_seed(top)


def test_seed_hash_ignores_key_order() -> None:
    data = demo()
    reordered = {k: data[k] for k in reversed(list(data))}
    assert parse_seed(reordered).hash == parse_seed(data).hash
    changed = copy.deepcopy(data)
    changed["oracle"]["price"] = 2724
    assert parse_seed(changed).hash != parse_seed(data).hash


# -- the CLI --------------------------------------------------------------------------------------


def test_cli_devnet_commands(tmp_path: Path) -> None:
    runner = CliRunner()
    db = str(tmp_path / "devnet.db")

    missing = runner.invoke(app, ["devnet", "tip", "--path", db])
    assert missing.exit_code == 1 and "devnet init" in missing.output

    first = runner.invoke(app, ["devnet", "init", "--path", db])
    assert first.exit_code == 0, first.output
    assert "seeded" in first.output and "6 wallet(s), 2 sale(s)" in first.output
    again = runner.invoke(app, ["devnet", "init", "--path", db])
    assert again.exit_code == 0 and "already seeded" in again.output

    listing = runner.invoke(app, ["devnet", "wallets", "--path", db])
    assert listing.exit_code == 0
    alice = next(line for line in listing.output.splitlines() if line.startswith("alice"))
    assert wallet("alice").bech32 in alice
    assert "1000000000 lovelace" in alice and "100000000000 NEWM" in alice

    tip = runner.invoke(app, ["devnet", "tip", "--path", db])
    slot = int(tip.output.split()[1])
    advanced = runner.invoke(app, ["devnet", "advance", "500", "--path", db])
    assert advanced.exit_code == 0
    assert int(advanced.output.split()[1]) >= slot + 500

    other = demo()
    other["oracle"]["price"] = 3000
    other_file = tmp_path / "other.json"
    other_file.write_text(json.dumps(other))
    refused = runner.invoke(app, ["devnet", "init", "--path", db, "--seed", str(other_file)])
    assert refused.exit_code == 1 and "reset" in refused.output

    reset = runner.invoke(app, ["devnet", "reset", "--path", db, "--seed", str(other_file)])
    assert reset.exit_code == 0, reset.output
    with Ledger(db) as ledger:
        result = apply_seed(ledger, load_seed(other_file))
        assert not result.applied and result.oracle is not None
        assert result.oracle.datum.price == 3000
        assert ledger.tip().slot < slot + 500  # time went back to the wall clock

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"wallets": {"x": {"lovelace": 0}}}))
    failed = runner.invoke(app, ["devnet", "init", "--path", db, "--seed", str(bad)])
    assert failed.exit_code == 1 and "$.wallets.x.lovelace" in failed.output


# -- another deployment (the `contracts` section) -------------------------------------------------


def _contracts(directory: Path, **changes: Any) -> dict[str, Any]:
    section = {
        "validators": str(directory),
        "starterPolicyId": "ab" * 28,
        "starterAssetNameHex": b"NEWMarketplace".hex(),
        "referenceDataScriptHash": "cd" * 28,
    }
    section.update(changes)
    return {k: v for k, v in section.items() if v is not _DELETE}


def _envelopes(directory: Path, scripts: dict[str, bytes]) -> Path:
    directory.mkdir(exist_ok=True)
    for name, script in scripts.items():
        document = {"type": "PlutusScriptV3", "cborHex": cbor2.dumps(script).hex()}
        (directory / f"{name}.plutus").write_text(json.dumps(document))
    return directory


def test_a_seed_can_deploy_other_validators(tmp_path: Path, ledger: Ledger) -> None:
    """The scripts come from the seed's directory (here the project's own, applied to another
    starter NFT); the reference datum, addresses and sales follow them."""
    starter = (bytes.fromhex("ab" * 28), b"NEWMarketplace")
    params = (cbor2.dumps(starter[0]), cbor2.dumps(starter[1]))
    scripts = {n: apply_parameters(load_script(n), *params) for n in ("sale", "queue", "vault")}
    directory = _envelopes(tmp_path / "scripts", scripts)
    data = demo()
    data["contracts"] = _contracts(Path("scripts"))
    result = apply_seed(ledger, parse_seed(data, base_dir=tmp_path))  # relative to base_dir
    c = result.contracts
    assert c is not None and c.starter_nft == starter
    assert c.reference_utxo.address[1:29] == bytes.fromhex("cd" * 28)
    assert (c.sale_script_hash, c.queue_script_hash, c.vault_script_hash) == tuple(
        script_hash(3, scripts[n]) for n in ("sale", "queue", "vault")
    )
    assert c.reference_datum.contracts.queue == c.queue_script_hash
    assert c.pointer_policy == script_hash(3, apply_parameters(load_script("pointer"), *params))
    assert all(s.utxo is not None and s.utxo.address == c.sale_address for s in result.sales)
    assert c.sale_address != seed_module.sale_address(0)  # not the project's devnet deployment
    # the same seed over other script bytes is another chain (another seed hash)
    scripts["vault"] = apply_parameters(load_script("vault"), params[1], params[0])
    _envelopes(directory, scripts)
    assert parse_seed(data, base_dir=tmp_path).hash != result.seed.hash


@pytest.mark.parametrize(
    ("changes", "where", "says"),
    [
        ({"starterPolicyId": _DELETE}, "$.contracts.starterPolicyId", "required"),
        ({"starterPolicyId": "ab"}, "$.contracts.starterPolicyId", "28 bytes"),
        ({"referenceDataScriptHash": "zz"}, "$.contracts.referenceDataScriptHash", "hex"),
        ({"starterAssetNameHex": "00" * 33}, "$.contracts.starterAssetNameHex", "32 bytes"),
        ({"validators": "nowhere"}, "$.contracts.validators", "cannot read the sale validator"),
        ({"extra": 1}, "$.contracts.extra", "unknown key"),
    ],
)
def test_bad_contracts_sections_name_the_json_path(
    tmp_path: Path, changes: dict[str, Any], where: str, says: str
) -> None:
    _envelopes(tmp_path / "scripts", {n: b"\x01" for n in ("sale", "queue", "vault")})
    data = demo()
    data["contracts"] = _contracts(Path("scripts"), **changes)
    with pytest.raises(SeedError, match=says) as info:
        parse_seed(data, base_dir=tmp_path)
    assert info.value.path == where


def test_a_validator_file_that_is_not_a_v3_envelope_is_refused(tmp_path: Path) -> None:
    directory = _envelopes(tmp_path / "scripts", {n: b"\x01" for n in ("sale", "queue", "vault")})
    (directory / "queue.plutus").write_text(json.dumps({"type": "PlutusScriptV2", "cborHex": "41"}))
    data = demo()
    data["contracts"] = _contracts(directory)
    with pytest.raises(SeedError, match=r"queue\.plutus is not a PlutusScriptV3"):
        parse_seed(data)
