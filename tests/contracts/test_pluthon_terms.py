"""The hand-written pluthon terms (contracts/pluthon_terms.py) against plain Python definitions.

Each term is declared in a small OpShin probe validator the way the queue and the vault declare
it, compiled with the deployed build's flags, and its answer compared with the definition over
hypothesis-drawn inputs. `value_is`: values (in one consistent order per example, as the ledger
writes both values of a transaction) and deltas, including repeated assets, assets only the
deltas name, amounts that cancel and results that would go negative; the oracle is `base` plus
the summed deltas, zero entries dropped. The input counts, the datum-shape checks (answering
and decode-or-fail), the batcher certificate, the walks that find an input or output, the
lookups (`quantity`, `delta_of`, `signed_by`), `script_address` and `reference_datum` likewise,
each against its definition written here in Python. A term that may fail must fail with its
own error or an unpacking builtin's, never by handing a wrong kind of value on.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

uplc = pytest.importorskip("uplc", reason="evaluating Plutus scripts needs uplc")

from uplc import ast as U  # noqa: E402

from cardano_market.contracts import pluthon_terms  # noqa: E402


@functools.cache
def deployed_config() -> Any:
    """The compiler configuration `TRACE_FREE_FLAGS` give on opshin's command line (parsed once:
    opshin's parser consumes its option table)."""
    from opshin.__main__ import parse_args
    from opshin.compiler_config import ARGPARSE_ARGS, DEFAULT_CONFIG, OPT_CONFIGS, CompilationConfig

    from cardano_market.contracts.build import TRACE_FREE_FLAGS

    argv, sys.argv = sys.argv, ["opshin", *TRACE_FREE_FLAGS, "build", "probe.py"]
    try:
        args = parse_args()
    finally:
        sys.argv = argv
    # how opshin.__main__ turns the parsed flags into a configuration
    overrides = {k: getattr(args, k) for k in ARGPARSE_ARGS if getattr(args, k) is not None}
    return DEFAULT_CONFIG.update(OPT_CONFIGS[args.opt_level]).update(CompilationConfig(**overrides))


def compiled_probe(source: str, *, may_fail: bool = False) -> Callable[[U.PlutusData], Any]:
    """Compile an OpShin probe validator (returning an int) as `contracts.build` compiles the
    deployed scripts: with the hand-written terms registered and `TRACE_FREE_FLAGS`, then the
    forced builtins hoisted."""
    from opshin.builder import _compile

    from cardano_market.contracts.hoist_builtins import hoist_forced_builtins

    pluthon_terms.register()
    config = deployed_config()
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 20_000))
    try:
        program = hoist_forced_builtins(_compile(source, config=config))
    finally:
        sys.setrecursionlimit(limit)

    def run(argument: U.PlutusData) -> int | None:
        """The probe's answer; None when it failed (only a probe that `may_fail`)."""
        result = uplc.eval(U.Apply(program.term, argument)).result
        if may_fail and isinstance(result, Exception):
            # the term's own failure: its error, or a builtin that unpacks refusing a part;
            # never a wrong kind of value reaching the probe (e.g. a lambda as a condition)
            assert str(result) == "Execution called Error" or any(
                str(result).startswith(f"Error when evaluating builtin BuiltInFun.{name} ")
                for name in ("UnBData", "UnIData", "UnConstrData", "HeadList")
            ), str(result)[:200]
            return None
        assert isinstance(result, U.BuiltinInteger), result  # an answer, never a failure
        return int(result.value)

    return run


def predicate_probe(name: str) -> str:
    """A probe returning 1 when the term `name(d: Anything) -> bool` holds for its argument."""
    return f"""
from opshin.bridge import wraps_builtin
from opshin.prelude import *


@wraps_builtin
def {name}(d: Anything) -> bool:
    pass


def validator(d: Anything) -> int:
    if {name}(d):
        return 1
    return 0
"""


PROBE = """
from opshin.bridge import wraps_builtin
from opshin.prelude import *


@dataclass()
class TokenAmount(PlutusData):
    CONSTR_ID = 0
    pid: bytes
    tkn: bytes
    amt: int


@dataclass()
class Case(PlutusData):
    CONSTR_ID = 0
    actual: Value
    base: Value
    deltas: List[TokenAmount]


@wraps_builtin
def value_is(actual: Value, base: Value, deltas: List[TokenAmount]) -> bool:
    pass


def validator(c: Case) -> int:
    if value_is(c.actual, c.base, c.deltas):
        return 1
    return 0
"""

Asset = tuple[bytes, bytes]
Holdings = dict[Asset, int]
Delta = tuple[bytes, bytes, int]
Order = Callable[[bytes], Any]  # a sort key: the order the ledger writes names in

POLICIES = [b"", bytes(28), b"\x01" * 28, b"\x80" + bytes(27), b"\xff" * 28]
NAMES = [b"", b"a", b"b", b"ab", b"USD", b"\xff"]


@pytest.fixture(scope="module")
def verdict() -> Callable[[Holdings, Holdings, list[Delta], Order], bool]:
    probe = compiled_probe(PROBE)

    def run(actual: Holdings, base: Holdings, deltas: list[Delta], order: Order) -> bool:
        case = U.PlutusConstr(
            0,
            [
                _value(actual, order),
                _value(base, order),
                U.PlutusList(
                    [
                        U.PlutusConstr(
                            0,
                            [U.PlutusByteString(p), U.PlutusByteString(t), U.PlutusInteger(a)],
                        )
                        for p, t, a in deltas
                    ]
                ),
            ],
        )
        return bool(probe(case))

    return run


def _value(holdings: Holdings, order: Order) -> U.PlutusMap:
    """A ledger value: no zero entries, ADA included, policies and names in `order`."""
    policies: dict[bytes, dict[bytes, int]] = {}
    for (pid, tkn), amount in holdings.items():
        if amount != 0:
            policies.setdefault(pid, {})[tkn] = amount
    return U.PlutusMap(
        {
            U.PlutusByteString(pid): U.PlutusMap(
                {
                    U.PlutusByteString(tkn): U.PlutusInteger(names[tkn])
                    for tkn in sorted(names, key=order)
                }
            )
            for pid, names in sorted(policies.items(), key=lambda p: order(p[0]))
        }
    )


def expected(base: Holdings, deltas: list[Delta]) -> Holdings:
    """The definition: base plus every delta, zero entries dropped."""
    result = dict(base)
    for pid, tkn, amount in deltas:
        result[(pid, tkn)] = result.get((pid, tkn), 0) + amount
    return {asset: amount for asset, amount in result.items() if amount != 0}


def _holds(actual: Holdings, want: Holdings) -> bool:
    return {a: n for a, n in actual.items() if n != 0} == want


ORDERS: dict[str, Order] = {
    "bytewise": lambda b: b,
    "length first": lambda b: (len(b), b),
}

assets = st.tuples(st.sampled_from(POLICIES[1:]), st.sampled_from(NAMES))
holdings = st.builds(
    lambda ada, tokens: {(b"", b""): ada, **tokens},
    st.integers(1, 10),
    st.dictionaries(assets, st.integers(1, 10), max_size=5),
)
deltas = st.lists(
    st.tuples(st.sampled_from(POLICIES), st.sampled_from(NAMES), st.integers(-12, 12)),
    max_size=5,
)


@pytest.mark.parametrize("order", ORDERS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(base=holdings, changes=deltas, other=holdings, exact=st.booleans(), data=st.data())
def test_value_is_agrees_with_the_definition(
    verdict: Callable[..., bool],
    order: str,
    base: Holdings,
    changes: list[Delta],
    other: Holdings,
    exact: bool,
    data: st.DataObject,
) -> None:
    want = expected(base, changes)
    if exact and all(amount > 0 for amount in want.values()):
        actual = dict(want)
        if data.draw(st.booleans(), label="perturb"):
            asset = data.draw(st.tuples(st.sampled_from(POLICIES), st.sampled_from(NAMES)))
            actual[asset] = actual.get(asset, 0) + data.draw(st.sampled_from([-1, 1, 5]))
        actual = {a: n for a, n in actual.items() if n > 0}
    else:
        actual = other
    assert verdict(actual, base, changes, ORDERS[order]) == _holds(actual, want)


def test_the_exact_payout_of_a_purchase_and_its_near_misses(verdict: Callable[..., bool]) -> None:
    """The queue's own case: the order pays the sale's cost, the fee and receives the songs."""
    usd, song = (b"\x02" * 28, b"USD"), (b"\x01" * 28, b"song")
    base = {(b"", b""): 3_000_000, usd: 50_000_000}
    changes = [(usd[0], usd[1], -49_000_000), (b"", b"", -300_000), (song[0], song[1], 10)]
    paid = {(b"", b""): 2_700_000, usd: 1_000_000, song: 10}
    order = ORDERS["bytewise"]
    assert verdict(paid, base, changes, order)
    # the same deltas split in two name one asset twice: they add up
    split = [(usd[0], usd[1], -40_000_000), *changes[1:], (usd[0], usd[1], -9_000_000)]
    assert verdict(paid, base, split, order)
    assert not verdict({**paid, song: 9}, base, changes, order)  # one song short
    assert not verdict({**paid, usd: 1_000_001}, base, changes, order)  # one unit more
    assert not verdict({**paid, (b"\x03" * 28, b"x"): 1}, base, changes, order)  # an extra asset
    without_usd = {asset: n for asset, n in paid.items() if asset != usd}
    assert not verdict(without_usd, base, changes, order)  # the change left out
    # everything taken: the cost's asset drops out of the value, and must be absent
    spent = [(usd[0], usd[1], -50_000_000), *changes[1:]]
    assert verdict(without_usd, base, spent, order)
    assert not verdict(paid, base, spent, order)


COUNT_PROBE = """
from opshin.bridge import wraps_builtin
from opshin.prelude import *


@dataclass()
class Inputs(PlutusData):
    CONSTR_ID = 0
    inputs: List[TxInInfo]
    address: Address


@wraps_builtin
def count_inputs_at(inputs: List[TxInInfo], address: Address) -> int:
    pass


@wraps_builtin
def count_inputs_locked_by(inputs: List[TxInInfo], credential: Credential) -> int:
    pass


def validator(c: Inputs) -> int:
    return 100 * count_inputs_at(c.inputs, c.address) + count_inputs_locked_by(
        c.inputs, c.address.payment_credential
    )
"""

# (payment: key 0 or script 1, its hash, stake hash or None)
PlainAddress = tuple[int, bytes, bytes | None]


def _address(address: PlainAddress) -> U.PlutusConstr:
    kind, payment, stake = address
    credential = U.PlutusConstr(kind, [U.PlutusByteString(payment)])
    if stake is None:
        staking = U.PlutusConstr(1, [])
    else:
        hashed = U.PlutusConstr(0, [U.PlutusConstr(0, [U.PlutusByteString(stake)])])
        staking = U.PlutusConstr(0, [hashed])
    return U.PlutusConstr(0, [credential, staking])


Holding = dict[bytes, dict[bytes, int]]  # tokens beside 2 lovelace: policy -> name -> amount


def _out_ref(index: int) -> U.PlutusConstr:
    return U.PlutusConstr(0, [U.PlutusByteString(bytes(32)), U.PlutusInteger(index)])


def _input(
    index: int, address: PlainAddress = (0, b"\x01" * 28, None), holding: Holding | None = None
) -> U.PlutusConstr:
    """A TxInInfo: out ref (index `index`), TxOut at `address` holding 2 lovelace and `holding`,
    no datum, no reference script."""
    value = U.PlutusMap(
        {
            U.PlutusByteString(pid): U.PlutusMap(
                {U.PlutusByteString(t): U.PlutusInteger(n) for t, n in sorted(names.items())}
            )
            for pid, names in sorted({b"": {b"": 2}, **(holding or {})}.items())
        }
    )
    output = U.PlutusConstr(
        0, [_address(address), value, U.PlutusConstr(0, []), U.PlutusConstr(1, [])]
    )
    return U.PlutusConstr(0, [_out_ref(index), output])


addresses = st.tuples(
    st.integers(0, 1),
    st.sampled_from([b"\x01" * 28, b"\x02" * 28]),
    st.sampled_from([None, b"\x03" * 28, b"\x04" * 28]),
)


@pytest.fixture(scope="module")
def counts() -> Callable[[list[PlainAddress], PlainAddress], tuple[int, int]]:
    probe = compiled_probe(COUNT_PROBE)

    def run(inputs: list[PlainAddress], address: PlainAddress) -> tuple[int, int]:
        case = U.PlutusConstr(
            0,
            [U.PlutusList([_input(i, a) for i, a in enumerate(inputs)]), _address(address)],
        )
        at, locked = divmod(probe(case), 100)
        return at, locked

    return run


@settings(max_examples=100, deadline=None)
@given(inputs=st.lists(addresses, max_size=6), address=addresses)
def test_inputs_are_counted_by_address_and_by_payment_credential(
    counts: Callable[..., tuple[int, int]], inputs: list[PlainAddress], address: PlainAddress
) -> None:
    at = sum(1 for a in inputs if a == address)
    locked = sum(1 for a in inputs if a[:2] == address[:2])
    assert counts(inputs, address) == (at, locked)


leaves = st.one_of(
    st.integers(-3, 3).map(U.PlutusInteger),
    st.binary(max_size=3).map(U.PlutusByteString),
)
plutus_data = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(U.PlutusList),
        st.dictionaries(leaves, inner, max_size=2).map(U.PlutusMap),
        st.builds(U.PlutusConstr, st.integers(0, 2), st.lists(inner, max_size=3)),
    ),
    max_leaves=6,
)


def _wallet_by_definition(d: U.PlutusData) -> bool:
    return (
        isinstance(d, U.PlutusConstr)
        and d.constructor == 0
        and len(d.fields) == 2
        and all(isinstance(f, U.PlutusByteString) for f in d.fields)
    )


@pytest.fixture(scope="module")
def wallet_verdict() -> Callable[[U.PlutusData], bool]:
    probe = compiled_probe(predicate_probe("is_wallet"))
    return lambda d: bool(probe(d))


@settings(max_examples=200, deadline=None)
@given(
    d=st.one_of(
        plutus_data,
        st.builds(lambda a, b: U.PlutusConstr(0, [a, b]), leaves, leaves),  # near misses
    )
)
def test_is_wallet_is_constructor_0_with_two_byte_strings(
    wallet_verdict: Callable[[U.PlutusData], bool], d: U.PlutusData
) -> None:
    assert wallet_verdict(d) == _wallet_by_definition(d)


CERTIFICATE_PROBE = """
from opshin.bridge import wraps_builtin
from opshin.prelude import *


@dataclass()
class Certificates(PlutusData):
    CONSTR_ID = 0
    inputs: List[TxInInfo]
    policy: bytes
    prefix: bytes
    own: TxOutRef
    sale: TxOutRef


@wraps_builtin
def batcher_certified(
    inputs: List[TxInInfo], batcher_pid: bytes, prefix: bytes, own_ref: TxOutRef, sale_ref: TxOutRef
) -> bool:
    pass


def validator(c: Certificates) -> int:
    if batcher_certified(c.inputs, c.policy, c.prefix, c.own, c.sale):
        return 1
    return 0
"""

PREFIX = bytes.fromhex("affab1e0005e77ab1e")
CERTIFICATE_POLICY = b"\x05" * 28


holdings = st.dictionaries(
    st.sampled_from([CERTIFICATE_POLICY, b"\x06" * 28]),
    st.dictionaries(
        st.sampled_from([PREFIX + b"batcher", PREFIX, PREFIX[:5], b"other", b""]),
        st.integers(1, 2),
        min_size=1,
        max_size=2,
    ),
    max_size=2,
)


@pytest.fixture(scope="module")
def certified() -> Callable[[list[Holding], int, int], bool]:
    probe = compiled_probe(CERTIFICATE_PROBE)

    def run(inputs: list[Holding], own: int, sale: int) -> bool:
        case = U.PlutusConstr(
            0,
            [
                U.PlutusList([_input(i, holding=h) for i, h in enumerate(inputs)]),
                U.PlutusByteString(CERTIFICATE_POLICY),
                U.PlutusByteString(PREFIX),
                _out_ref(own),
                _out_ref(sale),
            ],
        )
        return bool(probe(case))

    return run


@settings(max_examples=100, deadline=None)
@given(inputs=st.lists(holdings, max_size=5), own=st.integers(0, 5), sale=st.integers(0, 5))
def test_a_certificate_counts_only_in_another_input(
    certified: Callable[[list[Holding], int, int], bool],
    inputs: list[Holding],
    own: int,
    sale: int,
) -> None:
    expected = any(
        index not in (own, sale)
        and any(name[: len(PREFIX)] == PREFIX for name in holding.get(CERTIFICATE_POLICY, {}))
        for index, holding in enumerate(inputs)
    )
    assert certified(inputs, own, sale) == expected


def _constr0(*fields: U.PlutusData) -> U.PlutusConstr:
    return U.PlutusConstr(0, list(fields))


byte_strings = st.binary(max_size=3).map(U.PlutusByteString)
integers = st.integers(-3, 3).map(U.PlutusInteger)
wallets = st.builds(_constr0, byte_strings, byte_strings)
tokens = st.builds(_constr0, byte_strings, byte_strings, integers)
queue_datums = st.builds(_constr0, wallets, integers, tokens, byte_strings)


sale_datums = st.builds(_constr0, wallets, tokens, tokens, integers)


@st.composite
def near_misses(draw: st.DrawFn, datums: Any) -> U.PlutusData:
    """A well-formed datum from `datums` with one part (maybe nested) replaced, dropped, added
    to or retagged."""
    datum = draw(datums)
    path = draw(st.lists(st.integers(0, 3), min_size=1, max_size=2))
    how = draw(st.sampled_from(["replace", "drop", "add", "retag"]))

    def change(d: U.PlutusData, rest: list[int]) -> U.PlutusData:
        if not isinstance(d, U.PlutusConstr) or not rest:
            if how == "retag" and isinstance(d, U.PlutusConstr):
                return U.PlutusConstr(d.constructor + 1, d.fields)
            return draw(plutus_data)
        index = rest[0] % len(d.fields)
        fields = list(d.fields)
        if len(rest) == 1 and how == "drop":
            del fields[index]
        elif len(rest) == 1 and how == "add":
            fields.insert(index, draw(plutus_data))
        else:
            fields[index] = change(fields[index], rest[1:])
        return U.PlutusConstr(d.constructor, fields)

    return change(datum, path)


def _constr0_of(x: U.PlutusData, kinds: list[object]) -> bool:
    """`x` is constructor 0 with exactly these fields: a PlutusData class or a predicate each."""
    return (
        isinstance(x, U.PlutusConstr)
        and x.constructor == 0
        and len(x.fields) == len(kinds)
        and all(
            isinstance(f, kind) if isinstance(kind, type) else kind(f)  # type: ignore[operator]
            for f, kind in zip(x.fields, kinds, strict=True)
        )
    )


def _wallet_of(x: U.PlutusData) -> bool:
    return _constr0_of(x, [U.PlutusByteString, U.PlutusByteString])


def _token_of(x: U.PlutusData) -> bool:
    return _constr0_of(x, [U.PlutusByteString, U.PlutusByteString, U.PlutusInteger])


def _queue_datum_by_definition(d: U.PlutusData) -> bool:
    return _constr0_of(d, [_wallet_of, U.PlutusInteger, _token_of, U.PlutusByteString])


def _sale_datum_by_definition(d: U.PlutusData) -> bool:
    return _constr0_of(d, [_wallet_of, _token_of, _token_of, U.PlutusInteger])


@pytest.fixture(scope="module")
def queue_datum_verdict() -> Callable[[U.PlutusData], bool]:
    probe = compiled_probe(predicate_probe("is_queue_datum"))
    return lambda d: bool(probe(d))


@settings(max_examples=300, deadline=None)
@given(d=st.one_of(queue_datums, near_misses(queue_datums), plutus_data))
def test_is_queue_datum_is_exactly_the_queue_datums_shape(
    queue_datum_verdict: Callable[[U.PlutusData], bool], d: U.PlutusData
) -> None:
    assert queue_datum_verdict(d) == _queue_datum_by_definition(d), repr(d)


# -- decode or fail: expect_sale_datum and expect_queue_datum ----------------------------------


@pytest.fixture(scope="module")
def expect_verdicts() -> dict[str, Callable[[U.PlutusData], int | None]]:
    return {
        name: compiled_probe(predicate_probe(f"expect_{name}_datum"), may_fail=True)
        for name in ("sale", "queue")
    }


@settings(max_examples=300, deadline=None)
@given(
    d=st.one_of(
        sale_datums, near_misses(sale_datums), queue_datums, near_misses(queue_datums), plutus_data
    )
)
def test_expect_a_datum_is_true_for_its_shape_and_fails_for_any_other(
    expect_verdicts: dict[str, Callable[[U.PlutusData], int | None]], d: U.PlutusData
) -> None:
    """Never False: true when `d` decodes (as OpShin's check_integrity proves), else a failure."""
    assert expect_verdicts["sale"](d) == (1 if _sale_datum_by_definition(d) else None), repr(d)
    assert expect_verdicts["queue"](d) == (1 if _queue_datum_by_definition(d) else None), repr(d)


# -- the walks that find one input or output ------------------------------------------------------

WALKS_PROBE = """
from opshin.bridge import wraps_builtin
from opshin.prelude import *


@dataclass()
class Walks(PlutusData):
    CONSTR_ID = 0
    mode: int
    inputs: List[TxInInfo]
    outputs: List[TxOut]
    wanted: Address
    other: Address
    ref: TxOutRef


@wraps_builtin
def one_input_at(inputs: List[TxInInfo], wanted: Address, other: Address) -> TxInInfo:
    pass


@wraps_builtin
def one_output_at(outputs: List[TxOut], wanted: Address, other: Address) -> TxOut:
    pass


@wraps_builtin
def first_input_at(inputs: List[TxInInfo], address: Address) -> TxInInfo:
    pass


@wraps_builtin
def first_output_at(outputs: List[TxOut], address: Address) -> TxOut:
    pass


@wraps_builtin
def spent_output(inputs: List[TxInInfo], out_ref: TxOutRef) -> TxOut:
    pass


def validator(c: Walks) -> int:
    if c.mode == 0:
        return one_input_at(c.inputs, c.wanted, c.other).out_ref.idx
    elif c.mode == 1:
        return one_output_at(c.outputs, c.wanted, c.other).value[b""][b""]
    elif c.mode == 2:
        return first_input_at(c.inputs, c.wanted).out_ref.idx
    elif c.mode == 3:
        return first_output_at(c.outputs, c.wanted).value[b""][b""]
    return spent_output(c.inputs, c.ref).value[b""][b""]
"""

ONE_INPUT, ONE_OUTPUT, FIRST_INPUT, FIRST_OUTPUT, SPENT = range(5)


def _txout(address: PlainAddress, lovelace: int) -> U.PlutusConstr:
    value = U.PlutusMap(
        {U.PlutusByteString(b""): U.PlutusMap({U.PlutusByteString(b""): U.PlutusInteger(lovelace)})}
    )
    return U.PlutusConstr(
        0, [_address(address), value, U.PlutusConstr(0, []), U.PlutusConstr(1, [])]
    )


@pytest.fixture(scope="module")
def walk() -> Callable[..., int | None]:
    """walk(mode, addresses, wanted, other, ref): input i (out ref index `i`) and output i are
    at `addresses[i]`, input i spends `1000 + i` lovelace, output i pays `i`."""
    probe = compiled_probe(WALKS_PROBE, may_fail=True)

    def run(
        mode: int,
        addresses: list[PlainAddress],
        wanted: PlainAddress,
        other: PlainAddress,
        ref: int,
    ) -> int | None:
        inputs = [
            U.PlutusConstr(0, [_out_ref(i), _txout(a, 1000 + i)]) for i, a in enumerate(addresses)
        ]
        outputs = [_txout(a, i) for i, a in enumerate(addresses)]
        case = U.PlutusConstr(
            0,
            [
                U.PlutusInteger(mode),
                U.PlutusList(inputs),
                U.PlutusList(outputs),
                _address(wanted),
                _address(other),
                _out_ref(ref),
            ],
        )
        return probe(case)

    return run


@settings(max_examples=150, deadline=None)
@given(
    addresses=st.lists(addresses, max_size=6),
    wanted=addresses,
    other=addresses,
    ref=st.integers(0, 6),
)
def test_the_walks_find_what_their_definitions_say(
    walk: Callable[..., int | None],
    addresses: list[PlainAddress],
    wanted: PlainAddress,
    other: PlainAddress,
    ref: int,
) -> None:
    at_wanted = [i for i, a in enumerate(addresses) if a == wanted]
    at_other = [i for i, a in enumerate(addresses) if a == other]
    one = at_wanted[0] if len(at_wanted) == 1 and len(at_other) == 1 else None
    first = at_wanted[0] if at_wanted else None
    assert walk(ONE_INPUT, addresses, wanted, other, ref) == one
    assert walk(ONE_OUTPUT, addresses, wanted, other, ref) == one
    assert walk(FIRST_INPUT, addresses, wanted, other, ref) == first
    assert walk(FIRST_OUTPUT, addresses, wanted, other, ref) == first
    spent = 1000 + ref if ref < len(addresses) else None
    assert walk(SPENT, addresses, wanted, other, ref) == spent


# -- lookups: quantity, delta_of, signed_by --------------------------------------------------------

LOOKUPS_PROBE = """
from opshin.bridge import wraps_builtin
from opshin.prelude import *


@dataclass()
class TokenAmount(PlutusData):
    CONSTR_ID = 0
    pid: bytes
    tkn: bytes
    amt: int


@dataclass()
class Lookups(PlutusData):
    CONSTR_ID = 0
    mode: int
    value: Value
    pid: bytes
    tkn: bytes
    deltas: List[TokenAmount]
    tx: TxInfo


@wraps_builtin
def quantity(v: Value, pid: bytes, tkn: bytes) -> int:
    pass


@wraps_builtin
def delta_of(deltas: List[TokenAmount], pid: bytes, tkn: bytes) -> int:
    pass


@wraps_builtin
def signed_by(tx: TxInfo, pkh: bytes) -> bool:
    pass


def validator(c: Lookups) -> int:
    if c.mode == 0:
        return quantity(c.value, c.pid, c.tkn)
    elif c.mode == 1:
        return delta_of(c.deltas, c.pid, c.tkn)
    if signed_by(c.tx, c.pid):
        return 1
    return 0
"""

KEYS = [bytes(28), b"\x01" * 28, b"\x02" * 28]


@pytest.fixture(scope="module")
def lookup() -> Callable[..., int | None]:
    """lookup(mode, holdings, pid, tkn, deltas, signers): the probe's answer for these."""
    probe = compiled_probe(LOOKUPS_PROBE)

    def run(
        mode: int,
        holdings: dict[bytes, dict[bytes, int]],
        pid: bytes,
        tkn: bytes,
        deltas: list[Delta],
        signers: list[bytes],
    ) -> int | None:
        value = U.PlutusMap(
            {
                U.PlutusByteString(p): U.PlutusMap(
                    {U.PlutusByteString(t): U.PlutusInteger(n) for t, n in names.items()}
                )
                for p, names in holdings.items()
            }
        )
        # a TxInfo as far as signed_by reads it: its signatories (field 8) among 16 fields
        fields: list[U.PlutusData] = [U.PlutusInteger(0)] * 16
        fields[8] = U.PlutusList([U.PlutusByteString(k) for k in signers])
        case = U.PlutusConstr(
            0,
            [
                U.PlutusInteger(mode),
                value,
                U.PlutusByteString(pid),
                U.PlutusByteString(tkn),
                U.PlutusList(
                    [
                        U.PlutusConstr(
                            0, [U.PlutusByteString(p), U.PlutusByteString(t), U.PlutusInteger(n)]
                        )
                        for p, t, n in deltas
                    ]
                ),
                U.PlutusConstr(0, fields),
            ],
        )
        return probe(case)

    return run


holdings = st.dictionaries(
    st.sampled_from(POLICIES),
    st.dictionaries(st.sampled_from(NAMES), st.integers(-5, 5), min_size=1, max_size=3),
    max_size=4,
)
deltas = st.lists(
    st.tuples(st.sampled_from(POLICIES), st.sampled_from(NAMES), st.integers(-5, 5)), max_size=5
)


@settings(max_examples=150, deadline=None)
@given(
    held=holdings,
    pid=st.sampled_from(POLICIES),
    tkn=st.sampled_from(NAMES),
    changes=deltas,
    signers=st.lists(st.sampled_from(KEYS), max_size=3),
    key=st.sampled_from(KEYS),
)
def test_the_lookups_agree_with_their_definitions(
    lookup: Callable[..., int | None],
    held: dict[bytes, dict[bytes, int]],
    pid: bytes,
    tkn: bytes,
    changes: list[Delta],
    signers: list[bytes],
    key: bytes,
) -> None:
    assert lookup(0, held, pid, tkn, changes, signers) == held.get(pid, {}).get(tkn, 0)
    assert lookup(1, held, pid, tkn, changes, signers) == sum(
        n for p, t, n in changes if (p, t) == (pid, tkn)
    )
    assert lookup(2, held, key, tkn, changes, signers) == (1 if key in signers else 0)


# -- script_address and reference_datum -----------------------------------------------------------

ADDRESS_PROBE = """
from opshin.bridge import wraps_builtin
from opshin.prelude import *


@dataclass()
class Marker(PlutusData):
    CONSTR_ID = 0
    n: int


@dataclass()
class Case(PlutusData):
    CONSTR_ID = 0
    mode: int
    script: bytes
    stake: bytes
    address: Address
    refs: List[TxInInfo]


@wraps_builtin
def script_address(script: bytes, stake: bytes) -> Address:
    pass


@wraps_builtin
def reference_datum(references: List[TxInInfo], pid: bytes, tkn: bytes) -> Marker:
    pass


def validator(c: Case) -> int:
    if c.mode == 0:
        if script_address(c.script, c.stake) == c.address:
            return 1
        return 0
    return reference_datum(c.refs, c.script, c.stake).n
"""

STARTER = (b"\x05" * 28, b"starter")
# a reference input's datum: None (none), "hash" (by hash) or n (inline Marker(n))
RefDatum = int | str | None


def _script_address(script: bytes, stake: bytes | None, stake_kind: int = 1) -> U.PlutusConstr:
    staking = (
        U.PlutusConstr(1, [])
        if stake is None
        else U.PlutusConstr(
            0, [U.PlutusConstr(0, [U.PlutusConstr(stake_kind, [U.PlutusByteString(stake)])])]
        )
    )
    return U.PlutusConstr(0, [U.PlutusConstr(1, [U.PlutusByteString(script)]), staking])


def _reference(index: int, datum: RefDatum, starters: int) -> U.PlutusConstr:
    tokens = {STARTER[0]: {STARTER[1]: starters}} if starters else {}
    value = U.PlutusMap(
        {
            U.PlutusByteString(p): U.PlutusMap(
                {U.PlutusByteString(t): U.PlutusInteger(n) for t, n in names.items()}
            )
            for p, names in {b"": {b"": 2}, **tokens}.items()
        }
    )
    if datum is None:
        field = U.PlutusConstr(0, [])
    elif datum == "hash":
        field = U.PlutusConstr(1, [U.PlutusByteString(bytes(32))])
    else:
        field = U.PlutusConstr(2, [U.PlutusConstr(0, [U.PlutusInteger(int(datum))])])
    output = U.PlutusConstr(
        0, [_address((0, b"\x01" * 28, None)), value, field, U.PlutusConstr(1, [])]
    )
    return U.PlutusConstr(0, [_out_ref(index), output])


@pytest.fixture(scope="module")
def address_probe() -> Callable[..., int | None]:
    probe = compiled_probe(ADDRESS_PROBE, may_fail=True)

    def run(
        mode: int,
        script: bytes,
        stake: bytes,
        address: U.PlutusData,
        refs: list[tuple[RefDatum, int]],
    ) -> int | None:
        inputs = [_reference(i, d, n) for i, (d, n) in enumerate(refs)]
        case = U.PlutusConstr(
            0,
            [
                U.PlutusInteger(mode),
                U.PlutusByteString(script),
                U.PlutusByteString(stake),
                address,
                U.PlutusList(inputs),
            ],
        )
        return probe(case)

    return run


@pytest.mark.parametrize("stake", [b"", b"\x07" * 27, b"\x07" * 28, b"\x07" * 29])
def test_script_address_stakes_by_a_28_byte_script_hash_only(
    address_probe: Callable[..., int | None], stake: bytes
) -> None:
    script = b"\x06" * 28
    staked = len(stake) == 28
    expected = _script_address(script, stake if staked else None)
    assert address_probe(0, script, stake, expected, []) == 1
    if staked:  # the stake part is a script credential, not a key
        assert address_probe(0, script, stake, _script_address(script, stake, 0), []) == 0
        assert address_probe(0, script, stake, _script_address(script, None), []) == 0
    else:
        assert address_probe(0, script, stake, _script_address(script, b"\x07" * 28), []) == 0
    assert address_probe(0, script, stake, _script_address(b"\x08" * 28, None), []) == 0


@settings(max_examples=100, deadline=None)
@given(
    refs=st.lists(
        st.tuples(st.one_of(st.none(), st.just("hash"), st.integers(0, 9)), st.integers(0, 2)),
        max_size=4,
    )
)
def test_reference_datum_is_the_first_inline_datum_beside_one_starter(
    address_probe: Callable[..., int | None], refs: list[tuple[RefDatum, int]]
) -> None:
    found = [d for d, n in refs if isinstance(d, int) and n == 1]
    expected = found[0] if found else None
    assert address_probe(1, *STARTER, U.PlutusInteger(0), refs) == expected


@pytest.fixture(scope="module")
def lookup_may_fail() -> Callable[[U.PlutusData], int | None]:
    return compiled_probe(LOOKUPS_PROBE, may_fail=True)


def _lookups_case(mode: int, deltas: list[U.PlutusData], signers: list[U.PlutusData]) -> Any:
    fields: list[U.PlutusData] = [U.PlutusInteger(0)] * 16
    fields[8] = U.PlutusList(signers)
    return U.PlutusConstr(
        0,
        [
            U.PlutusInteger(mode),
            U.PlutusMap({}),
            U.PlutusByteString(b"p"),
            U.PlutusByteString(b"t"),
            U.PlutusList(deltas),
            U.PlutusConstr(0, fields),
        ],
    )


def test_delta_of_and_signed_by_fail_where_opshins_loops_failed(
    lookup_may_fail: Callable[[U.PlutusData], int | None],
) -> None:
    """A malformed entry is not skipped: `delta_of` reads each entry's policy (and, when it
    matches, its name and amount) as bytes and an int, as `if d.pid == pid: if d.tkn == tkn`
    did, and `signed_by` reads each signatory as bytes, as `pkh in tx.signatories` did."""
    b, i = U.PlutusByteString, U.PlutusInteger

    def delta(*fields: U.PlutusData) -> U.PlutusConstr:
        return U.PlutusConstr(0, list(fields))

    def delta_of(*entries: U.PlutusData) -> int | None:
        return lookup_may_fail(_lookups_case(1, list(entries), []))

    assert delta_of(delta(b(b"p"), b(b"t"), i(3)), delta(b(b"q"), b(b"t"), i(5))) == 3
    assert delta_of(delta(i(0), b(b""), i(0))) is None  # a policy that is not bytes
    assert delta_of(delta(b(b"p"), U.PlutusList([]), i(1))) is None  # the name, policy matching
    assert delta_of(delta(b(b"p"), b(b"t"), b(b"1"))) is None  # the amount, asset matching
    assert delta_of(delta(b(b"q"), U.PlutusList([]))) == 0  # another policy: the rest unread
    assert lookup_may_fail(_lookups_case(2, [], [b(b"p")])) == 1
    assert lookup_may_fail(_lookups_case(2, [], [i(1), b(b"p")])) is None
