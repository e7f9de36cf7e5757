"""vault: where a batcher's purchases pay the marketplace's profit, a Plutus V3 spend validator.

Parameters (applied at deployment): the starter NFT's policy id and asset name; the live
ReferenceDatum is read from the reference input holding it. The datum is the vault owner's
Wallet (a batcher), who deposits the vault minimum of 10 ADA.

Redeemers: AddToVault [tokens] (0) the owner adds exactly the listed (positive) tokens, as each
purchase does with the profit; SubFromVault [tokens] (1) the hot key takes exactly the listed
(negative) tokens out, never below the minimum; RemoveVault (2) the owner closes a vault holding
only the minimum. A UTxO whose datum does not decode as a Wallet may be spent with the hot key's
signature. These are the checks of NEWM's deployed vault script; `docs/settlement.md` lists them.
"""

from opshin.bridge import wraps_builtin
from opshin.prelude import *

VAULT_MINIMUM_LOVELACE = 10000000


@dataclass()
class TokenAmount(PlutusData):
    """PROTOCOL's `Token`: policy id, asset name, amount (ADA: b"", b"")."""

    CONSTR_ID = 0
    pid: bytes
    tkn: bytes
    amt: int


@dataclass()
class Wallet(PlutusData):
    CONSTR_ID = 0
    pkh: bytes
    sc: bytes


@dataclass()
class ReferenceDatum(PlutusData):
    """Only the hot key is read here; the other fields keep their places."""

    CONSTR_ID = 0
    hot_key: bytes
    keepers: Anything
    staking: Anything
    contracts: Anything
    fees: Anything
    pointer: bytes
    batcher_data: Anything
    profit_data: Anything


@dataclass()
class AddToVault(PlutusData):
    CONSTR_ID = 0
    incoming: List[TokenAmount]


@dataclass()
class SubFromVault(PlutusData):
    CONSTR_ID = 1
    outgoing: List[TokenAmount]


@dataclass()
class RemoveVault(PlutusData):
    CONSTR_ID = 2


# -- telling whether a datum decodes (the hot-key fallback) ---------------------------------------


@wraps_builtin
def is_wallet(d: Anything) -> bool:
    """`d` is constructor 0 with exactly two byte-string fields (it decodes as a Wallet). Written
    by hand in pluthon: `contracts/pluthon_terms.py`."""
    pass


# -- reading the transaction ----------------------------------------------------------------------


@wraps_builtin
def quantity(v: Value, pid: bytes, tkn: bytes) -> int:
    """How many of the asset (pid, tkn) `v` holds, 0 when none. Written by hand in pluthon:
    `contracts/pluthon_terms.py`."""
    pass


@wraps_builtin
def signed_by(tx: TxInfo, pkh: bytes) -> bool:
    """`pkh in tx.signatories`. Written by hand in pluthon: `contracts/pluthon_terms.py`."""
    pass


@wraps_builtin
def count_inputs_at(inputs: List[TxInInfo], address: Address) -> int:
    """How many inputs spend from exactly `address`. Written by hand in pluthon:
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
    """The spent output's datum; Nothing() (never a Wallet) when it has none."""
    d = o.datum
    if isinstance(d, SomeOutputDatum):
        found: Anything = d.datum
    elif isinstance(d, SomeOutputDatumHash):
        found = tx.datums[d.datum_hash]
    else:
        found = Nothing()
    return found


def hot_key(tx: TxInfo, starter_pid: bytes, starter_tkn: bytes) -> bytes:
    """The live ReferenceDatum's hot key, from the reference input holding the starter NFT."""
    holders = [
        r for r in tx.reference_inputs if quantity(r.resolved.value, starter_pid, starter_tkn) == 1
    ]
    assert len(holders) > 0, "no reference input holds the starter NFT"
    found: ReferenceDatum = inline_datum(holders[0].resolved)
    return found.hot_key


@wraps_builtin
def keeps_vault(
    tx: TxInfo, own: TxOut, owner: Wallet, changes: List[TokenAmount], minimum: int
) -> bool:
    """One vault in, one vault out: True when `own` held at least `minimum` lovelace and keeps
    it after `changes`, the only output at its address keeps the datum (`owner`, inline) and
    holds exactly `own`'s value changed by `changes`, and `own` is the only input at its
    address; the script fails otherwise, with the refusal's trace. Written by hand in pluthon
    (`contracts/pluthon_terms.py`), in one term: the checks cost less without OpShin's calls
    between them.

    The vault must also have held the minimum: a vault created below it (no script runs when a
    UTxO is created) could be topped up to exactly the minimum by a purchase's lovelace profit and
    then closed by its owner with RemoveVault, profit and all. (A SubFromVault from such a vault
    is refused either way: it cannot keep the minimum.)"""
    pass


def validator(starter_pid: bytes, starter_tkn: bytes, context: ScriptContext) -> None:
    purpose = context.purpose
    assert isinstance(purpose, Spending), "the vault only guards spending"
    tx = context.transaction
    own = spent_output(tx.inputs, purpose.tx_out_ref)
    datum = spent_datum(tx, own)
    if is_wallet(datum):
        owner: Wallet = datum
        redeemer: Union[AddToVault, SubFromVault, RemoveVault] = context.redeemer
        if isinstance(redeemer, AddToVault):
            assert signed_by(tx, owner.pkh), "the vault owner did not sign"
            for t in redeemer.incoming:
                assert t.amt > 0, "AddToVault only adds"
            assert keeps_vault(tx, own, owner, redeemer.incoming, VAULT_MINIMUM_LOVELACE)
        elif isinstance(redeemer, SubFromVault):
            for t in redeemer.outgoing:
                assert t.amt < 0, "SubFromVault only subtracts"
            key = hot_key(tx, starter_pid, starter_tkn)
            assert signed_by(tx, key), "the hot key did not sign"
            assert keeps_vault(tx, own, owner, redeemer.outgoing, VAULT_MINIMUM_LOVELACE)
        else:
            assert isinstance(redeemer, RemoveVault), "unknown vault redeemer"
            value = own.value
            assert len(value.keys()) == 1, "a vault holding tokens cannot be removed"
            assert quantity(value, b"", b"") == VAULT_MINIMUM_LOVELACE, (
                "a vault is removed holding exactly its minimum"
            )
            assert signed_by(tx, owner.pkh), "the vault owner did not sign"
            assert count_inputs_at(tx.inputs, own.address) == 1, "exactly one vault input"
    else:
        key = hot_key(tx, starter_pid, starter_tkn)
        assert signed_by(tx, key), "no Wallet datum: the hot key must sign"
