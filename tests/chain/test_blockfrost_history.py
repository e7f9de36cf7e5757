"""`BlockfrostBackend` as a `ChainHistory`: a transaction from `/txs/{hash}` and its CBOR, and the
spender of an output from `consumed_by_tx`, or, where a server omits that field, from the
address's transactions. Served by the local fake Blockfrost with Blockfrost-shaped answers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import cbor2
import pytest
from fake_blockfrost import FakeBlockfrost, Fixture

from cardano_market.chain.base import ChainHistory
from cardano_market.chain.blockfrost import BlockfrostBackend
from cardano_market.domain.address import Credential, encode_address, make_address
from cardano_market.domain.plutus_data import constr, encode_plutus
from cardano_market.domain.values import Value
from cardano_market.ledger.parse import transaction_id
from cardano_market.tx.body import encode_body, encode_transaction

CREATED = bytes(range(32))
OTHER = bytes(32)
ADDRESS = make_address(Credential.script(bytes(range(28))), None, 0)
BECH32 = encode_address(ADDRESS)


def spender_cbor() -> bytes:
    """A transaction spending CREATED#1 and OTHER#0, with a QueueRefund redeemer on CREATED#1
    (spend index 1 in ledger order) in the Conway map form."""
    output = cbor2.dumps([ADDRESS, 2_000_000])
    body = encode_body([(OTHER, 0), (CREATED, 1)], [output], 200_000)
    refund = encode_plutus(constr(1, []))
    witnesses = b"\xa1\x05\xa1" + cbor2.dumps([0, 1]) + b"\x82" + refund + cbor2.dumps([1, 2])
    return encode_transaction(body, witnesses)


SPENDER = spender_cbor()
SPENDER_ID = transaction_id(SPENDER).hex()


def fixture(path: str, body: Any, *, paginated: bool = False) -> Fixture:
    return Fixture(path, "GET", path, path, 200, paginated, body)


def tx_info(tx_hash: str, height: int, slot: int) -> dict[str, Any]:
    return {"hash": tx_hash, "block_height": height, "slot": slot}


def output(index: int, **extra: Any) -> dict[str, Any]:
    return {
        "address": BECH32,
        "amount": [{"unit": "lovelace", "quantity": "2000000"}],
        "output_index": index,
        "data_hash": None,
        "inline_datum": None,
        "collateral": False,
        "reference_script_hash": None,
        **extra,
    }


@pytest.fixture
def server() -> Iterator[FakeBlockfrost]:
    spender_id = SPENDER_ID
    with FakeBlockfrost() as fake:
        fake.add(
            fixture(f"/txs/{spender_id}", {"hash": spender_id, "block_height": 100, "slot": 5})
        )
        fake.add(fixture(f"/txs/{spender_id}/cbor", {"cbor": SPENDER.hex()}))
        fake.add(
            fixture(f"/txs/{CREATED.hex()}", {"hash": CREATED.hex(), "block_height": 90, "slot": 1})
        )
        yield fake


@pytest.fixture
def backend(server: FakeBlockfrost) -> Iterator[BlockfrostBackend]:
    with BlockfrostBackend("preprodFAKE", "preprod", server.url, sleep=lambda _: None) as b:
        yield b


def test_a_transaction_read_from_its_cbor(backend: BlockfrostBackend) -> None:
    assert isinstance(backend, ChainHistory)
    tx = backend.transaction(transaction_id(SPENDER))
    assert tx is not None
    assert (tx.block_height, tx.slot) == (100, 5)
    assert tx.inputs == [(OTHER, 0), (CREATED, 1)]
    assert tx.spend_redeemers == {(CREATED, 1): 1}
    assert tx.outputs[0].address == ADDRESS and tx.outputs[0].value == Value.of(2_000_000)
    assert tx.depth(102) == 3
    assert backend.transaction(bytes(range(1, 33))) is None  # unknown: 404


def test_the_spender_from_consumed_by_tx(
    server: FakeBlockfrost, backend: BlockfrostBackend
) -> None:
    spender_id = SPENDER_ID
    body = {
        "hash": CREATED.hex(),
        "inputs": [],
        "outputs": [output(0, consumed_by_tx=None), output(1, consumed_by_tx=spender_id)],
    }
    server.add(fixture(f"/txs/{CREATED.hex()}/utxos", body))
    spender = backend.spending_transaction((CREATED, 1))
    assert spender is not None and spender.tx_id.hex() == spender_id
    assert spender.spends((CREATED, 1))
    assert backend.spending_transaction((CREATED, 0)) is None  # unspent
    assert server.count("/addresses/") == 0


def test_the_spender_from_the_address_history(
    server: FakeBlockfrost, backend: BlockfrostBackend
) -> None:
    """A server without `consumed_by_tx`: the address's transactions from the output's block."""
    spender_id = SPENDER_ID
    body = {"hash": CREATED.hex(), "inputs": [], "outputs": [output(0), output(1)]}
    server.add(fixture(f"/txs/{CREATED.hex()}/utxos", body))
    history = [
        {"tx_hash": CREATED.hex(), "tx_index": 0, "block_height": 90, "block_time": 1},
        {"tx_hash": spender_id, "tx_index": 3, "block_height": 100, "block_time": 2},
    ]
    server.add(fixture(f"/addresses/{BECH32}/transactions", history, paginated=True))
    spender = backend.spending_transaction((CREATED, 1))
    assert spender is not None and spender.tx_id.hex() == spender_id
    (listing,) = [r for r in server.requests if r.path.startswith("/addresses/")]
    assert listing.query.get("from") == "90"
