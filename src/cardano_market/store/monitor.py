"""The chain monitor's memory: what it cannot read back from the chain cheaply.

The last sale UTxO seen per pointer (to find the transaction that ended it), queue UTxOs it
skipped and why, issued transactions it confirmed recently (to re-check after a rollback), and
its checkpoint (named integers). Orders and purchases themselves are in `orders`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Index,
    Integer,
    String,
    Text,
    and_,
    delete,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from ..domain.cip30 import OutRef
from ._sql import dialect_insert, fresh
from .columns import UtcDateTime, check_aware
from .schema import ENUM_TEXT, NAME_HEX, TX_ID_HEX, Base, one_of

MONITOR_UTXO_ROLES = ("sale", "skipped")


class MonitorUtxoRow(Base):
    """A UTxO the monitor remembers: the last sale UTxO per pointer, or a skipped queue UTxO."""

    __tablename__ = "monitor_utxos"

    tx_hash: Mapped[str] = mapped_column(String(TX_ID_HEX), primary_key=True)
    output_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    role: Mapped[str] = mapped_column(String(ENUM_TEXT))
    pointer_asset_name: Mapped[str | None] = mapped_column(String(NAME_HEX))
    reason: Mapped[str | None] = mapped_column(Text)
    seen_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        Index(None, "role", "pointer_asset_name"),
        CheckConstraint(one_of("role", MONITOR_UTXO_ROLES), name="role"),
    )


class MonitorConfirmationRow(Base):
    """An issued transaction the monitor confirmed, kept while a rollback could still undo it."""

    __tablename__ = "monitor_confirmations"

    tx_id: Mapped[str] = mapped_column(String(TX_ID_HEX), primary_key=True)
    block_height: Mapped[int] = mapped_column(BigInteger)
    confirmed_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (Index(None, "block_height"),)


class MonitorStateRow(Base):
    """Named integers: the checkpoint (tip height and slot of the last completed poll)."""

    __tablename__ = "monitor_state"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class MonitorStateRepo:
    """The monitor's checkpoint and memory (`monitor_state`, `monitor_utxos`,
    `monitor_confirmations`)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def get(self, key: str) -> int | None:
        row = self._session.get(MonitorStateRow, key, populate_existing=True)
        return None if row is None else row.value

    def set(self, key: str, value: int, *, now: datetime) -> None:
        now = check_aware("now", now)
        stmt = dialect_insert(self._session, MonitorStateRow).values(
            key=key, value=value, updated_at=now
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["key"], set_={"value": value, "updated_at": now}
        )
        self._session.execute(stmt)

    # sale UTxOs

    def sale_utxo(self, pointer_name: bytes) -> OutRef | None:
        row = self._session.scalars(
            fresh(
                select(MonitorUtxoRow).where(
                    MonitorUtxoRow.role == "sale",
                    MonitorUtxoRow.pointer_asset_name == pointer_name.hex(),
                )
            )
        ).first()
        return None if row is None else OutRef(bytes.fromhex(row.tx_hash), row.output_index)

    def track_sale_utxo(self, pointer_name: bytes, ref: OutRef, *, now: datetime) -> None:
        """Remember `ref` as the sale UTxO holding `pointer_name` (replacing the one before)."""
        if self.sale_utxo(pointer_name) == ref:
            return
        self.forget_sale_utxo(pointer_name)
        self._session.execute(
            dialect_insert(self._session, MonitorUtxoRow)
            .values(
                tx_hash=ref[0].hex(),
                output_index=ref[1],
                role="sale",
                pointer_asset_name=pointer_name.hex(),
                reason=None,
                seen_at=check_aware("now", now),
            )
            .on_conflict_do_nothing()
        )

    def forget_sale_utxo(self, pointer_name: bytes) -> None:
        self._session.execute(
            delete(MonitorUtxoRow).where(
                MonitorUtxoRow.role == "sale",
                MonitorUtxoRow.pointer_asset_name == pointer_name.hex(),
            )
        )

    # skipped queue UTxOs

    def skip(self, ref: OutRef, reason: str, *, now: datetime) -> bool:
        """Remember a queue UTxO that is not a well-formed order; True the first time."""
        stmt = (
            dialect_insert(self._session, MonitorUtxoRow)
            .values(
                tx_hash=ref[0].hex(),
                output_index=ref[1],
                role="skipped",
                pointer_asset_name=None,
                reason=reason,
                seen_at=check_aware("now", now),
            )
            .on_conflict_do_nothing()
            .returning(MonitorUtxoRow.tx_hash)
        )
        return self._session.execute(stmt).first() is not None

    def skipped(self) -> dict[OutRef, str]:
        rows = self._session.execute(
            select(MonitorUtxoRow.tx_hash, MonitorUtxoRow.output_index, MonitorUtxoRow.reason)
            .where(MonitorUtxoRow.role == "skipped")
            .order_by(MonitorUtxoRow.seen_at)
        )
        return {OutRef(bytes.fromhex(h), ix): reason or "" for h, ix, reason in rows}

    def forget_skipped(self, refs: Iterable[OutRef]) -> None:
        for tx_hash, ix in refs:
            self._session.execute(
                delete(MonitorUtxoRow).where(
                    and_(
                        MonitorUtxoRow.role == "skipped",
                        MonitorUtxoRow.tx_hash == tx_hash.hex(),
                        MonitorUtxoRow.output_index == ix,
                    )
                )
            )

    # issued transactions confirmed recently

    def add_confirmation(self, tx_id: str, block_height: int, *, now: datetime) -> None:
        self._session.execute(
            dialect_insert(self._session, MonitorConfirmationRow)
            .values(tx_id=tx_id, block_height=block_height, confirmed_at=check_aware("now", now))
            .on_conflict_do_nothing()
        )

    def confirmations(self) -> list[tuple[str, int]]:
        rows = self._session.execute(
            select(MonitorConfirmationRow.tx_id, MonitorConfirmationRow.block_height).order_by(
                MonitorConfirmationRow.block_height
            )
        )
        return [(tx_id, height) for tx_id, height in rows]

    def drop_confirmation(self, tx_id: str) -> None:
        self._session.execute(
            delete(MonitorConfirmationRow).where(MonitorConfirmationRow.tx_id == tx_id)
        )

    def prune_confirmations(self, below_height: int) -> int:
        """Forget confirmations deeper than a rollback can reach."""
        result = self._session.execute(
            delete(MonitorConfirmationRow).where(MonitorConfirmationRow.block_height < below_height)
        )
        return int(getattr(result, "rowcount", 0))
