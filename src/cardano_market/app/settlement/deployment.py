"""What a batcher settles with: its keys, and the marketplace deployment it serves (the reference
data and the sale, queue and vault reference scripts), from a devnet seed or read from the chain,
and followed as it moves."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ...chain.base import ChainBackend, ChainError
from ...domain.address import Credential, encode_address, make_address
from ...domain.cip30 import OutRef, Utxo
from ...domain.datums import Contracts
from ...domain.keys import PaymentKey
from ...domain.values import AssetId, unit_of
from ...ledger.references import reference_script_hash
from ...tx.settle.deployment import BatchDeployment
from ..signing import Mandate, SigningKind, batch_mandate

if TYPE_CHECKING:
    from ...chain.devnet.seed import SeedResult


@dataclass(frozen=True, slots=True)
class BatcherKeys:
    """The batcher's keys: `batcher` holds the certificate (and owns the vault), `collateral`
    backs every script transaction with its ADA-only UTxOs."""

    batcher: PaymentKey
    collateral: PaymentKey
    batcher_address: bytes
    collateral_address: bytes

    @classmethod
    def enterprise(
        cls, batcher: PaymentKey, collateral: PaymentKey, network_id: int
    ) -> BatcherKeys:
        """Keys whose UTxOs sit at their enterprise addresses."""
        return cls(
            batcher,
            collateral,
            make_address(Credential.key(batcher.hash), None, network_id),
            make_address(Credential.key(collateral.hash), None, network_id),
        )

    def mandate(self, kind: SigningKind, scripts: Contracts) -> Mandate:
        """What the batcher's and collateral keys may sign: its purchase or refund."""
        return batch_mandate(
            kind,
            batcher=self.batcher,
            collateral=self.collateral,
            scripts=[scripts.sale, scripts.queue, scripts.vault],
        )


def devnet_deployment(seeded: SeedResult) -> tuple[BatchDeployment, BatcherKeys]:
    """The deployment and batcher keys of a seeded devnet: its contracts, batcher and collateral
    wallets; ValueError when the seed deploys none of them."""
    contracts = seeded.contracts
    if contracts is None or seeded.batcher is None or seeded.collateral is None:
        raise ValueError(
            "the seed deploys no marketplace, batcher or collateral wallet: nothing to batch"
        )
    deployment = BatchDeployment(
        contracts.reference_utxo,
        contracts.sale_script_utxo,
        contracts.queue_script_utxo,
        contracts.vault_script_utxo,
    )
    keys = BatcherKeys(
        seeded.batcher.payment_key,
        seeded.collateral.payment_key,
        seeded.batcher.address,
        seeded.collateral.address,
    )
    return deployment, keys


def chain_deployment(
    backend: ChainBackend,
    *,
    reference_address: bytes,
    starter_nft: AssetId,
    script_refs: tuple[OutRef, OutRef, OutRef],
) -> BatchDeployment:
    """A deployment read from the chain (any network): the reference-data UTxO holding
    `starter_nft` at `reference_address` and the sale, queue and vault reference-script UTxOs at
    `script_refs`, each checked against the ReferenceDatum.

    ChainError when a UTxO is missing; ValueError when a script is not the one the
    ReferenceDatum names (a misconfigured out-ref would build transactions nobody accepts).
    """
    holders = [u for u in backend.utxos_at(reference_address) if u.value.quantity(starter_nft) == 1]
    if not holders:
        raise ChainError(
            f"no UTxO at {encode_address(reference_address)} holds the starter NFT "
            f"{unit_of(starter_nft)}"
        )
    found = {u.out_ref: u for u in backend.utxos_by_ref(list(script_refs))}
    scripts: list[Utxo] = []
    for name, ref in zip(("sale", "queue", "vault"), script_refs, strict=True):
        utxo = found.get(ref)
        if utxo is None:
            raise ChainError(f"the {name} reference-script UTxO {OutRef.of(ref)} is not on chain")
        scripts.append(utxo)
    deployment = BatchDeployment(holders[0], *scripts)
    named = deployment.reference_datum.contracts
    for name, utxo, expected in zip(
        ("sale", "queue", "vault"), scripts, (named.sale, named.queue, named.vault), strict=True
    ):
        held = reference_script_hash(utxo)
        if held != expected:
            raise ValueError(
                f"the {name} reference-script UTxO {utxo.out_ref} holds "
                f"{held.hex() if held else 'no script'}, but the ReferenceDatum names the "
                f"{name} validator {expected.hex()}"
            )
    return deployment


def live_deployment(backend: ChainBackend, d: BatchDeployment) -> BatchDeployment:
    """The deployment's UTxOs as they are now; a moved reference UTxO is found again by the
    starter NFT it holds (the contracts always read the live one)."""
    refs = [
        d.reference_utxo.out_ref,
        d.sale_script_utxo.out_ref,
        d.queue_script_utxo.out_ref,
        d.vault_script_utxo.out_ref,
    ]
    live = {u.out_ref: u for u in backend.utxos_by_ref(refs)}
    reference = live.get(refs[0])
    if reference is None:
        nft = [a for a, q in d.reference_utxo.value.assets.items() if q == 1]
        holders = [
            u
            for u in backend.utxos_at(d.reference_utxo.address)
            if nft and all(u.value.quantity(a) == 1 for a in nft)
        ]
        if not holders:
            raise ChainError("the reference-data UTxO (starter NFT) is no longer on chain")
        reference = holders[0]
    for name, ref in zip(("sale", "queue", "vault"), refs[1:], strict=True):
        if ref not in live:
            raise ChainError(
                f"the {name} reference-script UTxO {ref} is no longer on chain: "
                "configure the new one"
            )
    return BatchDeployment(reference, live[refs[1]], live[refs[2]], live[refs[3]])
