"""The ledger hashes, checked against pycardano's independent implementation."""

from __future__ import annotations

import hashlib

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cardano_market.domain.errors import CborError
from cardano_market.domain.hashes import datum_hash, key_hash, script_hash
from cardano_market.ledger.parse import transaction_id


@settings(deadline=None)  # the first example pays pycardano's import
@given(st.binary(min_size=32, max_size=32))
def test_key_hash_matches_pycardano(vkey: bytes) -> None:
    from pycardano import PaymentVerificationKey

    assert key_hash(vkey) == PaymentVerificationKey(vkey).hash().payload


def test_script_and_datum_hashes_match_pycardano() -> None:
    from pycardano import PlutusV3Script, RawPlutusData, plutus_script_hash
    from pycardano import datum_hash as pc_datum_hash

    script = bytes.fromhex("4e4d01000033222220051200120011")
    assert script_hash(3, script) == plutus_script_hash(PlutusV3Script(script)).payload
    datum = bytes.fromhex("d8799f4100ff")  # indefinite: hashed as written, not re-encoded
    assert datum_hash(datum) == pc_datum_hash(RawPlutusData.from_cbor(datum)).payload


def test_transaction_id_hashes_the_body_bytes_as_written() -> None:
    body = bytes.fromhex(
        "a3009f8258200000000000000000000000000000000000000000000000000000000000000000"
        "00ff0180021a00030d40"
    )  # an indefinite input array: re-encoding would differ
    tx = b"\x84" + body + b"\xa0\xf5\xf6"
    assert transaction_id(tx) == hashlib.blake2b(body, digest_size=32).digest()
    assert cbor2.dumps(cbor2.loads(body)) != body
    with pytest.raises(CborError):
        transaction_id(b"\xa0")
