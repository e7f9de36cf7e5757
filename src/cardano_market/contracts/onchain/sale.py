"""sale: the spend validator guarding primary-market sales (Plutus V3), parameterized by the
starter NFT.

Purchase (0): a batcher fills one order from this sale (PROTOCOL section 6). This is the only
sale input and the order is the only queue input, spent with QueuePurchase; the one output back
here keeps the datum and holds exactly this sale plus `n * unit_cost` less `n * bundle.amt`
bundle tokens, where `n = min(requested, whole bundles left)` and a USD cost is converted with the
oracle (which must then be live for the whole validity interval); the one queue output and the
pointer checks are those of NEWM's deployed sale script. The queue validator checks the order's
side (its payout, the vault's profit, the fee bound, the batcher certificate).
RemoveSale (3): the datum's owner signs and this input's pointer token (policy from the live
ReferenceDatum) is burned in the same transaction. StartSale (1) and TransformSale (2) are not
implemented and fail with a trace saying so. When the spent output carries no SaleDatum (no
inline datum, or not constructor 0), a hot-key signature and the reference input suffice, so
stray UTxOs can be recovered.
"""

from opshin.prelude import *
from opshin.std.builtins import *
from opshin.std.integrity import check_integrity

USD = b"USD"
KEY_HASH_SIZE = 28


@dataclass()
class Contracts(PlutusData):
    CONSTR_ID = 0
    sale: bytes
    queue: bytes
    band: bytes
    vault: bytes
    stake: bytes


@dataclass()
class ProfitData(PlutusData):
    CONSTR_ID = 0
    feed_vkh: bytes
    feed_pid: bytes
    feed_tkn: bytes
    profit_pid: bytes
    profit_tkn: bytes
    profit_margin: int


@dataclass()
class ReferenceDatum(PlutusData):
    CONSTR_ID = 0
    hot_key: bytes
    keepers: Anything
    staking: Anything
    contracts: Contracts
    fees: Anything
    pointer: bytes
    batcher_data: Anything
    profit_data: ProfitData


@dataclass()
class Wallet(PlutusData):
    CONSTR_ID = 0
    pkh: bytes
    sc: bytes


@dataclass()
class SaleToken(PlutusData):
    CONSTR_ID = 0
    pid: bytes
    tkn: bytes
    amt: int


@dataclass()
class SaleDatum(PlutusData):
    CONSTR_ID = 0
    owner: Wallet
    bundle: SaleToken
    cost: SaleToken
    max_bundle_size: int


@dataclass()
class QueueDatum(PlutusData):
    CONSTR_ID = 0
    owner: Wallet
    number_of_bundles: int
    incentive: SaleToken
    pointer_tkn: bytes


@dataclass()
class GenericData(PlutusData):
    """Charli3's price data: {0: price (USD x 10^6 per token), 1: start ms, 2: end ms}."""

    CONSTR_ID = 2
    price_map: Dict[int, int]


@dataclass()
class OracleDatum(PlutusData):
    CONSTR_ID = 0
    price_data: GenericData


@dataclass()
class Purchase(PlutusData):
    CONSTR_ID = 0


@dataclass()
class StartSale(PlutusData):
    CONSTR_ID = 1
    pointer: SaleToken


@dataclass()
class TransformSale(PlutusData):
    CONSTR_ID = 2
    tokens: List[SaleToken]


@dataclass()
class RemoveSale(PlutusData):
    CONSTR_ID = 3


@dataclass()
class OtherDatum(PlutusData):
    CONSTR_ID = 1


def reference_datum(refs: List[TxInInfo], pid: bytes, tkn: bytes) -> ReferenceDatum:
    """The inline datum of the reference input holding the starter NFT (the first: the NFT is
    unique, so no other UTxO can hold it)."""
    for r in refs:
        held = r.resolved
        if held.value.get(pid, {b"": 0}).get(tkn, 0) == 1:
            datum = held.datum
            assert isinstance(datum, SomeOutputDatum), "the starter NFT's UTxO has no inline datum"
            reference: ReferenceDatum = datum.datum
            return reference
    assert False, "no reference input holds the starter NFT"
    return reference


def holds_sale_datum(datum: OutputDatum) -> bool:
    result = False
    if isinstance(datum, SomeOutputDatum):
        shape: Union[
            SaleDatum, OtherDatum, int, bytes, List[Anything], Dict[Anything, Anything]
        ] = datum.datum
        result = isinstance(shape, SaleDatum)
    return result


# -- Purchase -------------------------------------------------------------------------------------


def quantity(v: Value, pid: bytes, tkn: bytes) -> int:
    return v.get(pid, {b"": 0}).get(tkn, 0)


def script_address(script: bytes, stake: bytes) -> Address:
    """A contract address: the script, with the stake script when it is a 28-byte hash."""
    if len(stake) == KEY_HASH_SIZE:
        return Address(
            ScriptCredential(script), SomeStakingCredential(StakingHash(ScriptCredential(stake)))
        )
    return Address(ScriptCredential(script), NoStakingCredential())


def inline_datum(o: TxOut) -> Anything:
    d = o.datum
    assert isinstance(d, SomeOutputDatum), "expected an inline datum"
    return d.datum


def within(window_start: int, window_end: int, validity: POSIXTimeRange) -> bool:
    """The validity interval is finite at both ends and inside [window_start, window_end]."""
    lower = validity.lower_bound.limit
    upper = validity.upper_bound.limit
    if isinstance(lower, FinitePOSIXTime):  # noqa: SIM102 (OpShin narrows one isinstance per if)
        if isinstance(upper, FinitePOSIXTime):
            return window_start <= lower.time and upper.time <= window_end
    return False


def first_input_at(inputs: List[TxInInfo], address: Address) -> TxInInfo:
    for i in inputs:
        if i.resolved.address == address:
            return i
    assert False, "no input at the expected address"
    return inputs[0]


def the_queue_input(inputs: List[TxInInfo], queue: Address, own: Address) -> TxInInfo:
    """The one input at the `queue` address, in one loop that also checks this sale's `own`
    address has exactly one input (separate counting loops cost a walk over the inputs each)."""
    orders = 0
    sales = 0
    one = inputs[0]
    for i in inputs:
        address = i.resolved.address
        if address == queue:
            one = i
            orders += 1
        if address == own:
            sales += 1
    assert orders == 1, "exactly one queue input"
    assert sales == 1, "exactly one sale input"
    return one


def the_sale_output(outputs: List[TxOut], own: Address, queue: Address) -> TxOut:
    """The one output at this sale's `own` address, in one loop that also checks there is
    exactly one output at the `queue` address."""
    sales = 0
    orders = 0
    one = outputs[0]
    for o in outputs:
        address = o.address
        if address == own:
            one = o
            sales += 1
        if address == queue:
            orders += 1
    assert orders == 1, "exactly one queue output"
    assert sales == 1, "exactly one sale output"
    return one


def unit_cost(tx: TxInfo, profit: ProfitData, cost: SaleToken) -> SaleToken:
    """What one bundle costs in the asset the order pays with.

    With a USD cost or a profit margin the oracle is read, as the queue reads it: the first
    reference input at the feed script holds the feed NFT, its window is logical and contains the
    validity interval; a USD cost becomes `cost.amt // price` of the profit (currency) token.
    """
    if profit.profit_margin == 0 and cost.pid != USD:
        return cost
    feed_address = Address(ScriptCredential(profit.feed_vkh), NoStakingCredential())
    feed = first_input_at(tx.reference_inputs, feed_address).resolved
    assert quantity(feed.value, profit.feed_pid, profit.feed_tkn) == 1, (
        "the oracle input does not hold the feed NFT"
    )
    oracle: OracleDatum = inline_datum(feed)
    price_data = oracle.price_data
    assert price_data.CONSTR_ID == 2, "the oracle datum is not generic price data"
    prices = price_data.price_map
    start = prices[1]
    end = prices[2]
    assert start >= 0 and start <= end, "the oracle window is not logical"
    assert within(start, end, tx.validity_range), "the validity interval leaves the oracle window"
    if cost.pid == USD:
        return SaleToken(profit.profit_pid, profit.profit_tkn, cost.amt // prices[0])
    return cost


def paid_exactly(
    actual: Value,
    base: Value,
    cost_pid: bytes,
    cost_tkn: bytes,
    total: int,
    bundle_pid: bytes,
    bundle_tkn: bytes,
    sold: int,
) -> bool:
    """`actual` holds exactly `base` + `total` of the cost asset - `sold` bundle tokens.

    One pass over `base` checks every asset it holds (one lookup of the policy in `actual`, one
    of each name in it); the cost asset is checked on its own; ledger values hold no zero
    entries, so counting `actual`'s entries rules out any other asset.
    """
    nonzero = 0
    cost_held = False
    for pid, names in base.items():
        held = actual.get(pid, {b"": 0})
        is_cost = pid == cost_pid
        is_bundle = pid == bundle_pid
        for tkn, amount in names.items():
            expected = amount
            if is_cost:  # noqa: SIM102 (nested ifs run cheaper than `and` in OpShin)
                if tkn == cost_tkn:
                    expected += total
                    cost_held = True
            if is_bundle:  # noqa: SIM102
                if tkn == bundle_tkn:
                    expected -= sold
            if held.get(tkn, 0) != expected:
                return False
            if expected != 0:
                nonzero += 1
    if not cost_held:
        if quantity(actual, cost_pid, cost_tkn) != total:
            return False
        if total != 0:
            nonzero += 1
    held_entries = 0
    for _pid, names in actual.items():
        held_entries += len(names)
    return held_entries == nonzero


def purchase(tx: TxInfo, own: TxOut, datum: SaleDatum, reference: ReferenceDatum) -> None:
    """This sale fills one order: exact payment in, exact bundles out, datum kept."""
    contracts = reference.contracts
    own_address = own.address
    queue_address = script_address(contracts.queue, contracts.stake)
    inputs = tx.inputs
    outputs = tx.outputs
    order_input = the_queue_input(inputs, queue_address, own_address)
    order_redeemer = serialise_data(tx.redeemers[Spending(order_input.out_ref)])
    assert order_redeemer == b"\xd8\x79\x80", "the order must be spent with QueuePurchase"
    output = the_sale_output(outputs, own_address, queue_address)
    assert output.datum == SomeOutputDatum(datum), "the sale output must keep the datum"
    pointer = reference.pointer
    bundle = datum.bundle
    assert pointer != bundle.pid and pointer != datum.cost.pid, "the pointer cannot be sold"
    order: QueueDatum = inline_datum(order_input.resolved)
    assert quantity(own.value, pointer, order.pointer_tkn) == 1, "the order is for another sale"
    assert bundle.amt > 0, "the sale's bundle amount is not positive"
    on_sale = quantity(own.value, bundle.pid, bundle.tkn)
    assert on_sale >= bundle.amt, "the sale has no whole bundle left"
    n = on_sale // bundle.amt
    if order.number_of_bundles < n:
        n = order.number_of_bundles
    assert n > 0, "the order asks for no bundles"
    cost = unit_cost(tx, reference.profit_data, datum.cost)
    assert paid_exactly(
        output.value,
        own.value,
        cost.pid,
        cost.tkn,
        n * cost.amt,
        bundle.pid,
        bundle.tkn,
        n * bundle.amt,
    ), "the sale output does not hold exactly the payment"


def validator(starter_pid: bytes, starter_tkn: bytes, context: ScriptContext) -> None:
    purpose = context.purpose
    assert isinstance(purpose, Spending), "the sale contract only guards spending"
    tx = context.transaction
    reference = reference_datum(tx.reference_inputs, starter_pid, starter_tkn)
    own = own_spent_utxo(tx.inputs, purpose)
    if holds_sale_datum(own.datum):
        datum: SaleDatum = inline_datum(own)
        check_integrity(datum)
        redeemer: Union[Purchase, StartSale, TransformSale, RemoveSale] = context.redeemer
        if isinstance(redeemer, RemoveSale):
            assert datum.owner.pkh in tx.signatories, "the sale's owner did not sign"
            pointers = own.value.get(reference.pointer, {b"": 0})
            names = pointers.keys()
            assert len(names) == 1, "the sale must hold exactly one pointer name"
            name = names[0]
            burned = tx.mint.get(reference.pointer, {b"": 0}).get(name, 0)
            assert burned == 0 - pointers[name], "the sale's pointer must be burned"
        elif isinstance(redeemer, Purchase):
            purchase(tx, own, datum, reference)
        elif isinstance(redeemer, StartSale):
            assert False, "StartSale is not implemented by this sale contract yet"
        else:
            assert False, "TransformSale is not implemented by this sale contract yet"
    else:
        assert reference.hot_key in tx.signatories, "no SaleDatum: the hot key must sign"
