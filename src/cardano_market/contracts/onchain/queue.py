"""queue: the marketplace's order queue (PROTOCOL sections 1 and 6), a Plutus V3 spend validator.

Parameters (applied at deployment): the starter NFT's policy id and asset name. The live
ReferenceDatum is read from the reference input holding that NFT, so contract hashes, fee bounds,
the batcher policy and the profit settings can change without a new queue script.

Redeemers: QueuePurchase (0) a batcher fills the order from one sale; QueueRefund (1) a batcher
returns an order that can no longer be filled; QueueCancel (2) the owner takes it back. A UTxO
whose datum does not decode as a QueueDatum may be spent with the hot key's signature and one of
those three redeemers. Orders are counted by the queue script's payment credential, whatever their
stake part. A purchase's proof is shared: this script proves the order's and the sale's outputs,
the vault's AddToVault the vault's. The arithmetic is that of NEWM's deployed queue script;
`docs/settlement.md` lists the checks and where they differ.
"""

from opshin.bridge import wraps_builtin
from opshin.prelude import *
from opshin.std.builtins import *

BATCHER_PREFIX = b"\xaf\xfa\xb1\xe0\x00\x5e\x77\xab\x1e"
USD = b"USD"
KEY_HASH_SIZE = 28


# -- datums and redeemers (PROTOCOL section 1) ----------------------------------------------------


@dataclass()
class Wallet(PlutusData):
    CONSTR_ID = 0
    pkh: bytes
    sc: bytes


@dataclass()
class TokenAmount(PlutusData):
    """PROTOCOL's `Token`: policy id, asset name, amount (ADA: b"", b""; USD: b"USD", b"")."""

    CONSTR_ID = 0
    pid: bytes
    tkn: bytes
    amt: int


@dataclass()
class SaleDatum(PlutusData):
    CONSTR_ID = 0
    owner: Wallet
    bundle: TokenAmount
    cost: TokenAmount
    max_bundle_size: int


@dataclass()
class QueueDatum(PlutusData):
    CONSTR_ID = 0
    owner: Wallet
    number_of_bundles: int
    incentive: TokenAmount
    pointer_tkn: bytes


@dataclass()
class Keepers(PlutusData):
    CONSTR_ID = 0
    pkhs: List[bytes]
    threshold: int


@dataclass()
class Staking(PlutusData):
    CONSTR_ID = 0
    pool_id: bytes
    reward_wallet: Wallet


@dataclass()
class Contracts(PlutusData):
    CONSTR_ID = 0
    sale: bytes
    queue: bytes
    band: bytes
    vault: bytes
    stake: bytes


@dataclass()
class Fees(PlutusData):
    CONSTR_ID = 0
    purchase_queue_bound: int
    refund_queue_bound: int
    start_sale_bound: int


@dataclass()
class BatcherData(PlutusData):
    CONSTR_ID = 0
    monster_pid1: bytes
    monster_pid2: bytes
    monster_prefixes: List[bytes]
    batcher_pid: bytes


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
    keepers: Keepers
    staking: Staking
    contracts: Contracts
    fees: Fees
    pointer: bytes
    batcher_data: BatcherData
    profit_data: ProfitData


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
class QueuePurchase(PlutusData):
    CONSTR_ID = 0


@dataclass()
class QueueRefund(PlutusData):
    CONSTR_ID = 1


@dataclass()
class QueueCancel(PlutusData):
    CONSTR_ID = 2


@dataclass()
class AddToVault(PlutusData):
    """The vault's redeemer when a purchase pays it the profit."""

    CONSTR_ID = 0
    incoming: List[TokenAmount]


@dataclass()
class Pricing(PlutusData):
    """What one bundle costs in the asset the queue pays with, and the marketplace's profit."""

    CONSTR_ID = 0
    unit_cost: TokenAmount
    profit: int


# -- telling whether a datum decodes (the hot-key fallback) ---------------------------------------


@wraps_builtin
def is_queue_datum(d: Anything) -> bool:
    """`d` decodes as a QueueDatum: constructor 0, exactly its fields, each of its kind, nested
    alike (what check_integrity proves, but answering instead of failing). Written by hand in
    pluthon: `contracts/pluthon_terms.py`."""
    pass


@wraps_builtin
def is_wallet(d: Anything) -> bool:
    """`d` decodes as a Wallet. Written by hand in pluthon: `contracts/pluthon_terms.py`."""
    pass


# -- reading the transaction ----------------------------------------------------------------------


@wraps_builtin
def quantity(v: Value, pid: bytes, tkn: bytes) -> int:
    """How many of the asset (pid, tkn) `v` holds, 0 when none. Written by hand in pluthon:
    `contracts/pluthon_terms.py`."""
    pass


@wraps_builtin
def value_is(actual: Value, base: Value, deltas: List[TokenAmount]) -> bool:
    """`actual` holds exactly `base` changed by `deltas`, asset by asset (absent counts as 0;
    deltas naming one asset add up). Written by hand in pluthon: `contracts/pluthon_terms.py`."""
    pass


def pays_exactly(
    outputs: List[TxOut], address: Address, base: Value, deltas: List[TokenAmount]
) -> bool:
    """Some output at `address` holds exactly `base` changed by `deltas`."""
    for o in outputs:
        if o.address == address:  # noqa: SIM102
            if value_is(o.value, base, deltas):
                return True
    return False


@wraps_builtin
def count_inputs_locked_by(inputs: List[TxInInfo], credential: Credential) -> int:
    """How many inputs `credential` locks (their address's payment part), whatever their stake
    part: an order at the queue script under another stake credential is an order too (counted
    by full address, a second one could share the first's payout or take bundles the sale never
    sold). Hand-written: `contracts/pluthon_terms.py`."""
    pass


@wraps_builtin
def first_input_at(inputs: List[TxInInfo], address: Address) -> TxInInfo:
    """The first input spending from `address`; fails when there is none. Written by hand in
    pluthon: `contracts/pluthon_terms.py`."""
    pass


@wraps_builtin
def first_output_at(outputs: List[TxOut], address: Address) -> TxOut:
    """The first output to `address`; fails when there is none. Written by hand in pluthon:
    `contracts/pluthon_terms.py`."""
    pass


@wraps_builtin
def spent_output(inputs: List[TxInInfo], out_ref: TxOutRef) -> TxOut:
    """The output the input `out_ref` spends (OpShin's `own_spent_utxo`, in fewer steps); fails
    when no input spends it. Written by hand in pluthon: `contracts/pluthon_terms.py`."""
    pass


def inline_datum(o: TxOut) -> Anything:
    d = o.datum
    assert isinstance(d, SomeOutputDatum), "expected an inline datum"
    return d.datum


def spent_datum(tx: TxInfo, o: TxOut) -> Anything:
    """The spent output's datum; Nothing() (never a QueueDatum) when it has none."""
    d = o.datum
    if isinstance(d, SomeOutputDatum):
        found: Anything = d.datum
    elif isinstance(d, SomeOutputDatumHash):
        found = tx.datums[d.datum_hash]
    else:
        found = Nothing()
    return found


@wraps_builtin
def signed_by(tx: TxInfo, pkh: bytes) -> bool:
    """`pkh in tx.signatories`. Written by hand in pluthon: `contracts/pluthon_terms.py`."""
    pass


@wraps_builtin
def script_address(script: bytes, stake: bytes) -> Address:
    """A contract address: the script, with the stake script when it is a 28-byte hash. Written
    by hand in pluthon: `contracts/pluthon_terms.py`."""
    pass


def wallet_address(w: Wallet) -> Address:
    """The owner's address: key payment credential and, when present, a stake key."""
    pkh = w.pkh
    sc = w.sc
    assert len(pkh) == KEY_HASH_SIZE, "invalid owner wallet"
    if len(sc) == KEY_HASH_SIZE:
        return Address(
            PubKeyCredential(pkh), SomeStakingCredential(StakingHash(PubKeyCredential(sc)))
        )
    assert len(sc) == 0, "invalid owner wallet"
    return Address(PubKeyCredential(pkh), NoStakingCredential())


@wraps_builtin
def reference_datum(references: List[TxInInfo], pid: bytes, tkn: bytes) -> ReferenceDatum:
    """The live ReferenceDatum: the inline datum of the reference input holding the starter NFT
    (it is unique, so an input without an inline datum is passed over and then none is found).
    Written by hand in pluthon: `contracts/pluthon_terms.py`."""
    pass


def within(window_start: int, window_end: int, validity: POSIXTimeRange) -> bool:
    """The validity interval is finite at both ends and inside [window_start, window_end]."""
    lower = validity.lower_bound.limit
    upper = validity.upper_bound.limit
    if isinstance(lower, FinitePOSIXTime):  # noqa: SIM102 (OpShin narrows one isinstance per if)
        if isinstance(upper, FinitePOSIXTime):
            return window_start <= lower.time and upper.time <= window_end
    return False


def pricing(tx: TxInfo, profit_data: ProfitData, sale_cost: TokenAmount) -> Pricing:
    """Unit cost in the paying asset and the profit, from the oracle when it is needed.

    Without a margin and with a token-priced sale nothing depends on the price. Otherwise the
    oracle reference input (at the feed script, holding the feed NFT) must be live for the whole
    validity interval; profit = margin // price and a USD cost becomes cost // price of the
    profit (currency) token, both floored.
    """
    margin = profit_data.profit_margin
    usd_priced = sale_cost.pid == USD
    if margin == 0 and not usd_priced:
        return Pricing(sale_cost, 0)
    feed = first_input_at(
        tx.reference_inputs,
        Address(ScriptCredential(profit_data.feed_vkh), NoStakingCredential()),
    ).resolved
    assert quantity(feed.value, profit_data.feed_pid, profit_data.feed_tkn) == 1, (
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
    price = prices[0]
    profit = margin // price
    if usd_priced:
        return Pricing(
            TokenAmount(profit_data.profit_pid, profit_data.profit_tkn, sale_cost.amt // price),
            profit,
        )
    return Pricing(sale_cost, profit)


@wraps_builtin
def batcher_certified(
    inputs: List[TxInInfo],
    batcher_pid: bytes,
    prefix: bytes,
    own_ref: TxOutRef,
    sale_ref: TxOutRef,
) -> bool:
    """Another input (not this order, not the sale) holds a token of `batcher_pid` whose name
    starts with `prefix` (a batcher certificate). Written by hand in pluthon:
    `contracts/pluthon_terms.py`."""
    pass


def order_is_sound(requested: int, incentive_amt: int, max_bundle_size: int) -> None:
    assert requested > 0, "the order asks for no bundles"
    assert max_bundle_size > 0, "the sale's maximum bundle size is not positive"
    assert max_bundle_size >= requested, "the order exceeds the sale's maximum"
    assert incentive_amt >= 0, "negative incentive"


# -- the three redeemers --------------------------------------------------------------------------


def purchase(
    tx: TxInfo, own_ref: TxOutRef, own: TxOut, order: QueueDatum, ref: ReferenceDatum
) -> None:
    """Fill the order from the one sale input: exact payouts to vault, sale and queue."""
    inputs = tx.inputs
    outputs = tx.outputs
    fee = tx.fee
    contracts = ref.contracts
    stake = contracts.stake
    sale_address = script_address(contracts.sale, stake)
    sale_input = first_input_at(inputs, sale_address)
    sale_ref = sale_input.out_ref
    sale_utxo = sale_input.resolved
    sale_value = sale_utxo.value
    sale: SaleDatum = inline_datum(sale_utxo)
    profit_data = ref.profit_data
    price = pricing(tx, profit_data, sale.cost)
    profit_pid = profit_data.profit_pid
    profit_tkn = profit_data.profit_tkn
    profit = price.profit

    if profit_data.profit_margin != 0:
        # the vault's AddToVault proves its one output holds exactly its input plus the listed
        # tokens, so naming the profit there is an exact payout (nothing when it rounds to 0)
        vault_input = first_input_at(inputs, script_address(contracts.vault, stake))
        # a vault whose datum does not decode takes the vault's hot-key path, which ignores the
        # AddToVault below: its datum must decode as a Wallet for that redeemer to prove anything
        assert is_wallet(spent_datum(tx, vault_input.resolved)), "the vault's datum is not a Wallet"
        incoming: List[TokenAmount] = []
        if profit != 0:
            incoming = [TokenAmount(profit_pid, profit_tkn, profit)]
        assert equals_data(tx.redeemers[Spending(vault_input.out_ref)], AddToVault(incoming)), (
            "the vault does not receive exactly the profit"
        )

    bundle = sale.bundle
    bundle_pid = bundle.pid
    bundle_tkn = bundle.tkn
    bundle_amt = bundle.amt
    assert bundle_amt > 0, "the sale's bundle amount is not positive"
    on_sale = quantity(sale_value, bundle_pid, bundle_tkn)
    assert on_sale >= bundle_amt, "the sale has no whole bundle left"
    requested = order.number_of_bundles
    bundles = on_sale // bundle_amt
    if requested < bundles:
        bundles = requested
    cost = price.unit_cost
    cost_pid = cost.pid
    cost_tkn = cost.tkn
    total_cost = cost.amt * bundles
    sold = bundle_amt * bundles
    own_address = own.address
    incentive = order.incentive
    incentive_amt = incentive.amt

    sale_redeemer = serialise_data(tx.redeemers[Spending(sale_ref)])
    assert sale_redeemer == b"\xd8\x79\x80", "the sale must be spent with Purchase"
    # the sale's Purchase checks there is one sale input and one sale output at its address
    assert count_inputs_locked_by(inputs, own_address.payment_credential) == 1, (
        "exactly one queue input"
    )
    # value_is pays per delta for every asset it checks, and the incentive and the profit are
    # usually the cost's asset (the currency): one delta for each of those (the sums are equal)
    paid = -total_cost
    deltas = [TokenAmount(b"", b"", -fee), TokenAmount(bundle_pid, bundle_tkn, sold)]
    incentive_pid = incentive.pid
    incentive_tkn = incentive.tkn
    if incentive_pid == cost_pid and incentive_tkn == cost_tkn:
        paid -= incentive_amt
    else:
        deltas = [TokenAmount(incentive_pid, incentive_tkn, -incentive_amt)] + deltas  # noqa: RUF005
    if profit_pid == cost_pid and profit_tkn == cost_tkn:
        paid -= profit
    else:
        deltas = [TokenAmount(profit_pid, profit_tkn, -profit)] + deltas  # noqa: RUF005
    assert pays_exactly(
        outputs,
        own_address,
        own.value,
        [TokenAmount(cost_pid, cost_tkn, paid)] + deltas,  # noqa: RUF005
    ), "the queue output does not hold exactly what the order is owed"
    assert pays_exactly(
        outputs,
        sale_address,
        sale_value,
        [TokenAmount(cost_pid, cost_tkn, total_cost), TokenAmount(bundle_pid, bundle_tkn, -sold)],
    ), "the sale output does not hold exactly the payment"
    assert first_output_at(outputs, own_address).datum == SomeOutputDatum(order), (
        "the queue output must keep the datum"
    )
    assert quantity(sale_value, ref.pointer, order.pointer_tkn) == 1, "not the order's sale"
    order_is_sound(requested, incentive_amt, sale.max_bundle_size)
    assert fee <= ref.fees.purchase_queue_bound, "the fee exceeds the purchase bound"
    certified = batcher_certified(
        inputs, ref.batcher_data.batcher_pid, BATCHER_PREFIX, own_ref, sale_ref
    )
    assert certified, "no batcher certificate is spent"


def refund(
    tx: TxInfo, own_ref: TxOutRef, own: TxOut, order: QueueDatum, ref: ReferenceDatum
) -> None:
    """Return an order that cannot be filled: the owner gets it back less fee and incentive."""
    fee = tx.fee
    contracts = ref.contracts
    sale_input = first_input_at(
        tx.reference_inputs, script_address(contracts.sale, contracts.stake)
    )
    sale_utxo = sale_input.resolved
    sale_value = sale_utxo.value
    sale: SaleDatum = inline_datum(sale_utxo)
    profit_data = ref.profit_data
    price = pricing(tx, profit_data, sale.cost)
    cost = price.unit_cost
    cost_pid = cost.pid
    cost_tkn = cost.tkn
    requested = order.number_of_bundles
    total_cost = cost.amt * requested
    own_value = own.value
    incentive = order.incentive
    incentive_pid = incentive.pid
    incentive_tkn = incentive.tkn
    incentive_amt = incentive.amt

    # what the order could still pay for its bundles once incentive and profit are set aside
    payable = quantity(own_value, cost_pid, cost_tkn)
    if incentive_pid == cost_pid and incentive_tkn == cost_tkn:
        payable -= incentive_amt
    if profit_data.profit_pid == cost_pid and profit_data.profit_tkn == cost_tkn:
        payable -= price.profit
    bundle = sale.bundle
    fillable = payable >= total_cost and quantity(sale_value, bundle.pid, bundle.tkn) >= bundle.amt

    assert count_inputs_locked_by(tx.inputs, own.address.payment_credential) == 1, (
        "exactly one queue input"
    )
    assert quantity(sale_value, ref.pointer, order.pointer_tkn) == 1, "not the order's sale"
    order_is_sound(requested, incentive_amt, sale.max_bundle_size)
    assert not fillable, "the order can still be filled"
    assert fee <= ref.fees.refund_queue_bound, "the fee exceeds the refund bound"
    assert pays_exactly(
        tx.outputs,
        wallet_address(order.owner),
        own_value,
        [TokenAmount(b"", b"", -fee), TokenAmount(incentive_pid, incentive_tkn, -incentive_amt)],
    ), "the owner is not paid exactly the order less fee and incentive"
    certified = batcher_certified(
        tx.inputs, ref.batcher_data.batcher_pid, BATCHER_PREFIX, own_ref, sale_input.out_ref
    )
    assert certified, "no batcher certificate is spent"


def cancel(tx: TxInfo, own: TxOut, order: QueueDatum) -> None:
    """The owner takes the order back: their signature, and no other queue input."""
    assert signed_by(tx, order.owner.pkh), "the owner did not sign"
    assert count_inputs_locked_by(tx.inputs, own.address.payment_credential) == 1, (
        "exactly one queue input"
    )


def hot_key_spend(tx: TxInfo, starter_pid: bytes, starter_tkn: bytes) -> None:
    """A UTxO without a decodable QueueDatum: the reference datum's hot key must sign."""
    ref = reference_datum(tx.reference_inputs, starter_pid, starter_tkn)
    assert signed_by(tx, ref.hot_key), "the hot key did not sign"


def validator(starter_pid: bytes, starter_tkn: bytes, context: ScriptContext) -> None:
    purpose = context.purpose
    assert isinstance(purpose, Spending), "the queue only guards spending"
    tx = context.transaction
    own_ref = purpose.tx_out_ref
    own = spent_output(tx.inputs, purpose.tx_out_ref)
    datum = spent_datum(tx, own)
    # the builtin types keep this isinstance from failing on a redeemer that is not a constructor
    redeemer: Union[
        QueuePurchase,
        QueueRefund,
        QueueCancel,
        int,
        bytes,
        List[Anything],
        Dict[Anything, Anything],
    ] = context.redeemer
    if isinstance(redeemer, QueueCancel):
        # an owner's cancel needs no reference input: the datum decides first
        if is_queue_datum(datum):
            order: QueueDatum = datum
            cancel(tx, own, order)
        else:
            hot_key_spend(tx, starter_pid, starter_tkn)
    else:
        # Every other spend reads the ReferenceDatum. A datum that does not decode is the hot
        # key's to recover; without its signature the datum must decode.
        ref = reference_datum(tx.reference_inputs, starter_pid, starter_tkn)
        recovered = not is_queue_datum(datum)
        if recovered:
            assert signed_by(tx, ref.hot_key), "the order's datum does not decode"
        if recovered:
            # as NEWM's queue, which reads the redeemer first: an unknown one is refused here too
            assert isinstance(redeemer, QueuePurchase) or isinstance(redeemer, QueueRefund), (  # noqa: SIM101
                "unknown queue redeemer"
            )
        else:
            order_datum: QueueDatum = datum
            if isinstance(redeemer, QueuePurchase):
                purchase(tx, own_ref, own, order_datum, ref)
            else:
                assert isinstance(redeemer, QueueRefund), "unknown queue redeemer"
                refund(tx, own_ref, own, order_datum, ref)
