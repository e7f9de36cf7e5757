"""Independent checks of a built transaction: decode with cbor2 and re-derive every ledger rule.

Nothing here calls the builder's own encoders or balancing code: amounts are summed from the
decoded CBOR, sizes are measured on the signed bytes, min-ADA and the fee are recomputed from
the protocol parameters with the textbook formulas.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from fractions import Fraction
from typing import Any, Protocol

import cbor2

from cardano_market.domain.cbor import item_end, split_array, split_map
from cardano_market.domain.cip30 import OutRef, Utxo
from cardano_market.domain.keys import PaymentKey
from cardano_market.domain.params import ProtocolParameters
from cardano_market.ledger.witness import sign_transaction, splice_witnesses


def _amount(raw: Any) -> Counter[str]:
    total: Counter[str] = Counter()
    if isinstance(raw, int):
        total["lovelace"] += raw
        return total
    coin, multiasset = raw
    total["lovelace"] += coin
    for policy, names in multiasset.items():
        for name, qty in names.items():
            assert qty > 0, "zero or negative quantity in an output"
            total[policy.hex() + name.hex()] += qty
    return total


def decode(tx: bytes) -> tuple[dict[int, Any], Any]:
    obj = cbor2.loads(tx)
    assert isinstance(obj, list) and len(obj) == 4, "a Conway tx is a 4-element array"
    assert obj[2] is True
    return obj[0], obj[1]


def outputs_of(body: dict[int, Any]) -> list[dict[int, Any]]:
    outs = []
    for out in body[1]:
        outs.append(out if isinstance(out, dict) else {0: out[0], 1: out[1]})
    return outs


def check_transaction(
    tx: bytes,
    utxos: Iterable[Utxo],
    params: ProtocolParameters,
    keys: Iterable[PaymentKey],
) -> dict[str, Any]:
    """Assert the unsigned `tx` is valid once the wallet's `keys` sign it; return facts about it."""
    by_ref = {(u.tx_hash, u.index): u for u in utxos}
    body, witnesses = decode(tx)
    assert witnesses == {}, "an unsigned transaction carries no witnesses"
    inputs = _raw_inputs(tx)
    assert set(inputs) == {tuple(i) for i in body[0]}
    assert inputs == sorted(inputs), "inputs in ledger order"
    assert len(set(inputs)) == len(inputs), "no input twice"
    consumed: Counter[str] = Counter()
    for ref in inputs:
        assert ref in by_ref, f"input {ref[0].hex()}#{ref[1]} is not one of the wallet's UTxOs"
        consumed += _amount(cbor2.loads(by_ref[ref].output_cbor)[1])  # array or map: [1] is amount
    produced: Counter[str] = Counter()
    for out in outputs_of(body):
        produced += _amount(out[1])
    fee = body[2]
    produced["lovelace"] += fee
    assert consumed == produced, f"value not conserved: consumed {consumed} produced {produced}"

    # Sign as the wallet would (only the keys its spent inputs need) and splice: the id stays.
    needed = {by_ref[ref].address[1:29] for ref in inputs}
    signers = [k.seed for k in keys if k.hash in needed]
    assert len(signers) == len(needed), "a spent input belongs to none of the wallet's keys"
    tx_id = _tx_id(tx)
    signed = splice_witnesses(tx, sign_transaction(tx, signers))
    assert _tx_id(signed) == tx_id, "signing changed the transaction id"
    size = len(signed)
    assert size <= params.max_tx_size
    minimum = params.min_fee_a * size + params.min_fee_b
    assert fee >= minimum, f"fee {fee} below the minimum {minimum} for {size} bytes"

    # min-ADA per output, measured on the output's own bytes as they sit in the transaction.
    for i, raw in enumerate(_raw_outputs(tx)):
        amount = cbor2.loads(raw)[1]
        coin = _amount(amount)["lovelace"]
        need = (160 + len(raw)) * params.coins_per_utxo_byte
        assert coin >= need, f"output {i} holds {coin} lovelace, min-ADA is {need}"
        value_size = len(cbor2.dumps(amount))
        assert value_size <= params.max_val_size, f"output {i} value is {value_size} bytes"
    return {
        "fee": fee,
        "size": size,
        "min_fee": minimum,
        "signed": signed,
        "tx_id": tx_id,
        "inputs": inputs,
        "body": body,
    }


def expected_min_ada(output: bytes, params: ProtocolParameters) -> int:
    """The min-ADA of an output from its own bytes: (160 + size) x coinsPerUTxOByte."""
    return (160 + len(output)) * params.coins_per_utxo_byte


def expected_min_fee(
    params: ProtocolParameters, size: int, mem: int = 0, steps: int = 0, ref_bytes: int = 0
) -> int:
    """44 * size + 155381 + ceil(0.0577 mem + 0.0000721 steps) + the tiered ref-script fee
    (15 lovelace a byte, the price x1.2 every 25,600 bytes), written out from the ledger's rules."""
    fee = params.min_fee_a * size + params.min_fee_b
    if mem or steps:
        fee += math.ceil(Fraction(577, 10_000) * mem + Fraction(721, 10_000_000) * steps)
    acc, price, left = Fraction(0), Fraction(15), ref_bytes
    while left > 0:
        chunk = min(left, 25_600)
        acc += chunk * price
        price *= Fraction(6, 5)
        left -= chunk
    return fee + math.floor(acc)


def script_min_fee(
    signed: bytes, params: ProtocolParameters, ref_script_size: Callable[[OutRef], int]
) -> int:
    """The ledger's minimum fee for the signed transaction `signed`, read from its bytes with
    cbor2: its size, the ex-units its redeemers declare, and the bytes of every reference script
    its inputs and reference inputs carry (`ref_script_size` of each out-ref, 0 for none)."""
    body, witness_set = cbor2.loads(signed)[:2]
    redeemers = witness_set.get(5, [])
    units = (
        [unit for _data, unit in redeemers.values()]
        if isinstance(redeemers, dict)
        else [r[3] for r in redeemers]
    )

    def refs(key: int) -> list[Any]:
        found = body.get(key, [])
        return list(getattr(found, "value", found))  # a #6.258 set or a plain array

    ref_bytes = sum(ref_script_size((tx_id, index)) for tx_id, index in [*refs(0), *refs(18)])
    return expected_min_fee(
        params,
        len(signed),
        sum(mem for mem, _steps in units),
        sum(steps for _mem, steps in units),
        ref_bytes,
    )


class _History(Protocol):
    def utxo(self, ref: OutRef) -> Utxo | None: ...
    def transaction(self, tx_id: bytes) -> Any: ...


def ledger_ref_script_size(
    ledger: _History, seen: Mapping[OutRef, Utxo] | None = None
) -> Callable[[OutRef], int]:
    """Reference-script bytes at an out-ref of a devnet `ledger`: the UTxO's `script_ref` while
    unspent (or as `seen` before it was spent), else the output as its transaction wrote it."""

    def size(ref: OutRef) -> int:
        utxo = ledger.utxo(ref) or (seen or {}).get(ref)
        if utxo is not None:
            return 0 if utxo.script_ref is None else len(cbor2.loads(utxo.script_ref)[1])
        record = ledger.transaction(ref[0])
        assert record is not None and record.cbor, (
            f"{ref[0].hex()}#{ref[1]} is spent and its output unknown: resolve before submitting"
        )
        output = cbor2.loads(record.cbor)[0][1][ref[1]]
        if not isinstance(output, dict) or 3 not in output:
            return 0
        return len(cbor2.loads(output[3].value)[1])  # #6.24(bytes .cbor [language, script])

    return size


def _tx_id(tx: bytes) -> bytes:
    end = item_end(tx, 1)
    return hashlib.blake2b(tx[1:end], digest_size=32).digest()


def _body_field(tx: bytes, wanted: int) -> bytes:
    pairs, _ = split_map(tx, 1)
    for key, value in pairs:
        if cbor2.loads(key) == wanted:
            return value
    raise AssertionError(f"body has no field {wanted}")


def _raw_outputs(tx: bytes) -> list[bytes]:
    """The exact bytes of each output, found by walking the body map."""
    value = _body_field(tx, 1)
    spans, _ = split_array(value)
    return [value[a:b] for a, b in spans]


def _raw_inputs(tx: bytes) -> list[tuple[bytes, int]]:
    """Inputs in written order (cbor2 turns the tag-258 set into an unordered frozenset)."""
    value = _body_field(tx, 0)
    assert value[:3] == b"\xd9\x01\x02", "inputs are written as a tag-258 set"
    spans, _ = split_array(value, 3)
    return [tuple(cbor2.loads(value[a:b])) for a, b in spans]  # type: ignore[misc]
