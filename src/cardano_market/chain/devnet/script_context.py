"""The Plutus V3 `ScriptContext` of a Conway transaction, as the ledger builds it for a script.

`ScriptContext{txInfo, redeemer, scriptInfo}` with the 16-field Conway `TxInfo`, its parts
translated by `v3_values.py`. Orders follow the ledger's maps and sets: inputs by (tx id, index);
values ADA first, then policies and asset names bytewise; withdrawals, voters and committee
members with script credentials before key ones; redeemers by (purpose tag, index); datums by
hash. Validity ranges are POSIX milliseconds, lower bound closed and upper bound open, as
`transValidityInterval` makes them. Imports `uplc` (slow): `plutus.evaluate_scripts` imports
this module lazily.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ...domain.cip30 import OutRef, Utxo
from ...domain.errors import CborError, DatumError
from ...domain.hashes import datum_hash
from ...domain.slots import SlotConfig
from ...ledger.parse import ParsedTx
from ...ledger.redeemers import REDEEMER_TAGS, Redeemer
from .plutus_data import (
    PlutusData,
    bstr,
    constr,
    data_from_object,
    dlist,
    dmap,
    integer,
    maybe,
)
from .plutus_scripts import ScriptContextError
from .v3_values import (
    cert_script_hash,
    credential,
    data_of,
    out_ref,
    proposal,
    proposal_script_hash,
    read_governance,
    reward_account,
    reward_sort_key,
    tx_cert,
    tx_out,
    validity_range,
    value,
    voter_data,
)

_TAG_INDEX = {tag: i for i, tag in enumerate(REDEEMER_TAGS)}


@dataclass(frozen=True, slots=True)
class RedeemerEntry:
    """A witness-set redeemer with its data as the script sees it (PlutusData)."""

    tag: str
    index: int
    data: PlutusData
    mem: int
    steps: int

    @property
    def key(self) -> tuple[str, int]:
        return (self.tag, self.index)


def plutus_redeemers(redeemers: Sequence[Redeemer]) -> list[RedeemerEntry]:
    """The transaction's redeemers (as `ledger.parse` read them) with their data as PlutusData."""
    entries: list[RedeemerEntry] = []
    for redeemer in redeemers:
        try:
            data = data_from_object(redeemer.data, f"redeemer {redeemer.tag} {redeemer.index}")
        except DatumError as exc:
            raise CborError(str(exc)) from exc
        entries.append(
            RedeemerEntry(redeemer.tag, redeemer.index, data, redeemer.mem, redeemer.steps)
        )
    return entries


# -- the transaction ------------------------------------------------------------------------------


class ContextBuilder:
    """Builds the shared `TxInfo` once, then one `ScriptContext` per redeemer."""

    def __init__(
        self,
        tx: ParsedTx,
        resolved: Mapping[OutRef, Utxo],
        slot_config: SlotConfig,
        redeemers: Sequence[RedeemerEntry],
        protocol_major: int = 10,
    ) -> None:
        self.tx = tx
        self.resolved = resolved
        self.protocol_major = protocol_major
        self.policies = sorted({policy for policy, _name in tx.mint})
        self.withdrawals = sorted(tx.withdrawals, key=lambda w: reward_sort_key(w[0]))
        try:
            self.governance = read_governance(tx.body)
        except (CborError, ValueError, TypeError) as exc:  # cbor2's decode errors are ValueErrors
            raise ScriptContextError(f"votes or proposals are malformed: {exc}") from exc
        self.datums = {datum_hash(raw): raw for raw in tx.datums}
        self.redeemers = sorted(redeemers, key=lambda r: (_TAG_INDEX[r.tag], r.index))
        self.tx_info = self._tx_info(slot_config)

    # -- pieces the evaluator asks for ------------------------------------------------------------

    def spent(self, index: int) -> Utxo:
        """The output spent by the input at `index` in ledger order."""
        ref = self._item(self.tx.inputs, index, "spend")
        return self._resolve(ref, "input")

    def script_hash(self, tag: str, index: int) -> bytes:
        """The hash of the script the redeemer `(tag, index)` runs."""
        if tag == "spend":
            utxo = self.spent(index)
            parsed_kind = utxo.address[0] >> 4 if utxo.address else None
            if parsed_kind is None or parsed_kind > 7 or not parsed_kind & 1:
                raise ScriptContextError(
                    f"redeemer spend {index} points at input {_ref_text(utxo.out_ref)}, which is"
                    " not locked by a script",
                    rule="ExtraRedeemers",
                )
            return utxo.address[1:29]
        if tag == "mint":
            policy: bytes = self._item(self.policies, index, tag)
            return policy
        if tag == "cert":
            found = cert_script_hash(self._item(self.tx.certificates, index, tag))
        elif tag == "reward":
            account, _ = self._item(self.withdrawals, index, tag)
            kind, hash_ = reward_account(account, "withdrawal")
            found = hash_ if kind == 1 else None
        elif tag == "vote":
            _group, kind, hash_ = self._item(self.governance.votes, index, tag)[0]
            found = hash_ if kind == 1 and _group != 2 else None
        else:
            found = proposal_script_hash(self._item(self.governance.proposals, index, tag))
        if found is None:
            raise ScriptContextError(
                f"redeemer {tag} {index} points at an item that runs no script",
                rule="ExtraRedeemers",
            )
        return found

    def spending_datum(self, index: int) -> PlutusData | None:
        """The datum of the spent output: inline, or by hash from the witness set, or none."""
        utxo = self.spent(index)
        if utxo.inline_datum is not None:
            return data_of(utxo.inline_datum, f"input {_ref_text(utxo.out_ref)} inline datum")
        if utxo.datum_hash is not None:
            raw = self.datums.get(utxo.datum_hash)
            if raw is None:
                raise ScriptContextError(
                    f"the datum {utxo.datum_hash.hex()} of input {_ref_text(utxo.out_ref)} is not"
                    " in the witness set",
                    rule="MissingRequiredDatums",
                )
            return data_of(raw, f"datum {utxo.datum_hash.hex()}")
        return None

    def context(self, redeemer: RedeemerEntry, datum: PlutusData | None = None) -> PlutusData:
        """`ScriptContext{txInfo, redeemer, scriptInfo}` for one redeemer."""
        purpose = self.purpose(redeemer.tag, redeemer.index)
        # SpendingScript adds the datum; every other ScriptInfo has its purpose's constructor
        # and fields.
        spending = redeemer.tag == "spend"
        info = constr(1, purpose.fields[0], maybe(datum)) if spending else purpose
        return constr(0, self.tx_info, redeemer.data, info)

    def purpose(self, tag: str, index: int) -> Any:
        """The V3 `ScriptPurpose` of redeemer `(tag, index)`."""
        if tag == "spend":
            return constr(1, out_ref(self._item(self.tx.inputs, index, tag)))
        if tag == "mint":
            return constr(0, bstr(self._item(self.policies, index, tag)))
        if tag == "cert":
            cert = self._item(self.tx.certificates, index, tag)
            return constr(3, integer(index), tx_cert(cert, self.protocol_major))
        if tag == "reward":
            account, _ = self._item(self.withdrawals, index, tag)
            return constr(2, credential(*reward_account(account, "withdrawal")))
        if tag == "vote":
            return constr(4, voter_data(*self._item(self.governance.votes, index, tag)[0]))
        return constr(
            5, integer(index), proposal(self._item(self.governance.proposals, index, tag))
        )

    # -- the shared TxInfo ------------------------------------------------------------------------

    def _tx_info(self, slot_config: SlotConfig) -> PlutusData:
        tx = self.tx
        inputs = [self._in_info(ref, "input") for ref in tx.inputs]
        reference_inputs = [self._in_info(ref, "reference input") for ref in tx.reference_inputs]
        outputs = [tx_out(out, f"output {i}") for i, out in enumerate(tx.outputs)]
        certs = [tx_cert(cert, self.protocol_major) for cert in tx.certificates]
        withdrawals = dmap(
            (credential(*reward_account(acct, "withdrawal")), integer(coin))
            for acct, coin in self.withdrawals
        )
        redeemers = dmap((self.purpose(r.tag, r.index), r.data) for r in self.redeemers)
        datums = dmap(
            (bstr(h), data_of(raw, f"witness datum {h.hex()}"))
            for h, raw in sorted(self.datums.items())
        )
        votes = dmap(
            (
                voter_data(*voter),
                dmap(
                    (constr(0, bstr(gaid[0]), integer(gaid[1])), constr(vote))
                    for gaid, vote in cast
                ),
            )
            for voter, cast in self.governance.votes
        )
        treasury = self.governance.treasury
        return constr(
            0,
            dlist(inputs),
            dlist(reference_inputs),
            dlist(outputs),
            integer(tx.fee),
            value(None, tx.mint),
            dlist(certs),
            withdrawals,
            validity_range(tx.validity_start, tx.ttl, slot_config),
            dlist(bstr(signer) for signer in sorted(set(tx.required_signers))),
            redeemers,
            datums,
            bstr(tx.tx_id),
            votes,
            dlist(proposal(p) for p in self.governance.proposals),
            maybe(None if treasury is None else integer(treasury)),
            maybe(integer(tx.donation) if tx.donation else None),
        )

    def _in_info(self, ref: OutRef, what: str) -> PlutusData:
        utxo = self._resolve(ref, what)
        return constr(0, out_ref(ref), tx_out(utxo, f"{what} {_ref_text(ref)}"))

    def _resolve(self, ref: OutRef, what: str) -> Utxo:
        utxo = self.resolved.get(ref)
        if utxo is None:
            raise ScriptContextError(
                f"{what} {_ref_text(ref)} is not in the UTxO set", rule="BadInputsUTxO"
            )
        return utxo

    @staticmethod
    def _item(items: Sequence[Any], index: int, tag: str) -> Any:
        if not 0 <= index < len(items):
            raise ScriptContextError(
                f"redeemer {tag} {index} points past the transaction's {len(items)} {tag} items",
                rule="ExtraRedeemers",
            )
        return items[index]


def _ref_text(ref: OutRef) -> str:
    return f"{ref[0].hex()}#{ref[1]}"
