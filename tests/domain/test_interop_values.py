"""Values and CIP-30 UTxOs we encode, read back by cardano-serialization-lib (what dApps use).

Each test draws a whole batch, then makes one node call for it: CSL must see the same coin, tokens,
address and datum we meant, and re-encode our bytes unchanged (so canonical order is CSL's too).
"""

from __future__ import annotations

from typing import Any

import cbor2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cardano_market.domain.cbor import encode_head
from cardano_market.domain.cip30 import Utxo
from cardano_market.domain.errors import CborError
from cardano_market.domain.values import MAX_UINT64, AssetId, Value
from interop.csl import CslInspect

pytestmark = pytest.mark.interop

BATCH = settings(
    max_examples=4,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- strategies ---------------------------------------------------------------------------------

# CBOR head-size boundaries, where an encoder picks a different width.
_EDGES = [0, 1, 23, 24, 255, 256, 65535, 65536, 2**32 - 1, 2**32, MAX_UINT64]
coins = st.integers(0, MAX_UINT64) | st.sampled_from(_EDGES)
quantities = st.integers(1, MAX_UINT64) | st.sampled_from([q for q in _EDGES if q > 0])
policies = st.binary(min_size=28, max_size=28) | st.sampled_from([b"\x00" * 28, b"\xff" * 28])
# Short names that share prefixes and differ in length make canonical order (length first) bite.
names = st.binary(max_size=32) | st.sampled_from(
    [b"", b"\x00", b"a", b"ab", b"b", b"\xff", b"a" * 32]
)


@st.composite
def values(draw: st.DrawFn) -> Value:
    multiasset = draw(
        st.dictionaries(policies, st.dictionaries(names, quantities, max_size=4), max_size=5)
    )
    assets: dict[AssetId, int] = {
        (policy, name): qty
        for policy, by_name in multiasset.items()
        for name, qty in by_name.items()
    }
    return Value.of(draw(coins), assets)


@st.composite
def addresses(draw: st.DrawFn) -> bytes:
    """Shelley base (key/script in both parts) and enterprise addresses, mainnet or testnet."""
    network = draw(st.sampled_from([0, 1]))
    kind = draw(st.sampled_from([0, 1, 2, 3, 6, 7]))
    payment = draw(st.binary(min_size=28, max_size=28))
    stake = draw(st.binary(min_size=28, max_size=28)) if kind < 4 else b""
    return bytes([(kind << 4) | network]) + payment + stake


def _array(items: list[bytes], indefinite: bool) -> bytes:
    if indefinite:
        return b"\x9f" + b"".join(items) + b"\xff"
    return encode_head(4, len(items)) + b"".join(items)


def _constr_tag(index: int) -> bytes:
    return encode_head(6, 121 + index if index < 7 else 1280 + index - 7)


@st.composite
def plutus_data(draw: st.DrawFn, depth: int = 2) -> bytes:
    """Raw CBOR of Plutus data, definite or indefinite lists: CSL must keep the exact bytes."""
    leaf = st.one_of(
        st.integers(-(2**70), 2**70).map(cbor2.dumps),
        st.binary(max_size=64).map(cbor2.dumps),
    )
    if depth == 0:
        return draw(leaf)
    child = plutus_data(depth=depth - 1)
    kind = draw(st.sampled_from(["leaf", "constr", "list", "map"]))
    if kind == "leaf":
        return draw(leaf)
    if kind == "map":
        keys = draw(st.lists(st.integers(-1000, 1000), max_size=3, unique=True))
        pairs = [cbor2.dumps(k) + draw(child) for k in keys]
        return encode_head(5, len(pairs)) + b"".join(pairs)
    fields = draw(st.lists(child, max_size=3))
    body = _array(fields, indefinite=draw(st.booleans()))
    if kind == "list":
        return body
    return _constr_tag(draw(st.integers(0, 9))) + body


def _tag24(raw: bytes) -> cbor2.CBORTag:
    return cbor2.CBORTag(24, raw)


@st.composite
def utxo_hexes(draw: st.DrawFn) -> str:
    """CIP-30 TransactionUnspentOutput hex, legacy or map output, via our own `Utxo`."""
    tx_hash = draw(st.binary(min_size=32, max_size=32))
    index = draw(st.integers(0, 2**16 - 1))
    address = draw(addresses())
    amount = draw(values()).to_primitive()
    form = draw(st.sampled_from(["legacy", "legacy+hash", "map", "map+hash", "map+inline"]))
    output: Any
    if form == "legacy":
        output = [address, amount]
    elif form == "legacy+hash":
        output = [address, amount, draw(st.binary(min_size=32, max_size=32))]
    else:
        output = {0: address, 1: amount}
        if form == "map+hash":
            output[2] = [0, draw(st.binary(min_size=32, max_size=32))]
        elif form == "map+inline":
            output[2] = [1, _tag24(draw(plutus_data()))]
        if draw(st.booleans()):
            # A native script (signature of one key) as the script reference.
            key_hash = draw(st.binary(min_size=28, max_size=28))
            output[3] = _tag24(cbor2.dumps([0, [0, key_hash]]))
    raw = cbor2.dumps([[tx_hash, index], output])
    return Utxo.from_cbor(raw).to_cbor_hex()


# -- helpers ------------------------------------------------------------------------------------


def _assets_of(multiasset: dict[str, dict[str, str]]) -> dict[AssetId, int]:
    return {
        (bytes.fromhex(policy), bytes.fromhex(name)): int(qty)
        for policy, by_name in multiasset.items()
        for name, qty in by_name.items()
    }


def _ok(result: dict[str, Any], what: str) -> dict[str, Any]:
    assert "error" not in result, f"CSL rejected {what}: {result['error']}"
    return result


def _fields(utxo: Utxo) -> tuple[Any, ...]:
    """A UTxO's meaning, its output's encoding aside."""
    return (
        utxo.out_ref,
        utxo.address,
        utxo.value,
        utxo.datum_hash,
        utxo.inline_datum,
        utxo.script_ref,
    )


def _bech32(address: bytes) -> str:
    from pycardano import Address  # an independent bech32 encoder; slow import, tests only

    return str(Address.from_primitive(address).encode())


# -- values -------------------------------------------------------------------------------------


@BATCH
@given(st.lists(values(), min_size=50, max_size=60))
def test_csl_reads_our_values_and_reencodes_them_byte_for_byte(
    csl: CslInspect, batch: list[Value]
) -> None:
    batch = [*batch, Value.of(0), Value.of(MAX_UINT64)]
    results = csl([{"kind": "value", "hex": v.to_cbor_hex()} for v in batch])
    for value, result in zip(batch, results, strict=True):
        ours = value.to_cbor_hex()
        _ok(result, ours)
        assert int(result["coin"]) == value.coin
        assert _assets_of(result["multiasset"]) == dict(value.assets)
        assert result["hex"] == ours, "CSL re-encodes our value differently: order or widths"


_P = b"\x00" * 28
_MALFORMED: dict[str, bytes] = {
    "empty input": b"",
    "truncated uint": bytes.fromhex("1a0001"),
    "truncated array": bytes.fromhex("8201"),
    "negative coin": cbor2.dumps(-1),
    "coin above 2^64-1": cbor2.dumps(2**64),
    "bignum coin": cbor2.dumps(2**70),
    "three-element array": cbor2.dumps([1, {}, 2]),
    "one-element array": cbor2.dumps([1]),
    "text coin": cbor2.dumps(["1", {}]),
    "multiasset as array": cbor2.dumps([1, []]),
    "27-byte policy": cbor2.dumps([1, {b"\x00" * 27: {b"a": 1}}]),
    "29-byte policy": cbor2.dumps([1, {b"\x00" * 29: {b"a": 1}}]),
    "text policy": cbor2.dumps([1, {"x" * 28: {b"a": 1}}]),
    "33-byte asset name": cbor2.dumps([1, {_P: {b"\x00" * 33: 1}}]),
    "text asset name": cbor2.dumps([1, {_P: {"a": 1}}]),
    "negative quantity": cbor2.dumps([1, {_P: {b"a": -1}}]),
    "quantity above 2^64-1": cbor2.dumps([1, {_P: {b"a": 2**64}}]),
    "policy maps to array": cbor2.dumps([1, {_P: [1]}]),
    "bool": cbor2.dumps(True),
    "float": cbor2.dumps(1.5),
    "null": cbor2.dumps(None),
    "byte string": cbor2.dumps(b"\x01"),
    "tagged array": cbor2.dumps(cbor2.CBORTag(258, [1, {}])),
}

# Duplicate map keys: CSL rejects them; cbor2 alone would keep the last entry and drop tokens,
# so values.py counts map entries when the bytes are not what re-encoding gives.
_DUPLICATE_KEYS: dict[str, bytes] = {
    "duplicate policy": bytes.fromhex(
        "8201a2" + "581c" + _P.hex() + "a1416101" + "581c" + _P.hex() + "a1416202"
    ),
    "duplicate asset name": bytes.fromhex("8201a1" + "581c" + _P.hex() + "a2416101416102"),
}


def _ours_rejects(raw: bytes) -> bool:
    try:
        Value.from_cbor(raw)
    except CborError:
        return True
    return False


def test_value_from_cbor_rejects_what_csl_rejects(csl: CslInspect) -> None:
    results = csl([{"kind": "value", "hex": raw.hex()} for raw in _MALFORMED.values()])
    for (case, raw), result in zip(_MALFORMED.items(), results, strict=True):
        assert "error" in result, f"{case}: CSL accepted {raw.hex()}, the table is wrong"
        assert _ours_rejects(raw), f"{case}: CSL rejects {raw.hex()} ({result['error']}), we accept"
    # Hex that is not hex: CSL's harness and our decoder both refuse it.
    assert "error" in csl([{"kind": "value", "hex": "zz"}])[0]
    with pytest.raises(CborError):
        Value.from_cbor("zz")


@pytest.mark.parametrize("case", sorted(_DUPLICATE_KEYS))
def test_value_from_cbor_rejects_duplicate_keys_like_csl(csl: CslInspect, case: str) -> None:
    raw = _DUPLICATE_KEYS[case]
    (result,) = csl([{"kind": "value", "hex": raw.hex()}])
    assert "Duplicate key" in result.get("error", ""), f"CSL accepted {case}"
    assert _ours_rejects(raw), f"{case}: CSL rejects {raw.hex()}, we accept"


# -- CIP-30 UTxOs -------------------------------------------------------------------------------


@BATCH
@given(st.lists(utxo_hexes(), min_size=30, max_size=40))
def test_csl_reads_our_cip30_utxos(csl: CslInspect, batch: list[str]) -> None:
    results = csl([{"kind": "utxo", "hex": h} for h in batch])
    for utxo_hex, result in zip(batch, results, strict=True):
        _ok(result, utxo_hex)
        utxo = Utxo.from_cbor(utxo_hex)
        assert result["input"] == f"{utxo.tx_hash.hex()}#{utxo.index}"
        assert result["addressHex"] == utxo.address.hex()
        assert result["address"] == _bech32(utxo.address)
        assert int(result["coin"]) == utxo.value.coin
        assert _assets_of(result["multiasset"]) == dict(utxo.value.assets)
        assert result["hasInlineDatum"] == (utxo.inline_datum is not None)
        if utxo.inline_datum is not None:
            assert result["inlineDatumHex"] == utxo.inline_datum.hex()
        assert result["dataHash"] == (utxo.datum_hash.hex() if utxo.datum_hash else None)
        assert result["hasScriptRef"] == (utxo.script_ref is not None)
        # CSL writes an output as a legacy array whenever it has no inline datum and no script
        # reference, whatever form it came in: the same output, other bytes. Otherwise: same bytes.
        reread = Utxo.from_cbor(result["hex"])
        assert _fields(reread) == _fields(utxo)
        if utxo.output_cbor[0] >> 5 == 4 or utxo.inline_datum or utxo.script_ref:
            assert result["hex"] == utxo_hex, "CSL re-encodes our UTxO differently"


def test_csl_and_we_agree_on_a_malformed_utxo(csl: CslInspect) -> None:
    good = cbor2.dumps([[b"\x11" * 32, 0], [b"\x61" + b"\x22" * 28, 5]])
    bad = {
        "31-byte tx hash": cbor2.dumps([[b"\x11" * 31, 0], [b"\x61" + b"\x22" * 28, 5]]),
        "output is a uint": cbor2.dumps([[b"\x11" * 32, 0], 5]),
        "bad amount": cbor2.dumps([[b"\x11" * 32, 0], [b"\x61" + b"\x22" * 28, -5]]),
        "truncated": good[:-1],
        # {0: addr, 1: 5, 1: 6}: which amount counts would be anyone's guess.
        "duplicate output key": bytes.fromhex("82825820" + "11" * 32 + "00a300581d61" + "22" * 28)
        + bytes.fromhex("01050106"),
    }
    results = csl([{"kind": "utxo", "hex": raw.hex()} for raw in [good, *bad.values()]])
    _ok(results[0], good.hex())
    for (case, raw), result in zip(bad.items(), results[1:], strict=True):
        assert "error" in result, f"{case}: CSL accepted it"
        with pytest.raises(CborError):
            Utxo.from_cbor(raw)


# -- the harness's transaction reading ----------------------------------------------------------


def test_csl_harness_reads_a_transaction(csl: CslInspect) -> None:
    """The `tx` request that builder tests rely on: id, fee, ttl, outputs, min fee, min ADA."""
    from pycardano import (
        Address,
        Network,
        PaymentSigningKey,
        RawPlutusData,
        Transaction,
        TransactionBody,
        TransactionId,
        TransactionInput,
        TransactionOutput,
        TransactionWitnessSet,
        VerificationKeyWitness,
    )
    from pycardano import MultiAsset as PyMultiAsset
    from pycardano import Value as PyValue

    key = PaymentSigningKey.from_cbor(cbor2.dumps(b"\x07" * 32).hex())
    vkey = key.to_verification_key()
    address = Address(vkey.hash(), network=Network.MAINNET)
    policy = bytes(range(28))
    tokens = Value.of(3_000_000, {(policy, b"ab"): 5, (policy, b""): 7})
    datum = bytes.fromhex("d8799f01427878ff")  # indefinite Constr 0 [1, "xx"]
    outputs = [
        TransactionOutput(address, 2_000_000),
        TransactionOutput(
            address,
            PyValue(tokens.coin, PyMultiAsset.from_primitive(tokens.policies())),
            datum=RawPlutusData(cbor2.loads(datum)),
        ),
    ]
    inputs = [TransactionInput(TransactionId(b"\x01" * 32), 3)]
    body = TransactionBody(inputs=inputs, outputs=outputs, fee=180_000, ttl=12_345)
    witness = VerificationKeyWitness(vkey, key.sign(body.hash()))
    tx = Transaction(body, TransactionWitnessSet(vkey_witnesses=[witness]))
    (result,) = csl(
        [
            {
                "kind": "tx",
                "hex": tx.to_cbor_hex(),
                "linearFee": {"coefficient": "44", "constant": "155381"},
                "coinsPerUtxoByte": "4310",
            }
        ]
    )
    _ok(result, "a pycardano transaction")
    assert result["txId"] == str(tx.id)
    assert result["bodyHex"] == body.to_cbor_hex()
    assert (result["fee"], result["ttl"], result["validityStart"]) == ("180000", "12345", None)
    assert result["inputs"] == [f"{'01' * 32}#3"]
    assert result["vkeyWitnesses"] == 1
    assert [o["address"] for o in result["outputs"]] == [str(address)] * 2
    assert [int(o["coin"]) for o in result["outputs"]] == [2_000_000, 3_000_000]
    assert _assets_of(result["outputs"][1]["multiasset"]) == dict(tokens.assets)
    assert result["outputs"][1]["inlineDatumHex"] == datum.hex()
    assert not result["outputs"][0]["hasInlineDatum"]
    # CSL prices its own re-encoding, where every set carries tag 258 (3 bytes per set here:
    # inputs and vkey witnesses, both untagged in pycardano's bytes).
    assert result["setTags"] == "AllSetsHaveNoTag"
    assert result["reencodedSize"] == result["size"] + 2 * 3
    assert int(result["minFee"]) == 44 * result["reencodedSize"] + 155381
    # Babbage min ADA: coinsPerUTxOByte * (160 + |output|), the coins already at their final width.
    assert [int(m) for m in result["minAdaPerOutput"]] == [
        4310 * (160 + len(o.to_cbor())) for o in outputs
    ]
