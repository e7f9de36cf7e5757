"""The start-up deployment check (issue 14): what the settings and the network profile say the
deployment is, and a refusal to start when the live chain disagrees."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ..config import parse_out_ref
from ..domain.address import decode_address
from ..domain.cip30 import OutRef
from ..domain.errors import ConfigError
from ..domain.values import asset_from_unit

if TYPE_CHECKING:
    from .parts import ServiceParts

log = logging.getLogger("cardano_market.service")


def expected_deployment(parts: ServiceParts) -> Any:
    """What the settings (with the network profile) say the deployment is, for
    `app.deployment_check`; ConfigError when the reference data is not configured."""
    from ..app.deployment_check import ExpectedDeployment
    from ..domain.profiles import profile_for

    settings, market = parts.settings, parts.market
    refs: dict[str, OutRef] = {}
    contracts = getattr(parts.devnet, "contracts", None)
    if contracts is not None:
        reference_address, starter = contracts.reference_utxo.address, contracts.starter_nft
        refs = {
            "sale": contracts.sale_script_utxo.out_ref,
            "queue": contracts.queue_script_utxo.out_ref,
            "vault": contracts.vault_script_utxo.out_ref,
            "pointer": contracts.pointer_script_utxo.out_ref,
        }
    else:
        if settings.reference_address is None or settings.starter_nft_unit is None:
            raise ConfigError(
                "the deployment check needs CARDANO_MARKET_REFERENCE_ADDRESS and "
                "CARDANO_MARKET_STARTER_NFT_UNIT (the network profile sets them on preprod "
                "and mainnet)"
            )
        reference_address = decode_address(settings.reference_address)
        starter = asset_from_unit(settings.starter_nft_unit)
        for name in ("sale", "queue", "vault", "pointer"):
            text = getattr(settings, f"{name}_script_ref")
            if text is not None:
                refs[name] = parse_out_ref(text)
    profile = profile_for(settings.network.value) if settings.network_profile else None
    return ExpectedDeployment(
        network_id=market.network_id,
        reference_address=reference_address,
        starter_nft=starter,
        queue_address=market.addresses.queue,
        sale_address=market.addresses.sale,
        oracle_address=market.addresses.oracle,
        oracle_feed=market.addresses.oracle_feed,
        currency=market.config.currency,
        script_refs=refs,
        profile=profile,
    )


def verify_deployment(parts: ServiceParts) -> None:
    """On a network with a profile in use: refuse (ConfigError) a deployment that is not the
    profile's. A chain that cannot be reached now is logged, not fatal (/health shows it)."""
    from ..app.deployment_check import failures, structural_checks
    from ..chain.base import ChainError
    from ..domain.profiles import profile_for

    settings = parts.settings
    if not settings.network_profile or profile_for(settings.network.value) is None:
        return
    try:
        parts.chain.tip()
    except ChainError as exc:
        log.warning("the deployment was not checked at start: the chain is unreachable (%s)", exc)
        return
    failed = failures(structural_checks(parts.chain, expected_deployment(parts)))
    if failed:
        raise ConfigError(
            f"the live deployment does not match the {settings.network.value} profile (or "
            "your settings): "
            + "; ".join(f"{c.name}: {c.detail}" for c in failed)
            + " (override a value with its CARDANO_MARKET_* setting, or set "
            "CARDANO_MARKET_NETWORK_PROFILE=false)"
        )
