"""A small settlement world on a real devnet ledger, for following orders through their spends.

The queue and sale "contracts" are the always-succeeding PlutusV3 script (under two stake parts,
so the addresses differ) and the pointer policy is the same script, so a test can build the
batcher's purchase and refund, the owner's cancel and the seller's end with the project's script
builder (`tx.script`) and real redeemers, and the ledger runs them (uplc). What the monitor reads
is exactly what a batcher would leave on chain: spent queue and sale UTxOs, a continuing queue
output with the same datum and the bundle tokens, redeemers with the queue's constructors.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cbor2

from cardano_market.chain.devnet import DevnetBackend, Ledger
from cardano_market.domain.address import script_address
from cardano_market.domain.cip30 import Utxo
from cardano_market.domain.datums import QueueDatum, SaleDatum, Token, wallet_from_address
from cardano_market.domain.hashes import script_hash
from cardano_market.domain.outputs import TxOutput
from cardano_market.domain.plutus_data import constr, encode_plutus
from cardano_market.domain.sale import Sale, SaleStatus
from cardano_market.domain.values import ADA, AssetId, Value
from cardano_market.ledger.witness import sign_transaction, splice_witnesses
from cardano_market.synthetic import SyntheticWallet, wallet
from cardano_market.tx.balance import balance
from cardano_market.tx.script import (
    Mint,
    ScriptInput,
    ScriptTransaction,
    Shape,
    build_script_transaction,
)
from worlds import START_MS

ALWAYS_SUCCEEDS = bytes.fromhex("450101002499")  # (program 1.1.0 (lam ctx (con unit ())))
SCRIPT = script_hash(3, ALWAYS_SUCCEEDS)
POINTER_POLICY = SCRIPT


def _hash28(label: str) -> bytes:
    return hashlib.blake2b(f"monitor world {label}".encode(), digest_size=28).digest()


QUEUE_ADDRESS = script_address(SCRIPT, _hash28("queue stake"), 0)
SALE_ADDRESS = script_address(SCRIPT, _hash28("sale stake"), 0)
SONG: AssetId = (_hash28("song"), b"Song")
CURRENCY: AssetId = (_hash28("currency"), b"NEWM")
POINTER_NAME = bytes.fromhex("ca11ab1e00") + bytes(27)
POINTER: AssetId = (POINTER_POLICY, POINTER_NAME)
BUNDLE = 1_000_000  # tokens per bundle
COST = 10_000_000  # lovelace per bundle
INCENTIVE = 1_000_000  # one incentive unit, in CURRENCY
SALE_ID = "6f2c1d9e-8a47-4b3f-9d2e-1c5a7b9e0f13"
TOTAL_BUNDLES = 5


def redeemer(index: int) -> bytes:
    return encode_plutus(constr(index, []))


@dataclass
class Addresses:
    queue: bytes = QUEUE_ADDRESS
    sale: bytes = SALE_ADDRESS


class World:
    """The ledger, the actors, and builders for what a batcher, a buyer and a seller submit."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.clock_s = START_MS / 1000 + 1_000
        self.ledger = self._open()
        self.backend = DevnetBackend(self.ledger)
        self.buyer = wallet("monitor buyer")
        self.batcher = wallet("monitor batcher")
        self.collateral = wallet("monitor collateral")
        self.artist = wallet("monitor artist")
        params = self.ledger.params
        outputs = [
            TxOutput(
                self.buyer.address, Value.of(300_000_000, {CURRENCY: 50 * INCENTIVE})
            ).with_min_ada(params),
            TxOutput(self.buyer.address, Value.of(50_000_000)),
            TxOutput(self.batcher.address, Value.of(100_000_000)),
            TxOutput(self.batcher.address, Value.of(100_000_000)),
            TxOutput(self.collateral.address, Value.of(20_000_000)),
            TxOutput(self.collateral.address, Value.of(20_000_000)),
            TxOutput(self.artist.address, Value.of(50_000_000)),
            TxOutput(
                self.artist.address, Value(0), script_ref=cbor2.dumps([3, ALWAYS_SUCCEEDS])
            ).with_min_ada(params),
            TxOutput(
                SALE_ADDRESS,
                Value.of(5_000_000, {SONG: 2 * BUNDLE, POINTER: 1}),
                inline_datum=self.sale_datum.to_cbor(),
            ).with_min_ada(params),
        ]
        seeded = self.ledger.genesis(outputs)
        self.script_utxo = seeded[7]

    def _open(self) -> Ledger:
        return Ledger(
            self.path, system_start_ms=START_MS, clock=lambda: self.clock_s, block_on_submit=True
        )

    @property
    def sale_datum(self) -> SaleDatum:
        return SaleDatum(
            wallet_from_address(self.artist.address),
            Token.of(SONG, BUNDLE),
            Token.of(ADA, COST),
        )

    def sale_record(self) -> Sale:
        """The sale as the database knows it: 5 bundles in all, 2 still at the sale address."""
        return Sale(
            id=SALE_ID,
            status=SaleStatus.STARTED,
            pointer_name=POINTER_NAME,
            owner_address=self.artist.address,
            bundle=SONG,
            bundle_amount=BUNDLE,
            cost=ADA,
            cost_amount=COST,
            total_bundle_quantity=TOTAL_BUNDLES,
            available_bundle_quantity=TOTAL_BUNDLES,
        )

    # -- time and snapshots -----------------------------------------------------------------------

    def tick(self, seconds: int = 20) -> None:
        self.clock_s += seconds

    def snapshot(self, name: str) -> Path:
        """A copy of the ledger file as it is now (the ledger is closed and reopened)."""
        self.ledger.close()
        copy = self.path.with_suffix(f".{name}")
        copy.write_bytes(self.path.read_bytes())
        self._reopen()
        return copy

    def restore(self, copy: Path) -> None:
        """Put the chain back to `copy`: what happened since is rolled back."""
        self.ledger.close()
        for suffix in ("-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        self.path.write_bytes(copy.read_bytes())
        self._reopen()

    def _reopen(self) -> None:
        self.ledger = self._open()
        self.backend.ledger = self.ledger

    # -- what the actors submit ------------------------------------------------------------------

    def sale_utxo(self) -> Utxo:
        (utxo,) = [u for u in self.ledger.utxos_at(SALE_ADDRESS) if u.value.quantity(POINTER)]
        return utxo

    def place_order(self, bundles: int, lovelace: int, incentive: AssetId = CURRENCY) -> Utxo:
        """The buyer pays the queue: `lovelace` plus two incentive units (of CURRENCY), with a
        QueueDatum naming `incentive` as the incentive token."""
        datum = QueueDatum(
            wallet_from_address(self.buyer.address),
            bundles,
            Token.of(incentive, INCENTIVE),
            POINTER_NAME,
        )
        out = TxOutput(
            QUEUE_ADDRESS,
            Value.of(lovelace, {CURRENCY: 2 * INCENTIVE}),
            inline_datum=datum.to_cbor(),
        )
        built = balance(
            utxos=self.ledger.utxos_at(self.buyer.address),
            outputs=[out.with_min_ada(self.ledger.params)],
            change_address=self.buyer.address,
            params=self.ledger.params,
            ttl=self.ledger.current_slot() + 600,
        )
        tx_id = self._submit(built.cbor, [self.buyer])
        utxo = self.ledger.utxo((tx_id, 0))
        assert utxo is not None
        return utxo

    def purchase(self, order: Utxo, bundles: int) -> Utxo:
        """The batcher fills `bundles` of `order` from the sale; the continuing queue output."""
        sale = self.sale_utxo()
        taken = Value.of(0, {SONG: bundles * BUNDLE})
        paid = Value.of(bundles * COST)
        incentive = Value.of(0, {CURRENCY: INCENTIVE})
        outputs = [
            TxOutput(SALE_ADDRESS, sale.value - taken + paid, inline_datum=sale.inline_datum),
            TxOutput(
                QUEUE_ADDRESS,
                order.value - paid - incentive + taken,
                inline_datum=order.inline_datum,
            ),
            TxOutput(self.batcher.address, Value.of(2_000_000) + incentive),
        ]
        tx = self._script_tx(
            payer=self.batcher,
            inputs=[ScriptInput(sale, redeemer(0)), ScriptInput(order, redeemer(0))],
            outputs=outputs,
        )
        tx_id = self._submit_script(tx, [self.batcher])
        queue = [u for u in self.ledger.utxos_at(QUEUE_ADDRESS) if u.tx_hash == tx_id]
        assert len(queue) == 1
        return queue[0]

    def refund(self, order: Utxo) -> bytes:
        """The batcher returns what is left to the owner (QueueRefund), taking one incentive."""
        incentive = Value.of(0, {CURRENCY: INCENTIVE})
        outputs = [
            TxOutput(self.batcher.address, Value.of(2_000_000) + incentive),
            TxOutput(self.buyer.address, order.value - incentive),
        ]
        tx = self._script_tx(
            payer=self.batcher,
            inputs=[ScriptInput(order, redeemer(1))],
            outputs=outputs,
            references=[self.sale_utxo()],
        )
        return self._submit_script(tx, [self.batcher])

    def cancel(self, order: Utxo) -> bytes:
        """The owner takes the order back (QueueCancel, the owner signs)."""
        tx = self._script_tx(
            payer=self.buyer,
            inputs=[ScriptInput(order, redeemer(2))],
            outputs=[TxOutput(self.buyer.address, order.value)],
            signers=[self.buyer.payment_key.hash],
        )
        return self._submit_script(tx, [self.buyer])

    def end_sale(self) -> bytes:
        """The seller removes the sale (RemoveSale) and burns its pointer."""
        sale = self.sale_utxo()
        rest = sale.value - Value.of(0, {POINTER: 1})
        tx = self._script_tx(
            payer=self.artist,
            inputs=[ScriptInput(sale, redeemer(3))],
            outputs=[TxOutput(self.artist.address, rest)],
            mints=[Mint(POINTER_POLICY, {POINTER_NAME: -1}, redeemer(1))],
            signers=[self.artist.payment_key.hash],
        )
        return self._submit_script(tx, [self.artist])

    def _script_tx(
        self,
        *,
        payer: SyntheticWallet,
        inputs: Sequence[ScriptInput],
        outputs: Sequence[TxOutput],
        references: Sequence[Utxo] = (),
        mints: Sequence[Mint] = (),
        signers: Sequence[bytes] = (),
    ) -> ScriptTransaction:
        params = self.ledger.params
        return build_script_transaction(
            wallet_utxos=[u for u in self.ledger.utxos_at(payer.address) if u.script_ref is None],
            change_address=payer.address,
            shape=Shape([o.with_min_ada(params) for o in outputs], mints),
            params=params,
            evaluate=self.ledger.evaluate,
            collateral_utxos=self.ledger.utxos_at(self.collateral.address),
            script_inputs=inputs,
            reference_inputs=[self.script_utxo, *references],
            required_signers=[*signers, self.collateral.payment_key.hash],
            ttl=self.ledger.current_slot() + 600,
        )

    def _submit_script(self, tx: ScriptTransaction, signers: Sequence[SyntheticWallet]) -> bytes:
        return self._submit(tx.cbor, [*signers, self.collateral])

    def _submit(self, tx: bytes, signers: Sequence[SyntheticWallet]) -> bytes:
        witnesses = sign_transaction(tx, [w.payment_key.seed for w in signers])
        tx_id = self.ledger.submit(splice_witnesses(tx, witnesses))
        self.tick()
        return tx_id
