"""Plutus V3 evaluation on the devnet: the project's own OpShin validator and NEWM's mainnet queue.

Transactions are built by hand (cbor2 and `tx.body`), so each test controls exactly the witness
set, the redeemer form and the body fields the script context is made from. The context's shape is
cross-checked by decoding it with OpShin's independent V3 ledger types (pycardano-based).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cbor2
import pytest

from cardano_market.chain.devnet.plutus import evaluate_scripts
from cardano_market.chain.devnet.plutus_scripts import (
    ScriptContextError,
    ScriptFailure,
    UnsupportedScriptError,
    flat_bytes,
    script_cbor,
)
from cardano_market.chain.devnet.script_context import ContextBuilder, plutus_redeemers
from cardano_market.contracts import load_script
from cardano_market.contracts.build import build
from cardano_market.domain.cip30 import OutRef, Utxo
from cardano_market.domain.datums import QueueDatum, Token, Wallet
from cardano_market.domain.hashes import script_hash
from cardano_market.domain.params import ProtocolParameters, default_parameters
from cardano_market.domain.slots import SlotConfig
from cardano_market.ledger.exunits import ExUnits
from cardano_market.ledger.parse import parse_transaction
from cardano_market.ledger.scripts import PLUTUS_V2, PLUTUS_V3
from cardano_market.tx.body import body_hash, encode_body, encode_transaction
from interop.csl import interop_required

NEWM_DIR = Path(__file__).resolve().parents[4] / "shared" / "contracts" / "newm-mainnet"
NEWM_QUEUE_HASH = "fd4572b20a1d76e7dc0aaa548579bacc2b318a4862a7e12f94b7e76d"  # PROTOCOL section 2
NEWM_STAKE_SCRIPT = bytes.fromhex("db7245ff4fe23633e2c10ef62374ca6b64efd80d31fc3f7c431386e0")
NEWM_TOKEN = (bytes.fromhex("682fe60c9918842b3323c43b5144bc3d52a23bd2fb81345560d73f63"), b"NEWM")

SLOTS = SlotConfig(zero_time_ms=1_700_000_000_000, zero_slot=0, slot_length_ms=1000)
BIG_BUDGET = [14_000_000, 10_000_000_000]
FEE_PAYER = bytes.fromhex("61") + b"\x0f" * 28  # mainnet enterprise key address (header 0x61)


# -- helpers --------------------------------------------------------------------------------------


def params() -> ProtocolParameters:
    return default_parameters()


def ref(n: int, ix: int = 0) -> OutRef:
    return (bytes([n]) * 32, ix)


def output(
    address: bytes,
    value: Any,
    *,
    inline: bytes | None = None,
    datum_hash: bytes | None = None,
    script_ref: bytes | None = None,
) -> bytes:
    out: dict[int, Any] = {0: address, 1: value}
    if inline is not None:
        out[2] = [1, cbor2.CBORTag(24, inline)]
    elif datum_hash is not None:
        out[2] = [0, datum_hash]
    if script_ref is not None:
        out[3] = cbor2.CBORTag(24, cbor2.dumps([3, script_ref]))
    return cbor2.dumps(out)


def utxo(out_ref: OutRef, out: bytes) -> Utxo:
    return Utxo.from_cbor(b"\x82" + cbor2.dumps(list(out_ref)) + out)


def script_address(script: bytes, stake_script: bytes | None = None) -> bytes:
    """Mainnet-style script address: 0x71 enterprise, 0x31 with a script stake part."""
    if stake_script is None:
        return b"\x71" + script_hash(PLUTUS_V3, script)
    return b"\x31" + script_hash(PLUTUS_V3, script) + stake_script


def transaction(
    inputs: list[OutRef],
    outputs: list[bytes],
    redeemers: bytes,
    *,
    v3_scripts: Sequence[bytes] = (),
    v2_scripts: Sequence[bytes] = (),
    datums: Sequence[bytes] = (),
    signers: Sequence[bytes] = (),
    reference_inputs: Sequence[OutRef] = (),
    ttl: int | None = None,
    start: int | None = None,
    extra: Sequence[tuple[int, bytes]] = (),
) -> bytes:
    fields = list(extra)
    if start is not None:
        fields.append((8, cbor2.dumps(start)))
    if signers:
        fields.append((14, cbor2.dumps(list(signers))))
    if reference_inputs:
        fields.append((18, cbor2.dumps([list(r) for r in sorted(reference_inputs)])))
    body = encode_body(sorted(inputs), outputs, 300_000, ttl, fields)
    witnesses: list[tuple[int, bytes]] = [(5, redeemers)]
    if v2_scripts:
        witnesses.append((6, cbor2.dumps(list(v2_scripts))))
    if v3_scripts:
        witnesses.append((7, cbor2.dumps(list(v3_scripts))))
    if datums:
        witnesses.append((4, bytes([0x80 + len(datums)]) + b"".join(datums)))
    witnesses.sort()
    witness_set = bytes([0xA0 + len(witnesses)]) + b"".join(
        cbor2.dumps(k) + v for k, v in witnesses
    )
    return encode_transaction(body, witness_set)


def redeemer_map(entries: dict[tuple[int, int], tuple[Any, list[int]]]) -> bytes:
    """Conway form `{[tag, index]: [data, [mem, steps]]}`."""
    return cbor2.dumps({key: [data, units] for key, (data, units) in entries.items()})


def plain(data: Any) -> Any:
    """uplc Plutus data as nested Python values: ("C", index, fields), ints, bytes, lists, pairs."""
    kind = type(data).__name__
    if kind == "PlutusConstr":
        return ("C", data.constructor, [plain(f) for f in data.fields])
    if kind == "PlutusList":
        return [plain(x) for x in data.value]
    if kind == "PlutusMap":
        return [(plain(k), plain(v)) for k, v in data.value.items()]
    return data.value


# -- the project's own validator (OpShin) ---------------------------------------------------------

ECHO = load_script("datum_echo", traced=True)  # the failing case reads its message


def echo_lock(datum: bytes = cbor2.dumps(42), **kw: Any) -> tuple[OutRef, Utxo]:
    locked = ref(0x22, 1)
    return locked, utxo(locked, output(script_address(ECHO), 3_000_000, inline=datum, **kw))


def echo_spend(redeemer: Any, units: list[int] = BIG_BUDGET, **kw: Any) -> bytes:
    return transaction(
        [ref(0x22, 1)],
        [cbor2.dumps([FEE_PAYER, 2_700_000])],
        redeemer_map({(0, 0): (redeemer, units)}),
        v3_scripts=[ECHO],
        **kw,
    )


def test_datum_echo_artifact_is_up_to_date(contract_cache: Path | None) -> None:
    """The committed datum_echo.plutus is what `python -m cardano_market.contracts.build` makes."""
    assert build(["datum_echo"], check=True, cache_dir=contract_cache) == []


def test_datum_echo_hash_matches_pycardano() -> None:
    from pycardano import PlutusV3Script, plutus_script_hash

    assert script_hash(PLUTUS_V3, ECHO) == bytes(plutus_script_hash(PlutusV3Script(ECHO)))


def test_matching_redeemer_spends() -> None:
    locked, locked_utxo = echo_lock()
    used = evaluate_scripts(echo_spend(42), {locked: locked_utxo}, params(), SLOTS)
    assert list(used) == [("spend", 0)]
    units = used[("spend", 0)]
    assert 0 < units.mem < BIG_BUDGET[0] and 0 < units.steps < BIG_BUDGET[1]


def test_mismatching_redeemer_fails_with_the_trace() -> None:
    locked, locked_utxo = echo_lock()
    with pytest.raises(ScriptFailure) as failure:
        evaluate_scripts(echo_spend(43), {locked: locked_utxo}, params(), SLOTS)
    assert failure.value.rule == "ScriptFailure"
    assert failure.value.key == ("spend", 0)
    assert any("redeemer does not match the datum" in line for line in failure.value.trace)


def test_structured_datum_compares_as_data() -> None:
    datum = cbor2.CBORTag(121, [b"\x01" * 28, [1, 2, {b"k": 3}]])
    locked, locked_utxo = echo_lock(cbor2.dumps(datum))
    assert evaluate_scripts(echo_spend(datum), {locked: locked_utxo}, params(), SLOTS)
    other = cbor2.CBORTag(121, [b"\x01" * 28, [1, 2, {b"k": 4}]])
    with pytest.raises(ScriptFailure):
        evaluate_scripts(echo_spend(other), {locked: locked_utxo}, params(), SLOTS)


def test_declared_budget_is_enforced_to_the_unit() -> None:
    locked, locked_utxo = echo_lock()
    resolved = {locked: locked_utxo}
    placeholder = echo_spend(42, [0, 0])
    with pytest.raises(ScriptFailure, match="over budget"):
        evaluate_scripts(placeholder, resolved, params(), SLOTS)
    used = evaluate_scripts(placeholder, resolved, params(), SLOTS, enforce_budget=False)
    exact = used[("spend", 0)]
    assert evaluate_scripts(
        echo_spend(42, [exact.mem, exact.steps]), resolved, params(), SLOTS
    ) == {("spend", 0): exact}
    for short in ([exact.mem - 1, exact.steps], [exact.mem, exact.steps - 1]):
        with pytest.raises(ScriptFailure, match="over budget"):
            evaluate_scripts(echo_spend(42, short), resolved, params(), SLOTS)


def test_legacy_array_redeemers_are_read() -> None:
    locked, locked_utxo = echo_lock()
    tx = transaction(
        [locked],
        [cbor2.dumps([FEE_PAYER, 2_700_000])],
        cbor2.dumps([[0, 0, 42, BIG_BUDGET]]),
        v3_scripts=[ECHO],
    )
    assert set(evaluate_scripts(tx, {locked: locked_utxo}, params(), SLOTS)) == {("spend", 0)}
    bad = transaction(
        [locked],
        [cbor2.dumps([FEE_PAYER, 2_700_000])],
        cbor2.dumps([[0, 0, 7, BIG_BUDGET]]),
        v3_scripts=[ECHO],
    )
    with pytest.raises(ScriptFailure):
        evaluate_scripts(bad, {locked: locked_utxo}, params(), SLOTS)


def test_datum_by_hash_comes_from_the_witness_set() -> None:
    datum = cbor2.dumps(cbor2.CBORTag(122, [7]))
    digest = hashlib.blake2b(datum, digest_size=32).digest()
    locked = ref(0x22, 1)
    resolved = {locked: utxo(locked, output(script_address(ECHO), 3_000_000, datum_hash=digest))}
    redeemer = cbor2.CBORTag(122, [7])
    with_datum = echo_spend(redeemer, datums=[datum])
    assert evaluate_scripts(with_datum, resolved, params(), SLOTS)
    with pytest.raises(ScriptContextError) as missing:
        evaluate_scripts(echo_spend(redeemer), resolved, params(), SLOTS)
    assert missing.value.rule == "MissingRequiredDatums"


def test_reference_script_is_found_and_a_missing_script_is_named() -> None:
    locked, locked_utxo = echo_lock()
    holder = ref(0x33, 0)
    holder_utxo = utxo(holder, output(FEE_PAYER, 20_000_000, script_ref=ECHO))
    tx = transaction(
        [locked],
        [cbor2.dumps([FEE_PAYER, 2_700_000])],
        redeemer_map({(0, 0): (42, BIG_BUDGET)}),
        reference_inputs=[holder],
    )
    resolved = {locked: locked_utxo, holder: holder_utxo}
    assert set(evaluate_scripts(tx, resolved, params(), SLOTS)) == {("spend", 0)}
    no_script = transaction(
        [locked], [cbor2.dumps([FEE_PAYER, 2_700_000])], redeemer_map({(0, 0): (42, BIG_BUDGET)})
    )
    with pytest.raises(ScriptContextError) as missing:
        evaluate_scripts(no_script, resolved, params(), SLOTS)
    assert missing.value.rule == "MissingScriptWitnessesUTXOW"
    assert script_hash(PLUTUS_V3, ECHO).hex() in str(missing.value)


def test_redeemer_index_follows_ledger_input_order() -> None:
    locked, locked_utxo = echo_lock()  # tx id 0x22..: sorts after the 0x11.. key input
    wallet = ref(0x11, 5)
    resolved = {locked: locked_utxo, wallet: utxo(wallet, output(FEE_PAYER, 9_000_000))}
    outputs = [cbor2.dumps([FEE_PAYER, 11_000_000])]
    good = transaction(
        [locked, wallet], outputs, redeemer_map({(0, 1): (42, BIG_BUDGET)}), v3_scripts=[ECHO]
    )
    assert set(evaluate_scripts(good, resolved, params(), SLOTS)) == {("spend", 1)}
    wrong = transaction(
        [locked, wallet], outputs, redeemer_map({(0, 0): (42, BIG_BUDGET)}), v3_scripts=[ECHO]
    )
    with pytest.raises(ScriptContextError) as extra:
        evaluate_scripts(wrong, resolved, params(), SLOTS)
    assert extra.value.rule == "ExtraRedeemers"


def test_unresolved_input_is_a_bad_input() -> None:
    with pytest.raises(ScriptContextError) as bad:
        evaluate_scripts(echo_spend(42), {}, params(), SLOTS)
    assert bad.value.rule == "BadInputsUTxO"


def test_plutus_v2_is_refused_clearly() -> None:
    v2 = cbor2.dumps(bytes.fromhex("0100003233"))
    locked = ref(0x44, 0)
    address = b"\x71" + script_hash(PLUTUS_V2, v2)
    resolved = {locked: utxo(locked, output(address, 3_000_000, inline=cbor2.dumps(1)))}
    tx = transaction(
        [locked],
        [cbor2.dumps([FEE_PAYER, 2_700_000])],
        redeemer_map({(0, 0): (1, BIG_BUDGET)}),
        v2_scripts=[v2],
    )
    with pytest.raises(UnsupportedScriptError, match="PlutusV2"):
        evaluate_scripts(tx, resolved, params(), SLOTS)


def test_no_redeemers_runs_nothing() -> None:
    wallet = ref(0x11, 0)
    body = encode_body([wallet], [cbor2.dumps([FEE_PAYER, 1_000_000])], 200_000)
    resolved = {wallet: utxo(wallet, output(FEE_PAYER, 1_200_000))}
    assert evaluate_scripts(encode_transaction(body), resolved, params(), SLOTS) == {}


@pytest.mark.parametrize("purpose", ["mint", "reward"])
def test_mint_and_reward_redeemers_run_their_script(purpose: str) -> None:
    """datum_echo rejects every purpose but spending: its trace proves the script was reached."""
    echo = script_hash(PLUTUS_V3, ECHO)
    other = b"\x01" * 28  # sorts before the echo policy, so the echo policy is index 1
    wallet = ref(0x11, 0)
    resolved = {wallet: utxo(wallet, output(FEE_PAYER, 9_000_000))}
    if purpose == "mint":
        extra = [(9, cbor2.dumps({echo: {b"t": 1}, other: {b"u": 1}}))]
        tag, index = 1, (0 if echo < other else 1)
    else:
        extra = [(5, cbor2.dumps({b"\xf0" + echo: 0}))]
        tag, index = 3, 0
    tx = transaction(
        [wallet],
        [cbor2.dumps([FEE_PAYER, 8_000_000])],
        redeemer_map({(tag, index): (0, BIG_BUDGET)}),
        v3_scripts=[ECHO],
        extra=extra,
    )
    with pytest.raises(ScriptFailure) as failure:
        evaluate_scripts(tx, resolved, params(), SLOTS)
    assert failure.value.key == (purpose, index)
    assert any("datum_echo only guards spending" in line for line in failure.value.trace)
    past = transaction(
        [wallet],
        [cbor2.dumps([FEE_PAYER, 8_000_000])],
        redeemer_map({(tag, 2): (0, BIG_BUDGET)}),
        v3_scripts=[ECHO],
        extra=extra,
    )
    with pytest.raises(ScriptContextError) as extra_redeemer:
        evaluate_scripts(past, resolved, params(), SLOTS)
    assert extra_redeemer.value.rule == "ExtraRedeemers"


def test_cached_fast_path_matches_a_plain_uplc_run() -> None:
    """Programs renamed once at decoding give the same result and cost as uplc renaming each run."""
    from uplc.cost_model import Budget
    from uplc.machine import Machine
    from uplc.tools import apply, unflatten

    from cardano_market.chain.devnet.plutus import _machine_models, run_script

    locked, locked_utxo = echo_lock()
    tx = echo_spend(42)
    builder = _builder(tx, {locked: locked_utxo})
    redeemer = plutus_redeemers(parse_transaction(tx).redeemers)[0]
    context = builder.context(redeemer, builder.spending_datum(0))
    fast = run_script(ECHO, [context], ExUnits(*BIG_BUDGET), params())
    cek, builtins = _machine_models(None)
    plain_run = Machine(Budget(cpu=BIG_BUDGET[1], memory=BIG_BUDGET[0]), cek, builtins).eval(
        apply(unflatten(ECHO), context)
    )
    assert fast.error is None and type(plain_run.result).__name__ == "BuiltinUnit"
    assert fast.units == ExUnits(mem=plain_run.cost.memory, steps=plain_run.cost.cpu)


def test_raw_cost_model_maps_to_uplcs_parameter_names() -> None:
    """Mainnet's `cost_models_raw` list, named in the ledger's order, is uplc's mainnet model."""
    from uplc.cost_model import PlutusVersion, latest_network_config_plutus

    from cardano_market.chain.devnet.plutus import _network_config

    config = _network_config(params())
    assert config is not None and len(config) == 297
    assert dict(config) == latest_network_config_plutus(PlutusVersion.PlutusV3)


# -- the script context ---------------------------------------------------------------------------


def _builder(tx: bytes, resolved: dict[OutRef, Utxo], slots: SlotConfig = SLOTS) -> ContextBuilder:
    parsed = parse_transaction(tx)
    return ContextBuilder(parsed, resolved, slots, plutus_redeemers(parsed.redeemers))


def test_tx_info_decodes_with_opshins_v3_types() -> None:
    from opshin.ledger.api_v3 import TxInfo
    from uplc.ast import plutus_cbor_dumps

    policy = b"\x05" * 28
    datum = cbor2.dumps(b"witness datum")
    locked, locked_utxo = echo_lock()
    tx = echo_spend(
        42,
        signers=[b"\x09" * 28, b"\x03" * 28],
        datums=[datum],
        ttl=1000,
        start=100,
        extra=[(9, cbor2.dumps({policy: {b"a": 5, b"": -2}})), (22, cbor2.dumps(7))],
    )
    info = TxInfo.from_cbor(plutus_cbor_dumps(_builder(tx, {locked: locked_utxo}).tx_info))
    assert info.id == body_hash(parse_transaction(tx).body)
    assert info.fee == 300_000
    assert info.inputs[0].out_ref.id == locked[0] and info.inputs[0].out_ref.idx == 1
    assert info.inputs[0].resolved.datum.datum == 42
    assert info.mint == {policy: {b"": -2, b"a": 5}}  # no ADA entry in a V3 mint
    assert info.outputs[0].value == {b"": {b"": 2_700_000}}
    assert info.signatories == [b"\x03" * 28, b"\x09" * 28]  # sorted, as the ledger's set
    assert info.datums == {hashlib.blake2b(datum, digest_size=32).digest(): b"witness datum"}
    assert info.validity_range.lower_bound.limit.time == SLOTS.slot_to_posix_ms(100)
    assert info.validity_range.upper_bound.limit.time == SLOTS.slot_to_posix_ms(1000)
    assert info.treasury_donation.value == 7
    assert list(info.redeemers.values()) == [42]


def test_validity_range_closures() -> None:
    locked, locked_utxo = echo_lock()
    resolved = {locked: locked_utxo}
    slots = SlotConfig(zero_time_ms=1_000_000, zero_slot=10, slot_length_ms=500)

    def valid_range(**kw: Any) -> Any:
        return plain(_builder(echo_spend(42, **kw), resolved, slots).tx_info.fields[7])

    neg_inf, pos_inf = ("C", 0, []), ("C", 2, [])
    true, false = ("C", 1, []), ("C", 0, [])
    assert valid_range() == ("C", 0, [("C", 0, [neg_inf, true]), ("C", 0, [pos_inf, true])])
    assert valid_range(start=12, ttl=20) == (
        "C",
        0,
        [("C", 0, [("C", 1, [1_001_000]), true]), ("C", 0, [("C", 1, [1_005_000]), false])],
    )
    assert valid_range(ttl=20) == (
        "C",
        0,
        [("C", 0, [neg_inf, true]), ("C", 0, [("C", 1, [1_005_000]), false])],
    )


def test_output_value_is_ada_first_then_sorted_assets() -> None:
    locked = ref(0x22, 1)
    p1, p2 = b"\x01" * 28, b"\xee" * 28
    value = [3_000_000, {p2: {b"z": 1}, p1: {b"bb": 2, b"a": 3}}]
    resolved = {locked: utxo(locked, output(script_address(ECHO), value, inline=cbor2.dumps(1)))}
    builder = _builder(echo_spend(1), resolved)
    tx_in = plain(builder.tx_info.fields[0])[0]
    assert tx_in[2][1][2][1] == [
        (b"", [(b"", 3_000_000)]),
        (p1, [(b"a", 3), (b"bb", 2)]),
        (p2, [(b"z", 1)]),
    ]


def test_withdrawals_put_script_credentials_first() -> None:
    locked, locked_utxo = echo_lock()
    key_account = b"\xe0" + b"\x01" * 28
    script_account = b"\xf0" + b"\x02" * 28
    tx = echo_spend(42, extra=[(5, cbor2.dumps({key_account: 5, script_account: 7}))])
    withdrawals = plain(_builder(tx, {locked: locked_utxo}).tx_info.fields[6])
    assert withdrawals == [(("C", 1, [b"\x02" * 28]), 7), (("C", 0, [b"\x01" * 28]), 5)]


def test_certificates_votes_and_proposals_are_translated() -> None:
    locked, locked_utxo = echo_lock()
    cred, pool, gov_tx = b"\x0a" * 28, b"\x0b" * 28, b"\x0c" * 32
    certs = [[7, [1, cred], 2_000_000], [13, [0, cred], pool, [2], 2_000_000], [17, [1, cred], 5]]
    votes = {
        (4, pool): {(gov_tx, 1): [0, None]},
        (3, cred): {(gov_tx, 0): [1, None], (b"\x01" * 32, 2): [2, None]},
    }
    proposals = [[100, b"\xe0" + cred, [6], ["https://x", b"\x00" * 32]]]
    extra = [
        (4, cbor2.dumps(certs)),
        (19, cbor2.dumps(votes)),
        (20, cbor2.dumps(proposals)),
        (21, cbor2.dumps(10**12)),
    ]
    info = plain(_builder(echo_spend(42, extra=extra), {locked: locked_utxo}).tx_info)
    script_cred, key_cred = ("C", 1, [cred]), ("C", 0, [cred])
    assert info[2][5] == [
        ("C", 0, [script_cred, ("C", 0, [2_000_000])]),  # TxCertRegStaking cred (Just deposit)
        ("C", 3, [key_cred, ("C", 2, [pool, ("C", 1, [])]), 2_000_000]),  # RegDeleg, abstain
        ("C", 6, [script_cred, 5]),  # TxCertUnRegDRep
    ]
    assert info[2][12] == [  # DRep voters before stake pools; action ids in (tx id, index) order
        (
            ("C", 1, [script_cred]),
            [(("C", 0, [b"\x01" * 32, 2]), ("C", 2, [])), (("C", 0, [gov_tx, 0]), ("C", 1, []))],
        ),
        (("C", 2, [pool]), [(("C", 0, [gov_tx, 1]), ("C", 0, []))]),
    ]
    assert info[2][13] == [("C", 0, [100, key_cred, ("C", 6, [])])]  # InfoAction
    assert info[2][14] == ("C", 0, [10**12])
    assert info[2][15] == ("C", 1, [])


def test_spending_script_info_carries_the_datum() -> None:
    locked, locked_utxo = echo_lock()
    tx = echo_spend(42)
    builder = _builder(tx, {locked: locked_utxo})
    redeemer = plutus_redeemers(parse_transaction(tx).redeemers)[0]
    context = plain(builder.context(redeemer, builder.spending_datum(0)))
    assert context[1] == 0 and context[2][1] == 42
    assert context[2][2] == ("C", 1, [("C", 0, [locked[0], 1]), ("C", 0, [42])])


# -- script bytes ---------------------------------------------------------------------------------


def test_script_forms_share_one_hash() -> None:
    flat = flat_bytes(ECHO)
    assert flat[:3] == b"\x01\x01\x00"  # UPLC 1.1.0
    single = script_cbor(flat)
    assert single == ECHO == script_cbor(cbor2.dumps(ECHO))
    expected = hashlib.blake2b(b"\x03" + ECHO, digest_size=28).digest()
    assert {script_hash(PLUTUS_V3, script_cbor(s)) for s in (flat, ECHO, cbor2.dumps(ECHO))} == {
        expected
    }
    assert script_hash(PLUTUS_V2, ECHO) != script_hash(PLUTUS_V3, ECHO)


# -- NEWM's deployed mainnet queue script ---------------------------------------------------------


@pytest.fixture(scope="module")
def newm_queue() -> bytes:
    path = NEWM_DIR / "queue.plutus"
    if not path.exists():
        message = f"NEWM mainnet contracts not found at {NEWM_DIR} (../shared is absent)"
        if interop_required():
            pytest.fail(message)
        pytest.skip(message)
    envelope = json.loads(path.read_text())
    assert envelope["type"] == "PlutusScriptV3"
    script = cbor2.loads(bytes.fromhex(envelope["cborHex"]))
    assert isinstance(script, bytes)
    return script


OWNER = bytes.fromhex("5a1e") + b"\x0e" * 26


def _queue_cancel(
    script: bytes, *, signers: list[bytes], by_reference: bool = False
) -> tuple[bytes, dict[OutRef, Utxo]]:
    datum = QueueDatum(
        Wallet(OWNER, b"\x0d" * 28),
        3,
        Token(NEWM_TOKEN[0], NEWM_TOKEN[1], 5_000_000),
        bytes.fromhex("ca11ab1e") + b"\x07" * 28,
    )
    queued = ref(0x51, 0)
    value = [4_504_110, {NEWM_TOKEN[0]: {NEWM_TOKEN[1]: 90_000_000}}]
    address = script_address(script, NEWM_STAKE_SCRIPT)
    resolved = {queued: utxo(queued, output(address, value, inline=datum.to_cbor()))}
    refund = cbor2.dumps([b"\x01" + OWNER + b"\x0d" * 28, [4_204_110, value[1]]])
    redeemers = redeemer_map({(0, 0): (cbor2.CBORTag(123, []), BIG_BUDGET)})  # QueueCancel
    if by_reference:
        holder = ref(0x52, 3)
        resolved[holder] = utxo(holder, output(FEE_PAYER, 30_000_000, script_ref=script))
        tx = transaction([queued], [refund], redeemers, signers=signers, reference_inputs=[holder])
    else:
        tx = transaction([queued], [refund], redeemers, signers=signers, v3_scripts=[script])
    return tx, resolved


def test_newm_queue_hash_matches_protocol(newm_queue: bytes) -> None:
    assert script_hash(PLUTUS_V3, newm_queue).hex() == NEWM_QUEUE_HASH


def test_newm_queue_cancel_by_owner_succeeds(newm_queue: bytes) -> None:
    tx, resolved = _queue_cancel(newm_queue, signers=[OWNER])
    evaluate_scripts(tx, resolved, params(), SLOTS)  # warm: uplc import and flat decoding
    started = time.perf_counter()
    used = evaluate_scripts(tx, resolved, params(), SLOTS)
    elapsed = time.perf_counter() - started
    units = used[("spend", 0)]
    assert 0 < units.mem < BIG_BUDGET[0] and 0 < units.steps < BIG_BUDGET[1]
    print(f"NEWM queue QueueCancel: {elapsed * 1000:.1f} ms, {units}")


def test_newm_queue_cancel_by_reference_script(newm_queue: bytes) -> None:
    tx, resolved = _queue_cancel(newm_queue, signers=[OWNER], by_reference=True)
    assert parse_transaction(tx).plutus_scripts == []  # the script comes from the reference input
    assert set(evaluate_scripts(tx, resolved, params(), SLOTS)) == {("spend", 0)}
    unsigned, unsigned_resolved = _queue_cancel(newm_queue, signers=[], by_reference=True)
    with pytest.raises(ScriptFailure):
        evaluate_scripts(unsigned, unsigned_resolved, params(), SLOTS)


def test_newm_queue_cancel_without_owner_signature_fails(newm_queue: bytes) -> None:
    for signers in ([], [b"\x0c" * 28]):
        tx, resolved = _queue_cancel(newm_queue, signers=signers)
        with pytest.raises(ScriptFailure) as failure:
            evaluate_scripts(tx, resolved, params(), SLOTS)
        assert failure.value.key == ("spend", 0)
        assert NEWM_QUEUE_HASH in str(failure.value)


def test_newm_queue_cancel_units_fit_a_declared_budget(newm_queue: bytes) -> None:
    tx, resolved = _queue_cancel(newm_queue, signers=[OWNER])
    units = evaluate_scripts(tx, resolved, params(), SLOTS)[("spend", 0)]
    assert isinstance(units, ExUnits)
    tight = transaction(
        [ref(0x51, 0)],
        [parse_transaction(tx).outputs[0].output_cbor],
        redeemer_map({(0, 0): (cbor2.CBORTag(123, []), [units.mem, units.steps])}),
        signers=[OWNER],
        v3_scripts=[newm_queue],
    )
    assert evaluate_scripts(tight, resolved, params(), SLOTS) == {("spend", 0): units}
