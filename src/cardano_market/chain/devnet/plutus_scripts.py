"""Plutus scripts as the ledger stores them (wrapping, reference scripts, hashes) and the errors of
evaluating them: shared by the evaluator (`plutus`) and the script context it builds."""

from __future__ import annotations

from collections.abc import Sequence

import cbor2

from ...domain.cbor import item_end
from ...domain.errors import CborError
from ...domain.hashes import script_hash
from ...ledger.exunits import RedeemerKey
from ...ledger.scripts import NATIVE, script_from_ref
from ..base import EvaluationError

# -- errors ---------------------------------------------------------------------------------------


class PlutusEvaluationError(EvaluationError):
    """Scripts could not run or did not pass; `rule` names the ledger rule, `key` the redeemer."""

    default_rule = "ScriptFailure"

    def __init__(
        self,
        message: str,
        trace: Sequence[str] = (),
        *,
        rule: str | None = None,
        key: RedeemerKey | None = None,
    ) -> None:
        super().__init__(message, trace)
        self.rule = rule or self.default_rule
        self.key = key


class ScriptFailure(PlutusEvaluationError):
    """A script failed (error term, builtin failure, non-unit result) or ran over its budget."""


class ScriptContextError(PlutusEvaluationError):
    """The transaction cannot be shown to a script (missing input, datum or script, bad item)."""

    default_rule = "ScriptContextError"


class UnsupportedScriptError(PlutusEvaluationError):
    """A redeemer runs a Plutus V1 or V2 script: the devnet evaluates Plutus V3 only."""

    default_rule = "UnsupportedPlutusVersion"


# -- script bytes and hashes ----------------------------------------------------------------------


def script_cbor(script: bytes) -> bytes:
    """The script as the ledger stores it: one CBOR byte string wrapping the flat program.

    Accepts that form, the doubly wrapped form of a `.plutus` file's `cborHex` (what a witness
    set holds), or bare flat bytes (which never start with a CBOR byte-string head).
    """
    if _is_bytestring(script):
        inner = cbor2.loads(script)
        return inner if _is_bytestring(inner) else script
    return cbor2.dumps(script)


def flat_bytes(script: bytes) -> bytes:
    """The flat-encoded program inside a script in any of the forms `script_cbor` accepts."""
    inner: bytes = cbor2.loads(script_cbor(script))
    return inner


def read_script_ref(script_ref: bytes) -> tuple[int, bytes]:
    """(language, script) of a script reference's CBOR `[type, script]` (inside tag 24).

    A native script comes back as its exact CBOR; a Plutus script singly wrapped, as stored.
    """
    try:
        script = script_from_ref(script_ref)
    except CborError as exc:
        raise ScriptContextError(str(exc), rule="MalformedReferenceScripts") from exc
    if script.language == NATIVE:
        return NATIVE, script.body
    return script.language, ledger_script(script.body, "a reference script")


def ledger_script(script: bytes, where: str = "script") -> bytes:
    """`script` itself when it is in the ledger's form (one CBOR byte string around flat bytes).

    The ledger hashes and decodes a witness or reference script exactly as written, so unlike
    `script_cbor` nothing is unwrapped or wrapped here: any other form is malformed.
    """
    if _is_bytestring(script) and not _is_bytestring(cbor2.loads(script)):
        return script
    raise ScriptContextError(
        f"{where} must be a CBOR byte string holding the flat program",
        rule="MalformedScriptWitnesses",
    )


def script_ref_hash(script_ref: bytes) -> bytes:
    """The hash of the script in a script reference."""
    kind, script = read_script_ref(script_ref)
    return script_hash(kind, script)


def _is_bytestring(data: bytes) -> bool:
    if not data or data[0] >> 5 != 2:
        return False
    try:
        return item_end(data) == len(data)
    except CborError:
        return False


# -- cost models ----------------------------------------------------------------------------------
