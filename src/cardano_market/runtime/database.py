"""The service's database: connected and migrated, the devnet seed's sales recorded once, and the
stored custodial wallets checked against the configured keys before anything is served."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ..config import Settings
from ..domain.errors import DuplicateRecordError
from ..store.db import Database
from ..store.sales import SaleRepo
from .keys import check_stored_key_ids

if TYPE_CHECKING:
    from ..app.context import Context
    from ..security.keystore import KeyStore

log = logging.getLogger("cardano_market.service")


def open_database(settings: Settings) -> Database:
    """The configured database, migrated to the current schema (`Database.connect`)."""
    return Database.connect(settings.database_url)


def record_seeded_sales(market: Context, seeded: Any) -> None:
    """Put the seed's sales in the database (once; later starts find them there)."""
    policy = market.addresses.pointer_policy
    with market.database.session() as session:
        repo = SaleRepo(session)
        for entry in seeded.sales:
            if entry.utxo is None or policy is None:
                continue  # ended since: the monitor records what the chain says
            try:
                repo.add(entry.sale, pointer_policy=policy, now=market.clock())
            except DuplicateRecordError as exc:
                log.warning("seeded sale %s not recorded: %s", entry.sale.id, exc)


def check_stored_keys(database: Database, keystore: KeyStore) -> None:
    """Refuse to start (ConfigError naming the key id) when a stored custodial wallet was
    sealed with a key that is not configured: its user could never sign."""
    from ..store.users import CustodialWalletRepo

    with database.session() as session:
        stored = CustodialWalletRepo(session).key_ids()
    check_stored_key_ids(keystore, stored)
