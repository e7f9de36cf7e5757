"""The keys a service holds, read from settings: the operator's (hot, collateral) with the
deployment they start and end sales on, the escrow key, the custodial key store, the JWT verifier;
and their registration with the signing gate, so no caller's transaction may spend from them.

`security` holds the primitives and takes explicit parameters; this is where settings meet them.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..app.operator import OperatorKeys, load_signing_key
from ..app.sale_lifecycle import DeploymentRefs
from ..config import Network, Settings, env_name, parse_out_ref
from ..domain.address import decode_address, parse_address
from ..domain.cip30 import OutRef
from ..domain.errors import ConfigError
from ..domain.values import asset_from_unit

if TYPE_CHECKING:
    from ..app.context import EscrowKey
    from ..security.jwt_auth import Algorithm, JwtVerifier
    from ..security.keystore import KeyStore
    from .parts import ServiceParts

log = logging.getLogger("cardano_market.service")

DEVNET_JWT_SECRET_SUFFIX = ".jwt-secret"
DEVNET_ESCROW_WALLET = "v2-escrow"
"""The devnet's derived escrow wallet (not in the seed file)."""


def load_key(secret: Any, setting: str) -> Any:
    """The signing key a secret setting holds (None when unset); ConfigError naming `setting`."""
    return None if secret is None else load_signing_key(secret.get_secret_value(), setting)


def key_address(text: str | None, key_hash: bytes, setting: str) -> bytes | None:
    """The configured address of a key's UTxOs; ConfigError when another key pays it."""
    if text is None:
        return None
    address = decode_address(text)
    payment = parse_address(address).payment
    if payment.is_script or payment.hash != key_hash:
        raise ConfigError(f"{setting} is not paid to its key (payment part {payment.hash.hex()})")
    return address


# -- the operator: sale start and end ------------------------------------------------------------


def devnet_operator(
    settings: Settings, seeded: Any, network_id: int
) -> tuple[OperatorKeys | None, DeploymentRefs | None]:
    """The seed's cash register (hot key) and collateral wallets, unless settings name keys."""
    hot = load_key(settings.operator_hot_key, "CARDANO_MARKET_OPERATOR_HOT_KEY")
    collateral = load_key(
        settings.operator_collateral_key, "CARDANO_MARKET_OPERATOR_COLLATERAL_KEY"
    )
    hot = hot or (seeded.cash_register.payment_key if seeded.cash_register else None)
    contracts = seeded.contracts
    if hot is None or contracts is None or (collateral is None and seeded.collateral is None):
        return None, None
    operator = (
        OperatorKeys.enterprise(hot, collateral, network_id)
        if collateral is not None
        else OperatorKeys(hot, seeded.collateral.payment_key, seeded.collateral.address)
    )
    refs = DeploymentRefs(
        reference_address=contracts.reference_utxo.address,
        starter_nft=contracts.starter_nft,
        pointer_script_ref=contracts.pointer_script_utxo.out_ref,
        sale_script_ref=contracts.sale_script_utxo.out_ref,
        sale_address=contracts.sale_address,
        queue_script_ref=contracts.queue_script_utxo.out_ref,
        vault_script_ref=contracts.vault_script_utxo.out_ref,
    )
    return operator, refs


def public_operator(
    settings: Settings, network_id: int, sale_address: bytes
) -> tuple[OperatorKeys | None, DeploymentRefs | None]:
    """Sale start/end on a public network: every key and reference configured, or none."""
    names = (
        "operator_hot_key",
        "operator_collateral_key",
        "reference_address",
        "starter_nft_unit",
        "pointer_script_ref",
        "sale_script_ref",
    )
    given = [name for name in names if getattr(settings, name) is not None]
    if settings.operator_hot_key is None and settings.operator_collateral_key is None:
        given = []  # the deployment alone (a network profile's) enables nothing
    if not given:
        log.warning("sale start/end disabled: no operator keys or deployment configured")
        return None, None
    if len(given) != len(names):
        missing = ", ".join(f"CARDANO_MARKET_{n.upper()}" for n in names if n not in given)
        raise ConfigError(f"sale start/end are partly configured: also set {missing}")
    hot = load_key(settings.operator_hot_key, "CARDANO_MARKET_OPERATOR_HOT_KEY")
    collateral = load_key(
        settings.operator_collateral_key, "CARDANO_MARKET_OPERATOR_COLLATERAL_KEY"
    )
    refs = DeploymentRefs(
        reference_address=decode_address(required(settings.reference_address)),
        starter_nft=asset_from_unit(required(settings.starter_nft_unit)),
        pointer_script_ref=parse_out_ref(required(settings.pointer_script_ref)),
        sale_script_ref=parse_out_ref(required(settings.sale_script_ref)),
        sale_address=sale_address,
        queue_script_ref=_out_ref_or_none(settings.queue_script_ref),
        vault_script_ref=_out_ref_or_none(settings.vault_script_ref),
    )
    return OperatorKeys.enterprise(hot, collateral, network_id), refs


def _out_ref_or_none(text: str | None) -> OutRef | None:
    return None if text is None else parse_out_ref(text)


def required(value: str | None) -> str:
    assert value is not None  # Settings refuses a public network without the addresses
    return value


# -- the signing gate ----------------------------------------------------------------------------


def register_service_keys(parts: ServiceParts) -> None:
    """Tell the signing gate (and the builders' first check) every key the service holds or is
    paid at: no caller's transaction may spend from them, whatever the address's stake part."""
    keys = parts.market.service_keys
    settings = parts.settings
    if parts.operator is not None:
        keys.register(parts.operator.hot.hash, "the marketplace operator")
        keys.register(parts.operator.collateral.hash, "the operator's collateral wallet")
    keys.register_address(parts.market.addresses.cash_register, "the marketplace operator")
    seeded = parts.devnet
    if seeded is not None:
        for wallet, owner in (
            (seeded.cash_register, "the marketplace operator"),
            (seeded.collateral, "the operator's collateral wallet"),
            (seeded.batcher, "the batcher"),
        ):
            if wallet is not None:
                keys.register(wallet.payment_key.hash, owner)
    for secret, setting, owner in (
        (settings.batcher_key, "CARDANO_MARKET_BATCHER_KEY", "the batcher"),
        (
            settings.operator_collateral_key,
            "CARDANO_MARKET_OPERATOR_COLLATERAL_KEY",
            "the operator's collateral wallet",
        ),
    ):
        key = load_key(secret, setting)
        if key is not None:
            keys.register(key.hash, owner)
    for text, owner in (
        (settings.batcher_address, "the batcher"),
        (settings.collateral_address, "the operator's collateral wallet"),
    ):
        if text is not None:
            keys.register_address(decode_address(text), owner)
    v2 = parts.v2
    if v2 is not None:
        if v2.escrow is not None:
            keys.register(v2.escrow.key.hash, "the escrow")
        keys.register_address(v2.secondary_fees.platform_fee_address, "the platform fee address")
        keys.register_address(v2.secondary_fees.node_fee_address, "the node fee address")
    # The devnet's CIP-30 wallets sign anything they are handed: never serve one for a key the
    # service holds, or /devnet/wallets/<name>/sign-tx would sign around the gate.
    parts.wallets = {
        name: wallet
        for name, wallet in parts.wallets.items()
        if wallet.keys.payment_key.hash not in keys
    }


# -- the custodial API's keys ----------------------------------------------------------------------


def keystore_from_settings(settings: Settings) -> KeyStore:
    """The configured key-encryption key (and retired ones), or on the devnet the database's
    generated one (`security.keystore`). ConfigError when there is no key to use."""
    from ..security.keystore import (
        KeyStore,
        devnet_key_file,
        generated_key,
        parse_key_encryption_key,
        parse_retired_keys,
    )

    setting = env_name("key_encryption_key")
    if settings.key_encryption_key is not None:
        text = settings.key_encryption_key.get_secret_value()
        retired = settings.key_encryption_keys_retired
        return KeyStore(
            parse_key_encryption_key(text, source=setting),
            retired=(
                parse_retired_keys(
                    retired.get_secret_value(), source=env_name("key_encryption_keys_retired")
                )
                if retired
                else ()
            ),
        )
    if settings.network.is_real:
        raise ConfigError(f"{settings.network} needs {setting}")
    return KeyStore(generated_key(devnet_key_file(settings.database_url, setting=setting)))


def check_stored_key_ids(keystore: KeyStore, stored: Iterable[str]) -> None:
    """Refuse to start (ConfigError naming the key id and the settings) when a stored custodial
    wallet was sealed with a key that is not configured: its user could never sign."""
    keystore.check_stored_key_ids(
        stored,
        current_setting=env_name("key_encryption_key"),
        retired_setting=env_name("key_encryption_keys_retired"),
    )


def jwt_verifier_from_settings(settings: Settings) -> JwtVerifier:
    """HS256 with `CARDANO_MARKET_JWT_SECRET`, or RS256 with `..._JWT_PUBLIC_KEY(_FILE)`.

    ConfigError naming the variable when neither is set or the key is unusable.
    """
    from ..security.jwt_auth import MIN_HMAC_SECRET_BYTES, JwtVerifier, load_rsa_public_key

    public_pem = settings.jwt_public_key_pem()
    key: Any
    algorithm: Algorithm
    if public_pem is not None:
        key = load_rsa_public_key(public_pem)
        algorithm = "RS256"
    elif settings.jwt_secret is not None:
        key = settings.jwt_secret.get_secret_value().encode()
        algorithm = "HS256"
        if len(key) < MIN_HMAC_SECRET_BYTES:
            raise ConfigError(
                f"{env_name('jwt_secret')} must be at least {MIN_HMAC_SECRET_BYTES} bytes "
                "(RFC 7518 section 3.2)"
            )
    else:
        raise ConfigError(
            f"the v2 API needs {env_name('jwt_secret')} (HS256) or "
            f"{env_name('jwt_public_key')} / {env_name('jwt_public_key_file')} (RS256)"
        )
    return JwtVerifier(
        algorithm=algorithm,
        key=key,
        audience=settings.jwt_audience,
        issuer=settings.jwt_issuer,
        leeway_seconds=settings.jwt_leeway_seconds,
        max_lifetime_seconds=settings.jwt_max_lifetime_seconds,
    )


def service_jwt_verifier(settings: Settings) -> JwtVerifier:
    """The configured verifier; on the devnet without one, HS256 with a secret kept beside the
    devnet file (`devnet_jwt_secret`), so `cardano-market devnet token` mints usable tokens."""
    from ..security.jwt_auth import JwtVerifier

    configured = settings.jwt_secret is not None or settings.jwt_public_key_pem() is not None
    if configured or settings.network is not Network.DEVNET:
        return jwt_verifier_from_settings(settings)
    return JwtVerifier(
        algorithm="HS256",
        key=devnet_jwt_secret(settings.devnet_path),
        audience=settings.jwt_audience,
        issuer=settings.jwt_issuer,
        leeway_seconds=settings.jwt_leeway_seconds,
        max_lifetime_seconds=settings.jwt_max_lifetime_seconds,
    )


def devnet_jwt_secret(devnet_path: Path) -> bytes:
    """The devnet's generated HS256 secret: 32 random bytes in `<devnet file>.jwt-secret`
    (mode 0600, created exclusively, so processes sharing the devnet agree on it)."""
    path = Path(f"{devnet_path}{DEVNET_JWT_SECRET_SUFFIX}")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_secret(path)
    except OSError as exc:
        raise ConfigError(f"cannot create the devnet JWT secret {path}: {exc}") from None
    secret = secrets.token_bytes(32)
    try:
        os.write(fd, secret.hex().encode() + b"\n")
    finally:
        os.close(fd)
    return secret


def _read_secret(path: Path) -> bytes:
    import time

    for _ in range(50):  # another process may have created it a moment ago
        text = path.read_text(encoding="ascii")
        if text.endswith("\n"):
            try:
                return bytes.fromhex(text.strip())
            except ValueError:
                break
        time.sleep(0.01)
    raise ConfigError(f"the devnet JWT secret {path} is malformed: delete it to get a new one")


def escrow_key(settings: Settings, network_id: int) -> EscrowKey | None:
    """The key secondary-market listings are held under; on the devnet a derived wallet's."""
    from ..app.context import EscrowKey
    from ..domain.address import Credential, make_address
    from ..synthetic import wallet

    key = load_key(settings.escrow_key, "CARDANO_MARKET_ESCROW_KEY")
    if key is None:
        if settings.network is not Network.DEVNET:
            log.warning("selling on the secondary market disabled: no CARDANO_MARKET_ESCROW_KEY")
            return None
        key = wallet(DEVNET_ESCROW_WALLET, network_id).payment_key
    return EscrowKey(key, make_address(Credential.key(key.hash), None, network_id))
