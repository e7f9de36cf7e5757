"""Sale start and sale end (PROTOCOL section 5): amounts and script transactions.

Start: the seller's bundle tokens and `saleLovelace` go to the sale address with an inline
SaleDatum and a freshly minted pointer token (MintPointerToken, via the pointer policy's reference
script). The pointer's name commits to the first input in ledger order, so it is recomputed for
every input set selection tries. The hot key (cash register) and the collateral key are required
signers; the seller signs for their inputs.

End: the sale UTxO is spent with RemoveSale, its pointer burned (BurnPointerToken), everything
else goes back to the owner, whose key is a required signer; the owner's UTxOs pay the fee.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..domain.address import encode_address, parse_address
from ..domain.cip30 import OutRef, Utxo
from ..domain.datums import (
    DEFAULT_MAX_BUNDLE_SIZE,
    USD,
    ReferenceDatum,
    SaleDatum,
    Token,
    address_from_wallet,
    wallet_from_address,
)
from ..domain.errors import AddressError, InvalidSaleError
from ..domain.outputs import TxOutput
from ..domain.params import ProtocolParameters
from ..domain.pointer import pointer_asset_name
from ..domain.redeemers import PointerRedeemer, SaleRedeemer
from ..domain.values import ADA, AssetId, Value, unit_of
from ..ledger.references import reference_datum_of
from .script import Evaluate, Mint, ScriptInput, ScriptTransaction, Shape, build_script_transaction

SALE_AMOUNT_MARGIN = 2_000_000
"""Lovelace above `saleLovelace` the wallet is asked for, to pay the fee and change (deployed)."""

MINT_POINTER = PointerRedeemer.MINT.to_cbor()
BURN_POINTER = PointerRedeemer.BURN.to_cbor()
REMOVE_SALE = SaleRedeemer.REMOVE_SALE.to_cbor()


def sale_start_amount(
    *, sale_lovelace: int, bundle: AssetId, bundle_amount: int, total_bundle_quantity: int
) -> Value:
    """`[saleLovelace + 2000000, {bundle: bundleAmount * totalBundleQuantity}]`: the CIP-30
    `getUtxos(amount)` argument for starting a sale (`.to_cbor()` for its CBOR)."""
    if bundle_amount < 1 or total_bundle_quantity < 1:
        raise InvalidSaleError(
            f"bundle amount ({bundle_amount}) and total bundle quantity "
            f"({total_bundle_quantity}) must be at least 1"
        )
    return Value.of(
        sale_lovelace + SALE_AMOUNT_MARGIN, {bundle: bundle_amount * total_bundle_quantity}
    )


def sale_end_amount(*, sale_lovelace: int) -> Value:
    """`saleLovelace + 2000000` (a bare int in CBOR): what the owner's wallet must cover."""
    return Value.of(sale_lovelace + SALE_AMOUNT_MARGIN)


# -- the deployment both transactions read ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SaleDeployment:
    """The live marketplace UTxOs: reference data (starter NFT + ReferenceDatum) and the
    reference-script UTxOs of the pointer policy and the sale validator."""

    reference_utxo: Utxo
    pointer_script_utxo: Utxo
    sale_script_utxo: Utxo
    sale_address: bytes

    @property
    def reference_datum(self) -> ReferenceDatum:
        return reference_datum_of(self.reference_utxo)

    @property
    def pointer_policy(self) -> bytes:
        return self.reference_datum.pointer

    def check_sale_address(self) -> None:
        """The sale address pays the reference datum's sale script and has a stake part."""
        parsed = parse_address(self.sale_address)
        sale_hash = self.reference_datum.contracts.sale
        if not parsed.payment.is_script or parsed.payment.hash != sale_hash:
            raise AddressError(
                f"the sale address {encode_address(self.sale_address)} does not pay the sale "
                f"script {sale_hash.hex()} named by the reference datum"
            )


@dataclass(frozen=True, slots=True)
class SaleTerms:
    """What the seller puts up: `total_bundle_quantity` bundles of `bundle_amount` tokens, each
    costing `cost_amount` of `cost` (None: USD x 10^12)."""

    bundle: AssetId
    bundle_amount: int
    total_bundle_quantity: int
    cost: AssetId | None
    cost_amount: int
    max_bundle_size: int = DEFAULT_MAX_BUNDLE_SIZE

    def datum(self, owner_address: bytes) -> SaleDatum:
        cost = USD if self.cost is None else self.cost
        return SaleDatum(
            wallet_from_address(owner_address),
            Token.of(self.bundle, self.bundle_amount),
            Token.of(cost, self.cost_amount),
            self.max_bundle_size,
        )


@dataclass(frozen=True, slots=True)
class SaleTransaction:
    transaction: ScriptTransaction
    datum: SaleDatum
    pointer: AssetId  # (pointer policy, pointer name)

    @property
    def cbor_hex(self) -> str:
        return self.transaction.cbor_hex

    @property
    def tx_id(self) -> str:
        return self.transaction.tx_id_hex

    @property
    def fee(self) -> int:
        return self.transaction.fee

    def summary(self) -> dict[str, Any]:
        """What the transaction does, for logs, the CLI and API responses."""
        tx = self.transaction
        return {
            "txId": self.tx_id,
            "fee": self.fee,
            "pointer": unit_of(self.pointer),
            "inputs": [f"{u.out_ref}" for u in tx.inputs],
            "exUnits": {f"{k[0]}:{k[1]}": [u.mem, u.steps] for k, u in tx.ex_units.items()},
            "outputs": [
                {"address": encode_address(o.address), "lovelace": o.value.coin} for o in tx.outputs
            ],
        }


def build_sale_start_transaction(
    *,
    utxos: Sequence[Utxo],
    change_address: bytes,
    terms: SaleTerms,
    sale_lovelace: int,
    deployment: SaleDeployment,
    collateral_utxos: Sequence[Utxo],
    collateral_key_hash: bytes,
    hot_key_hash: bytes,
    params: ProtocolParameters,
    evaluate: Evaluate,
    ttl: int,
) -> SaleTransaction:
    """The unsigned sale-start transaction; the seller's UTxOs supply bundles, lovelace and fee."""
    reference = deployment.reference_datum
    if reference.hot_key != hot_key_hash:
        raise InvalidSaleError(
            f"the hot key {hot_key_hash.hex()} is not the reference datum's hot key "
            f"{reference.hot_key.hex()}"
        )
    deployment.check_sale_address()
    if terms.bundle == ADA:
        raise InvalidSaleError("the bundle must be a native token, not ADA")
    datum = terms.datum(change_address)
    datum_cbor = datum.to_cbor()
    policy = reference.pointer
    bundle_tokens = terms.bundle_amount * terms.total_bundle_quantity

    def shape_for(inputs: Sequence[OutRef]) -> Shape:
        name = pointer_asset_name(inputs)
        value = Value.of(sale_lovelace, {terms.bundle: bundle_tokens, (policy, name): 1})
        sale = TxOutput(deployment.sale_address, value, inline_datum=datum_cbor)
        return Shape([sale.with_min_ada(params)], [Mint(policy, {name: 1}, MINT_POINTER)])

    built = build_script_transaction(
        wallet_utxos=utxos,
        change_address=change_address,
        shape=shape_for,
        params=params,
        evaluate=evaluate,
        collateral_utxos=collateral_utxos,
        reference_inputs=[deployment.reference_utxo, deployment.pointer_script_utxo],
        required_signers=[hot_key_hash, collateral_key_hash],
        ttl=ttl,
    )
    [mint] = built.mints
    [name] = mint.assets
    return SaleTransaction(built, datum, (policy, name))


def build_sale_end_transaction(
    *,
    sale_utxo: Utxo,
    utxos: Sequence[Utxo],
    change_address: bytes,
    deployment: SaleDeployment,
    collateral_utxos: Sequence[Utxo],
    params: ProtocolParameters,
    evaluate: Evaluate,
    ttl: int,
) -> SaleTransaction:
    """The unsigned sale-end transaction: RemoveSale, pointer burned, the rest to the owner."""
    if sale_utxo.inline_datum is None:
        raise InvalidSaleError(f"the sale UTxO {sale_utxo.out_ref} has no inline SaleDatum")
    datum = SaleDatum.from_cbor(sale_utxo.inline_datum)
    policy = deployment.pointer_policy
    pointers = {a: q for a, q in sale_utxo.value.assets.items() if a[0] == policy}
    if len(pointers) != 1:
        raise InvalidSaleError(
            f"the sale UTxO {sale_utxo.out_ref} holds "
            f"{len(pointers)} pointer names under policy {policy.hex()}; exactly one is needed"
        )
    [(pointer, quantity)] = pointers.items()
    network_id = parse_address(sale_utxo.address).network_id
    owner_address = address_from_wallet(datum.owner, network_id)
    rest = {a: q for a, q in sale_utxo.value.assets.items() if a[0] != policy}
    refund = TxOutput(owner_address, Value(sale_utxo.value.coin, rest)).with_min_ada(params)
    shape = Shape([refund], [Mint(policy, {pointer[1]: -quantity}, BURN_POINTER)])
    built = build_script_transaction(
        wallet_utxos=utxos,
        change_address=change_address,
        shape=shape,
        params=params,
        evaluate=evaluate,
        collateral_utxos=collateral_utxos,
        script_inputs=[ScriptInput(sale_utxo, REMOVE_SALE)],
        reference_inputs=[
            deployment.reference_utxo,
            deployment.sale_script_utxo,
            deployment.pointer_script_utxo,
        ],
        required_signers=[datum.owner.pkh],
        ttl=ttl,
    )
    return SaleTransaction(built, datum, pointer)
