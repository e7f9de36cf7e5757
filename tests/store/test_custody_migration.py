"""Revision 0002 (the custody tables: users, tokens, wallets, deals, custodial transactions,
audit, idempotency) on SQLite and PostgreSQL: up from 0001 with data, down to 0001
and up again, and the schema it builds is exactly the models'."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from custody_samples import active_deal
from sqlalchemy import inspect
from store_samples import POINTER_POLICY, T0, make_sale

from cardano_market.store.db import (
    Database,
    alembic_config,
    create_engine,
    current_revision,
    downgrade_database,
    upgrade_database,
)
from cardano_market.store.deals import DealRepo
from cardano_market.store.sales import SaleRepo
from cardano_market.store.schema import Base

V2_TABLES = {
    "v2_users",
    "v2_tokens",
    "v2_custodial_wallets",
    "v2_deals",
    "v2_transactions",
    "v2_audit_log",
    "v2_idempotency_keys",
}

HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()
"""The newest revision (later revisions upgrade past 0002)."""


def test_0002_upgrades_a_0001_database_with_data_and_matches_the_models(fresh_url: str) -> None:
    engine = create_engine(fresh_url)
    try:
        upgrade_database(engine, "0001")
        assert not V2_TABLES & set(inspect(engine).get_table_names())
        database = Database(engine)
        sale = make_sale()
        with database.session() as session:
            SaleRepo(session).add(sale, pointer_policy=POINTER_POLICY, now=T0)
        upgrade_database(engine)
        assert current_revision(engine) == HEAD
        assert set(inspect(engine).get_table_names()) >= V2_TABLES
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
        with database.session() as session:
            assert SaleRepo(session).get(sale.id) is not None
            deal = active_deal(session)
        with database.session() as session:
            assert DealRepo(session).get(deal.id) == deal
    finally:
        engine.dispose()


def test_0002_downgrades_to_0001_keeping_v1_data_and_upgrades_again(fresh_url: str) -> None:
    engine = create_engine(fresh_url)
    try:
        upgrade_database(engine)
        database = Database(engine)
        sale = make_sale()
        with database.session() as session:
            SaleRepo(session).add(sale, pointer_policy=POINTER_POLICY, now=T0)
            active_deal(session)
        downgrade_database(engine, "0001")
        assert current_revision(engine) == "0001"
        assert not V2_TABLES & set(inspect(engine).get_table_names())
        with database.session() as session:
            assert SaleRepo(session).get(sale.id) is not None
        upgrade_database(engine)
        assert current_revision(engine) == HEAD
        with database.session() as session:
            assert DealRepo(session).list_by_seller("00" * 12) == []
        downgrade_database(engine, "base")
        assert current_revision(engine) is None
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()
