"""Shelley addresses: CIP-19 vectors, bech32 errors, parsing, building, the payment-key path."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pycardano import Address

from cardano_market.domain.address import (
    Credential,
    bech32_decode,
    bech32_encode,
    decode_address,
    decode_pointer,
    encode_address,
    make_address,
    parse_address,
    payment_key_hash,
    script_address,
    with_stake,
)
from cardano_market.domain.errors import AddressError, MarketError

# CIP-19 test vectors: payment key hash, stake key hash, script hash, pointer (2498243, 27, 3).
PKH = bytes.fromhex("9493315cd92eb5d8c4304e67b7e16ae36d61d34502694657811a2c8e")
SKH = bytes.fromhex("337b62cfff6403a06a3acbc34f8c46003c69fe79a3628cefa9c47251")
SCRIPT = bytes.fromhex("c37b1b5dc0669f1d3c61a6fddb2e8fde96be87b881c60bce8e8d542f")
POINTER = (2498243, 27, 3)

CIP19_MAINNET = {
    0: "addr1qx2fxv2umyhttkxyxp8x0dlpdt3k6cwng5pxj3jhsydzer3n0d3vllm"
    "yqwsx5wktcd8cc3sq835lu7drv2xwl2wywfgse35a3x",
    1: "addr1z8phkx6acpnf78fuvxn0mkew3l0fd058hzquvz7w36x4gten0d3vllm"
    "yqwsx5wktcd8cc3sq835lu7drv2xwl2wywfgs9yc0hh",
    2: "addr1yx2fxv2umyhttkxyxp8x0dlpdt3k6cwng5pxj3jhsydzerkr0vd4msr"
    "xnuwnccdxlhdjar77j6lg0wypcc9uar5d2shs2z78ve",
    3: "addr1x8phkx6acpnf78fuvxn0mkew3l0fd058hzquvz7w36x4gt7r0vd4msr"
    "xnuwnccdxlhdjar77j6lg0wypcc9uar5d2shskhj42g",
    4: "addr1gx2fxv2umyhttkxyxp8x0dlpdt3k6cwng5pxj3jhsydzer5pnz75xxcrzqf96k",
    5: "addr128phkx6acpnf78fuvxn0mkew3l0fd058hzquvz7w36x4gtupnz75xxcrtw79hu",
    6: "addr1vx2fxv2umyhttkxyxp8x0dlpdt3k6cwng5pxj3jhsydzers66hrl8",
    7: "addr1w8phkx6acpnf78fuvxn0mkew3l0fd058hzquvz7w36x4gtcyjy7wx",
}
CIP19_TESTNET = {
    0: "addr_test1qz2fxv2umyhttkxyxp8x0dlpdt3k6cwng5pxj3jhsydzer3n0d"
    "3vllmyqwsx5wktcd8cc3sq835lu7drv2xwl2wywfgs68faae",
    1: "addr_test1zrphkx6acpnf78fuvxn0mkew3l0fd058hzquvz7w36x4gten0d"
    "3vllmyqwsx5wktcd8cc3sq835lu7drv2xwl2wywfgsxj90mg",
    2: "addr_test1yz2fxv2umyhttkxyxp8x0dlpdt3k6cwng5pxj3jhsydzerkr0v"
    "d4msrxnuwnccdxlhdjar77j6lg0wypcc9uar5d2shsf5r8qx",
    3: "addr_test1xrphkx6acpnf78fuvxn0mkew3l0fd058hzquvz7w36x4gt7r0v"
    "d4msrxnuwnccdxlhdjar77j6lg0wypcc9uar5d2shs4p04xh",
    4: "addr_test1gz2fxv2umyhttkxyxp8x0dlpdt3k6cwng5pxj3jhsydzer5pnz75xxcrdw5vky",
    5: "addr_test12rphkx6acpnf78fuvxn0mkew3l0fd058hzquvz7w36x4gtupnz75xxcryqrvmw",
    6: "addr_test1vz2fxv2umyhttkxyxp8x0dlpdt3k6cwng5pxj3jhsydzerspjrlsz",
    7: "addr_test1wrphkx6acpnf78fuvxn0mkew3l0fd058hzquvz7w36x4gtcl6szpr",
}
STAKE_MAINNET = "stake1uyehkck0lajq8gr28t9uxnuvgcqrc6070x3k9r8048z8y5gh6ffgw"
BYRON = (
    "37btjrVyb4KDXBNC4haBVPCrro8AQPHwvCMp3RFhhSVWwfFmZ6wwzSK6JK1hY6wHNmtrpTf1kdbva8TCneM2Ysi"
    "XT7mrzT21EacHnPpz5YyUdj64na"
)
# The Charli3 NEWM/USD oracle address from PROTOCOL section 2 (a real mainnet address).
ORACLE = "addr1wy32q7067yt9c2em8kx5us4vhxzv4xve24u6j8ptlc5mzqcahrwzt"

EXPECTED_PARTS = {
    0: (("key", PKH), ("key", SKH), None),
    1: (("script", SCRIPT), ("key", SKH), None),
    2: (("key", PKH), ("script", SCRIPT), None),
    3: (("script", SCRIPT), ("script", SCRIPT), None),
    4: (("key", PKH), None, POINTER),
    5: (("script", SCRIPT), None, POINTER),
    6: (("key", PKH), None, None),
    7: (("script", SCRIPT), None, None),
}

hashes = st.binary(min_size=28, max_size=28)
kinds = st.sampled_from(["key", "script"])
credentials = st.builds(Credential, kinds, hashes)


@pytest.mark.parametrize(
    ("network_id", "header_type", "text"),
    [(1, t, a) for t, a in CIP19_MAINNET.items()] + [(0, t, a) for t, a in CIP19_TESTNET.items()],
)
def test_cip19_vectors_decode_parse_and_encode_back(
    network_id: int, header_type: int, text: str
) -> None:
    raw = decode_address(text)
    parsed = parse_address(raw)
    payment, stake, pointer = EXPECTED_PARTS[header_type]
    assert raw[0] == (header_type << 4) | network_id
    assert (parsed.header_type, parsed.network_id) == (header_type, network_id)
    assert (parsed.payment.kind, parsed.payment.hash) == payment
    assert (None if parsed.stake is None else (parsed.stake.kind, parsed.stake.hash)) == stake
    assert (None if parsed.pointer is None else decode_pointer(parsed.pointer)) == pointer
    assert parsed.to_bytes() == raw
    assert encode_address(raw) == text
    assert bytes(Address.from_primitive(text)) == raw  # pycardano agrees on the bytes
    assert decode_address(raw.hex()) == raw
    assert decode_address(raw.hex().upper()) == raw
    assert decode_address(text.upper()) == raw  # bech32 allows all upper case


def test_real_oracle_address() -> None:
    raw = decode_address(ORACLE)
    parsed = parse_address(raw)
    assert raw.hex() == "7122a079faf1165c2b3b3d8d4e42acb984ca99995579a91c2bfe29b103"
    assert (parsed.header_type, parsed.network_id, parsed.payment.kind) == (7, 1, "script")
    assert payment_key_hash(raw) is None


def test_bech32_bip173_vectors() -> None:
    # Valid strings from BIP-173, including one of exactly 90 characters.
    for text in (
        "A12UEL5L",
        "a12uel5l",
        "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
        "11" + "q" * 82 + "c8247j",
        "an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1tt5tgs",
        "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
    ):
        hrp, data = bech32_decode(text)
        assert bech32_encode(hrp, data) == text.lower()
    assert bech32_decode("abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw") == (
        "abcdef",
        bytes.fromhex("00443214c74254b635cf84653a56d7c675be77df"),
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("A1G7SGD8", "checksum"),  # checksum computed over the upper-case prefix
        (" 1nwldj5", "invalid characters"),
        ("\x7f1axkwrx", "invalid characters"),
        ("10a06t8", "no prefix"),
        ("1qzzfhee", "no prefix"),
        ("a12UEL5L", "mixes upper and lower case"),
        ("de1lg7wt\xff", "invalid character"),
        ("li1dgmt3", "too short"),
        ("x1b4n0q5v", "invalid character"),
        ("addr1qps5c03p", "invalid padding"),  # words [0, 1]: non-zero padding bits
        ("addr1qps5c0s", "invalid padding"),  # one word: 5 padding bits make no byte
        ("addr1qp9ggr5r", "checksum"),  # a bech32m checksum: Cardano uses bech32
    ],
)
def test_bech32_rejects_bip173_invalid_strings(text: str, message: str) -> None:
    with pytest.raises(AddressError, match=message):
        bech32_decode(text)


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=20), st.binary())
def test_bech32_round_trip_has_no_length_limit(hrp: str, data: bytes) -> None:
    text = bech32_encode(hrp, data)
    assert bech32_decode(text) == (hrp, data)


def test_bech32_detects_every_single_character_substitution() -> None:
    text = CIP19_MAINNET[0]
    sep = text.rfind("1")
    for pos in range(sep + 1, len(text)):
        for char in "qpzry9x8gf2tvdw0s3jn54khce6mua7l":
            if char == text[pos]:
                continue
            with pytest.raises(AddressError, match="checksum"):
                decode_address(text[:pos] + char + text[pos + 1 :])


def test_decode_address_errors_name_the_problem() -> None:
    base = decode_address(CIP19_MAINNET[0])
    with pytest.raises(AddressError, match="checksum"):
        decode_address(CIP19_MAINNET[0][:-1] + "q")
    with pytest.raises(AddressError, match="base address is 56 bytes; it must be 57"):
        decode_address(base[:-1].hex())
    with pytest.raises(AddressError, match="enterprise address is 30 bytes; it must be 29"):
        decode_address(decode_address(CIP19_MAINNET[6]).hex() + "00")
    with pytest.raises(AddressError, match="unknown address header type 9"):
        decode_address("91" + PKH.hex())
    with pytest.raises(AddressError, match="stake \\(reward\\) address"):
        decode_address(STAKE_MAINNET)
    with pytest.raises(AddressError, match="stake \\(reward\\) address"):
        decode_address(bech32_decode(STAKE_MAINNET)[1].hex())
    with pytest.raises(AddressError, match="Byron"):
        decode_address(bytes(Address.from_primitive(BYRON)).hex())
    with pytest.raises(AddressError, match="does not match its network id 0"):
        decode_address(bech32_encode("addr", decode_address(CIP19_TESTNET[6])))
    with pytest.raises(AddressError, match="does not match its network id 1"):
        decode_address(bech32_encode("addr_test", base))
    with pytest.raises(AddressError, match="neither 'addr' nor 'addr_test'"):
        decode_address(bech32_encode("addr_xyz", base))
    with pytest.raises(AddressError, match="network id 5"):
        decode_address("65" + PKH.hex())
    with pytest.raises(AddressError, match="odd number"):
        decode_address(base.hex()[:-1])
    with pytest.raises(AddressError, match="empty"):
        decode_address("")


def test_pointer_addresses_must_hold_exactly_three_numbers() -> None:
    good = decode_address(CIP19_MAINNET[4])
    assert decode_pointer(bytes([0x81, 0x98, 0xBD, 0x43, 0x1B, 0x03])) == POINTER
    with pytest.raises(AddressError, match="truncated"):
        parse_address(good[:-1] + b"\x83")
    with pytest.raises(AddressError, match="after its three numbers"):
        parse_address(good + b"\x00")
    with pytest.raises(AddressError, match="pointer address is 30 bytes"):
        parse_address(good[:30])


def test_address_error_is_a_market_error() -> None:
    assert issubclass(AddressError, MarketError)


@pytest.mark.parametrize("header_type", range(8))
def test_payment_key_hash_fast_path(header_type: int) -> None:
    raw = decode_address(CIP19_MAINNET[header_type])
    expected = None if header_type & 1 else PKH
    assert payment_key_hash(raw) == expected


def test_payment_key_hash_other_kinds() -> None:
    assert payment_key_hash(bytes(Address.from_primitive(BYRON))) is None  # bootstrap witness
    with pytest.raises(AddressError, match="reward"):
        payment_key_hash(bech32_decode(STAKE_MAINNET)[1])
    with pytest.raises(AddressError, match="too short"):
        payment_key_hash(b"\x61" + PKH[:-1])
    with pytest.raises(AddressError, match="empty"):
        payment_key_hash(b"")


def test_script_address_builds_the_contract_header() -> None:
    sale = bytes.fromhex("bf5ba087d428e870a809c3e88fa8de019e01f5f31582c0e4abcb42bd")
    stake = bytes.fromhex("db7245ff4fe23633e2c10ef62374ca6b64efd80d31fc3f7c431386e0")
    raw = script_address(sale, stake, 1)
    assert raw == b"\x31" + sale + stake
    assert script_address(sale, stake, 0)[0] == 0x30
    assert script_address(sale, None, 1) == b"\x71" + sale
    parsed = parse_address(raw)
    assert parsed.payment == Credential.script(sale)
    assert parsed.stake == Credential.script(stake)
    assert str(Address.from_primitive(raw)) == encode_address(raw)
    with pytest.raises(AddressError, match="network id 2"):
        script_address(sale, stake, 2)
    with pytest.raises(AddressError, match="script hash must be 28 bytes, got 27"):
        script_address(sale[:-1], stake, 1)


def test_with_stake_keeps_payment_and_network() -> None:
    enterprise_script = decode_address(CIP19_TESTNET[7])
    raw = with_stake(enterprise_script, Credential.key(SKH))
    assert raw == decode_address(CIP19_TESTNET[1])  # script payment + key stake, testnet
    raw = with_stake(decode_address(CIP19_MAINNET[0]), Credential.script(SCRIPT))
    assert raw == decode_address(CIP19_MAINNET[2])  # the key payment now with a script stake part
    with pytest.raises(AddressError, match="reward"):
        with_stake(bech32_decode(STAKE_MAINNET)[1], Credential.key(SKH))


@given(credentials, st.one_of(st.none(), credentials), st.sampled_from([0, 1]))
def test_make_address_round_trips_and_agrees_with_pycardano(
    payment: Credential, stake: Credential | None, network_id: int
) -> None:
    raw = make_address(payment, stake, network_id)
    parsed = parse_address(raw)
    assert (parsed.payment, parsed.stake, parsed.network_id) == (payment, stake, network_id)
    text = encode_address(raw)
    assert decode_address(text) == raw
    assert str(Address.from_primitive(raw)) == text
    assert payment_key_hash(raw) == (None if payment.is_script else payment.hash)


def test_credential_validation() -> None:
    with pytest.raises(AddressError, match="'key' or 'script'"):
        Credential("pool", PKH)  # type: ignore[arg-type]
    with pytest.raises(AddressError, match="key hash must be 28 bytes, got 29"):
        Credential.key(PKH + b"\x00")
