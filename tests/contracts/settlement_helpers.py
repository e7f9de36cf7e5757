"""Settlement scenarios for the queue and vault validators: UTxOs, transactions, evaluation.

A `Market` is one set of scripts (queue, vault, sale) behind the marketplace's addresses. The
project's own is `own_market()`: our queue and vault with the starter NFT applied (through
`contracts.apply_parameters`), and an always-succeeding sale script, since the sale validator is
not under test here; "own" is the traced build (a refusal must say why), "deployed" the
trace-free build the devnet deploys (it must give the same verdicts). `newm_market()` is NEWM's
deployed mainnet scripts read from `../shared` (their parameters are baked in), so one transaction
can be run against all. All use NEWM's mainnet starter NFT and reference-data address, which the
deployed scripts require.

Transactions are written out here (`tx.body.encode_body` and cbor2) and evaluated with the
devnet's evaluator (`chain.devnet.plutus.evaluate_scripts`, uplc), every redeemer of the
transaction, within the protocol's per-transaction budget.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cbor2
import pytest

from cardano_market.chain.devnet.plutus import RECURSION_LIMIT, evaluate_scripts
from cardano_market.chain.devnet.plutus_scripts import ScriptFailure
from cardano_market.contracts import apply_parameters, load_script
from cardano_market.domain.address import Credential, make_address
from cardano_market.domain.cbor import encode_head
from cardano_market.domain.cip30 import OutRef, Utxo
from cardano_market.domain.datums import (
    BatcherData,
    Contracts,
    Fees,
    Keepers,
    OracleDatum,
    ProfitData,
    QueueDatum,
    ReferenceDatum,
    SaleDatum,
    Staking,
    Token,
    Wallet,
)
from cardano_market.domain.hashes import script_hash
from cardano_market.domain.keys import PaymentKey
from cardano_market.domain.outputs import TxOutput
from cardano_market.domain.params import default_parameters
from cardano_market.domain.plutus_data import constr, encode_plutus
from cardano_market.domain.protocol import BATCHER_PREFIX
from cardano_market.domain.slots import SlotConfig
from cardano_market.domain.values import AssetId, Value
from cardano_market.ledger.exunits import ExUnits, RedeemerKey
from cardano_market.tx.body import encode_body, encode_transaction
from interop.csl import interop_required

NEWM_DIR = Path(__file__).resolve().parents[3] / "shared" / "contracts" / "newm-mainnet"

# NEWM's mainnet parameters (PROTOCOL section 2): the deployed scripts have them baked in
STARTER: AssetId = (
    bytes.fromhex("56cc98f6b22b063d71e6fe1af7cf2393dd698b5d84b1ecd33d0b3c08"),
    b"NEWMarketplace",
)
REFERENCE_SCRIPT = bytes.fromhex("7c7487bca5af9814f10b9e8239b9efa46f20f87edd075f78d62abbb7")
STAKE_SCRIPT = bytes.fromhex("db7245ff4fe23633e2c10ef62374ca6b64efd80d31fc3f7c431386e0")
NEWM: AssetId = (bytes.fromhex("682fe60c9918842b3323c43b5144bc3d52a23bd2fb81345560d73f63"), b"NEWM")
BATCHER_POLICY = bytes.fromhex("1cfcfe58e3462df9a3ab474a66536ef48f5acc2c1e7ad2abb294446a")
CERTIFICATE: AssetId = (BATCHER_POLICY, BATCHER_PREFIX + b"\x01" * 23)
FEED_SCRIPT = bytes.fromhex("5d2d13d2b1f0e1d61d9ee43e85a3b5d40d5b0c3c45ce21e9b5c1f6aa")
FEED_NFT: AssetId = (
    bytes.fromhex("f155a26044efe91b3c44f87a7536d2d631c847717930ff547ae9d05c"),
    b"OracleFeed",
)
POINTER_POLICY = bytes.fromhex("26c0f8e2d3be37de297fa57c48820fcb24c7b09aebe280430cef9d87")
POINTER_NAME = bytes.fromhex("ca11ab1e") + b"\x07" * 28
SONG: AssetId = (b"\x5a" * 28, b"song")
ALWAYS_SUCCEEDS = bytes.fromhex("450101002499")  # (program 1.1.0 (lam ctx (con unit ())))

HOT = PaymentKey.derive("settlement hot key")
BATCHER = PaymentKey.derive("settlement batcher")
BUYER = PaymentKey.derive("settlement buyer")
BUYER_STAKE = PaymentKey.derive("settlement buyer stake").hash
ARTIST = PaymentKey.derive("settlement artist")
STRANGER = PaymentKey.derive("settlement stranger")

ADA = 1_000_000
SLOTS = SlotConfig(zero_time_ms=1_700_000_000_000, zero_slot=0, slot_length_ms=1000)
NOW = 100_000  # the slot transactions are built around
ORACLE_START_MS = SLOTS.slot_to_posix_ms(NOW - 3_600)
ORACLE_END_MS = SLOTS.slot_to_posix_ms(NOW + 3_600)
PRICE = 2723  # USD x 10^6 per whole NEWM
MARGIN = 500_000_000_000  # $0.50 x 10^12

# the purchase scenario of the queue and sale tests: BUNDLES bundles of 2 song tokens
FEE = 600_000
BUNDLES = 3
SOLD = 2 * BUNDLES
PROFIT = MARGIN // PRICE
INCENTIVE = 5_000_000
BOUND = 1_000_000  # the fee bounds, lovelace
VAULT_MINIMUM = 10 * ADA

PURCHASE, REFUND, CANCEL = (cbor2.dumps(cbor2.CBORTag(121 + i, [])) for i in range(3))
SALE_PURCHASE = PURCHASE  # the sale's Purchase is constructor 0 too
REMOVE_VAULT = cbor2.dumps(cbor2.CBORTag(123, []))


def add_to_vault(tokens: Sequence[Token]) -> bytes:
    return encode_plutus(constr(0, [[t.to_plutus() for t in tokens]]))


def sub_from_vault(tokens: Sequence[Token]) -> bytes:
    return encode_plutus(constr(1, [[t.to_plutus() for t in tokens]]))


def key_address(pkh: bytes, stake: bytes | None = None) -> bytes:
    return make_address(Credential.key(pkh), Credential.key(stake) if stake else None, 0)


def contract_address(script: bytes) -> bytes:
    return make_address(
        Credential.script(script_hash(3, script)), Credential.script(STAKE_SCRIPT), 0
    )


# -- the scripts -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Market:
    """One set of scripts behind the marketplace's queue, vault and sale addresses."""

    name: str
    queue: bytes
    vault: bytes
    sale: bytes

    @property
    def queue_address(self) -> bytes:
        return contract_address(self.queue)

    @property
    def vault_address(self) -> bytes:
        return contract_address(self.vault)

    @property
    def sale_address(self) -> bytes:
        return contract_address(self.sale)

    def reference_datum(self, margin: int = MARGIN) -> ReferenceDatum:
        return ReferenceDatum(
            hot_key=HOT.hash,
            keepers=Keepers((HOT.hash,), 1),
            staking=Staking(b"\x11" * 28, Wallet(HOT.hash)),
            contracts=Contracts(
                sale=script_hash(3, self.sale),
                queue=script_hash(3, self.queue),
                band=b"\x22" * 28,
                vault=script_hash(3, self.vault),
                stake=STAKE_SCRIPT,
            ),
            fees=Fees(BOUND, BOUND, BOUND),
            pointer=POINTER_POLICY,
            batcher_data=BatcherData(b"\x33" * 28, b"\x44" * 28, (b"",), BATCHER_POLICY),
            profit_data=ProfitData(FEED_SCRIPT, FEED_NFT[0], FEED_NFT[1], NEWM[0], NEWM[1], margin),
        )


STARTER_PARAMETERS = (cbor2.dumps(STARTER[0]), cbor2.dumps(STARTER[1]))


def own_market(*, traced: bool = True) -> Market:
    """Our queue and vault with NEWM's starter NFT applied; a sale script that always succeeds.
    `traced`: the builds that keep their failure messages, else the deployed (trace-free) ones."""
    sys.setrecursionlimit(max(sys.getrecursionlimit(), RECURSION_LIMIT))  # uplc's decoder recurses
    return Market(
        "own" if traced else "deployed",
        apply_parameters(load_script("queue", traced=traced), *STARTER_PARAMETERS),
        apply_parameters(load_script("vault", traced=traced), *STARTER_PARAMETERS),
        cbor2.dumps(ALWAYS_SUCCEEDS[1:]),
    )


def deployed_market() -> Market:
    """Our trace-free queue and vault, as the devnet deploys them."""
    return own_market(traced=False)


def newm_market() -> Market:
    """NEWM's deployed mainnet queue, vault and sale; skips when `../shared` does not hold them."""
    sys.setrecursionlimit(max(sys.getrecursionlimit(), RECURSION_LIMIT))  # uplc's decoder recurses
    scripts = []
    for name in ("queue", "vault", "sale"):
        path = NEWM_DIR / f"{name}.plutus"
        if not path.exists():
            message = f"NEWM's deployed scripts are not at {NEWM_DIR} (../shared is absent)"
            if interop_required():  # CI: the interop proof must run, not skip
                pytest.fail(message)
            pytest.skip(message)
        scripts.append(cbor2.loads(bytes.fromhex(json.loads(path.read_text())["cborHex"])))
    return Market("newm", *scripts)


# -- transactions ----------------------------------------------------------------------------------


def utxo(tag: int, output: TxOutput, index: int = 0) -> Utxo:
    """A resolved UTxO at out ref (tag repeated 32 times, index)."""
    ref = cbor2.dumps([bytes([tag]) * 32, index])
    return Utxo.from_cbor(b"\x82" + ref + output.to_cbor())


@dataclass
class Spend:
    utxo: Utxo
    redeemer: bytes | None = None  # CBOR data; None for a key-locked input


@dataclass
class Tx:
    """A transaction to evaluate: scripts go in the witness set, signers in required signers."""

    spends: list[Spend]
    outputs: list[TxOutput]
    references: list[Utxo] = field(default_factory=list)
    signers: list[bytes] = field(default_factory=list)
    fee: int = 600_000
    valid_from: int | None = NOW - 60  # slots
    valid_to: int | None = NOW + 60
    scripts: list[bytes] = field(default_factory=list)

    def replace(self, **changes: object) -> Tx:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def spend_index(self, out_ref: OutRef) -> int:
        return sorted(s.utxo.out_ref for s in self.spends).index(out_ref)

    def encode(self) -> bytes:
        inputs = sorted(s.utxo.out_ref for s in self.spends)
        extra: list[tuple[int, bytes]] = []
        if self.valid_from is not None:
            extra.append((8, cbor2.dumps(self.valid_from)))
        if self.signers:
            extra.append((14, cbor2.dumps(list(self.signers))))
        if self.references:
            extra.append((18, cbor2.dumps(sorted(list(u.out_ref) for u in self.references))))
        body = encode_body(
            inputs, [o.to_cbor() for o in self.outputs], self.fee, self.valid_to, extra
        )
        redeemers = sorted(
            (inputs.index(s.utxo.out_ref), s.redeemer)
            for s in self.spends
            if s.redeemer is not None
        )
        entries = encode_head(5, len(redeemers)) + b"".join(
            cbor2.dumps([0, ix]) + b"\x82" + data + cbor2.dumps([14_000_000, 10_000_000_000])
            for ix, data in redeemers
        )
        witnesses = [(5, entries)]
        if self.scripts:
            witnesses.append((7, cbor2.dumps(list(dict.fromkeys(self.scripts)))))
        witness_set = encode_head(5, len(witnesses)) + b"".join(
            cbor2.dumps(k) + v for k, v in witnesses
        )
        return encode_transaction(body, witness_set)

    def resolved(self) -> dict[OutRef, Utxo]:
        return {u.out_ref: u for u in [*(s.utxo for s in self.spends), *self.references]}


MARKETS: dict[str, Callable[[], Market]] = {
    "own": own_market,
    "deployed": deployed_market,
    "newm": newm_market,
}


def rejected(tx: Tx, market: Market, spent: Spend, reason: str) -> None:
    """Evaluation fails at the redeemer of `spent`; ours says `reason` in its trace."""
    with pytest.raises(ScriptFailure) as failure:
        evaluate(tx)
    assert failure.value.key == ("spend", tx.spend_index(spent.utxo.out_ref)), str(failure.value)
    if market.name == "own":
        assert any(reason in line for line in failure.value.trace), failure.value.trace


def evaluate(tx: Tx) -> dict[RedeemerKey, ExUnits]:
    """Run every redeemer's script: ex-units by redeemer, or the first ScriptFailure."""
    return evaluate_scripts(
        tx.encode(), tx.resolved(), default_parameters(), SLOTS, enforce_budget=False
    )


# -- the marketplace's UTxOs -----------------------------------------------------------------------


def reference_utxo(market: Market, margin: int = MARGIN) -> Utxo:
    datum = market.reference_datum(margin).to_cbor()
    address = make_address(Credential.script(REFERENCE_SCRIPT), None, 0)
    return utxo(0x01, TxOutput(address, Value.of(5 * ADA, {STARTER: 1}), inline_datum=datum))


def oracle_utxo(
    price: int = PRICE, start_ms: int = ORACLE_START_MS, end_ms: int = ORACLE_END_MS
) -> Utxo:
    address = make_address(Credential.script(FEED_SCRIPT), None, 0)
    datum = OracleDatum(price, start_ms, end_ms).to_cbor()
    return utxo(0x02, TxOutput(address, Value.of(2 * ADA, {FEED_NFT: 1}), inline_datum=datum))


def sale_datum(cost: Token | None = None) -> SaleDatum:
    cost = cost or Token(b"USD", b"", 1_000_000_000_000)  # $1 per bundle
    return SaleDatum(Wallet(ARTIST.hash), Token.of(SONG, 2), cost)


def sale_utxo(market: Market, songs: int = 10, cost: Token | None = None) -> Utxo:
    """A sale of `songs` song tokens in bundles of 2, holding its pointer token."""
    value = plus(Value.of(5 * ADA, {(POINTER_POLICY, POINTER_NAME): 1}), SONG, songs)
    datum = sale_datum(cost).to_cbor()
    return utxo(0x03, TxOutput(market.sale_address, value, inline_datum=datum))


def queue_datum(
    bundles: int = 3, incentive: int = 5_000_000, incentive_asset: AssetId = NEWM
) -> QueueDatum:
    return QueueDatum(
        Wallet(BUYER.hash, BUYER_STAKE), bundles, Token.of(incentive_asset, incentive), POINTER_NAME
    )


def unit_cost(cost: Token | None = None, price: int = PRICE) -> int:
    """What one bundle costs in NEWM base units (USD cost floored by the price)."""
    cost = cost or sale_datum().cost
    return cost.amount // price if cost.policy == b"USD" else cost.amount


def order_value(bundles: int = 3, incentive: int = 5_000_000, extra: int = 0) -> Value:
    """The queue UTxO of a USD order: lovelace, then NEWM for cost, profit and two incentives."""
    newm = unit_cost() * bundles + MARGIN // PRICE + 2 * incentive + extra
    return Value.of(4_504_110, {NEWM: newm})


def wrong_field(index: int, value: object) -> bytes:
    """The test QueueDatum with one field replaced."""
    fields = list(queue_datum().to_plutus().value)
    fields[index] = value
    return encode_plutus(constr(0, fields))


MALFORMED = {
    "three fields": encode_plutus(constr(0, [Wallet(BUYER.hash).to_plutus(), 3, b"x"])),
    "five fields": encode_plutus(
        constr(0, [*queue_datum().to_plutus().value, 0])  # one field too many
    ),
    "int pointer": wrong_field(3, 7),  # pointer_tkn an int
    "bytes bundles": wrong_field(1, b"3"),
    "wallet of three": wrong_field(0, constr(0, [BUYER.hash, b"", b""])),
    "wallet int key": wrong_field(0, constr(0, [7, b""])),
    "token of two": wrong_field(2, constr(0, [NEWM[0], NEWM[1]])),
    "token bytes amount": wrong_field(2, constr(0, [NEWM[0], NEWM[1], b"5"])),
    "token constructor 1": wrong_field(2, constr(1, [NEWM[0], NEWM[1], 5])),
    "constructor 1": encode_plutus(constr(1, queue_datum().to_plutus().value)),
    "bytes": encode_plutus(b"not a datum"),
}


def stray_address(script: bytes) -> bytes:
    """The script's address without the marketplace's stake credential."""
    return make_address(Credential.script(script_hash(3, script)), None, 0)


def queue_utxo(
    market: Market,
    value: Value | None = None,
    datum: bytes | None = None,
    tag: int = 0x04,
) -> Utxo:
    datum = queue_datum().to_cbor() if datum is None else datum
    output = TxOutput(market.queue_address, value or order_value(), inline_datum=datum)
    return utxo(tag, output)


def vault_utxo(market: Market, value: Value | None = None, datum: bytes | None = None) -> Utxo:
    datum = Wallet(BATCHER.hash).to_cbor() if datum is None else datum
    output = TxOutput(market.vault_address, value or Value(VAULT_MINIMUM), inline_datum=datum)
    return utxo(0x05, output)


def certificate_utxo(with_certificate: bool = True) -> Utxo:
    assets = {CERTIFICATE: 1} if with_certificate else {}
    return utxo(0x06, TxOutput(key_address(BATCHER.hash), Value.of(5 * ADA, assets)))


def plus(value: Value, asset: AssetId, amount: int) -> Value:
    """`value` with `amount` more (or, negative, less) of `asset`; ADA is (b"", b"")."""
    if asset == (b"", b""):
        return value.with_coin(value.coin + amount)
    assets = dict(value.assets)
    assets[asset] = assets.get(asset, 0) + amount
    return Value.of(value.coin, {a: q for a, q in assets.items() if q})
