"""Alembic's entry point: runs the revisions on the engine `store.db.upgrade_database` passes in.

Upgrades hold a lock for their whole transaction (PostgreSQL advisory lock; SQLite BEGIN
IMMEDIATE), so replicas starting together migrate once, one after the other.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, Engine, text

from cardano_market.domain.errors import StoreError
from cardano_market.store.schema import Base  # the package registers every table on it

MIGRATION_LOCK_KEY = 0x63_6D_61_72_6B_65_74  # "cmarket": this schema's advisory-lock id


def _lock(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
    elif connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def run_migrations_online() -> None:
    engine = context.config.attributes.get("engine")
    if not isinstance(engine, Engine):
        raise StoreError("migrations run through cardano_market.store.db.upgrade_database(url)")
    with engine.connect() as connection:
        _lock(connection)
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            transactional_ddl=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


if context.is_offline_mode():
    raise StoreError("offline (--sql) migrations are not supported; run upgrade_database(url)")
run_migrations_online()
