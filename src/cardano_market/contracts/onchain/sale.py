"""sale: the spend validator guarding primary-market sales (Plutus V3), parameterized by the
starter NFT.

RemoveSale (3): the datum's owner signs and this input's pointer token (policy from the live
ReferenceDatum) is burned in the same transaction. Purchase (0), StartSale (1) and
TransformSale (2) are not implemented yet and fail with a trace saying so. When the spent output
carries no SaleDatum (no inline datum, or not constructor 0), a hot-key signature and the
reference input suffice, so stray UTxOs can be recovered.
"""

from opshin.prelude import *
from opshin.std.integrity import check_integrity


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


def reference_datum(refs: List[TxInInfo], pid: bytes, tkn: bytes) -> ReferenceDatum:
    holders = [
        r.resolved.datum
        for r in refs
        if r.resolved.value.get(pid, {b"": 0}).get(tkn, 0) == 1
    ]
    assert len(holders) == 1, "no single reference input holds the starter NFT"
    datum = holders[0]
    assert isinstance(datum, SomeOutputDatum), "the starter NFT's UTxO has no inline datum"
    reference: ReferenceDatum = datum.datum
    return reference


def holds_sale_datum(datum: OutputDatum) -> bool:
    result = False
    if isinstance(datum, SomeOutputDatum):
        shape: Union[SaleDatum, OtherDatum, int, bytes, List[Anything], Dict[Anything, Anything]] = (
            datum.datum
        )
        result = isinstance(shape, SaleDatum)
    return result


def validator(starter_pid: bytes, starter_tkn: bytes, context: ScriptContext) -> None:
    purpose = context.purpose
    assert isinstance(purpose, Spending), "the sale contract only guards spending"
    tx = context.transaction
    reference = reference_datum(tx.reference_inputs, starter_pid, starter_tkn)
    own = own_spent_utxo(tx.inputs, purpose)
    if holds_sale_datum(own.datum):
        datum: SaleDatum = own_datum_unsafe(context)
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
            assert False, "Purchase is not implemented by this sale contract yet"
        elif isinstance(redeemer, StartSale):
            assert False, "StartSale is not implemented by this sale contract yet"
        else:
            assert False, "TransformSale is not implemented by this sale contract yet"
    else:
        assert reference.hot_key in tx.signatories, "no SaleDatum: the hot key must sign"
