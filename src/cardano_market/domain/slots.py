"""Slots and POSIX time."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SlotConfig:
    """Slots to POSIX time: `zero_slot` starts at `zero_time_ms`, each lasts `slot_length_ms`.

    The same shape as Plutus' and Blockfrost's slot configuration; Plutus scripts see validity
    intervals as POSIX milliseconds computed with it.
    """

    zero_time_ms: int
    zero_slot: int = 0
    slot_length_ms: int = 1000

    def slot_to_posix_ms(self, slot: int) -> int:
        return self.zero_time_ms + (slot - self.zero_slot) * self.slot_length_ms

    def posix_ms_to_slot(self, time_ms: int) -> int:
        """The slot containing `time_ms` (floor)."""
        return self.zero_slot + (time_ms - self.zero_time_ms) // self.slot_length_ms
