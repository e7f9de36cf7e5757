"""Scripts as the ledger sees them: language tags, script references, hashes, sizes.

A script hash is blake2b-224 over a language byte (0 native, 1/2/3 Plutus V1/V2/V3) and the
script's bytes: a native script's exact CBOR, a Plutus script's serialized program (the content of
its CBOR byte string). The same bytes are what the Conway reference-script fee counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import cbor2

from ..domain.cbor import split_array
from ..domain.errors import CborError
from ..domain.hashes import script_hash

NATIVE, PLUTUS_V1, PLUTUS_V2, PLUTUS_V3 = 0, 1, 2, 3
"""Script language tags: the hash prefix byte and the script-reference type."""

LANGUAGE_NAMES = {
    NATIVE: "native",
    PLUTUS_V1: "PlutusV1",
    PLUTUS_V2: "PlutusV2",
    PLUTUS_V3: "PlutusV3",
}


@dataclass(frozen=True, slots=True)
class Script:
    language: int  # 0 native, 1..3 Plutus version
    body: bytes  # native: the script's exact CBOR; Plutus: the serialized program bytes

    @property
    def hash(self) -> bytes:
        return script_hash(self.language, self.body)

    @property
    def is_plutus(self) -> bool:
        return self.language != NATIVE

    @property
    def size(self) -> int:
        """The size the reference-script fee counts."""
        return len(self.body)


def script_from_ref(script_ref: bytes) -> Script:
    """The script of an output's script reference `[type, script]` (the CBOR inside tag 24)."""
    try:
        spans, end = split_array(script_ref)
        if end != len(script_ref) or len(spans) != 2:
            raise CborError("a script reference must be [type, script]")
        language = cbor2.loads(script_ref[spans[0][0] : spans[0][1]])
        second = script_ref[spans[1][0] : spans[1][1]]
        if language == NATIVE:
            return Script(NATIVE, second)
        if language in (1, 2, 3):
            body = cbor2.loads(second)
            if isinstance(body, bytes):
                return Script(language, body)
    except CborError:
        raise
    except Exception as exc:  # cbor2 raises several types for malformed input
        raise CborError(f"malformed script reference: {exc}") from exc
    raise CborError("a script reference must be [0, native script] or [1..3, bytes]")
