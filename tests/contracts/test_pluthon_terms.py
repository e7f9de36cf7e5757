"""The hand-written pluthon terms (contracts/pluthon_terms.py) against plain Python definitions.

Each term is declared in a small OpShin probe validator the way the queue and the vault declare
it, compiled with the deployed build's flags, and its answer compared with the definition over
hypothesis-drawn inputs. `value_is`: values (in one consistent order per example, as the ledger
writes both values of a transaction) and deltas, including repeated assets, assets only the
deltas name, amounts that cancel and results that would go negative; the oracle is `base` plus
the summed deltas, zero entries dropped. The input counts, the datum-shape checks and the
batcher certificate likewise, each against its definition written here in Python.
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


def compiled_probe(source: str) -> Callable[[U.PlutusData], int]:
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

    def run(argument: U.PlutusData) -> int:
        result = uplc.eval(U.Apply(program.term, argument)).result
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


@st.composite
def near_queue_datums(draw: st.DrawFn) -> U.PlutusData:
    """A well-formed QueueDatum with one part (maybe nested) replaced, dropped or added to."""
    datum = draw(queue_datums)
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


def _queue_datum_by_definition(d: U.PlutusData) -> bool:
    def constr0(x: U.PlutusData, kinds: list[object]) -> bool:
        return (
            isinstance(x, U.PlutusConstr)
            and x.constructor == 0
            and len(x.fields) == len(kinds)
            and all(
                isinstance(f, kind) if isinstance(kind, type) else kind(f)  # type: ignore[operator]
                for f, kind in zip(x.fields, kinds, strict=True)
            )
        )

    def wallet(x: U.PlutusData) -> bool:
        return constr0(x, [U.PlutusByteString, U.PlutusByteString])

    def token(x: U.PlutusData) -> bool:
        return constr0(x, [U.PlutusByteString, U.PlutusByteString, U.PlutusInteger])

    return constr0(d, [wallet, U.PlutusInteger, token, U.PlutusByteString])


@pytest.fixture(scope="module")
def queue_datum_verdict() -> Callable[[U.PlutusData], bool]:
    probe = compiled_probe(predicate_probe("is_queue_datum"))
    return lambda d: bool(probe(d))


@settings(max_examples=300, deadline=None)
@given(d=st.one_of(queue_datums, near_queue_datums(), plutus_data))
def test_is_queue_datum_is_exactly_the_queue_datums_shape(
    queue_datum_verdict: Callable[[U.PlutusData], bool], d: U.PlutusData
) -> None:
    assert queue_datum_verdict(d) == _queue_datum_by_definition(d), repr(d)
