"""Validator hot paths written by hand in pluthon, one level below OpShin.

OpShin compiles a function decorated `@wraps_builtin` to a call of the pluthon term of the same
name in CamelCase (`value_is` -> `plt.ValueIs`); `register` puts the terms below there, and
`contracts.build` runs the compiler through this module so every build has them. A validator
declares the function with its OpShin signature and an empty body, so its source still says
what it takes and returns.

`value_is(actual, base, deltas)`: `actual` holds exactly `base` changed by `deltas` (a list of
TokenAmount(pid, tkn, amt); absent counts as 0; deltas naming one asset add up). OpShin's loop
version cost about 450,000 mem per proof in the queue: a lookup in `actual` and a scan of the
deltas for every asset of `base`. This one takes each asset the deltas name out of both values
(comparing its amounts) and then compares what is left with one `EqualsData`. That last step
relies on what the ledger guarantees: both values are written by the same ledger function, so the
same assets come in the same order, and no entry holds zero. Removing an asset keeps the order of
the rest and drops a policy left empty, the same in both values.
"""

from __future__ import annotations

import runpy
from typing import Any

import pluthon as plt
from pluthon import PLambda, PLet, PVar, RecFun


def _self_call(name: str, *args: Any) -> Any:
    """Call the recursive function bound to `name` (RecFun passes a function itself first)."""
    return plt.Apply(PVar(name), PVar(name), *args)


def _keeping_head() -> Any:
    """The continuation a walk passes on past the head `p` it keeps: k(amount, p : rest)."""
    return PLambda(
        ["amt", "rest"],
        plt.Apply(PVar("k"), PVar("amt"), plt.MkCons(PVar("p"), PVar("rest"))),
    )


def _take_walk(pairs: str, key: str, args: list[str], on_match: Any) -> Any:
    """A walk over the pair list `pairs` for the pair whose first element equals the data in
    `key` (one of `args`), passing k(amount, list without it) on: k(0, pairs) when there is none,
    `on_match` (with the pair as `p`) when it is the head, else the walk of the tail with the head
    kept in front."""
    return PLambda(
        ["self", pairs, *args, "k"],
        plt.IteNullList(
            PVar(pairs),
            plt.Apply(PVar("k"), plt.Integer(0), PVar(pairs)),
            PLet(
                [("p", plt.HeadList(PVar(pairs)))],
                plt.Ite(
                    plt.EqualsData(plt.FstPair(PVar("p")), PVar(key)),
                    on_match,
                    _self_call(
                        "self",
                        plt.TailList(PVar(pairs)),
                        *(PVar(a) for a in args),
                        _keeping_head(),
                    ),
                ),
            ),
        ),
    )


def _take_token() -> Any:
    """take_token(tokens, tkn, k): k(amount of tkn in tokens or 0, tokens without it).

    `tokens` is a policy's list of (BData name, IData amount) pairs, `tkn` a BData.
    """
    found = plt.Apply(PVar("k"), plt.UnIData(plt.SndPair(PVar("p"))), plt.TailList(PVar("ts")))
    return _take_walk("ts", "tkn", ["tkn"], found)


def _take_asset() -> Any:
    """take_asset(value, pid, tkn, k): k(amount of (pid, tkn) in value or 0, value without it).

    `value` is the list of (BData policy, MapData tokens) pairs; a policy left without tokens
    is dropped, as the ledger writes no empty policy.
    """
    rebuilt = PLambda(
        ["amt", "toks"],
        plt.Apply(
            PVar("k"),
            PVar("amt"),
            plt.IteNullList(
                PVar("toks"),
                plt.TailList(PVar("vs")),
                plt.MkCons(
                    plt.MkPairData(plt.FstPair(PVar("p")), plt.MapData(PVar("toks"))),
                    plt.TailList(PVar("vs")),
                ),
            ),
        ),
    )
    found = plt.Apply(
        PVar("take_token"), plt.UnMapData(plt.SndPair(PVar("p"))), PVar("tkn"), rebuilt
    )
    return _take_walk("vs", "pid", ["pid", "tkn"], found)


def _split_deltas() -> Any:
    """split(ds, pid, tkn, k): k(sum of the amounts ds gives (pid, tkn), ds without them).

    `ds` is a list of TokenAmount data: Constr 0 [BData pid, BData tkn, IData amt].
    """
    fields = plt.SndPair(plt.UnConstrData(PVar("d")))
    same = plt.And(
        plt.EqualsData(plt.HeadList(PVar("f")), PVar("pid")),
        plt.EqualsData(plt.HeadList(plt.TailList(PVar("f"))), PVar("tkn")),
    )
    amount = plt.UnIData(plt.HeadList(plt.TailList(plt.TailList(PVar("f")))))
    add = PLambda(
        ["total", "rest"],
        plt.Apply(PVar("k"), plt.AddInteger(PVar("total"), amount), PVar("rest")),
    )
    keep = PLambda(
        ["total", "rest"],
        plt.Apply(PVar("k"), PVar("total"), plt.MkCons(PVar("d"), PVar("rest"))),
    )
    tail = plt.TailList(PVar("ds"))
    return PLambda(
        ["self", "ds", "pid", "tkn", "k"],
        plt.IteNullList(
            PVar("ds"),
            plt.Apply(PVar("k"), plt.Integer(0), PVar("ds")),
            PLet(
                [("d", plt.HeadList(PVar("ds"))), ("f", fields)],
                plt.Ite(
                    same,
                    _self_call("self", tail, PVar("pid"), PVar("tkn"), add),
                    _self_call("self", tail, PVar("pid"), PVar("tkn"), keep),
                ),
            ),
        ),
    )


def _check() -> Any:
    """check(actual, base, ds): every asset ds names, then the rest by one data equality."""
    compare = PLambda(
        ["total", "rest_ds"],
        plt.Apply(
            PVar("take_asset"),
            PVar("actual"),
            PVar("pid"),
            PVar("tkn"),
            PLambda(
                ["held", "rest_actual"],
                plt.Apply(
                    PVar("take_asset"),
                    PVar("base"),
                    PVar("pid"),
                    PVar("tkn"),
                    PLambda(
                        ["had", "rest_base"],
                        plt.Ite(
                            plt.EqualsInteger(
                                PVar("held"), plt.AddInteger(PVar("had"), PVar("total"))
                            ),
                            _self_call(
                                "self", PVar("rest_actual"), PVar("rest_base"), PVar("rest_ds")
                            ),
                            plt.Bool(False),
                        ),
                    ),
                ),
            ),
        ),
    )
    fields = plt.SndPair(plt.UnConstrData(plt.HeadList(PVar("ds"))))
    return PLambda(
        ["self", "actual", "base", "ds"],
        plt.IteNullList(
            PVar("ds"),
            plt.EqualsData(plt.MapData(PVar("actual")), plt.MapData(PVar("base"))),
            PLet(
                [
                    ("f", fields),
                    ("pid", plt.HeadList(PVar("f"))),
                    ("tkn", plt.HeadList(plt.TailList(PVar("f")))),
                ],
                plt.Apply(PVar("split"), PVar("ds"), PVar("pid"), PVar("tkn"), compare),
            ),
        ),
    )


def ValueIs(actual: Any, base: Any, deltas: Any) -> Any:  # OpShin looks it up in CamelCase
    """The term `value_is(actual, base, deltas)` compiles to (see the module docstring)."""
    return PLet(
        [
            ("take_token", RecFun(_take_token())),
            ("take_asset", RecFun(_take_asset())),
            ("split", RecFun(_split_deltas())),
            ("check", RecFun(_check())),
        ],
        plt.Apply(PVar("check"), actual, base, deltas),
    )


def _field(data: Any, index: int) -> Any:
    """Field `index` of the constructor data `data`."""
    fields = plt.SndPair(plt.UnConstrData(data))
    for _ in range(index):
        fields = plt.TailList(fields)
    return plt.HeadList(fields)


def _output_address(txout: Any) -> Any:
    """TxOut = Constr 0 [address, value, datum, script]."""
    return _field(txout, 0)


def _resolved_address(txininfo: Any) -> Any:
    """TxInInfo = Constr 0 [out_ref, TxOut]: the address of the output it spends."""
    return _output_address(_field(txininfo, 1))


def _count_inputs(key: Any) -> Any:
    """count(inputs, wanted): how many of `inputs` give `key(address) == wanted` (as data)."""
    counted = PLambda(
        ["self", "is", "n"],
        plt.IteNullList(
            PVar("is"),
            PVar("n"),
            _self_call(
                "self",
                plt.TailList(PVar("is")),
                plt.Ite(
                    plt.EqualsData(
                        key(_resolved_address(plt.HeadList(PVar("is")))), PVar("wanted")
                    ),
                    plt.AddInteger(PVar("n"), plt.Integer(1)),
                    PVar("n"),
                ),
            ),
        ),
    )
    return RecFun(counted)


def CountInputsAt(inputs: Any, address: Any) -> Any:  # OpShin looks it up in CamelCase
    """`count_inputs_at(inputs, address)`: how many inputs spend from exactly `address`."""
    return PLet(
        [("wanted", address)],
        plt.Apply(_count_inputs(lambda a: a), inputs, plt.Integer(0)),
    )


def CountInputsLockedBy(inputs: Any, credential: Any) -> Any:  # looked up in CamelCase
    """`count_inputs_locked_by(inputs, credential)`: how many inputs `credential` locks (the
    payment part of their address, Constr 0 [payment, staking]), whatever their stake part."""
    return PLet(
        [("wanted", credential)],
        plt.Apply(
            _count_inputs(lambda a: plt.HeadList(plt.SndPair(plt.UnConstrData(a)))),
            inputs,
            plt.Integer(0),
        ),
    )


# -- does a datum decode? (what OpShin's check_integrity proves, and Aiken's `expect`) ----------

# The shapes of the datums the validators decode, as their dataclasses in `onchain/` declare them:
# a constructor id and its fields, each "bytes", "int" or a nested shape.
Shape = Any
WALLET: Shape = (0, ("bytes", "bytes"))
TOKEN: Shape = (0, ("bytes", "bytes", "int"))
QUEUE_DATUM: Shape = (0, (WALLET, "int", TOKEN, "bytes"))

_KIND_BRANCH = {"bytes": 4, "int": 3}  # ChooseData's branches: constr, map, list, int, bytes


def _kind(d: Any, branch: int, then: Any) -> Any:
    """`then` when `d` is of ChooseData's `branch`, else False (read before `d` is unpacked)."""
    branches = [plt.Bool(False)] * 5
    branches[branch] = then
    return plt.DelayedChooseData(d, *branches)


def _has_shape(d: Any, shape: Shape, depth: int = 0) -> Any:
    """A term that is true when the data `d` has `shape`: the constructor id, exactly the
    fields, each of its kind, nested shapes alike."""
    if isinstance(shape, str):
        return _kind(d, _KIND_BRANCH[shape], plt.Bool(True))
    tag, fields = shape
    data, pair = f"data{depth}", f"pair{depth}"
    return PLet(
        [(data, d)],
        _kind(
            PVar(data),
            0,
            PLet(
                [(pair, plt.UnConstrData(PVar(data)))],
                plt.Ite(
                    plt.EqualsInteger(plt.FstPair(PVar(pair)), plt.Integer(tag)),
                    _has_fields(plt.SndPair(PVar(pair)), fields, depth),
                    plt.Bool(False),
                ),
            ),
        ),
    )


def _has_fields(fields: Any, shapes: tuple[Shape, ...], depth: int) -> Any:
    if not shapes:
        return plt.NullList(fields)
    rest = f"fields{depth}_{len(shapes)}"
    return PLet(
        [(rest, fields)],
        plt.IteNullList(
            PVar(rest),
            plt.Bool(False),
            plt.Ite(
                _has_shape(plt.HeadList(PVar(rest)), shapes[0], depth + 1),
                _has_fields(plt.TailList(PVar(rest)), shapes[1:], depth),
                plt.Bool(False),
            ),
        ),
    )


def _shape_term(shape: Shape) -> Any:
    def term(d: Any) -> Any:
        return _has_shape(d, shape)

    return term


IsWallet = _shape_term(WALLET)
"""`is_wallet(d)`: `d` decodes as a Wallet. No shape of `d` makes it fail instead of answer."""
IsQueueDatum = _shape_term(QUEUE_DATUM)
"""`is_queue_datum(d)`: `d` decodes as a QueueDatum."""


# -- decode or fail (what `check_integrity` does, cheaper) ----------------------------------------

SALE_DATUM: Shape = (0, (WALLET, TOKEN, TOKEN, "int"))

_UNPACK = {"bytes": plt.UnBData, "int": plt.UnIData}


def _expect_shape(d: Any, shape: Shape, then: Any, fail: Any, depth: int = 0) -> Any:
    """A term that is `then` when the data `d` has `shape` and fails otherwise.

    It asks nothing: the builtin that unpacks each part fails on a part of another kind
    (`UnBData`, `UnIData`, `UnConstrData`), a missing field fails `HeadList`, and a wrong
    constructor id or an extra field reaches `fail`. So it costs less than `_has_shape`, which
    must answer False rather than fail, and less than OpShin's `check_integrity`."""
    if isinstance(shape, str):
        return PLet([(f"unpacked{depth}", _UNPACK[shape](d))], then)  # unused: only checked
    tag, fields = shape
    pair = f"expect_pair{depth}"
    return PLet(
        [(pair, plt.UnConstrData(d))],
        plt.Ite(
            plt.EqualsInteger(plt.FstPair(PVar(pair)), plt.Integer(tag)),
            _expect_fields(plt.SndPair(PVar(pair)), fields, then, fail, depth),
            fail,
        ),
    )


def _expect_fields(fields: Any, shapes: tuple[Shape, ...], then: Any, fail: Any, depth: int) -> Any:
    if not shapes:
        return plt.Ite(plt.NullList(fields), then, fail)
    rest = f"expect_fields{depth}_{len(shapes)}"
    return PLet(
        [(rest, fields)],
        _expect_shape(
            plt.HeadList(PVar(rest)),
            shapes[0],
            _expect_fields(plt.TailList(PVar(rest)), shapes[1:], then, fail, depth),
            fail,
            depth + 1,
        ),
    )


def _expect_term(shape: Shape, name: str) -> Any:
    def term(d: Any) -> Any:
        # pluthon's Error is a lambda that fails when applied: TraceError applies it
        fail = plt.TraceError(f"expect_{name}: the datum does not decode as a {name}")
        return _expect_shape(d, shape, plt.Bool(True), fail)

    return term


ExpectSaleDatum = _expect_term(SALE_DATUM, "SaleDatum")
"""`expect_sale_datum(d)`: True when `d` decodes as a SaleDatum; the script fails otherwise."""
ExpectQueueDatum = _expect_term(QUEUE_DATUM, "QueueDatum")
"""`expect_queue_datum(d)`: True when `d` decodes as a QueueDatum; the script fails otherwise."""


# -- the one input or output at an address ---------------------------------------------------------


def _one_at(what: str, address_of: Any) -> Any:
    """one(items, wanted, other): the item whose address is `wanted`, when exactly one item is at
    `wanted` and exactly one at `other` (one walk); fails otherwise, with a trace the deployed
    build removes. `what` names the items in it."""
    counted = PLambda(
        ["self", "xs", "at_wanted", "at_other", "found"],
        plt.IteNullList(
            PVar("xs"),
            plt.Ite(
                plt.And(
                    plt.EqualsInteger(PVar("at_wanted"), plt.Integer(1)),
                    plt.EqualsInteger(PVar("at_other"), plt.Integer(1)),
                ),
                PVar("found"),
                plt.TraceError(f"one_{what}_at: not exactly one {what} at each address"),
            ),
            PLet(
                [
                    ("x", plt.HeadList(PVar("xs"))),
                    ("address", address_of(PVar("x"))),
                    (
                        "others",
                        plt.Ite(
                            plt.EqualsData(PVar("address"), PVar("other")),
                            plt.AddInteger(PVar("at_other"), plt.Integer(1)),
                            PVar("at_other"),
                        ),
                    ),
                ],
                plt.Ite(
                    plt.EqualsData(PVar("address"), PVar("wanted")),
                    _self_call(
                        "self",
                        plt.TailList(PVar("xs")),
                        plt.AddInteger(PVar("at_wanted"), plt.Integer(1)),
                        PVar("others"),
                        PVar("x"),
                    ),
                    _self_call(
                        "self",
                        plt.TailList(PVar("xs")),
                        PVar("at_wanted"),
                        PVar("others"),
                        PVar("found"),
                    ),
                ),
            ),
        ),
    )
    return RecFun(counted)


def OneInputAt(inputs: Any, wanted: Any, other: Any) -> Any:  # looked up in CamelCase
    """`one_input_at(inputs, wanted, other)`: the one input spending from `wanted`; fails unless
    exactly one input is at `wanted` and exactly one at `other`."""
    return PLet(
        [("wanted", wanted), ("other", other)],
        plt.Apply(
            _one_at("input", _resolved_address),
            inputs,
            plt.Integer(0),
            plt.Integer(0),
            PVar("wanted"),
        ),
    )


def OneOutputAt(outputs: Any, wanted: Any, other: Any) -> Any:  # looked up in CamelCase
    """`one_output_at(outputs, wanted, other)`: the one output to `wanted`; fails unless exactly
    one output is to `wanted` and exactly one to `other`. TxOut = Constr 0 [address, ...]."""
    return PLet(
        [("wanted", wanted), ("other", other)],
        plt.Apply(
            _one_at("output", _output_address),
            outputs,
            plt.Integer(0),
            plt.Integer(0),
            PVar("wanted"),
        ),
    )


def _first_at(what: str, address_of: Any) -> Any:
    """first(items, wanted): the first item whose address is `wanted`; fails when none is."""
    return RecFun(
        PLambda(
            ["self", "xs"],
            plt.IteNullList(
                PVar("xs"),
                plt.TraceError(f"first_{what}_at: no {what} at the expected address"),
                PLet(
                    [("x", plt.HeadList(PVar("xs")))],
                    plt.Ite(
                        plt.EqualsData(address_of(PVar("x")), PVar("wanted")),
                        PVar("x"),
                        _self_call("self", plt.TailList(PVar("xs"))),
                    ),
                ),
            ),
        )
    )


def FirstInputAt(inputs: Any, wanted: Any) -> Any:  # looked up in CamelCase
    """`first_input_at(inputs, wanted)`: the first input spending from `wanted`; fails when
    there is none."""
    return PLet([("wanted", wanted)], plt.Apply(_first_at("input", _resolved_address), inputs))


def FirstOutputAt(outputs: Any, wanted: Any) -> Any:  # looked up in CamelCase
    """`first_output_at(outputs, wanted)`: the first output to `wanted`; fails when there is
    none."""
    return PLet([("wanted", wanted)], plt.Apply(_first_at("output", _output_address), outputs))


def OnlyOutputAt(outputs: Any, wanted: Any) -> Any:  # looked up in CamelCase
    """`only_output_at(outputs, wanted)`: the output to `wanted`, failing unless it is the only
    one there: the first one found, then no other in the rest (cheaper than counting both
    addresses of `one_output_at`)."""
    none_after = RecFun(
        PLambda(
            ["self", "xs"],
            plt.IteNullList(
                PVar("xs"),
                PVar("found"),
                plt.Ite(
                    plt.EqualsData(_output_address(plt.HeadList(PVar("xs"))), PVar("wanted")),
                    plt.TraceError("only_output_at: a second output at the address"),
                    _self_call("self", plt.TailList(PVar("xs"))),
                ),
            ),
        )
    )
    first = RecFun(
        PLambda(
            ["self", "xs"],
            plt.IteNullList(
                PVar("xs"),
                plt.TraceError("only_output_at: no output at the address"),
                PLet(
                    [("x", plt.HeadList(PVar("xs")))],
                    plt.Ite(
                        plt.EqualsData(_output_address(PVar("x")), PVar("wanted")),
                        PLet(
                            [("found", PVar("x"))],
                            plt.Apply(none_after, plt.TailList(PVar("xs"))),
                        ),
                        _self_call("self", plt.TailList(PVar("xs"))),
                    ),
                ),
            ),
        )
    )
    return PLet([("wanted", wanted)], plt.Apply(first, outputs))


def SpentOutput(inputs: Any, out_ref: Any) -> Any:  # looked up in CamelCase
    """`spent_output(inputs, out_ref)`: the output the input `out_ref` spends (OpShin's
    `own_spent_utxo`, in fewer steps); fails when no input spends it. TxInInfo = Constr 0
    [out_ref, TxOut]."""
    walk = RecFun(
        PLambda(
            ["self", "is"],
            plt.IteNullList(
                PVar("is"),
                plt.TraceError("spent_output: no input spends this out ref"),
                PLet(
                    [("f", plt.SndPair(plt.UnConstrData(plt.HeadList(PVar("is")))))],
                    plt.Ite(
                        plt.EqualsData(plt.HeadList(PVar("f")), PVar("wanted_ref")),
                        plt.HeadList(plt.TailList(PVar("f"))),
                        _self_call("self", plt.TailList(PVar("is"))),
                    ),
                ),
            ),
        )
    )
    return PLet([("wanted_ref", out_ref)], plt.Apply(walk, inputs))


# -- lookups OpShin writes as loops over converted lists -----------------------------------------


def _lookup(wanted: str, found: Any) -> Any:
    """walk(pairs): `found` (with the matching pair as `p`) for the first pair whose key equals
    the data in `wanted`; 0 when none does."""
    return RecFun(
        PLambda(
            ["self", "ps"],
            plt.IteNullList(
                PVar("ps"),
                plt.Integer(0),
                PLet(
                    [("p", plt.HeadList(PVar("ps")))],
                    plt.Ite(
                        plt.EqualsData(plt.FstPair(PVar("p")), PVar(wanted)),
                        found,
                        _self_call("self", plt.TailList(PVar("ps"))),
                    ),
                ),
            ),
        )
    )


def Quantity(value: Any, pid: Any, tkn: Any) -> Any:  # looked up in CamelCase
    """`quantity(value, pid, tkn)`: how many of the asset (pid, tkn) `value` holds, 0 when none
    (OpShin's `value.get(pid, {b"": 0}).get(tkn, 0)`). A value is the list of (BData policy,
    MapData tokens) pairs; the first entry with the key counts, as with `dict.get`."""
    tokens = _lookup("wanted_tkn", plt.UnIData(plt.SndPair(PVar("p"))))
    policies = _lookup("wanted_pid", plt.Apply(tokens, plt.UnMapData(plt.SndPair(PVar("p")))))
    return PLet(
        [("wanted_pid", plt.BData(pid)), ("wanted_tkn", plt.BData(tkn))],
        plt.Apply(policies, value),
    )


def DeltaOf(deltas: Any, pid: Any, tkn: Any) -> Any:  # looked up in CamelCase
    """`delta_of(deltas, pid, tkn)`: the sum of the amounts `deltas` (TokenAmount data: Constr 0
    [BData pid, BData tkn, IData amt]) give the asset (pid, tkn); 0 when none does.

    It reads each entry as OpShin's loop did (`if d.pid == pid: if d.tkn == tkn: total +=
    d.amt`), so it fails where that failed: a policy that is not bytes, and for a matching policy
    a name that is not bytes or an amount that is not an int. Skipping such an entry instead
    would let a malformed delta through wherever the sign checks before it did not catch it."""
    f = PVar("f")
    same_name_amount = plt.Ite(
        plt.EqualsByteString(plt.UnBData(plt.HeadList(plt.TailList(f))), PVar("wanted_tkn")),
        plt.AddInteger(PVar("total"), plt.UnIData(plt.HeadList(plt.TailList(plt.TailList(f))))),
        PVar("total"),
    )
    summed = RecFun(
        PLambda(
            ["self", "ds", "total"],
            plt.IteNullList(
                PVar("ds"),
                PVar("total"),
                PLet(
                    [("f", plt.SndPair(plt.UnConstrData(plt.HeadList(PVar("ds")))))],
                    _self_call(
                        "self",
                        plt.TailList(PVar("ds")),
                        plt.Ite(
                            plt.EqualsByteString(plt.UnBData(plt.HeadList(f)), PVar("wanted_pid")),
                            same_name_amount,
                            PVar("total"),
                        ),
                    ),
                ),
            ),
        )
    )
    return PLet(
        [("wanted_pid", pid), ("wanted_tkn", tkn)],
        plt.Apply(summed, deltas, plt.Integer(0)),
    )


def ReferenceDatum(references: Any, pid: Any, tkn: Any) -> Any:  # looked up in CamelCase
    """`reference_datum(references, pid, tkn)`: the inline datum of the first reference input
    that has one and holds exactly one (pid, tkn) (the starter NFT, so there is one such input
    at most); fails when none does. An input without an inline datum (a script reference) is
    passed over without reading its value. TxOut's datum: Constr 2 [datum] when inline."""
    walk = RecFun(
        PLambda(
            ["self", "rd_refs"],
            plt.IteNullList(
                PVar("rd_refs"),
                plt.TraceError("no reference input holds the starter NFT with an inline datum"),
                PLet(
                    [
                        ("rd_out", _field(plt.HeadList(PVar("rd_refs")), 1)),
                        ("rd_datum", plt.UnConstrData(_field(PVar("rd_out"), 2))),
                    ],
                    plt.Ite(
                        plt.Ite(
                            plt.EqualsInteger(plt.FstPair(PVar("rd_datum")), plt.Integer(2)),
                            plt.EqualsInteger(
                                Quantity(
                                    plt.UnMapData(_field(PVar("rd_out"), 1)),
                                    PVar("rd_pid"),
                                    PVar("rd_tkn"),
                                ),
                                plt.Integer(1),
                            ),
                            plt.Bool(False),
                        ),
                        plt.HeadList(plt.SndPair(PVar("rd_datum"))),
                        _self_call("self", plt.TailList(PVar("rd_refs"))),
                    ),
                ),
            ),
        )
    )
    return PLet([("rd_pid", pid), ("rd_tkn", tkn)], plt.Apply(walk, references))


KEY_HASH_SIZE = 28
"""Bytes of a credential's hash (a key's or a script's)."""


def ScriptAddress(script: Any, stake: Any) -> Any:  # looked up in CamelCase
    """`script_address(script, stake)`: the address of `script` (a payment script credential),
    staked by the script `stake` when that is a 28-byte hash, else with no stake part:
    Address = Constr 0 [Constr 1 [script], Constr 0 [Constr 0 [Constr 1 [stake]]] | Constr 1 []]."""

    def constr(tag: int, *fields: Any) -> Any:
        listed: Any = plt.EmptyDataList()
        for f in reversed(fields):
            listed = plt.MkCons(f, listed)
        return plt.ConstrData(plt.Integer(tag), listed)

    staked = constr(0, constr(0, constr(1, plt.BData(PVar("sa_stake")))))
    return PLet(
        [("sa_stake", stake)],
        constr(
            0,
            constr(1, plt.BData(script)),
            plt.Ite(
                plt.EqualsInteger(
                    plt.LengthOfByteString(PVar("sa_stake")), plt.Integer(KEY_HASH_SIZE)
                ),
                staked,
                constr(1),
            ),
        ),
    )


SIGNATORIES = 8
"""The field of TxInfo (Plutus V3) that lists the required signers' key hashes."""


def SignedBy(tx: Any, pkh: Any) -> Any:  # looked up in CamelCase
    """`signed_by(tx, pkh)`: `pkh` is among the transaction's signatories (`pkh in
    tx.signatories`, without converting the list first). TxInfo = Constr 0 [fields]."""
    walk = RecFun(
        PLambda(
            ["self", "ks"],
            plt.IteNullList(
                PVar("ks"),
                plt.Bool(False),
                plt.Ite(
                    # unpacked as OpShin's `in` did: an entry that is not bytes fails
                    plt.EqualsByteString(plt.UnBData(plt.HeadList(PVar("ks"))), PVar("wanted_key")),
                    plt.Bool(True),
                    _self_call("self", plt.TailList(PVar("ks"))),
                ),
            ),
        )
    )
    return PLet(
        [("wanted_key", pkh)],
        plt.Apply(walk, plt.UnListData(_field(tx, SIGNATORIES))),
    )


def BatcherCertified(  # OpShin looks it up in CamelCase
    inputs: Any, policy: Any, prefix: Any, own_ref: Any, sale_ref: Any
) -> Any:
    """`batcher_certified(inputs, policy, prefix, own_ref, sale_ref)`: an input other than the
    two out refs holds a token of `policy` whose name starts with `prefix` (names shorter than
    the prefix compared whole, as Python's slice). TxInInfo = Constr 0 [out_ref, TxOut]."""
    has_prefix = plt.EqualsByteString(
        plt.SliceByteString(
            plt.Integer(0),
            plt.LengthOfByteString(PVar("prefix")),
            plt.UnBData(plt.FstPair(plt.HeadList(PVar("ns")))),
        ),
        PVar("prefix"),
    )
    names = RecFun(
        PLambda(
            ["self", "ns"],
            plt.IteNullList(
                PVar("ns"),
                plt.Bool(False),
                plt.Ite(has_prefix, plt.Bool(True), _self_call("self", plt.TailList(PVar("ns")))),
            ),
        )
    )
    policies = RecFun(
        PLambda(
            ["self", "vs"],
            plt.IteNullList(
                PVar("vs"),
                plt.Bool(False),
                PLet(
                    [("p", plt.HeadList(PVar("vs")))],
                    plt.Ite(
                        plt.EqualsData(plt.FstPair(PVar("p")), PVar("policy")),
                        plt.Apply(PVar("names"), plt.UnMapData(plt.SndPair(PVar("p")))),
                        _self_call("self", plt.TailList(PVar("vs"))),
                    ),
                ),
            ),
        )
    )
    resolved_value = plt.UnMapData(
        plt.HeadList(
            plt.TailList(plt.SndPair(plt.UnConstrData(plt.HeadList(plt.TailList(PVar("f"))))))
        )
    )
    walk = RecFun(
        PLambda(
            ["self", "is"],
            plt.IteNullList(
                PVar("is"),
                plt.Bool(False),
                PLet(
                    [
                        ("f", plt.SndPair(plt.UnConstrData(plt.HeadList(PVar("is"))))),
                        ("ref", plt.HeadList(PVar("f"))),
                    ],
                    plt.Ite(
                        plt.Or(
                            plt.EqualsData(PVar("ref"), PVar("own_ref")),
                            plt.EqualsData(PVar("ref"), PVar("sale_ref")),
                        ),
                        _self_call("self", plt.TailList(PVar("is"))),
                        plt.Ite(
                            plt.Apply(PVar("policies"), resolved_value),
                            plt.Bool(True),
                            _self_call("self", plt.TailList(PVar("is"))),
                        ),
                    ),
                ),
            ),
        )
    )
    return PLet(
        [
            ("policy", plt.BData(policy)),
            ("prefix", prefix),
            ("own_ref", own_ref),
            ("sale_ref", sale_ref),
            ("names", names),
            ("policies", policies),
        ],
        plt.Apply(walk, inputs),
    )


# -- the vault's hot path, composed of the terms above -------------------------------------------

INPUTS, OUTPUTS = 0, 2
"""Fields of TxInfo (Plutus V3): the inputs and the outputs."""


def _checked(condition: Any, then: Any, refusal: str) -> Any:
    """`then` when `condition` holds; else fail with `refusal` (the deployed build drops it)."""
    return plt.Ite(condition, then, plt.TraceError(refusal))


def KeepsVault(tx: Any, own: Any, owner: Any, changes: Any, minimum: Any) -> Any:  # CamelCase
    """`keeps_vault(tx, own, owner, changes, minimum)`: True when one vault in, one vault out:
    `own` (the spent TxOut) held at least `minimum` lovelace and keeps it after `changes`, the
    only output at its address keeps the datum (inline `owner`) and holds exactly `own`'s value
    changed by `changes`, and `own` is the only input at its address; fails otherwise.

    The vault's `keeps_vault` in one term: the same checks in the same order, each with the
    OpShin version's message, composed of `quantity`, `delta_of`, `only_output_at`, `value_is`
    and `count_inputs_at` without OpShin's calls and field reads between them. Every name bound
    here starts with `kv_`, so the terms it calls cannot capture one."""
    kept_datum = plt.ConstrData(plt.Integer(2), plt.MkCons(PVar("kv_owner"), plt.EmptyDataList()))
    checks = _checked(
        plt.EqualsData(_field(PVar("kv_output"), 2), kept_datum),
        _checked(
            ValueIs(
                plt.UnMapData(_field(PVar("kv_output"), 1)), PVar("kv_value"), PVar("kv_changes")
            ),
            _checked(
                plt.EqualsInteger(
                    CountInputsAt(
                        plt.UnListData(_field(PVar("kv_tx"), INPUTS)), PVar("kv_address")
                    ),
                    plt.Integer(1),
                ),
                plt.Bool(True),
                "exactly one vault input",
            ),
            "the vault output is not exact",
        ),
        "the vault output must keep the datum",
    )
    with_output = PLet(
        [
            (
                "kv_output",
                OnlyOutputAt(plt.UnListData(_field(PVar("kv_tx"), OUTPUTS)), PVar("kv_address")),
            )
        ],
        checks,
    )
    lovelace = plt.ByteString(b"")
    return PLet(
        [
            ("kv_tx", tx),
            ("kv_own", own),
            ("kv_owner", owner),
            ("kv_changes", changes),
            ("kv_minimum", minimum),
            ("kv_address", _field(PVar("kv_own"), 0)),
            ("kv_value", plt.UnMapData(_field(PVar("kv_own"), 1))),
            ("kv_held", Quantity(PVar("kv_value"), lovelace, lovelace)),
        ],
        _checked(
            plt.LessThanEqualsInteger(PVar("kv_minimum"), PVar("kv_held")),
            _checked(
                plt.LessThanEqualsInteger(
                    PVar("kv_minimum"),
                    plt.AddInteger(
                        PVar("kv_held"), DeltaOf(PVar("kv_changes"), lovelace, lovelace)
                    ),
                ),
                with_output,
                "the vault must keep its minimum lovelace",
            ),
            "the vault held less than its minimum lovelace",
        ),
    )


TERMS = {
    "BatcherCertified": BatcherCertified,
    "IsWallet": IsWallet,
    "IsQueueDatum": IsQueueDatum,
    "ValueIs": ValueIs,
    "CountInputsAt": CountInputsAt,
    "CountInputsLockedBy": CountInputsLockedBy,
    "ExpectSaleDatum": ExpectSaleDatum,
    "ExpectQueueDatum": ExpectQueueDatum,
    "OneInputAt": OneInputAt,
    "OneOutputAt": OneOutputAt,
    "SpentOutput": SpentOutput,
    "FirstInputAt": FirstInputAt,
    "FirstOutputAt": FirstOutputAt,
    "OnlyOutputAt": OnlyOutputAt,
    "Quantity": Quantity,
    "DeltaOf": DeltaOf,
    "SignedBy": SignedBy,
    "KeepsVault": KeepsVault,
    "ReferenceDatum": ReferenceDatum,
    "ScriptAddress": ScriptAddress,
}


def register() -> None:
    """Make the hand-written terms visible to OpShin's `@wraps_builtin` lookup."""
    for name, term in TERMS.items():
        # never replace one of pluthon's own (a builtin wrapper resolves to it by this name)
        if getattr(plt, name, term) is not term:
            raise RuntimeError(f"pluthon already defines {name}: name the term otherwise")
        setattr(plt, name, term)


if __name__ == "__main__":
    # `python -m cardano_market.contracts.pluthon_terms build ...`: OpShin's command line, with
    # the terms registered
    register()
    runpy.run_module("opshin", run_name="__main__", alter_sys=True)
