"""pointer: the minting policy of sale pointer tokens (Plutus V3), parameterized by the starter NFT.

The live ReferenceDatum (on the reference input holding the starter NFT) names the hot key and the
sale contract. MintPointerToken (0): the hot key signs, exactly one token of this policy is minted,
its name commits to the first input in ledger order (`ca11ab1e || byte(ix) || sha3_256(txid)`,
first 32 bytes), and it goes to the sale contract. BurnPointerToken (1): this policy only burns.
"""

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
class MintPointerToken(PlutusData):
    CONSTR_ID = 0


@dataclass()
class BurnPointerToken(PlutusData):
    CONSTR_ID = 1


def reference_datum(refs: List[TxInInfo], pid: bytes, tkn: bytes) -> ReferenceDatum:
    holders = [
        r.resolved.datum for r in refs if r.resolved.value.get(pid, {b"": 0}).get(tkn, 0) == 1
    ]
    assert len(holders) == 1, "no single reference input holds the starter NFT"
    datum = holders[0]
    assert isinstance(datum, SomeOutputDatum), "the starter NFT's UTxO has no inline datum"
    reference: ReferenceDatum = datum.datum
    return reference


def pointer_name(first: TxOutRef) -> bytes:
    assert first.idx < 256, "the first input's index does not fit in one byte"
    name = b"\xca\x11\xab\x1e" + cons_byte_string(first.idx, b"") + sha3_256(first.id)
    return name[0:32]


def sent_to_sale(outputs: List[TxOut], sale: bytes, policy: bytes, name: bytes) -> int:
    return sum(
        [
            o.value.get(policy, {b"": 0}).get(name, 0)
            for o in outputs
            if o.address.payment_credential == ScriptCredential(sale)
        ]
    )


def validator(starter_pid: bytes, starter_tkn: bytes, context: ScriptContext) -> None:
    purpose = context.purpose
    assert isinstance(purpose, Minting), "the pointer policy only guards minting"
    own = purpose.policy_id
    tx = context.transaction
    minted = tx.mint.get(own, {b"": 0})
    redeemer: Union[MintPointerToken, BurnPointerToken] = context.redeemer
    if isinstance(redeemer, MintPointerToken):
        reference = reference_datum(tx.reference_inputs, starter_pid, starter_tkn)
        assert reference.pointer == own, "the reference datum names another pointer policy"
        assert reference.hot_key in tx.signatories, "the hot key did not sign"
        names = minted.keys()
        assert len(names) == 1, "mint exactly one pointer name"
        name = names[0]
        assert minted[name] == 1, "mint exactly one pointer token"
        assert name == pointer_name(tx.inputs[0].out_ref), "wrong pointer name"
        assert sent_to_sale(tx.outputs, reference.contracts.sale, own, name) == 1, (
            "the pointer must go to the sale contract"
        )
    else:
        assert all([q < 0 for q in minted.values()]), "this redeemer only burns pointers"
