"""The operator's keys: the hot key (cash register; the pointer policy and the sale validator's
fallback trust it) and the collateral key (its ADA-only UTxOs back every script transaction).

Loaded from configuration, never from code: 64 hex digits (an Ed25519 seed) or the path of a
cardano-cli `.skey` text envelope. On the devnet they are the seed's cash register and collateral
wallets.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..domain.address import Credential, make_address
from ..domain.errors import ConfigError
from ..domain.keys import PaymentKey

_SKEY_TYPES = ("PaymentSigningKeyShelley_ed25519", "GenesisUTxOSigningKey_ed25519")


@dataclass(frozen=True, slots=True)
class OperatorKeys:
    hot: PaymentKey
    collateral: PaymentKey
    collateral_address: bytes
    """Where the collateral key's UTxOs are looked up."""

    @classmethod
    def enterprise(cls, hot: PaymentKey, collateral: PaymentKey, network_id: int) -> OperatorKeys:
        """Keys whose collateral sits at the collateral key's enterprise address."""
        address = make_address(Credential.key(collateral.hash), None, network_id)
        return cls(hot, collateral, address)


def load_signing_key(secret: str, setting: str) -> PaymentKey:
    """A key from 64 hex digits or a cardano-cli `.skey` file; ConfigError names `setting`."""
    text = secret.strip()
    if len(text) == 64:
        try:
            return PaymentKey(bytes.fromhex(text))
        except ValueError:
            pass
    path = Path(text)
    if not path.is_file():
        raise ConfigError(f"{setting} is neither 64 hex digits nor a readable .skey file")
    try:
        envelope = json.loads(path.read_text(encoding="utf-8"))
        cbor_hex = envelope["cborHex"]
        kind = envelope.get("type")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{setting}: {path} is not a cardano-cli key envelope ({exc})") from None
    if kind not in _SKEY_TYPES or not cbor_hex.startswith("5820") or len(cbor_hex) != 68:
        raise ConfigError(f"{setting}: {path} is not an Ed25519 payment signing key ({kind})")
    return PaymentKey(bytes.fromhex(cbor_hex[4:]))
