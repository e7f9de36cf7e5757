"""Alembic migrations from an empty database, on SQLite and PostgreSQL, and engine set-up."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from store_samples import POINTER_POLICY, T0, make_sale

from cardano_market.config import DEFAULT_DATABASE_URL as CONFIG_DEFAULT_URL
from cardano_market.domain.errors import StoreError
from cardano_market.store import DEFAULT_DATABASE_URL
from cardano_market.store.db import (
    Database,
    create_engine,
    current_revision,
    downgrade_database,
    upgrade_database,
)
from cardano_market.store.sales import SaleRepo
from cardano_market.store.schema import Base

TABLES = {
    "marketplace_sales",
    "marketplace_pending_orders",
    "marketplace_pending_sales",
    "issued_transactions",
    "v2_users",
    "v2_tokens",
    "v2_custodial_wallets",
    "v2_deals",
    "v2_transactions",
    "v2_audit_log",
    "v2_idempotency_keys",
    "marketplace_orders",
    "marketplace_purchases",
    "monitor_utxos",
    "monitor_confirmations",
    "monitor_state",
}
HEAD = "0005"


def test_upgrade_from_empty_creates_the_models_schema(fresh_url: str) -> None:
    engine = create_engine(fresh_url)
    try:
        assert current_revision(engine) is None
        assert not TABLES & set(inspect(engine).get_table_names())
        upgrade_database(fresh_url)  # by URL, as `serve` does
        assert current_revision(engine) == HEAD
        assert set(inspect(engine).get_table_names()) == TABLES | {"alembic_version"}
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_upgrade_is_idempotent_and_keeps_data(fresh_url: str) -> None:
    database = Database.connect(fresh_url)
    try:
        sale = make_sale()
        with database.session() as session:
            SaleRepo(session).add(sale, pointer_policy=POINTER_POLICY, now=T0)
        upgrade_database(database.engine)
        with database.session() as session:
            stored = SaleRepo(session).get(sale.id)
        assert stored is not None
        assert stored.sale == sale
    finally:
        database.dispose()


def test_downgrade_to_base_and_up_again(fresh_url: str) -> None:
    engine = create_engine(fresh_url)
    try:
        upgrade_database(engine)
        downgrade_database(engine, "base")
        assert not TABLES & set(inspect(engine).get_table_names())
        assert current_revision(engine) is None
        upgrade_database(engine)
        assert current_revision(engine) == HEAD
    finally:
        engine.dispose()


def test_replicas_starting_together_migrate_once(fresh_url: str) -> None:
    """Four service processes starting at once on an empty database: the lock env.py takes in
    the database serialises them, so every one starts and the schema is created once."""
    script = (
        "import sys; from cardano_market.store.db import upgrade_database; "
        "upgrade_database(sys.argv[1])"
    )
    processes = [
        subprocess.Popen([sys.executable, "-c", script, fresh_url], stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    failures = []
    for process in processes:
        _, stderr = process.communicate(timeout=120)
        if process.returncode:
            failures.append(stderr.decode(errors="replace")[-2000:])
    assert failures == []
    engine = create_engine(fresh_url)
    try:
        assert current_revision(engine) == HEAD
    finally:
        engine.dispose()


def test_threads_of_one_process_upgrading_together(fresh_url: str) -> None:
    """Alembic's context is process-global: upgrade_database serialises threads itself."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(3)

    def start() -> None:
        barrier.wait(20)
        try:
            upgrade_database(fresh_url)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []


def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'pragmas.db'}")
    try:
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert connection.execute(text("PRAGMA busy_timeout")).scalar() == 30000
    finally:
        engine.dispose()


def test_in_memory_sqlite_works_without_wal() -> None:
    database = Database.connect("sqlite://")
    try:
        database.ping()
        with database.session() as session:
            SaleRepo(session).add(make_sale(), pointer_policy=POINTER_POLICY, now=T0)
            assert SaleRepo(session).count() == 1
    finally:
        database.dispose()


def test_other_databases_are_refused_with_the_password_hidden() -> None:
    with pytest.raises(StoreError, match="unsupported database 'mysql'") as caught:
        create_engine("mysql+pymysql://user:hunter2@localhost/db")
    assert "hunter2" not in str(caught.value)


def test_ping_reports_an_unreachable_database(tmp_path: Path) -> None:
    database = Database(create_engine(f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}"))
    with pytest.raises(Exception, match="unable to open"):
        database.ping()


def test_config_and_store_agree_on_the_default_database() -> None:
    assert CONFIG_DEFAULT_URL == DEFAULT_DATABASE_URL == "sqlite:///cardano-market.db"
