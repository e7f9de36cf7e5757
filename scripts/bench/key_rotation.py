"""How fast `cardano-market keys rotate` re-seals custodial wallet keys (its loop,
`app.custody.rotate_wallet_keys`), on a SQLite file and on PostgreSQL.

    python scripts/bench/key_rotation.py [--wallets 2000] [--batch-size 100]
        [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/test]

Stores N wallets sealed under one key, then re-seals them all under another (the old one
retired) and prints wallets per second. PostgreSQL runs in a throw-away schema.
"""

from __future__ import annotations

import argparse
import secrets
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import make_url, text

from cardano_market.app.custody import rotate_wallet_keys
from cardano_market.security.keystore import KeyStore
from cardano_market.store.db import Database, create_engine
from cardano_market.store.users import CustodialWalletRepo, UserRepo

OLD, NEW = b"\x11" * 32, bytes(range(32))


def measure(url: str, wallets: int, batch_size: int) -> str:
    database = Database.connect(url)
    try:
        now = datetime.now(UTC)
        with database.session() as session:
            users, repo, old = UserRepo(session), CustodialWalletRepo(session), KeyStore(OLD)
            for i in range(wallets):
                user = users.create(now=now, user_id=f"{0xABC000000 + i:024x}")
                repo.create(
                    user.id,
                    address=b"\x60" + secrets.token_bytes(28),
                    sealed_key=old.encrypt_signing_key(user.id, secrets.token_bytes(32)),
                    key_id=old.current_key_id,
                    now=now,
                )
        start = time.perf_counter()
        done = rotate_wallet_keys(database, KeyStore(NEW, retired=[OLD]), batch_size=batch_size)
        seconds = time.perf_counter() - start
    finally:
        database.dispose()
    backend = make_url(url).get_backend_name()
    return f"{backend}: {done} wallets in {seconds:.2f} s = {done / seconds:,.0f} wallets/s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wallets", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        print(measure(f"sqlite:///{Path(scratch) / 'rotate.db'}", args.wallets, args.batch_size))
    schema = f"cm_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(args.postgres)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = make_url(args.postgres).update_query_dict({"options": f"-csearch_path={schema}"})
        print(measure(url.render_as_string(hide_password=False), args.wallets, args.batch_size))
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


if __name__ == "__main__":
    main()
