"""Secondary-market deal transactions: lock a deal's tokens in escrow, sell from it, release it.

Escrow design. A deal's tokens sit in one output at the platform's escrow address, a key address:
the platform's escrow key signs every spend and no script runs. The output carries an inline datum
`Constr 0 [deal_id]`, so every deal's output is distinct and can be found on chain by its deal id
alone (`find_escrow`, used to recover after a crash). Its lovelace is the seller's deposit (the
min-ADA paid at lock time) and stays the same while the deal is open:
- a purchase moves the unsold rest to a new escrow output (same address, datum and deposit); the
  purchase that empties it returns the deposit to the seller with the payment;
- a release (delist) returns the tokens and the deposit to the seller and pays its fee from the
  deposit, taking the seller's own UTxOs only when the deposit is short.

Purchase arithmetic (`price_purchase`, exact integers): `unit_price` is in base units of the price
token per whole token (10^decimals base units), so total = unit_price x quantity / 10^decimals and
must come out whole; the platform and node fees are percentages of the total rounded down (floor):
the buyer never pays more than the amounts shown, and net = total + fees. The seller receives the
total; the buyer also pays the network fee and the min-ADA of the outputs it creates (lovelace
that goes to those outputs' owners, not lost).

The builders are short functions over explicit inputs; balancing (input selection, change, the
exact fee for the signed size) is `tx.balance`'s, run with the escrow output as a fixed input.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction

from ..domain.address import payment_key_hash
from ..domain.cip30 import Utxo
from ..domain.errors import DatumError, InsufficientFundsError, MarketError
from ..domain.outputs import TxOutput
from ..domain.params import ProtocolParameters
from ..domain.plutus_data import constr, constr_of, encode_plutus, load_plutus
from ..domain.values import ADA, AssetId, Value, sum_values, unit_of, value_of
from .balance import BalancedTransaction, _try_balance
from .select import Selection, start_selection

HUNDRED = Fraction(100)


class DealTransactionError(MarketError):
    """A deal transaction that cannot be built from what it was given (wrong escrow, bad terms)."""


class DealPricingError(MarketError, ValueError):
    """Purchase terms that do not price to a whole, positive amount of the price token."""


# -- pricing --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DealPricing:
    """What a purchase costs, in base units of the price token."""

    total: int
    """What the seller receives: unit price x quantity."""
    platform_fee: int
    node_fee: int

    @property
    def net_amount(self) -> int:
        """What the buyer pays (network fee and min-ADA aside)."""
        return self.total + self.platform_fee + self.node_fee


def price_purchase(
    *,
    quantity: int,
    unit_price: int,
    token_decimals: int,
    platform_fee_percentage: Fraction | int,
    node_fee_percentage: Fraction | int,
) -> DealPricing:
    """Price buying `quantity` base units at `unit_price` per whole token (see module doc)."""
    for name, number in (("quantity", quantity), ("unit price", unit_price)):
        if isinstance(number, bool) or not isinstance(number, int) or number <= 0:
            raise DealPricingError(f"{name} must be a positive integer, got {number!r}")
    for name, pct in (("platform", platform_fee_percentage), ("node", node_fee_percentage)):
        if not 0 <= Fraction(pct) <= HUNDRED:
            raise DealPricingError(f"the {name} fee percentage must be 0..100, got {pct}")
    total, rest = divmod(unit_price * quantity, 10**token_decimals)
    if rest:
        raise DealPricingError(
            f"{quantity} base units at {unit_price} per whole token (10^{token_decimals} base "
            "units) is not a whole number of base units of the price token"
        )
    return DealPricing(
        total=total,
        platform_fee=_percent_floor(total, platform_fee_percentage),
        node_fee=_percent_floor(total, node_fee_percentage),
    )


def _percent_floor(total: int, percentage: Fraction | int) -> int:
    pct = Fraction(percentage)
    return total * pct.numerator // (100 * pct.denominator)


# -- escrow outputs -------------------------------------------------------------------------------


def escrow_datum(deal_id: int) -> bytes:
    """The inline datum naming the deal an escrow output belongs to: `Constr 0 [deal_id]`."""
    if isinstance(deal_id, bool) or not isinstance(deal_id, int) or deal_id < 0:
        raise DealTransactionError(f"a deal id must be a non-negative integer, got {deal_id!r}")
    return encode_plutus(constr(0, [deal_id]))


def escrow_deal_id(utxo: Utxo) -> int | None:
    """The deal an escrow UTxO belongs to; None when its datum is not an escrow datum."""
    if utxo.inline_datum is None:
        return None
    try:
        index, fields = constr_of(load_plutus(utxo.inline_datum), "escrow datum")
    except DatumError:
        return None
    if index != 0 or len(fields) != 1 or not isinstance(fields[0], int):
        return None
    return fields[0]


def find_escrow(escrow_utxos: Iterable[Utxo], deal_id: int) -> Utxo | None:
    """The UTxO among `escrow_utxos` (the escrow address's) that holds deal `deal_id`."""
    for utxo in escrow_utxos:
        if escrow_deal_id(utxo) == deal_id:
            return utxo
    return None


def escrow_output(
    escrow_address: bytes,
    asset: AssetId,
    quantity: int,
    deal_id: int,
    params: ProtocolParameters,
    *,
    deposit: int = 0,
) -> TxOutput:
    """The output holding `quantity` of `asset` for deal `deal_id`, at least its min-ADA."""
    if asset == ADA:
        raise DealTransactionError("a deal sells a native token, not ADA")
    out = TxOutput(escrow_address, Value.of(deposit, {asset: quantity}), escrow_datum(deal_id))
    return out.with_min_ada(params)


# -- transactions ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DealTransaction:
    """A built, unsigned deal transaction and where its escrow output is (None: no escrow left)."""

    balanced: BalancedTransaction
    escrow_index: int | None
    signers: frozenset[bytes]
    """Key hashes whose signatures it needs (the fee is paid for exactly these)."""

    @property
    def cbor(self) -> bytes:
        return self.balanced.cbor

    @property
    def tx_id(self) -> str:
        return self.balanced.tx_id_hex

    @property
    def fee(self) -> int:
        return self.balanced.fee


def build_escrow_lock(
    *,
    seller_utxos: Sequence[Utxo],
    seller_address: bytes,
    escrow_address: bytes,
    asset: AssetId,
    quantity: int,
    deal_id: int,
    params: ProtocolParameters,
    ttl: int | None = None,
) -> DealTransaction:
    """Move `quantity` of `asset` from the seller's UTxOs into deal `deal_id`'s escrow output
    (output 0, holding its min-ADA as the deposit); change back to the seller, who signs."""
    if quantity <= 0:
        raise DealTransactionError(f"a deal locks a positive quantity, got {quantity}")
    lock = escrow_output(escrow_address, asset, quantity, deal_id, params)
    return _build(
        fixed=(),
        outputs=[lock],
        wallet=seller_utxos,
        change_address=seller_address,
        params=params,
        ttl=ttl,
        escrow_index=0,
    )


def build_deal_purchase(
    *,
    escrow: Utxo,
    deal_id: int,
    asset: AssetId,
    quantity: int,
    price_asset: AssetId,
    pricing: DealPricing,
    buyer_utxos: Sequence[Utxo],
    buyer_address: bytes,
    seller_address: bytes,
    platform_fee_address: bytes,
    node_fee_address: bytes,
    params: ProtocolParameters,
    ttl: int | None = None,
) -> DealTransaction:
    """Sell `quantity` of the escrow's tokens to the buyer in one transaction.

    Outputs in order: the new escrow output with the rest (omitted when nothing is left), the
    tokens to the buyer, the total to the seller (plus the deposit when the escrow empties), the
    platform fee, the node fee (each omitted when zero), then the buyer's change. The escrow key
    and the buyer's key sign.
    """
    held = _check_escrow(escrow, deal_id, asset)
    if not 0 < quantity <= held:
        raise DealTransactionError(
            f"deal {deal_id}: the escrow holds {held} of {unit_of(asset)}, {quantity} asked"
        )
    outputs: list[TxOutput] = []
    rest = held - quantity
    if rest:
        outputs.append(
            TxOutput(
                escrow.address,
                Value.of(escrow.value.coin, {asset: rest}),
                escrow.inline_datum,
            ).with_min_ada(params)
        )
    outputs.append(TxOutput(buyer_address, Value.of(0, {asset: quantity})).with_min_ada(params))
    deposit = 0 if rest else escrow.value.coin
    outputs.append(_payment(seller_address, price_asset, pricing.total, params, deposit=deposit))
    for address, amount in (
        (platform_fee_address, pricing.platform_fee),
        (node_fee_address, pricing.node_fee),
    ):
        if amount:
            outputs.append(_payment(address, price_asset, amount, params))
    return _build(
        fixed=[escrow],
        outputs=outputs,
        wallet=buyer_utxos,
        change_address=buyer_address,
        params=params,
        ttl=ttl,
        escrow_index=0 if rest else None,
    )


def build_escrow_release(
    *,
    escrow: Utxo,
    deal_id: int,
    asset: AssetId,
    seller_utxos: Sequence[Utxo],
    seller_address: bytes,
    params: ProtocolParameters,
    ttl: int | None = None,
) -> DealTransaction:
    """Return the escrow's tokens and deposit to the seller (delist). The deposit pays the fee;
    the seller's UTxOs are spent (and the seller's key signs) only when it falls short."""
    _check_escrow(escrow, deal_id, asset)
    return _build(
        fixed=[escrow],
        outputs=[],
        wallet=seller_utxos,
        change_address=seller_address,
        params=params,
        ttl=ttl,
        escrow_index=None,
    )


# -- internals ------------------------------------------------------------------------------------


def _check_escrow(escrow: Utxo, deal_id: int, asset: AssetId) -> int:
    found = escrow_deal_id(escrow)
    if found != deal_id:
        raise DealTransactionError(
            f"UTxO {escrow.out_ref} is not deal {deal_id}'s escrow "
            f"(its datum names {'no deal' if found is None else f'deal {found}'})"
        )
    if payment_key_hash(escrow.address) is None:
        raise DealTransactionError("an escrow output must sit at a key (not script) address")
    held = escrow.value.quantity(asset)
    if held <= 0:
        raise DealTransactionError(f"deal {deal_id}'s escrow holds no {unit_of(asset)}")
    return held


def _payment(
    address: bytes, asset: AssetId, amount: int, params: ProtocolParameters, *, deposit: int = 0
) -> TxOutput:
    return TxOutput(address, value_of(asset, amount) + Value(deposit)).with_min_ada(params)


def _build(
    *,
    fixed: Sequence[Utxo],
    outputs: Sequence[TxOutput],
    wallet: Sequence[Utxo],
    change_address: bytes,
    params: ProtocolParameters,
    ttl: int | None,
    escrow_index: int | None,
) -> DealTransaction:
    """Spend every `fixed` input, pay `outputs`, cover the rest and the exact fee from `wallet`
    (change to `change_address`): `tx.balance`'s fixed point with inputs chosen in advance."""
    fixed_refs = {u.out_ref for u in fixed}
    selection: Selection = start_selection(u for u in wallet if u.out_ref not in fixed_refs)
    for utxo in fixed:
        selection.add(utxo)
    target = sum_values(o.value for o in outputs)
    missing = selection.cover_tokens(target)
    if missing:
        short = {unit_of(a): q for a, q in missing.items()}
        raise _short_error(short)
    encoded = [o.to_cbor() for o in outputs]
    spendable = {u.out_ref for u in wallet if payment_key_hash(u.address) is not None}
    spendable -= fixed_refs
    while True:
        exhausted = spendable <= {u.out_ref for u in selection.chosen}
        result = _try_balance(
            selection,
            outputs,
            encoded,
            target,
            change_address,
            params,
            ttl,
            frozenset(),
            dust_to_fee=exhausted,
        )
        if isinstance(result, BalancedTransaction):
            break
        if exhausted or not selection.top_up(result.lovelace):
            raise _short_error({"lovelace": result.lovelace})
    for utxo in result.inputs:
        utxo.check_no_duplicate_keys(f"input {utxo.out_ref}")
    signers = frozenset(
        h for h in (payment_key_hash(u.address) for u in result.inputs) if h is not None
    )
    return DealTransaction(result, escrow_index, signers)


def _short_error(shortfall: dict[str, int]) -> InsufficientFundsError:
    detail = ", ".join(f"{qty} {unit}" for unit, qty in sorted(shortfall.items()))
    return InsufficientFundsError(f"Insufficient funds: the wallet is short of {detail}", shortfall)
