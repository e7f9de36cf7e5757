"""Balance a transaction from a wallet's UTxOs: select inputs, make change, fix the fee.

The fee is a fixed point: it depends on the transaction's size, which depends on the fee and the
change it leaves. We iterate (two or three rounds in practice) with the exact number of vkey
witnesses the wallet will add, so the fee paid is the ledger's minimum for the signed size.
Change carries every leftover token, at least min-ADA per output, and is split into several
outputs when one would exceed the maximum value size.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..domain.address import payment_key_hash
from ..domain.cip30 import Utxo
from ..domain.errors import InsufficientFundsError, MarketError
from ..domain.fees import min_fee
from ..domain.outputs import TxOutput
from ..domain.params import ProtocolParameters
from ..domain.values import AssetId, Value, sum_values, unit_of
from ..ledger.witness import witness_set_size
from .body import body_hash, encode_body, encode_transaction, sort_inputs
from .select import Selection, start_selection

_MAX_FEE_ROUNDS = 10
_WORST_COIN = 2**64 - 1  # sizes change chunks as if their coin took the full 9 bytes


class TransactionTooLargeError(MarketError):
    """The balanced transaction exceeds the protocol's maximum size."""


@dataclass(frozen=True, slots=True)
class BalancedTransaction:
    cbor: bytes  # the unsigned transaction (empty witness set)
    body: bytes
    tx_id: bytes
    fee: int
    inputs: list[Utxo]  # in ledger order
    outputs: list[TxOutput]  # fixed outputs first, then change
    change_count: int
    vkey_witnesses: int  # how many the wallet will add (the fee was paid for that many)

    @property
    def tx_id_hex(self) -> str:
        return self.tx_id.hex()


@dataclass(frozen=True, slots=True)
class _Short:
    lovelace: int


def balance(
    *,
    utxos: Sequence[Utxo],
    outputs: Sequence[TxOutput],
    change_address: bytes,
    params: ProtocolParameters,
    ttl: int | None = None,
    extra_signers: Iterable[bytes] = (),
) -> BalancedTransaction:
    """Pay `outputs` (already at min-ADA) from `utxos`, returning the change to `change_address`."""
    target = sum_values(o.value for o in outputs)
    selection = start_selection(utxos)
    missing_tokens = selection.cover_tokens(target)
    if missing_tokens:
        _raise_short(selection, target, {unit_of(a): q for a, q in missing_tokens.items()})
    encoded_outputs = [o.to_cbor() for o in outputs]
    signers = frozenset(extra_signers)
    while True:
        exhausted = not selection.has_remaining()
        result = _try_balance(
            selection,
            outputs,
            encoded_outputs,
            target,
            change_address,
            params,
            ttl,
            signers,
            dust_to_fee=exhausted,
        )
        if isinstance(result, BalancedTransaction):
            for utxo in result.inputs:
                utxo.check_no_duplicate_keys(f"input {utxo.out_ref}")
            return result
        if not selection.top_up(result.lovelace):
            _raise_short(selection, target, {"lovelace": result.lovelace})


def _try_balance(
    selection: Selection,
    outputs: Sequence[TxOutput],
    encoded_outputs: list[bytes],
    target: Value,
    change_address: bytes,
    params: ProtocolParameters,
    ttl: int | None,
    signers: frozenset[bytes],
    *,
    dust_to_fee: bool,
) -> BalancedTransaction | _Short:
    chosen = sorted(selection.chosen, key=lambda u: u.out_ref)
    total = sum_values(u.value for u in chosen)
    if total.coin < target.coin:
        return _Short(target.coin - total.coin + params.min_fee_b)
    change_tokens = total.tokens() - target.tokens()
    witnesses = len({payment_key_hash(u.address) for u in chosen} | signers)
    witness_bytes = witness_set_size(witnesses) - 1  # replaces the empty set's one byte
    inputs = sort_inputs(u.out_ref for u in chosen)
    fee = min_fee(params, 0)
    for _ in range(_MAX_FEE_ROUNDS):
        leftover = total.coin - target.coin - fee
        change = _make_change(change_tokens, leftover, change_address, params, dust_to_fee)
        if isinstance(change, _Short):
            return change
        body = encode_body(inputs, encoded_outputs + [c.to_cbor() for c in change], fee, ttl)
        tx = encode_transaction(body)
        size = len(tx) + witness_bytes
        needed = min_fee(params, size)
        if needed <= fee:
            dust = leftover - sum(c.value.coin for c in change)
            if dust:  # below an ADA-only change's min-ADA, nothing left to add: joins the fee
                fee += dust
                body = encode_body(
                    inputs, encoded_outputs + [c.to_cbor() for c in change], fee, ttl
                )
                tx = encode_transaction(body)
                size = len(tx) + witness_bytes
            if size > params.max_tx_size:
                raise TransactionTooLargeError(
                    f"the transaction would be {size} bytes signed; the limit is "
                    f"{params.max_tx_size} (too many inputs or change tokens)"
                )
            return BalancedTransaction(
                cbor=tx,
                body=body,
                tx_id=body_hash(body),
                fee=fee,
                inputs=chosen,
                outputs=[*outputs, *change],
                change_count=len(change),
                vkey_witnesses=witnesses,
            )
        fee = needed
    raise MarketError("the fee did not converge")  # unreachable: sizes are bounded


def _make_change(
    tokens: Value,
    leftover: int,
    address: bytes,
    params: ProtocolParameters,
    dust_to_fee: bool,
) -> list[TxOutput] | _Short:
    if leftover < 0:
        return _Short(-leftover)
    if tokens.is_ada_only:
        if leftover == 0:
            return []
        single = TxOutput(address, Value(leftover))
        needed = single.min_ada(params)
        if leftover >= needed:
            return [single]
        if dust_to_fee:
            return []  # the caller adds the dust to the fee
        return _Short(needed - leftover)
    chunks = [TxOutput(address, Value(0, assets)) for assets in _split_tokens(tokens, params)]
    minimums = [c.min_ada(params) for c in chunks]
    spare = leftover - sum(minimums)
    if spare < 0:
        return _Short(-spare)
    change = [c.with_coin(m) for c, m in zip(chunks[:-1], minimums[:-1], strict=True)]
    last = chunks[-1].with_coin(minimums[-1] + spare)
    grown = last.min_ada(params) - last.value.coin  # a larger coin can take more bytes
    if grown > 0:
        return _Short(grown)
    return [*change, last]


def _split_tokens(tokens: Value, params: ProtocolParameters) -> list[dict[AssetId, int]]:
    """Group change tokens by policy into chunks whose value stays under max_val_size."""
    whole = Value(_WORST_COIN, tokens.assets)
    if len(whole.to_cbor()) <= params.max_val_size:
        return [dict(tokens.assets)]
    chunks: list[dict[AssetId, int]] = []
    current: dict[AssetId, int] = {}
    for policy, names in tokens.policies().items():
        for name, qty in names.items():
            trial = {**current, (policy, name): qty}
            if current and len(Value(_WORST_COIN, trial).to_cbor()) > params.max_val_size:
                chunks.append(current)
                current = {(policy, name): qty}
            else:
                current = trial
    if current:
        chunks.append(current)
    return chunks


def _raise_short(selection: Selection, target: Value, known: dict[str, int]) -> None:
    available = selection.available_total()
    shortfall = dict(known)
    for unit, qty in available.shortfall(target).items():
        shortfall[unit] = max(shortfall.get(unit, 0), qty)
    detail = ", ".join(f"{qty} {unit}" for unit, qty in sorted(shortfall.items()))
    raise InsufficientFundsError(f"Insufficient funds: the wallet is short of {detail}", shortfall)
