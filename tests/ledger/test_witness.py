"""Witness splicing: the body bytes (and so the transaction id) survive signing unchanged.

Transactions are written by hand here, some in forms that a re-encoder would change (indefinite
arrays, over-long integers, an over-long outer header), and signed independently of the code under
test (PyNaCl directly, or pycardano as a wallet would).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey, VerifyKey

from cardano_market.domain.cbor import split_array, split_map
from cardano_market.domain.errors import CborError, WitnessError
from cardano_market.ledger.parse import body_bytes, transaction_id
from cardano_market.ledger.witness import (
    SET_TAG,
    VKEY_WITNESS_SIZE,
    make_witness_set,
    missing_signers,
    sign_transaction,
    signed_size,
    splice_witnesses,
    vkey_hash,
    vkey_witnesses,
    witness_set_size,
)
from cardano_market.tx.body import encode_body, encode_transaction
from interop.csl import CslInspect

TXID = bytes.fromhex("8d8f3f51f3a4a1b0f3c0d3d3c59b2a4fb1b5a5e0a1f48e1f4bb2d3e5d7c9a001")
ADDR = bytes([0x61]) + bytes(range(1, 29))  # enterprise address, key hash 01..1c
FEE = 171_000
TTL = 90_000_000


# -- building transactions by hand ---------------------------------------------------------------


def canonical_body(fee: int = FEE) -> bytes:
    return cbor2.dumps({0: [[TXID, 0]], 1: [[ADDR, 2_000_000]], 2: fee, 3: TTL})


def odd_body(fee: int = FEE) -> bytes:
    """A valid body that cbor2 (or pycardano) would re-encode differently."""
    return (
        b"\xa4"
        + b"\x00\x9f"  # inputs: indefinite array
        + cbor2.dumps([TXID, 0])
        + b"\xff"
        + b"\x01\x81\xa2\x00"  # outputs: [{0: addr, 1: coin as an 8-byte integer}]
        + cbor2.dumps(ADDR)
        + b"\x01\x1b"
        + (2_000_000).to_bytes(8, "big")
        + b"\x02\x1b"  # fee as an 8-byte integer
        + fee.to_bytes(8, "big")
        + b"\x03\x1a"
        + TTL.to_bytes(4, "big")
    )


def tagged_inputs_body() -> bytes:
    """Conway form: inputs as a tag-258 set."""
    return cbor2.dumps({0: cbor2.CBORTag(258, [[TXID, 1]]), 1: [[ADDR, 3_000_000]], 2: FEE})


ENVELOPES: dict[str, Callable[[bytes, bytes], bytes]] = {
    "conway": lambda body, ws: b"\x84" + body + ws + b"\xf5\xf6",
    "conway-aux": lambda body, ws: (
        b"\x84" + body + ws + b"\xf5" + cbor2.dumps({674: {"msg": ["hi"]}})
    ),
    "legacy": lambda body, ws: b"\x83" + body + ws + b"\xf6",
    "indefinite": lambda body, ws: b"\x9f" + body + ws + b"\xf5\xf6\xff",
    "long-header": lambda body, ws: b"\x98\x04" + body + ws + b"\xf4\xf6",
}
BODIES = {"canonical": canonical_body, "odd": odd_body, "tagged-inputs": tagged_inputs_body}


def make_tx(body: bytes | None = None, ws: bytes = b"\xa0", envelope: str = "conway") -> bytes:
    return ENVELOPES[envelope](canonical_body() if body is None else body, ws)


def seed(i: int) -> bytes:
    return hashlib.sha256(b"test seed %d" % i).digest()


def vkey_of(i: int) -> bytes:
    return bytes(SigningKey(seed(i)).verify_key)


def body_hash(body: bytes) -> bytes:
    return hashlib.blake2b(body, digest_size=32).digest()


def witness(i: int, body: bytes) -> tuple[bytes, bytes]:
    """(vkey, signature over `body`) made with PyNaCl directly, as a wallet would."""
    key = SigningKey(seed(i))
    return bytes(key.verify_key), key.sign(body_hash(body)).signature


def wallet_ws(pairs: list[tuple[bytes, bytes]], tagged: bool = False) -> bytes:
    return cbor2.dumps({0: vkey_set(pairs, tagged)})


def vkey_set(pairs: list[tuple[bytes, bytes]], tagged: bool = True) -> object:
    """Key 0 for cbor2 to write: `#6.258([...])` (our form) or the bare array."""
    items = [list(p) for p in pairs]
    return cbor2.CBORTag(SET_TAG, items) if tagged else items


def ws_of(tx: bytes) -> bytes:
    spans, _ = split_array(tx)
    return tx[spans[1][0] : spans[1][1]]


def ws_entries(tx: bytes) -> dict[int, bytes]:
    pairs, _ = split_map(ws_of(tx))
    return {cbor2.loads(k): v for k, v in pairs}


def assert_all_verify(tx: bytes, body: bytes) -> None:
    for vkey, sig in vkey_witnesses(tx):
        VerifyKey(vkey).verify(body_hash(body), sig)


# -- ids and body bytes --------------------------------------------------------------------------


@pytest.mark.parametrize("envelope", sorted(ENVELOPES))
@pytest.mark.parametrize("body_name", sorted(BODIES))
def test_id_is_the_hash_of_the_exact_body_bytes(envelope: str, body_name: str) -> None:
    body = BODIES[body_name]()
    tx = make_tx(body, envelope=envelope)
    assert body_bytes(tx) == body
    assert transaction_id(tx) == body_hash(body)
    assert transaction_id(tx.hex()) == body_hash(body)


def test_re_encoding_the_odd_body_would_change_the_id() -> None:
    body = odd_body()
    reencoded = cbor2.dumps(cbor2.loads(body))
    assert reencoded != body
    assert body_hash(reencoded) != transaction_id(make_tx(body))


def test_id_matches_pycardano_for_a_canonical_body() -> None:
    from pycardano import Transaction

    tx = make_tx(canonical_body())
    assert Transaction.from_cbor(tx).id.payload == transaction_id(tx)


# -- splicing ------------------------------------------------------------------------------------


@pytest.mark.parametrize("envelope", sorted(ENVELOPES))
@pytest.mark.parametrize("body_name", sorted(BODIES))
def test_splice_keeps_header_body_and_tail_byte_for_byte(envelope: str, body_name: str) -> None:
    body = BODIES[body_name]()
    tx = make_tx(body, envelope=envelope)
    w1, w2 = witness(1, body), witness(2, body)

    signed = splice_witnesses(tx, wallet_ws([w1, w2]))

    # the untagged wallet set lands as a tag-258 set (the tx had no vkey witnesses yet)
    expected_ws = b"\xa1\x00\xd9\x01\x02" + cbor2.dumps([list(w1), list(w2)])
    assert signed == make_tx(body, expected_ws, envelope)
    assert transaction_id(signed) == transaction_id(tx) == body_hash(body)
    assert vkey_witnesses(signed) == [w1, w2]
    assert_all_verify(signed, body)


def test_splice_accepts_hex_like_cip30() -> None:
    body = odd_body()
    tx = make_tx(body)
    w = witness(3, body)
    assert splice_witnesses(tx.hex(), wallet_ws([w]).hex()) == splice_witnesses(tx, wallet_ws([w]))


def test_pycardano_wallet_witnesses_decode_and_verify_in_pycardano() -> None:
    from pycardano import (
        PaymentSigningKey,
        PaymentVerificationKey,
        Transaction,
        TransactionWitnessSet,
        VerificationKeyWitness,
    )

    tx = make_tx(canonical_body())
    parsed = Transaction.from_cbor(tx)
    keys = [PaymentSigningKey(seed(i)) for i in (7, 8)]
    response = TransactionWitnessSet(
        vkey_witnesses=[
            VerificationKeyWitness(
                PaymentVerificationKey.from_signing_key(k), k.sign(parsed.transaction_body.hash())
            )
            for k in keys
        ]
    ).to_cbor()

    signed = splice_witnesses(tx, response)

    decoded = Transaction.from_cbor(signed)
    assert decoded.id.payload == transaction_id(signed) == transaction_id(tx)
    witnesses = decoded.transaction_witness_set.vkey_witnesses
    assert [w.vkey.payload for w in witnesses] == [vkey_of(7), vkey_of(8)]
    for w in witnesses:
        VerifyKey(w.vkey.payload).verify(decoded.transaction_body.hash(), w.signature)


def test_pycardano_reads_an_odd_body_result_but_would_hash_its_re_encoding() -> None:
    from pycardano import Transaction

    body = odd_body()
    tx = make_tx(body, script_ws())
    signed = splice_witnesses(tx, sign_transaction(tx, [seed(1), seed(2)]))

    decoded = Transaction.from_cbor(signed)
    got = [(w.vkey.payload, w.signature) for w in decoded.transaction_witness_set.vkey_witnesses]
    assert got == [witness(1, body), witness(2, body)]
    # The signatures are over the real id (the exact body bytes); pycardano's id re-encodes.
    assert decoded.id.payload != transaction_id(signed) == body_hash(body)
    for vkey, sig in got:
        VerifyKey(vkey).verify(body_hash(body), sig)


def test_wallet_echoing_existing_witnesses_is_deduplicated() -> None:
    body = odd_body()
    a, b, c = (witness(i, body) for i in (1, 2, 3))
    once = splice_witnesses(make_tx(body), wallet_ws([a]))

    # The second wallet echoes A (and B twice) around its own witnesses.
    twice = splice_witnesses(once, wallet_ws([b, a, c, b]))

    assert vkey_witnesses(twice) == [a, b, c]
    assert body_bytes(twice) == body
    assert_all_verify(twice, body)


def test_splice_is_idempotent_and_returns_the_same_bytes_when_nothing_is_new() -> None:
    body = odd_body()
    w = witness(1, body)
    signed = splice_witnesses(make_tx(body), wallet_ws([w]))
    assert splice_witnesses(signed, wallet_ws([w])) == signed
    assert splice_witnesses(signed, b"\xa0") == signed


def test_wallet_returning_a_whole_signed_transaction() -> None:
    body = odd_body()
    tx = make_tx(body, envelope="indefinite")
    a, b = witness(1, body), witness(2, body)
    whole = make_tx(body, wallet_ws([a, b]), envelope="conway")  # the wallet's own envelope

    signed = splice_witnesses(tx, whole)

    assert signed == make_tx(body, wallet_ws([a, b], tagged=True), envelope="indefinite")
    assert transaction_id(signed) == body_hash(body)


def test_whole_transaction_with_a_re_encoded_body_is_rejected() -> None:
    body = odd_body()
    tx = make_tx(body)
    reencoded = cbor2.dumps(cbor2.loads(body))
    whole = make_tx(reencoded, wallet_ws([witness(1, reencoded)]))

    with pytest.raises(WitnessError) as err:
        splice_witnesses(tx, whole)

    message = str(err.value)
    assert f"another transaction {body_hash(reencoded).hex()}" in message
    assert f"expected {body_hash(body).hex()}" in message


def test_witness_over_another_transaction_is_rejected() -> None:
    body, other = canonical_body(), canonical_body(fee=FEE + 1)
    vkey, sig = witness(4, other)

    with pytest.raises(WitnessError) as err:
        splice_witnesses(make_tx(body), wallet_ws([witness(1, body), (vkey, sig)]))

    message = str(err.value)
    assert hashlib.blake2b(vkey, digest_size=28).hexdigest() in message
    assert body_hash(body).hex() in message
    assert "does not verify" in message


@pytest.mark.parametrize("position", [0, 31, 32, 63])
def test_tampered_signature_is_rejected(position: int) -> None:
    body = odd_body()
    vkey, sig = witness(5, body)
    bad = bytearray(sig)
    bad[position] ^= 0x01

    with pytest.raises(WitnessError, match=vkey_hash(vkey).hex()):
        splice_witnesses(make_tx(body), wallet_ws([(vkey, bytes(bad))]))


def test_echoed_key_with_a_bad_signature_is_rejected() -> None:
    body = canonical_body()
    vkey, sig = witness(1, body)
    signed = splice_witnesses(make_tx(body), wallet_ws([(vkey, sig)]))
    with pytest.raises(WitnessError, match="does not verify"):
        splice_witnesses(signed, wallet_ws([(vkey, bytes(64))]))


# -- other witness-set entries -------------------------------------------------------------------

# Plutus data as an indefinite list holding an over-long integer, redeemers in the Conway map form:
# a re-encoder would rewrite both, and the script data hash covers these exact bytes.
PLUTUS_DATA = b"\x9f\xd8\x79\x9f\x1a\x00\x00\x00\x2a\x41\x07\xff\xff"
REDEEMERS = (
    b"\xa1\x82\x00\x00\x82\xd8\x79\x80\x82\x1b"
    + (10**6).to_bytes(8, "big")
    + b"\x1a\x3b\x9a\xca\x00"
)
NATIVE_SCRIPTS = cbor2.dumps([[0, bytes(28)]])


def script_ws() -> bytes:
    return b"\xa2\x04" + PLUTUS_DATA + b"\x05" + REDEEMERS


def test_redeemers_and_plutus_data_are_kept_byte_for_byte() -> None:
    # a re-encoder would change both
    assert cbor2.dumps(cbor2.loads(PLUTUS_DATA)) != PLUTUS_DATA
    assert cbor2.dumps(cbor2.loads(REDEEMERS)) != REDEEMERS
    body = odd_body()
    tx = make_tx(body, script_ws())
    a = witness(1, body)

    signed = splice_witnesses(tx, wallet_ws([a]))

    entries = ws_entries(signed)
    assert entries[4] == PLUTUS_DATA
    assert entries[5] == REDEEMERS
    assert vkey_witnesses(signed) == [a]
    assert ws_of(signed) == b"\xa3\x00" + cbor2.dumps(vkey_set([a])) + b"\x04" + PLUTUS_DATA + (
        b"\x05" + REDEEMERS
    )
    assert body_bytes(signed) == body


def test_wallet_entries_we_lack_are_added_and_identical_echoes_accepted() -> None:
    body = canonical_body()
    a = witness(1, body)
    response = b"\xa3\x00" + cbor2.dumps([list(a)]) + b"\x01" + NATIVE_SCRIPTS + b"\x05" + REDEEMERS

    signed = splice_witnesses(make_tx(body, script_ws()), response)

    entries = ws_entries(signed)
    assert entries == {
        0: cbor2.dumps(vkey_set([a])),
        4: PLUTUS_DATA,
        5: REDEEMERS,
        1: NATIVE_SCRIPTS,
    }


def test_wallet_entry_differing_from_ours_is_rejected() -> None:
    body = canonical_body()
    rewritten = cbor2.dumps(cbor2.loads(REDEEMERS))
    assert rewritten != REDEEMERS
    response = b"\xa2\x00" + cbor2.dumps([list(witness(1, body))]) + b"\x05" + rewritten
    with pytest.raises(WitnessError, match=r"key 5 \(redeemers\)"):
        splice_witnesses(make_tx(body, script_ws()), response)


@pytest.mark.parametrize("tagged", [True, False], ids=["tagged", "untagged"])
@pytest.mark.parametrize("wallet_tagged", [True, False], ids=["wallet-tagged", "wallet-untagged"])
def test_existing_vkey_witnesses_keep_their_form(tagged: bool, wallet_tagged: bool) -> None:
    body = odd_body()
    a, b = witness(1, body), witness(2, body)
    tx = make_tx(body, wallet_ws([a], tagged=tagged))

    signed = splice_witnesses(tx, wallet_ws([b], tagged=wallet_tagged))

    assert ws_entries(signed)[0] == cbor2.dumps(vkey_set([a, b], tagged))
    assert vkey_witnesses(signed) == [a, b]
    assert len(signed) == signed_size(tx, 1)


@pytest.mark.parametrize("wallet_tagged", [True, False], ids=["wallet-tagged", "wallet-untagged"])
def test_wallet_set_tagged_or_untagged_lands_tagged_at_the_size_paid_for(
    wallet_tagged: bool,
) -> None:
    body = odd_body()
    tx = make_tx(body)
    a = witness(1, body)

    signed = splice_witnesses(tx, wallet_ws([a], tagged=wallet_tagged))

    assert ws_of(signed) == b"\xa1\x00\xd9\x01\x02\x81" + cbor2.dumps(list(a))
    assert cbor2.loads(ws_of(signed)) == {0: frozenset({a})}  # cbor2 reads tag 258 as a set
    assert len(signed) == len(tx) - 1 + witness_set_size(1) == signed_size(tx, 1)


def test_pycardano_reads_a_tagged_result() -> None:
    from pycardano import Transaction

    body = canonical_body()
    a, b = witness(1, body), witness(2, body)
    signed = splice_witnesses(make_tx(body, wallet_ws([a], tagged=True)), wallet_ws([b]))
    decoded = Transaction.from_cbor(signed)
    assert decoded.id.payload == body_hash(body)
    got = [(w.vkey.payload, w.signature) for w in decoded.transaction_witness_set.vkey_witnesses]
    assert sorted(got) == sorted([a, b])


# -- required signers ----------------------------------------------------------------------------


def test_missing_signers_tracks_partial_signing() -> None:
    body = canonical_body()
    tx = make_tx(body)
    required = {vkey_hash(vkey_of(1)), vkey_hash(vkey_of(2))}

    assert missing_signers(tx, required) == required
    partial = splice_witnesses(tx, wallet_ws([witness(1, body)]), required_signers=required)
    assert missing_signers(partial, required) == {vkey_hash(vkey_of(2))}
    full = splice_witnesses(partial, wallet_ws([witness(2, body)]), required_signers=required)
    assert missing_signers(full, required) == set()


def test_vkey_hash_matches_pycardano() -> None:
    from pycardano import PaymentSigningKey, PaymentVerificationKey

    vk = PaymentVerificationKey.from_signing_key(PaymentSigningKey(seed(1)))
    assert vk.payload == vkey_of(1)
    assert vkey_hash(vkey_of(1)) == vk.hash().payload


def test_witness_by_a_key_outside_the_required_signers_is_rejected() -> None:
    body = canonical_body()
    stranger = witness(9, body)
    with pytest.raises(WitnessError, match=f"key {vkey_hash(stranger[0]).hex()} is not a required"):
        splice_witnesses(
            make_tx(body), wallet_ws([stranger]), required_signers={vkey_hash(vkey_of(1))}
        )


def test_required_signers_must_be_key_hashes() -> None:
    with pytest.raises(WitnessError, match="28-byte key hash"):
        missing_signers(make_tx(), [bytes(32)])


# -- producing witness sets ----------------------------------------------------------------------


def test_sign_transaction_returns_what_a_wallet_would() -> None:
    body = odd_body()
    tx = make_tx(body)
    ws = sign_transaction(tx, [seed(1), seed(2), seed(1)])

    assert ws == cbor2.dumps({0: vkey_set([witness(1, body), witness(2, body)])})
    signed = splice_witnesses(tx, ws)
    assert_all_verify(signed, body)


def test_sign_transaction_rejects_extended_keys() -> None:
    with pytest.raises(WitnessError, match="signing key 0 must be a 32-byte Ed25519 seed, got 64"):
        sign_transaction(make_tx(), [bytes(64)])


def test_make_witness_set() -> None:
    assert make_witness_set([]) == b"\xa0"
    pair = (bytes(range(32)), bytes(range(64)))
    other = (bytes(range(1, 33)), bytes(range(1, 65)))
    assert make_witness_set([pair]) == b"\xa1\x00\xd9\x01\x02\x81\x82\x58\x20" + pair[0] + (
        b"\x58\x40" + pair[1]
    )
    # written in the given order, though cbor2 reads tag 258 back as an unordered frozenset
    assert make_witness_set([other, pair]) == cbor2.dumps({0: vkey_set([other, pair])})
    assert cbor2.loads(make_witness_set([other, pair])) == {0: frozenset({pair, other})}
    with pytest.raises(CborError, match="witness 0: signature must be 64 bytes, got 63 bytes"):
        make_witness_set([(bytes(32), bytes(63))])


# -- sizes for the fee -------------------------------------------------------------------------


def test_vkey_witness_size() -> None:
    assert VKEY_WITNESS_SIZE == len(cbor2.dumps([bytes(32), bytes(64)])) == 101


@pytest.mark.parametrize("n", [0, 1, 2, 3, 23, 24, 25])
def test_witness_set_size_matches_real_signed_output(n: int) -> None:
    body = canonical_body()
    tx = make_tx(body)

    signed = splice_witnesses(tx, sign_transaction(tx, [seed(i) for i in range(n)]))

    assert len(vkey_witnesses(signed)) == n
    assert len(signed) == len(tx) - 1 + witness_set_size(n)
    assert len(signed) == signed_size(tx, n)
    if n:
        assert witness_set_size(n) == len(cbor2.dumps({0: vkey_set([(bytes(32), bytes(64))] * n)}))
        assert witness_set_size(n) == len(ws_of(signed))


def test_witness_set_size_past_one_byte_counts() -> None:
    for n in (255, 256, 65_536):
        assert witness_set_size(n) == len(cbor2.dumps({0: vkey_set([(bytes(32), bytes(64))] * n)}))
    with pytest.raises(ValueError, match="negative"):
        witness_set_size(-1)


@pytest.mark.parametrize("existing", ["script", "tagged", "untagged"])
@pytest.mark.parametrize("n", [1, 2, 24])
def test_signed_size_is_exact_for_any_witness_set(existing: str, n: int) -> None:
    body = odd_body()
    if existing == "script":
        ws = script_ws()
    else:  # one witness already there, in either form: the result keeps that form
        ws = wallet_ws([witness(1, body)], tagged=existing == "tagged")
    tx = make_tx(body, ws, envelope="indefinite")
    signed = splice_witnesses(tx, sign_transaction(tx, [seed(i) for i in range(2, 2 + n)]))
    assert len(signed) == signed_size(tx, n)
    assert signed_size(tx, 0) == len(tx)


# -- malformed input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tx", "message"),
    [
        (b"", "transaction is empty"),
        (b"\xa0", "must be a CBOR array"),
        (b"\x82" + canonical_body() + b"\xa0", "must have 4 items"),
        (make_tx() + b"\x00", "1 trailing bytes"),
        (make_tx()[:-3], "ends early"),
        (b"\x84\x80\xa0\xf5\xf6", "body must be a CBOR map"),
        (b"\x84" + canonical_body() + b"\x80\xf5\xf6", "witness set must be a CBOR map"),
        (b"\x84" + canonical_body() + b"\xa0\x00\xf6", "is_valid must be true or false"),
        (make_tx(ws=b"\xa1\x00\xd8\x18\x80"), "tag 24"),
        (make_tx(ws=b"\xa1\x00\xa0"), "must be an array of"),
        (make_tx(ws=b"\xa1\x00\x81\x82\x58\x1f" + bytes(31) + b"\x58\x40" + bytes(64)), "31 bytes"),
        (make_tx(ws=b"\xa1\x00\x81\x81\x00"), "item 0 must be [vkey, signature]"),
        (make_tx(ws=b"\xa2\x04\x80\x04\x80"), "key 4 twice"),
        (make_tx(ws=b"\xa1\x61\x61\x80"), "keys must be unsigned integers"),
        ("zz", "not valid hex"),
    ],
)
def test_malformed_transactions_are_named(tx: bytes | str, message: str) -> None:
    with pytest.raises(CborError, match=message.replace("[", r"\[")):
        vkey_witnesses(tx)


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (b"", "wallet response is empty"),
        (b"\x00", "got CBOR major type 0"),
        (b"\xa0\x00", "wallet response has 1 trailing bytes"),
        (b"\xa1\x00", "ends early"),
        (b"\xa1\x00\x81\x82\x41\x00\x41\x00", "key 0 (vkey witnesses) item 0: vkey must be 32"),
        (b"\x83\x80\xa0\xf6", "wallet response transaction body must be a CBOR map"),
        ("not hex", "wallet response is not valid hex"),
    ],
)
def test_malformed_wallet_responses_are_named(response: bytes | str, message: str) -> None:
    with pytest.raises(CborError) as err:
        splice_witnesses(make_tx(), response)
    assert message in str(err.value)


# -- random key counts and orders ----------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    st.data(),
    st.sampled_from(sorted(BODIES)),
    st.sampled_from(sorted(ENVELOPES)),
    st.booleans(),
)
def test_merge_order_and_content(
    data: st.DataObject, body_name: str, envelope: str, tagged: bool
) -> None:
    body = BODIES[body_name]()
    keys = data.draw(st.lists(st.integers(0, 40), min_size=1, max_size=8, unique=True))
    existing = data.draw(st.lists(st.sampled_from(keys), unique=True))
    new = [k for k in keys if k not in existing]
    echoed = data.draw(st.lists(st.sampled_from(existing), unique=True)) if existing else []
    response_keys = data.draw(st.permutations(new + echoed))
    witnesses = {k: witness(k, body) for k in keys}
    ws = wallet_ws([witnesses[k] for k in existing], tagged=tagged) if existing else b"\xa0"
    tx = make_tx(body, ws, envelope)

    signed = splice_witnesses(tx, wallet_ws([witnesses[k] for k in response_keys]))

    order = existing + [k for k in response_keys if k not in existing]
    assert vkey_witnesses(signed) == [witnesses[k] for k in order]
    assert body_bytes(signed) == body
    assert transaction_id(signed) == body_hash(body)
    assert len(signed) == signed_size(tx, len(new))
    # tag 258 unless the transaction already held untagged vkey witnesses
    assert ws_entries(signed)[0].startswith(b"\xd9\x01\x02") == (tagged or not existing)
    assert missing_signers(signed, {vkey_hash(vkey_of(k)) for k in keys}) == set()
    assert_all_verify(signed, body)
    head = make_tx(body, b"\xa0", envelope)
    assert signed.startswith(head[: head.index(body)] + body)
    assert signed.endswith(head[head.index(body) + len(body) + 1 :])


# -- outside proof: cardano-serialization-lib ---------------------------------------------------

CSL_PARAMS = {"linearFee": {"coefficient": "44", "constant": "155381"}, "coinsPerUtxoByte": "4310"}


@pytest.mark.interop
def test_csl_reads_the_spliced_transaction_with_the_same_id(csl: CslInspect) -> None:
    cases = []
    for name, make_body in sorted(BODIES.items()):
        body = make_body()
        tx = make_tx(body, script_ws() if name == "odd" else b"\xa0")
        signed = splice_witnesses(tx, sign_transaction(tx, [seed(1), seed(2), seed(3)]))
        cases.append((body, signed))
    results = csl([{"kind": "tx", "hex": s.hex(), **CSL_PARAMS} for _, s in cases])
    for (body, signed), result in zip(cases, results, strict=True):
        assert "error" not in result, result
        assert result["txId"] == body_hash(body).hex()
        assert result["bodyHex"] == body.hex()
        assert result["vkeyWitnesses"] == 3
        assert result["size"] == len(signed)


@pytest.mark.interop
@pytest.mark.parametrize("n", [1, 2, 3])
def test_signed_size_and_fee_equal_csl_re_encoding(csl: CslInspect, n: int) -> None:
    # Our body writer (inputs as a tag-258 set) and our vkey set (tag 258) are what CSL re-encodes
    # and prices, so the size we pay for is CSL's size and its min fee is our fee.
    body = encode_body([(bytes(32), 0), (TXID, 1)], [cbor2.dumps([ADDR, 2_000_000])], FEE, TTL)
    tx = encode_transaction(body)
    signed = splice_witnesses(tx, sign_transaction(tx, [seed(i) for i in range(n)]))
    assert len(signed) == signed_size(tx, n) == len(tx) - 1 + witness_set_size(n)

    [result] = csl([{"kind": "tx", "hex": signed.hex(), **CSL_PARAMS}])

    assert "error" not in result, result
    assert result["vkeyWitnesses"] == n
    assert result["size"] == result["reencodedSize"] == len(signed)
    assert int(result["minFee"]) == 155_381 + 44 * len(signed)
