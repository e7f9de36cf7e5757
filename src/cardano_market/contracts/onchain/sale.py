"""sale: the spend validator guarding primary-market sales (Plutus V3), parameterized by the
starter NFT.

Purchase (0): a batcher fills one order from this sale (PROTOCOL section 6). As in NEWM's deployed
scripts, the order's queue validator checks the payment (the one output back here holds exactly
this sale plus `n * unit_cost` less `n * bundle.amt` bundle tokens, `n = min(requested, whole
bundles left)`, a USD cost converted with the oracle) and this script what is the sale's own:
it sits at the marketplace's sale address (where the queue looks for it) as the only input
there, the order is the only queue input, is spent with QueuePurchase and holds an inline datum
that decodes as a QueueDatum (else the queue's hot-key case would check nothing), the one output
back here keeps the datum, there is one queue output and the pointer is not the sold asset.
RemoveSale (3): the datum's owner signs and this input's pointer token (policy from the live
ReferenceDatum) is burned in the same transaction. StartSale (1) and TransformSale (2) are not
implemented and fail with a trace saying so. When the spent output carries no SaleDatum (no
inline datum, or not constructor 0), a hot-key signature and the reference input suffice, so
stray UTxOs can be recovered.
"""

from opshin.bridge import wraps_builtin
from opshin.prelude import *
from opshin.std.builtins import *


@dataclass()
class Contracts(PlutusData):
    CONSTR_ID = 0
    sale: bytes
    queue: bytes
    band: bytes
    vault: bytes
    stake: bytes


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
    profit_data: Anything


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


@wraps_builtin
def reference_datum(references: List[TxInInfo], pid: bytes, tkn: bytes) -> ReferenceDatum:
    """The live ReferenceDatum: the inline datum of the reference input holding the starter NFT
    (it is unique, so an input without an inline datum is passed over and then none is found).
    Written by hand in pluthon: `contracts/pluthon_terms.py`."""
    pass


def holds_sale_datum(datum: OutputDatum) -> bool:
    result = False
    if isinstance(datum, SomeOutputDatum):
        shape: Union[
            SaleDatum, OtherDatum, int, bytes, List[Anything], Dict[Anything, Anything]
        ] = datum.datum
        result = isinstance(shape, SaleDatum)
    return result


# -- Purchase -------------------------------------------------------------------------------------


@wraps_builtin
def script_address(script: bytes, stake: bytes) -> Address:
    """A contract address: the script, with the stake script when it is a 28-byte hash. Written
    by hand in pluthon: `contracts/pluthon_terms.py`."""
    pass


def inline_datum(o: TxOut) -> Anything:
    d = o.datum
    assert isinstance(d, SomeOutputDatum), "expected an inline datum"
    return d.datum


@wraps_builtin
def signed_by(tx: TxInfo, pkh: bytes) -> bool:
    """`pkh in tx.signatories`. Written by hand in pluthon: `contracts/pluthon_terms.py`."""
    pass


@wraps_builtin
def spent_output(inputs: List[TxInInfo], out_ref: TxOutRef) -> TxOut:
    """The output the input `out_ref` spends (OpShin's `own_spent_utxo`, in fewer steps); fails
    when no input spends it. Written by hand in pluthon: `contracts/pluthon_terms.py`."""
    pass


@wraps_builtin
def expect_sale_datum(d: Anything) -> bool:
    """True when `d` decodes as a SaleDatum; the script fails otherwise (OpShin's
    `check_integrity`, cheaper). Written by hand in pluthon: `contracts/pluthon_terms.py`."""
    pass


@wraps_builtin
def expect_queue_datum(d: Anything) -> bool:
    """True when `d` decodes as a QueueDatum; the script fails otherwise. Written by hand in
    pluthon: `contracts/pluthon_terms.py`."""
    pass


@wraps_builtin
def one_input_at(inputs: List[TxInInfo], wanted: Address, other: Address) -> TxInInfo:
    """The one input at `wanted`; fails unless exactly one input is at `wanted` and exactly one
    at `other` (one walk). Written by hand in pluthon: `contracts/pluthon_terms.py`."""
    pass


@wraps_builtin
def one_output_at(outputs: List[TxOut], wanted: Address, other: Address) -> TxOut:
    """The one output to `wanted`; fails unless exactly one output is to `wanted` and exactly
    one to `other` (one walk). Written by hand in pluthon: `contracts/pluthon_terms.py`."""
    pass


def purchase(tx: TxInfo, own: TxOut, datum: SaleDatum, reference: ReferenceDatum) -> None:
    """This sale fills one order; the order's queue validator checks the payment.

    The queue's QueuePurchase finds the sale at the marketplace's sale address and proves its one
    output there holds exactly this sale plus the payment less the bundles sold (oracle, bundle
    count, the order's pointer). So this sale must sit at that address, be the only input there
    and be spent beside exactly one queue input redeemed with QueuePurchase; the rest is this
    sale's own: its one output keeps the datum, one queue output, the pointer is not for sale.
    """
    contracts = reference.contracts
    stake = contracts.stake
    own_address = own.address
    assert own_address == script_address(contracts.sale, stake), (
        "the sale is not at the marketplace's sale address"
    )
    queue_address = script_address(contracts.queue, stake)
    # exactly one queue input, and this sale the only input at the sale address
    order_input = one_input_at(tx.inputs, queue_address, own_address)
    order_redeemer = serialise_data(tx.redeemers[Spending(order_input.out_ref)])
    assert order_redeemer == b"\xd8\x79\x80", "the order must be spent with QueuePurchase"
    # an order whose datum does not decode is the queue's hot-key case, where the queue checks
    # none of the purchase: the payment it would prove must not go unproven
    assert expect_queue_datum(inline_datum(order_input.resolved))
    # exactly one output back here, and exactly one queue output
    output = one_output_at(tx.outputs, own_address, queue_address)
    assert output.datum == SomeOutputDatum(datum), "the sale output must keep the datum"
    pointer = reference.pointer
    assert pointer != datum.bundle.pid and pointer != datum.cost.pid, "the pointer cannot be sold"


def validator(starter_pid: bytes, starter_tkn: bytes, context: ScriptContext) -> None:
    purpose = context.purpose
    assert isinstance(purpose, Spending), "the sale contract only guards spending"
    tx = context.transaction
    reference = reference_datum(tx.reference_inputs, starter_pid, starter_tkn)
    own = spent_output(tx.inputs, purpose.tx_out_ref)
    if holds_sale_datum(own.datum):
        datum: SaleDatum = inline_datum(own)
        assert expect_sale_datum(datum)
        redeemer: Union[Purchase, StartSale, TransformSale, RemoveSale] = context.redeemer
        if isinstance(redeemer, RemoveSale):
            assert signed_by(tx, datum.owner.pkh), "the sale's owner did not sign"
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
        assert signed_by(tx, reference.hot_key), "no SaleDatum: the hot key must sign"
