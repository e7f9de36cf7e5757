"""Plutus datums: locked hex vectors, pycardano cross-checks, round trips, and named errors."""

from __future__ import annotations

import dataclasses
import json
import re
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pycardano import Address, PlutusData, RawPlutusData

from cardano_market.domain.address import bech32_decode, decode_address
from cardano_market.domain.cbor import encode_head
from cardano_market.domain.datums import (
    DEFAULT_MAX_BUNDLE_SIZE,
    USD,
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
    VaultDatum,
    Wallet,
    address_from_wallet,
    wallet_from_address,
)
from cardano_market.domain.errors import AddressError, DatumError
from cardano_market.domain.plutus_data import (
    PlutusRecord,
    constr,
    constr_of,
    encode_plutus,
    load_plutus,
)
from cardano_market.domain.values import ADA

VECTORS = Path(__file__).resolve().parents[2] / "fixtures" / "vectors" / "datums.json"
RECORD_TYPES: dict[str, type[PlutusRecord]] = {
    cls.__name__: cls
    for cls in (
        Wallet,
        Token,
        SaleDatum,
        QueueDatum,
        OracleDatum,
        ReferenceDatum,
        Keepers,
        Staking,
        Contracts,
        Fees,
        BatcherData,
        ProfitData,
    )
}

# CIP-19 test key hashes and addresses (see tests/domain/test_address.py).
PKH = bytes.fromhex("9493315cd92eb5d8c4304e67b7e16ae36d61d34502694657811a2c8e")
SKH = bytes.fromhex("337b62cfff6403a06a3acbc34f8c46003c69fe79a3628cefa9c47251")
CIP19_HEX = {
    0: "01" + PKH.hex() + SKH.hex(),
    1: "11c37b1b5dc0669f1d3c61a6fddb2e8fde96be87b881c60bce8e8d542f" + SKH.hex(),
    2: "21" + PKH.hex() + "c37b1b5dc0669f1d3c61a6fddb2e8fde96be87b881c60bce8e8d542f",
    3: "31" + "c37b1b5dc0669f1d3c61a6fddb2e8fde96be87b881c60bce8e8d542f" * 2,
    4: "41" + PKH.hex() + "8198bd431b03",
    5: "51c37b1b5dc0669f1d3c61a6fddb2e8fde96be87b881c60bce8e8d542f8198bd431b03",
    6: "61" + PKH.hex(),
    7: "71c37b1b5dc0669f1d3c61a6fddb2e8fde96be87b881c60bce8e8d542f",
}


# -- helpers: independent readers and writers of the data model ----------------------------------


def from_detailed(node: dict[str, Any]) -> Any:
    """cardano-cli's detailed JSON schema -> CBOR data model."""
    if "constructor" in node:
        return constr(node["constructor"], [from_detailed(f) for f in node["fields"]])
    if "int" in node:
        return node["int"]
    if "bytes" in node:
        return bytes.fromhex(node["bytes"])
    if "list" in node:
        return [from_detailed(x) for x in node["list"]]
    return {from_detailed(e["k"]): from_detailed(e["v"]) for e in node["map"]}


def to_detailed(data: Any) -> dict[str, Any]:
    """CBOR data model (as cbor2 or pycardano decode it) -> detailed JSON schema."""
    if isinstance(data, cbor2.CBORTag):
        if 121 <= data.tag <= 127:
            index, fields = data.tag - 121, data.value
        elif 1280 <= data.tag <= 1400:
            index, fields = data.tag - 1280 + 7, data.value
        else:
            assert data.tag == 102
            index, fields = data.value
        return {"constructor": index, "fields": [to_detailed(f) for f in fields]}
    if isinstance(data, bytes):
        return {"bytes": data.hex()}
    if isinstance(data, int):
        return {"int": data}
    if isinstance(data, (list, tuple)):
        return {"list": [to_detailed(x) for x in data]}
    assert isinstance(data, dict)
    return {"map": [{"k": to_detailed(k), "v": to_detailed(v)} for k, v in data.items()]}


def build(cls: type[Any], value: dict[str, Any]) -> Any:
    """A record from the vector file's `value` (bytes as hex, nested records as objects)."""
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        hint, item = hints[field.name], value[field.name]
        if hint is bytes:
            kwargs[field.name] = bytes.fromhex(item)
        elif hint is int:
            kwargs[field.name] = item
        elif dataclasses.is_dataclass(hint):
            kwargs[field.name] = build(typing.cast(type[Any], hint), item)
        else:
            assert hint == tuple[bytes, ...]
            kwargs[field.name] = tuple(bytes.fromhex(x) for x in item)
    return cls(**kwargs)


def indefinite(data: Any) -> bytes:
    """The same data with indefinite-length arrays, maps and byte strings (7-byte chunks)."""
    if isinstance(data, cbor2.CBORTag):
        return encode_head(6, data.tag) + indefinite(data.value)
    if isinstance(data, list):
        return b"\x9f" + b"".join(indefinite(x) for x in data) + b"\xff"
    if isinstance(data, dict):
        pairs = b"".join(indefinite(k) + indefinite(v) for k, v in data.items())
        return b"\xbf" + pairs + b"\xff"
    if isinstance(data, bytes):
        chunks = b"".join(cbor2.dumps(data[i : i + 7]) for i in range(0, len(data), 7))
        return b"\x5f" + chunks + b"\xff"
    return cbor2.dumps(data)


def general_form(data: Any) -> Any:
    """Every constructor rewritten in the general tag-102 form."""
    if isinstance(data, cbor2.CBORTag):
        index, fields = constr_of(data, "test")
        return cbor2.CBORTag(102, [index, [general_form(f) for f in fields]])
    if isinstance(data, list):
        return [general_form(x) for x in data]
    if isinstance(data, dict):
        return {general_form(k): general_form(v) for k, v in data.items()}
    return data


# -- the locked vectors ----------------------------------------------------------------------------

VECTOR_LIST = json.loads(VECTORS.read_text())["vectors"]


@pytest.mark.parametrize("vector", VECTOR_LIST, ids=[v["name"] for v in VECTOR_LIST])
def test_vector(vector: dict[str, Any]) -> None:
    raw = bytes.fromhex(vector["cbor"])
    data = from_detailed(vector["plutus_json"])
    # pycardano, an independent decoder, reads the same structure from our bytes.
    assert to_detailed(RawPlutusData.from_cbor(raw).data) == vector["plutus_json"]
    if vector["type"] == "PlutusData":
        assert encode_plutus(data) == raw
        assert load_plutus(vector["cbor"]) == data
        return
    cls = RECORD_TYPES[vector["type"]]
    obj = build(cls, vector["value"])
    assert obj.to_cbor() == raw
    assert obj.to_cbor_hex() == vector["cbor"]
    assert obj.to_plutus() == data
    assert cls.from_cbor(vector["cbor"]) == obj
    assert cls.from_cbor(raw) == obj
    assert cls.from_cbor(indefinite(data)) == obj
    assert cls.from_plutus(general_form(data)) == obj


def test_vectors_cover_every_datum_type() -> None:
    types = {v["type"] for v in VECTOR_LIST}
    assert {"Wallet", "Token", "SaleDatum", "QueueDatum", "OracleDatum", "ReferenceDatum"} <= types
    assert "PlutusData" in types


def test_known_bytes_by_hand() -> None:
    # Wallet with an enterprise owner: tag 121, 2-element definite array, 28 bytes, empty bytes.
    assert Wallet(PKH, b"").to_cbor() == bytes.fromhex("d87982581c") + PKH + b"\x40"
    # Token ADA 2: d879 83 40 40 02
    assert Token(b"", b"", 2).to_cbor().hex() == "d8798340" + "4002"
    # Charli3 shape: Constr 0 [Constr 2 [{0: 2723, 1: 1, 2: 2}]]
    oracle = OracleDatum(2723, 1, 2).to_cbor().hex()
    assert oracle == "d87981" + "d87b81" + "a3" + "00190aa3" + "0101" + "0202"
    assert (
        SaleDatum(Wallet(PKH), Token.of(ADA, 1), Token.of(USD, 1))
        .to_cbor()
        .endswith(bytes.fromhex("1b7fffffffffffffff"))
    )


# -- pycardano's typed decoding agrees ------------------------------------------------------------


@dataclass
class PWallet(PlutusData):  # type: ignore[misc]
    CONSTR_ID = 0
    pkh: bytes
    sc: bytes


@dataclass
class PToken(PlutusData):  # type: ignore[misc]
    CONSTR_ID = 0
    pid: bytes
    tkn: bytes
    amt: int


@dataclass
class PSale(PlutusData):  # type: ignore[misc]
    CONSTR_ID = 0
    owner: PWallet
    bundle: PToken
    cost: PToken
    max_bundle_size: int


@dataclass
class PQueue(PlutusData):  # type: ignore[misc]
    CONSTR_ID = 0
    owner: PWallet
    number_of_bundles: int
    incentive: PToken
    pointer_tkn: bytes


def _pw(w: Wallet) -> PWallet:
    return PWallet(w.pkh, w.sc)


def _pt(t: Token) -> PToken:
    return PToken(t.policy, t.name, t.amount)


# -- hypothesis strategies -----------------------------------------------------------------------

h28 = st.binary(min_size=28, max_size=28)
names = st.binary(max_size=32)
ints = st.integers(min_value=-(2**72), max_value=2**72)  # includes CBOR bignums
ints64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
wallets = st.builds(Wallet, h28, st.one_of(st.just(b""), h28))


def tokens(amounts: st.SearchStrategy[int] = ints) -> st.SearchStrategy[Token]:
    return st.one_of(
        st.builds(Token, st.just(b""), st.just(b""), amounts),
        st.builds(Token, st.just(b"USD"), st.just(b""), amounts),
        st.builds(Token, h28, names, amounts),
    )


def sales(amounts: st.SearchStrategy[int] = ints) -> st.SearchStrategy[SaleDatum]:
    return st.builds(SaleDatum, wallets, tokens(amounts), tokens(amounts), amounts)


def queues(amounts: st.SearchStrategy[int] = ints) -> st.SearchStrategy[QueueDatum]:
    pointer = st.binary(min_size=32, max_size=32)
    return st.builds(QueueDatum, wallets, amounts, tokens(amounts), pointer)


references = st.builds(
    ReferenceDatum,
    h28,
    st.builds(Keepers, st.lists(h28, max_size=5).map(tuple), ints),
    st.builds(Staking, h28, wallets),
    st.builds(Contracts, h28, h28, h28, h28, h28),
    st.builds(Fees, ints, ints, ints),
    h28,
    st.builds(BatcherData, h28, h28, st.lists(names, max_size=4).map(tuple), h28),
    st.builds(ProfitData, h28, h28, names, st.one_of(st.just(b""), h28), names, ints),
)
oracles = st.builds(OracleDatum, ints, ints, ints)
records = st.one_of(wallets, tokens(), sales(), queues(), oracles, references)


@given(records)
def test_round_trip_and_both_array_forms(record: PlutusRecord) -> None:
    cls = type(record)
    raw = record.to_cbor()
    assert cls.from_cbor(raw) == record
    assert cls.from_cbor(raw.hex()) == record
    # Decoding the indefinite-length form gives the same record as the definite form.
    assert cls.from_cbor(indefinite(record.to_plutus())) == cls.from_cbor(raw)
    assert cls.from_plutus(general_form(record.to_plutus())) == record
    # cbor2 also writes definite-length arrays: with no byte string over 64 bytes, same bytes.
    assert raw == cbor2.dumps(record.to_plutus())


@given(sales(ints64))
def test_sale_datum_agrees_with_pycardano(sale: SaleDatum) -> None:
    theirs = PSale(_pw(sale.owner), _pt(sale.bundle), _pt(sale.cost), sale.max_bundle_size)
    assert PSale.from_cbor(sale.to_cbor()) == theirs
    assert SaleDatum.from_cbor(theirs.to_cbor()) == sale  # pycardano writes indefinite arrays


@given(queues(ints64))
def test_queue_datum_agrees_with_pycardano(queue: QueueDatum) -> None:
    theirs = PQueue(
        _pw(queue.owner), queue.number_of_bundles, _pt(queue.incentive), queue.pointer_name
    )
    assert PQueue.from_cbor(queue.to_cbor()) == theirs
    assert QueueDatum.from_cbor(theirs.to_cbor()) == queue


@given(st.one_of(oracles, references))
def test_other_datums_agree_with_pycardano_raw_data(record: OracleDatum | ReferenceDatum) -> None:
    assert RawPlutusData.from_cbor(record.to_cbor()).data == record.to_plutus()
    assert type(record).from_cbor(RawPlutusData(record.to_plutus()).to_cbor()) == record


# -- the encoder's general rules -------------------------------------------------------------------


@given(st.binary(max_size=300))
def test_long_byte_strings_are_chunked_by_64(data: bytes) -> None:
    encoded = encode_plutus(data)
    if len(data) <= 64:
        assert encoded == cbor2.dumps(data)
    else:
        chunks = [data[i : i + 64] for i in range(0, len(data), 64)]
        assert encoded == b"\x5f" + b"".join(cbor2.dumps(c) for c in chunks) + b"\xff"
    assert load_plutus(encoded) == data


@given(st.integers(min_value=-(2**1200), max_value=2**1200))
def test_integers_round_trip_with_bignum_bytes_chunked(value: int) -> None:
    encoded = encode_plutus(value)
    assert load_plutus(encoded) == value
    if -(2**64) <= value < 2**64:
        assert encoded == cbor2.dumps(value)
    else:
        magnitude = value if value > 0 else -1 - value
        body = magnitude.to_bytes((magnitude.bit_length() + 7) // 8, "big")
        assert encoded == bytes([0xC2 if value > 0 else 0xC3]) + encode_plutus(body)


@pytest.mark.parametrize(
    ("index", "tag", "value"),
    [(0, 121, []), (6, 127, []), (7, 1280, []), (127, 1400, []), (128, 102, [128, []])],
)
def test_constructor_tags(index: int, tag: int, value: list[Any]) -> None:
    data = constr(index, [])
    assert (data.tag, data.value) == (tag, value)
    assert constr_of(load_plutus(encode_plutus(data)), "x") == (index, [])


def test_encoder_rejects_what_is_not_plutus_data() -> None:
    with pytest.raises(DatumError, match="bool"):
        encode_plutus(constr(0, [True]))
    with pytest.raises(DatumError, match="str is not Plutus data"):
        encode_plutus(["text"])
    with pytest.raises(DatumError, match="CBOR tag 24, which is not a Plutus constructor"):
        encode_plutus(cbor2.CBORTag(24, b""))
    with pytest.raises(DatumError, match="non-negative"):
        constr(-1, [])


# -- decoding errors name the field ----------------------------------------------------------------

GOOD_SALE = SaleDatum(Wallet(PKH, SKH), Token(b"\x01" * 28, b"SONG", 10), Token.of(USD, 5))


def _sale_with(path: tuple[int, ...], value: Any) -> bytes:
    data = GOOD_SALE.to_plutus()
    node = data
    for step in path[:-1]:
        node = node.value[step]
    node.value[path[-1]] = value
    return encode_plutus(data)


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ((0, 0), PKH[:-1], "SaleDatum.owner.pkh must be 28 bytes, got 27"),
        ((0, 1), b"\x00" * 5, "SaleDatum.owner.sc must be 0 or 28 bytes, got 5"),
        ((0, 1), 7, "SaleDatum.owner.sc must be a byte string, got an integer"),
        ((1, 0), b"\x01" * 27, "SaleDatum.bundle.policy must be empty \\(ADA\\), b'USD' or 28"),
        ((1, 1), b"x" * 33, "SaleDatum.bundle.name must be at most 32 bytes, got 33"),
        ((1, 2), b"10", "SaleDatum.bundle.amount must be an integer, got a byte string"),
        ((2, 1), b"x", "SaleDatum.cost.name must be empty for USD"),
        ((3,), [], "SaleDatum.max_bundle_size must be an integer, got a list"),
        ((0,), b"", "SaleDatum.owner must be a Plutus constructor, got a byte string"),
        ((0,), constr(1, [PKH, b""]), "SaleDatum.owner must be constructor 0, got constructor 1"),
        ((0,), constr(0, [PKH]), "SaleDatum.owner must have 2 fields, got 1"),
    ],
)
def test_sale_datum_errors_name_the_field(path: tuple[int, ...], value: Any, message: str) -> None:
    with pytest.raises(DatumError, match=message):
        SaleDatum.from_cbor(_sale_with(path, value))


def test_queue_datum_pointer_must_be_32_bytes() -> None:
    good = QueueDatum(Wallet(PKH), 1, Token.of(ADA, 1), b"\x00" * 32)
    data = good.to_plutus()
    data.value[3] = b"\x00" * 31
    with pytest.raises(
        DatumError, match=re.escape("QueueDatum.pointer_name must be 32 bytes, got 31")
    ):
        QueueDatum.from_cbor(encode_plutus(data))
    data.value.append(0)
    with pytest.raises(DatumError, match="QueueDatum must have 4 fields, got 5"):
        QueueDatum.from_cbor(encode_plutus(data))


def test_reference_datum_errors_name_nested_fields() -> None:
    vector = next(v for v in VECTOR_LIST if v["type"] == "ReferenceDatum")
    data = from_detailed(vector["plutus_json"])
    data.value[1].value[0][1] = b"\x00" * 27  # the second keeper
    with pytest.raises(DatumError, match=r"ReferenceDatum.keepers.pkhs\[1\] must be 28 bytes"):
        ReferenceDatum.from_cbor(encode_plutus(data))
    data = from_detailed(vector["plutus_json"])
    data.value[7].value[3] = b"\x00" * 3
    with pytest.raises(
        DatumError, match=re.escape("ReferenceDatum.profit_data.profit_pid must be 0 or 28")
    ):
        ReferenceDatum.from_cbor(encode_plutus(data))
    data = from_detailed(vector["plutus_json"])
    data.value[2].value[1].value[0] = b""
    with pytest.raises(
        DatumError, match=re.escape("ReferenceDatum.staking.reward_wallet.pkh must be 28")
    ):
        ReferenceDatum.from_cbor(encode_plutus(data))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (constr(0, [constr(2, [{0: 1, 1: 2}])]), "exactly the keys 0, 1, 2, got 0, 1"),
        (constr(0, [constr(2, [{0: 1, 1: 2, 2: 3, 3: 4}])]), "exactly the keys 0, 1, 2"),
        (constr(0, [constr(2, [{0: 1, True: 2, 2: 3}])]), "exactly the keys 0, 1, 2"),
        (
            constr(0, [constr(2, [{0: 1, 1: b"", 2: 3}])]),
            "OracleDatum.start_ms must be an integer, got a byte string",
        ),
        (
            constr(0, [constr(1, [{0: 1, 1: 2, 2: 3}])]),
            "OracleDatum.price_data must be constructor 2, got constructor 1",
        ),
        (constr(0, [constr(2, [[1, 2, 3]])]), "OracleDatum.price_data must be a map, got a list"),
    ],
)
def test_oracle_datum_errors(data: Any, message: str) -> None:
    with pytest.raises(DatumError, match=message):
        OracleDatum.from_plutus(data)


def test_malformed_input_errors() -> None:
    wallet = Wallet(PKH).to_cbor()
    with pytest.raises(DatumError, match="Wallet is not valid hex"):
        Wallet.from_cbor("zz")
    with pytest.raises(DatumError, match="Wallet has 1 bytes after its CBOR item"):
        Wallet.from_cbor(wallet + b"\x00")
    with pytest.raises(DatumError, match="Wallet is not well-formed CBOR"):
        Wallet.from_cbor(wallet[:-1])
    with pytest.raises(DatumError, match="Wallet is not well-formed CBOR"):
        Wallet.from_cbor(b"")
    with pytest.raises(DatumError, match="CBOR tag 24, which is not a Plutus constructor"):
        Wallet.from_cbor(cbor2.dumps(cbor2.CBORTag(24, [PKH, b""])))
    with pytest.raises(DatumError, match="tag 102 must hold \\[index, fields\\]"):
        Wallet.from_cbor(cbor2.dumps(cbor2.CBORTag(102, [0])))
    with pytest.raises(DatumError, match="Wallet constructor fields must be an array"):
        Wallet.from_cbor(cbor2.dumps(cbor2.CBORTag(121, b"")))
    with pytest.raises(DatumError, match=re.escape("Token.amount must be an integer, got a bool")):
        Token.from_cbor(cbor2.dumps(cbor2.CBORTag(121, [b"", b"", True])))


def test_constructors_validate_too() -> None:
    with pytest.raises(DatumError, match=re.escape("Wallet.pkh must be 28 bytes, got 27")):
        Wallet(PKH[:-1])
    with pytest.raises(DatumError, match=re.escape("Token.name must be empty for ADA")):
        Token(b"", b"x", 1)
    with pytest.raises(
        DatumError, match=re.escape("QueueDatum.pointer_name must be 32 bytes, got 0")
    ):
        QueueDatum(Wallet(PKH), 1, Token.of(ADA, 1), b"")
    with pytest.raises(DatumError, match=r"Keepers.pkhs\[0\] must be a byte string"):
        Keepers(("ab",), 1)  # type: ignore[arg-type]
    with pytest.raises(
        DatumError, match=re.escape("OracleDatum.price must be an integer, got float")
    ):
        OracleDatum(0.5, 0, 1)  # type: ignore[arg-type]


def test_token_helpers_and_constants() -> None:
    assert Token.of(ADA, 5) == Token(b"", b"", 5)
    assert Token.of(USD, 5).asset == (b"USD", b"")
    assert bytes.fromhex("555344") == USD[0]
    assert DEFAULT_MAX_BUNDLE_SIZE == 9223372036854775807
    assert VaultDatum is Wallet


# -- owner addresses ------------------------------------------------------------------------------


def test_wallet_from_base_and_enterprise_addresses() -> None:
    base = bytes.fromhex(CIP19_HEX[0])
    assert wallet_from_address(base) == Wallet(PKH, SKH)
    assert wallet_from_address(CIP19_HEX[0]) == Wallet(PKH, SKH)
    bech = "addr1vx2fxv2umyhttkxyxp8x0dlpdt3k6cwng5pxj3jhsydzers66hrl8"
    assert wallet_from_address(bech) == Wallet(PKH, b"")
    assert address_from_wallet(Wallet(PKH, SKH), 1) == base
    assert address_from_wallet(Wallet(PKH), 1) == decode_address(bech)
    assert address_from_wallet(Wallet(PKH), 0) == bytes.fromhex("60" + PKH.hex())


@pytest.mark.parametrize(
    ("header_type", "message"),
    [
        (1, "^a script payment credential cannot be expressed in a Wallet datum"),
        (2, "^a script stake credential cannot be expressed in a Wallet datum"),
        (3, "^a script payment credential and a script stake credential cannot"),
        (4, "^a pointer stake reference cannot be expressed"),
        (5, "^a script payment credential and a pointer stake reference cannot"),
        (7, "^a script payment credential cannot be expressed .*header type 7"),
    ],
)
def test_wallet_from_address_rejects_what_a_wallet_cannot_hold(
    header_type: int, message: str
) -> None:
    with pytest.raises(AddressError, match=message):
        wallet_from_address(bytes.fromhex(CIP19_HEX[header_type]))


def test_wallet_from_address_rejects_byron_and_reward() -> None:
    byron = Address.from_primitive(
        "37btjrVyb4KDXBNC4haBVPCrro8AQPHwvCMp3RFhhSVWwfFmZ6wwzSK6JK1hY6wHNmtrpTf1kdbva8TCneM2Ysi"
        "XT7mrzT21EacHnPpz5YyUdj64na"
    )
    with pytest.raises(AddressError, match="Byron"):
        wallet_from_address(bytes(byron))
    reward = bech32_decode("stake1uyehkck0lajq8gr28t9uxnuvgcqrc6070x3k9r8048z8y5gh6ffgw")[1]
    with pytest.raises(AddressError, match="reward"):
        wallet_from_address(reward)
    with pytest.raises(AddressError, match="checksum"):
        wallet_from_address("addr1vx2fxv2umyhttkxyxp8x0dlpdt3k6cwng5pxj3jhsydzers66hrl9")


@given(wallets, st.sampled_from([0, 1]))
def test_wallet_address_round_trip(wallet: Wallet, network_id: int) -> None:
    raw = address_from_wallet(wallet, network_id)
    assert wallet_from_address(raw) == wallet
    assert raw[0] >> 4 == (0 if wallet.sc else 6)
    assert raw[0] & 0x0F == network_id
