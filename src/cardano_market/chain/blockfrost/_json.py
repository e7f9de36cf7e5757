"""Blockfrost JSON to the domain's types, and our UTxOs to the Ogmios JSON Blockfrost evaluates.

A Blockfrost UTxO becomes a `Utxo` whose output CBOR is what the ledger would write for it: the
post-Alonzo map when it carries an inline datum or a reference script, the legacy array otherwise
(`TxOutput.to_cbor`). The inline datum and the script bytes are embedded exactly as Blockfrost
gives them (never re-encoded), and every script is checked against its hash before it is used.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import cbor2

from ...domain import hashes
from ...domain.address import decode_address, encode_address
from ...domain.cbor import encode_head, item_end
from ...domain.cip30 import Utxo
from ...domain.errors import MarketError
from ...domain.outputs import TxOutput
from ...domain.values import Value, asset_from_unit
from ...ledger.exunits import ExUnits, RedeemerKey
from ...ledger.parse import transaction_id as ledger_transaction_id
from ..base import ChainError, EvaluationError, SubmitError

SCRIPT_HASH_SIZE = 28
PLUTUS_LANGUAGES = {"plutusV1": 1, "plutusV2": 2, "plutusV3": 3}
"""Blockfrost's script `type` -> the ledger's script-reference language tag."""

ScriptRefLookup = Callable[[str], bytes]
"""Script hash (hex) -> the script reference's CBOR `[language, script]`."""


class MalformedResponseError(ChainError):
    """A Blockfrost answer that does not have the shape its endpoint documents."""


# -- UTxOs ----------------------------------------------------------------------------------------


def value_from_amount(amount: Any, where: str) -> Value:
    """`[{"unit": "lovelace" | policy+name hex, "quantity": "<int>"}, ...]` as a Value."""
    if not isinstance(amount, list):
        raise MalformedResponseError(f"{where}: amount must be a list")
    coin = 0
    assets: dict[tuple[bytes, bytes], int] = {}
    for i, entry in enumerate(amount):
        try:
            unit, quantity = entry["unit"], int(entry["quantity"])
            if unit == "lovelace":
                coin += quantity
            else:
                asset = asset_from_unit(unit)
                assets[asset] = assets.get(asset, 0) + quantity
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedResponseError(f"{where}: amount[{i}] is malformed ({exc!r})") from exc
    try:
        return Value.of(coin, assets)
    except MarketError as exc:
        raise MalformedResponseError(f"{where}: {exc}") from exc


def utxo_from_blockfrost(
    entry: Mapping[str, Any],
    script_ref_of: ScriptRefLookup,
    *,
    tx_hash: str | None = None,
    where: str = "utxo",
) -> Utxo:
    """A Utxo from one entry of `/addresses/{a}/utxos` (or an output of `/txs/{h}/utxos`).

    `tx_hash` is given for `/txs/{h}/utxos` outputs, which do not repeat it.
    """
    try:
        raw_hash = tx_hash if tx_hash is not None else entry["tx_hash"]
        out_hash = bytes.fromhex(raw_hash)
        index = entry["output_index"]
        address = decode_address(entry["address"])
        inline_hex = entry.get("inline_datum")
        datum_hash_hex = entry.get("data_hash")
        script_hash_hex = entry.get("reference_script_hash")
    except (KeyError, TypeError, ValueError, MarketError) as exc:
        raise MalformedResponseError(f"{where}: {exc!r}") from exc
    if len(out_hash) != 32 or isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise MalformedResponseError(f"{where}: bad transaction hash or output index")
    where = f"{where} {raw_hash}#{index}"
    value = value_from_amount(entry.get("amount"), where)
    inline = _hex(inline_hex, where, "inline_datum") if inline_hex is not None else None
    datum_hash = _hex(datum_hash_hex, where, "data_hash") if datum_hash_hex is not None else None
    if datum_hash is not None and len(datum_hash) != 32:
        raise MalformedResponseError(f"{where}: data_hash must be 32 bytes")
    if inline is not None:
        _check_one_item(inline, where, "inline_datum")
        if datum_hash is not None and hashes.datum_hash(inline) != datum_hash:
            raise MalformedResponseError(f"{where}: data_hash is not the hash of inline_datum")
        datum_hash = None  # the output carries the datum itself, not a hash option
    script_ref = script_ref_of(script_hash_hex) if script_hash_hex is not None else None
    output = TxOutput(address, value, inline, datum_hash, script_ref).to_cbor()
    return Utxo(out_hash, index, address, value, output, datum_hash, inline, script_ref)


def _hex(text: Any, where: str, field: str) -> bytes:
    if not isinstance(text, str):
        raise MalformedResponseError(f"{where}: {field} must be a hex string")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise MalformedResponseError(f"{where}: {field} is not hex") from None


def _check_one_item(data: bytes, where: str, field: str) -> None:
    try:
        end = item_end(data)
    except MarketError as exc:
        raise MalformedResponseError(f"{where}: {field} is not CBOR ({exc})") from exc
    if end != len(data):
        raise MalformedResponseError(f"{where}: {field} has bytes after its CBOR item")


# -- scripts --------------------------------------------------------------------------------------


def plutus_script_ref(script_hash: str, language: int, cbor_hex: Any) -> bytes:
    """`[language, script]` for a Plutus script from `/scripts/{hash}/cbor`, checked by its hash.

    The script bytes are those whose blake2b-224 with the language prefix is the script hash (a
    CBOR byte string around the flat program). Blockfrost usually answers with exactly them; if
    the answer is wrapped in one more CBOR byte string, the inner bytes are used instead.
    """
    where = f"script {script_hash}"
    raw = _hex(cbor_hex, where, "cbor")
    expected = _script_hash(script_hash, where)
    for candidate in _unwrapped(raw):
        if hashes.script_hash(language, candidate) == expected:
            return b"\x82" + encode_head(0, language) + encode_head(2, len(candidate)) + candidate
    raise MalformedResponseError(
        f"{where}: the CBOR Blockfrost returned does not hash to the script hash"
    )


def _unwrapped(raw: bytes) -> list[bytes]:
    candidates = [raw]
    try:
        inner = cbor2.loads(raw)
    except Exception:  # cbor2 raises several types for malformed input
        return candidates
    if isinstance(inner, bytes) and item_end(raw) == len(raw):
        candidates.append(inner)
    return candidates


def native_script_ref(script_hash: str, script_json: Any) -> bytes:
    """`[0, native_script]` from `/scripts/{hash}/json` (cardano-cli JSON), checked by its hash."""
    where = f"script {script_hash}"
    expected = _script_hash(script_hash, where)
    body = native_script_cbor(script_json, where)
    if hashes.script_hash(0, body) != expected:
        raise MalformedResponseError(
            f"{where}: the native script rebuilt from its JSON does not hash to the script hash"
        )
    return b"\x82\x00" + body


def native_script_cbor(script: Any, where: str = "native script") -> bytes:
    """CBOR of a native script in cardano-cli's JSON form: sig, all, any, atLeast, after, before."""
    return cbor2.dumps(_native(script, where))


def _native(script: Any, where: str) -> list[Any]:
    if not isinstance(script, dict):
        raise MalformedResponseError(f"{where}: a native script must be an object")
    kind = script.get("type")
    try:
        if kind == "sig":
            key_hash = bytes.fromhex(script["keyHash"])
            if len(key_hash) != SCRIPT_HASH_SIZE:
                raise ValueError("keyHash must be 28 bytes")
            return [0, key_hash]
        if kind in ("all", "any"):
            subs = [_native(s, where) for s in script["scripts"]]
            return [1 if kind == "all" else 2, subs]
        if kind == "atLeast":
            subs = [_native(s, where) for s in script["scripts"]]
            return [3, int(script["required"]), subs]
        if kind == "after":
            return [4, int(script["slot"])]
        if kind == "before":
            return [5, int(script["slot"])]
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedResponseError(f"{where}: {kind} clause is malformed ({exc!r})") from exc
    raise MalformedResponseError(f"{where}: unknown native script type {kind!r}")


def _script_hash(script_hash: str, where: str) -> bytes:
    try:
        expected = bytes.fromhex(script_hash)
    except (TypeError, ValueError):
        raise MalformedResponseError(f"{where}: the script hash is not hex") from None
    if len(expected) != SCRIPT_HASH_SIZE:
        raise MalformedResponseError(f"{where}: a script hash is {SCRIPT_HASH_SIZE} bytes")
    return expected


# -- evaluation -----------------------------------------------------------------------------------


def ogmios_utxo(utxo: Utxo) -> list[dict[str, Any]]:
    """One `additionalUtxoSet` entry, `[TxIn, TxOut]` in the Ogmios v5 shape Blockfrost takes."""
    assets: dict[str, int] = {}
    for (policy, name), quantity in utxo.value.assets.items():
        assets[policy.hex() + ("." + name.hex() if name else "")] = quantity
    value: dict[str, Any] = {"coins": utxo.value.coin}
    if assets:
        value["assets"] = assets
    out: dict[str, Any] = {"address": encode_address(utxo.address), "value": value}
    if utxo.inline_datum is not None:
        out["datum"] = utxo.inline_datum.hex()
    elif utxo.datum_hash is not None:
        out["datumHash"] = utxo.datum_hash.hex()
    if utxo.script_ref is not None:
        out["script"] = _ogmios_script(utxo)
    return [{"txId": utxo.tx_hash.hex(), "index": utxo.index}, out]


def _ogmios_script(utxo: Utxo) -> dict[str, str]:
    assert utxo.script_ref is not None
    try:
        language, script = cbor2.loads(utxo.script_ref)
    except Exception as exc:  # cbor2 raises several types for malformed input
        raise ChainError(f"utxo {utxo.tx_hash.hex()}#{utxo.index}: bad script reference") from exc
    if language in (1, 2, 3) and isinstance(script, bytes):
        return {f"plutus:v{language}": script.hex()}
    raise ChainError(
        f"utxo {utxo.tx_hash.hex()}#{utxo.index}: a native reference script cannot be passed "
        "to Blockfrost's evaluator as an additional UTxO"
    )


_PURPOSES = {
    "spend": "spend",
    "mint": "mint",
    "certificate": "cert",
    "publish": "cert",
    "cert": "cert",
    "withdrawal": "reward",
    "withdraw": "reward",
    "reward": "reward",
    "vote": "vote",
    "propose": "propose",
}


def parse_evaluation(body: Any) -> dict[RedeemerKey, ExUnits]:
    """Ex-units per redeemer from an Ogmios v5 (jsonwsp) or v6 (JSON-RPC) evaluation answer.

    A script failure, an evaluation error or a fault raises EvaluationError with the node's words
    and any script traces; an answer of neither shape raises MalformedResponseError.
    """
    if not isinstance(body, dict):
        raise MalformedResponseError("evaluation answer must be a JSON object")
    if "fault" in body:
        raise EvaluationError(f"evaluation fault: {_compact(body['fault'])}", _traces(body))
    if "error" in body:  # Ogmios v6
        error = body["error"]
        message = error.get("message") if isinstance(error, dict) else None
        raise EvaluationError(
            f"evaluation failed: {message or 'error'}: {_compact(error)}", _traces(error)
        )
    result = body.get("result")
    if isinstance(result, list):  # Ogmios v6
        return _v6_result(result)
    if isinstance(result, dict):
        if "EvaluationFailure" in result:
            failure = result["EvaluationFailure"]
            raise EvaluationError(f"evaluation failed: {_compact(failure)}", _traces(failure))
        if isinstance(result.get("EvaluationResult"), dict):
            return _v5_result(result["EvaluationResult"])
    raise MalformedResponseError(f"evaluation answer has no result: {_compact(body)}")


def _v5_result(result: Mapping[str, Any]) -> dict[RedeemerKey, ExUnits]:
    out: dict[RedeemerKey, ExUnits] = {}
    for pointer, budget in result.items():
        purpose, _, index = pointer.partition(":")
        try:
            key = (_PURPOSES[purpose], int(index))
            out[key] = ExUnits(_budget_int(budget["memory"]), _budget_int(budget["steps"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedResponseError(f"evaluation result {pointer!r} is malformed") from exc
    return out


def _v6_result(result: Sequence[Any]) -> dict[RedeemerKey, ExUnits]:
    out: dict[RedeemerKey, ExUnits] = {}
    for i, item in enumerate(result):
        try:
            validator, budget = item["validator"], item["budget"]
            key = (_PURPOSES[validator["purpose"]], int(validator["index"]))
            out[key] = ExUnits(_budget_int(budget["memory"]), _budget_int(budget["cpu"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedResponseError(f"evaluation result [{i}] is malformed") from exc
    return out


def _budget_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"budget must be a non-negative integer, got {value!r}")
    return value


def _traces(obj: Any) -> list[str]:
    """Every string under a `traces` key, in order, however deep the failure nests it."""
    found: list[str] = []
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key == "traces" and isinstance(value, list):
                found.extend(str(v) for v in value)
            else:
                found.extend(_traces(value))
    elif isinstance(obj, list):
        for value in obj:
            found.extend(_traces(value))
    return found


def _compact(obj: Any, limit: int = 2000) -> str:
    text = json.dumps(obj, separators=(",", ":"), sort_keys=True)
    return text if len(text) <= limit else text[:limit] + "..."


# -- transactions ---------------------------------------------------------------------------------


def transaction_id(tx: bytes) -> bytes:
    """blake2b-256 of the exact body bytes of a serialized transaction `[body, witnesses, ...]`."""
    if not tx or tx[0] not in (0x83, 0x84):
        raise SubmitError("transaction bytes must be a CBOR array [body, witness set, ...]")
    try:
        return ledger_transaction_id(tx)
    except MarketError as exc:
        raise SubmitError(f"transaction bytes are not well-formed CBOR: {exc}") from exc


def rejection_rule(message: str) -> str | None:
    """The first ledger rule a node's rejection names (e.g. "BadInputsUTxO"), if any."""
    for word in _RULE_TOKENS.findall(message):
        if word.endswith(_RULE_SUFFIXES) or word in _RULE_NAMES:
            return str(word)
    return None


_RULE_SUFFIXES = ("UTxO", "UTXO", "UTXOW", "UTxOW")
_RULE_NAMES = frozenset(
    {
        "InsufficientCollateral",
        "PPViewHashesDontMatch",
        "ScriptFailure",
        "MissingRequiredDatums",
        "ExtraRedeemers",
        "MissingRedeemers",
        "ScriptsNotPaidUTxO",
        "CollateralContainsNonADA",
        "TooManyCollateralInputs",
        "NoCollateralInputs",
    }
)
_RULE_TOKENS = re.compile(r"\b[A-Z][A-Za-z]+\b")
