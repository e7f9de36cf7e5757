"""Deterministic synthetic wallets: named keys, addresses and CIP-30 UTxOs.

Demos, tests, fixtures and benchmarks need wallets whose UTxOs look like a real wallet's (mixed
legacy and map outputs, some tokens, the odd reference script) and whose keys can sign. Everything
is derived from names, so the same call always yields the same bytes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import cbor2

from .domain.address import Credential, encode_address, make_address
from .domain.cip30 import Utxo
from .domain.keys import PaymentKey
from .domain.values import AssetId, Value

TESTNET = 0


@dataclass(frozen=True, slots=True)
class SyntheticWallet:
    name: str
    payment_key: PaymentKey
    stake_key: PaymentKey
    address: bytes  # base address (payment key + stake key)

    @property
    def bech32(self) -> str:
        return encode_address(self.address)


def wallet(name: str, network_id: int = TESTNET) -> SyntheticWallet:
    payment = PaymentKey.derive(f"{name}/payment")
    stake = PaymentKey.derive(f"{name}/stake")
    address = make_address(Credential.key(payment.hash), Credential.key(stake.hash), network_id)
    return SyntheticWallet(name, payment, stake, address)


def tx_hash(label: str) -> bytes:
    return hashlib.blake2b(label.encode(), digest_size=32).digest()


def utxo(
    tx_id: bytes,
    index: int,
    address: bytes,
    value: Value,
    *,
    legacy: bool = False,
    inline_datum: bytes | None = None,
    script_ref: bytes | None = None,
) -> Utxo:
    """A CIP-30 UTxO with the chosen output form, built through the real decoder."""
    amount = value.to_primitive()
    if legacy:
        output: object = [address, amount]
    else:
        fields: dict[int, object] = {0: address, 1: amount}
        if inline_datum is not None:
            fields[2] = [1, cbor2.CBORTag(24, inline_datum)]
        if script_ref is not None:
            fields[3] = cbor2.CBORTag(24, script_ref)
        output = fields
    return Utxo.from_cbor(cbor2.dumps([[tx_id, index], output]))


def wallet_utxos(
    owner: SyntheticWallet,
    count: int,
    *,
    tokens: dict[AssetId, int] | None = None,
    lovelace: int = 5_000_000,
) -> list[Utxo]:
    """`count` UTxOs of varied lovelace; `tokens` spread over every third UTxO (remainder: first).

    Every seventh UTxO uses the legacy array form, so decoders meet both shapes.
    """
    tokens = dict(tokens or {})
    holders = list(range(0, count, 3)) or [0]
    utxos: list[Utxo] = []
    for i in range(count):
        assets: dict[AssetId, int] = {}
        if i in holders and tokens:
            share = len(holders)
            for asset, total in sorted(tokens.items()):
                part = total // share + (total % share if i == 0 else 0)
                if part:
                    assets[asset] = part
        coin = lovelace + (i * 7_919_011) % 20_000_000
        utxos.append(
            utxo(
                tx_hash(f"{owner.name}/utxo/{i // 4}"),
                i % 4,
                owner.address,
                Value.of(coin, assets),
                legacy=(i % 7 == 6 and not assets),
            )
        )
    return utxos
