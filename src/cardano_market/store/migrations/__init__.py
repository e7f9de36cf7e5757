"""Alembic revisions of the store's schema; `store.db.upgrade_database` applies them."""
