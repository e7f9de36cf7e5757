"""The chain backend settings describe, opened: the devnet (its file, the seed applied, its CIP-30
wallets) or Blockfrost on a public network; and the contract addresses the marketplace reads."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..app.context import ContractAddresses
from ..config import Settings
from ..domain.address import decode_address
from ..domain.errors import ConfigError
from ..domain.values import asset_from_unit
from .keys import required

if TYPE_CHECKING:
    from ..chain.blockfrost import BlockfrostBackend
    from ..chain.devnet import DevnetBackend, DevnetWallet
    from ..service.observability import Metrics


def seeded_devnet(settings: Settings, seed: Any) -> tuple[DevnetBackend, Any]:
    """The devnet ledger file opened and `seed` applied to it (once: a seeded ledger keeps its
    state); returns the backend and the `SeedResult`. The file is closed again on failure."""
    from ..chain.devnet import DevnetBackend
    from ..chain.devnet.seed import apply_seed

    chain = DevnetBackend.open(settings.devnet_path)
    try:
        return chain, apply_seed(chain.ledger, seed)
    except BaseException:
        chain.close()
        raise


def devnet_wallets(chain: DevnetBackend, seeded: Any) -> dict[str, DevnetWallet]:
    """The seed's wallets as CIP-30 wallets (name -> wallet), served under /devnet."""
    from ..chain.devnet import DevnetWallet

    return {name: DevnetWallet(chain, name) for name in sorted(seeded.wallets)}


def devnet_addresses(settings: Settings, seeded: Any, network_id: int) -> ContractAddresses:
    """The seed's deployment (or the configured cash register); ConfigError for a seed that
    deploys no marketplace."""
    if seeded.cash_register is None and settings.cash_register_address is None:
        raise ConfigError("the devnet seed names no cashRegister wallet")
    if seeded.oracle is None:
        raise ConfigError("the devnet seed has no oracle: the order amount needs its price")
    if seeded.contracts is None:
        raise ConfigError("the devnet seed deploys no marketplace contracts (no marketplace)")
    cash_register = (
        decode_address(settings.cash_register_address)
        if settings.cash_register_address
        else seeded.cash_register.address
    )
    contracts = seeded.contracts
    return ContractAddresses(
        queue=contracts.queue_address,
        cash_register=cash_register,
        sale=contracts.sale_address,
        oracle=seeded.oracle.address,
        oracle_feed=seeded.oracle.feed_asset,
        pointer_policy=contracts.pointer_policy,
    )


def blockfrost(settings: Settings, metrics: Metrics) -> BlockfrostBackend:
    """Blockfrost for the configured public network (its retries counted in `metrics`)."""
    from ..chain.blockfrost import BlockfrostBackend

    project = settings.blockfrost_project_id
    return BlockfrostBackend(
        project.get_secret_value() if project else "none",
        network=settings.network.value,  # type: ignore[arg-type]
        base_url=settings.blockfrost_url,
        on_retry=metrics.chain_retry,
    )


def public_addresses(settings: Settings) -> ContractAddresses:
    """The configured contract addresses of a public network (Settings requires them there)."""
    return ContractAddresses(
        queue=decode_address(required(settings.queue_address)),
        cash_register=decode_address(required(settings.cash_register_address)),
        sale=decode_address(required(settings.sale_address)),
        oracle=decode_address(required(settings.oracle_address)),
        oracle_feed=asset_from_unit(required(settings.oracle_feed_unit)),
        pointer_policy=_profile_pointer_policy(settings),
    )


def _profile_pointer_policy(settings: Settings) -> bytes | None:
    """The network profile's pointer policy (the monitor follows sales by it)."""
    from ..domain.profiles import profile_for

    profile = profile_for(settings.network.value) if settings.network_profile else None
    return None if profile is None else profile.pointer_policy
