"""A CIP-30 wallet for one named devnet key: `getUtxos(amount)` and `signTx(tx, partialSign)`.

Keys are derived from the name (`synthetic.wallet`), so a seed file fixes every address. Signing
follows what the ledger will ask for: the wallet signs only when its payment or stake key is
among the transaction's required key hashes (the same `rules` the devnet validates with), and
returns a witness set, as browser wallets do.
"""

from __future__ import annotations

import enum

from ...domain.address import encode_address
from ...domain.cip30 import Utxo
from ...domain.errors import CborError
from ...domain.values import Value, sum_values
from ...ledger.parse import ParsedTx, parse_transaction
from ...ledger.witness import sign_transaction
from ...synthetic import SyntheticWallet, wallet
from ..base import ChainBackend, ChainError
from .rules import Resolved, native_script_keys, required_vkey_hashes


class TxSignErrorCode(enum.IntEnum):
    """CIP-30 TxSignError codes."""

    PROOF_GENERATION = 1  # the wallet cannot produce a required signature
    USER_DECLINED = 2


class TxSignError(ChainError):
    def __init__(self, message: str, code: TxSignErrorCode) -> None:
        super().__init__(message)
        self.code = code


class DevnetWallet:
    """The CIP-30 face of a deterministic devnet wallet on any `ChainBackend`."""

    def __init__(self, chain: ChainBackend, name: str) -> None:
        self.chain = chain
        self.name = name
        self.keys: SyntheticWallet = wallet(name, chain.network_id)

    @property
    def address(self) -> bytes:
        return self.keys.address

    @property
    def bech32(self) -> str:
        return encode_address(self.keys.address)

    def utxos(self) -> list[Utxo]:
        return self.chain.utxos_at(self.address)

    def balance(self) -> Value:
        return sum_values(u.value for u in self.utxos())

    def get_utxos(self, amount: Value | None = None) -> list[str] | None:
        """CIP-30 `getUtxos`: every UTxO, or some covering `amount` (None when none can)."""
        utxos = self.utxos()
        if amount is None:
            return [u.to_cbor_hex() for u in utxos]
        chosen = select_covering(utxos, amount)
        return None if chosen is None else [u.to_cbor_hex() for u in chosen]

    def sign_tx(self, tx_hex: str, partial_sign: bool = True) -> str:
        """CIP-30 `signTx`: a witness set (hex) with this wallet's needed signatures only.

        Without `partial_sign`, a transaction that also needs someone else's signature is refused
        (TxSignError, ProofGeneration), as CIP-30 asks.
        """
        try:
            tx = parse_transaction(bytes.fromhex(tx_hex))
        except (ValueError, CborError) as exc:
            raise TxSignError(
                f"not a transaction: {exc}", TxSignErrorCode.PROOF_GENERATION
            ) from exc
        needed = self._required(tx)
        mine = {
            self.keys.payment_key.hash: self.keys.payment_key.seed,
            self.keys.stake_key.hash: self.keys.stake_key.seed,
        }
        others = sorted(h.hex() for h in needed if h not in mine)
        if others and not partial_sign:
            raise TxSignError(
                f"wallet {self.name} cannot sign for key hash(es) {', '.join(others)}",
                TxSignErrorCode.PROOF_GENERATION,
            )
        seeds = [seed for key_hash, seed in mine.items() if key_hash in needed]
        return sign_transaction(tx.raw, seeds).hex()

    def _required(self, tx: ParsedTx) -> set[bytes]:
        """Key hashes the transaction needs signatures from (native script keys included)."""
        resolved = Resolved(
            self.chain.utxos_by_ref(tx.inputs),
            self.chain.utxos_by_ref(tx.collateral),
            self.chain.utxos_by_ref(tx.reference_inputs),
        )
        needed = required_vkey_hashes(tx, resolved)
        mine = {self.keys.payment_key.hash, self.keys.stake_key.hash}
        # A native script names keys any of which may satisfy it: sign if ours is among them,
        # but do not count the others as required.
        needed |= native_script_keys(tx, resolved) & mine
        return needed


def select_covering(utxos: list[Utxo], amount: Value) -> list[Utxo] | None:
    """UTxOs covering `amount`: holders of each token first (largest first), then lovelace."""
    if not sum_values(u.value for u in utxos).covers(amount):
        return None
    chosen: list[Utxo] = []
    total = Value(0)
    for asset, qty in sorted(amount.assets.items()):
        holders = sorted(
            (u for u in utxos if u.value.quantity(asset) and u not in chosen),
            key=lambda u: -u.value.quantity(asset),
        )
        for utxo in holders:
            if total.quantity(asset) >= qty:
                break
            chosen.append(utxo)
            total = total + utxo.value
    for utxo in sorted((u for u in utxos if u not in chosen), key=lambda u: -u.value.coin):
        if total.coin >= amount.coin:
            break
        chosen.append(utxo)
        total = total + utxo.value
    return chosen
