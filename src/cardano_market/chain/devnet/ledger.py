"""The devnet ledger: validate transactions as the Conway ledger does, apply them to a SQLite file.

Slots follow the wall clock (a configurable system start and slot length, like a real network's
slot configuration) plus an offset that `advance` moves forward, persisted so a restart keeps the
chain's time. Each accepted transaction goes into a new block (or, with `block_on_submit=False`,
waits in the mempool for the next block); reading the tip also cuts a block when time has moved,
so confirmations deepen as a real chain's do. Plutus scripts run in the `plutus` module (uplc),
imported only when a transaction carries redeemers: a simple payment never loads it.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ...domain.cbor import encode_head
from ...domain.cip30 import OutRef, Utxo
from ...domain.errors import CborError
from ...domain.outputs import TxOutput
from ...domain.params import ProtocolParameters, default_parameters
from ...domain.slots import SlotConfig
from ...ledger.exunits import ExUnits, RedeemerKey
from ...ledger.parse import ParsedTx, parse_transaction
from ..base import ChainError, EvaluationError, SubmitError, Tip, TxState, TxStatus
from .rules import Resolved, RuleContext, check_phase_one, collateral_balance, resolve
from .store import Store, TxRecord

DEFAULT_EPOCH_LENGTH = 432_000  # slots (five days of one-second slots, as on mainnet)


class Evaluator(Protocol):
    """Runs a transaction's Plutus scripts; ex-units used per redeemer, or raises EvaluationError.

    With `enforce_budget` each script runs within its redeemer's declared ex-units (the ledger's
    check); without, within the transaction limit (the `evaluate` endpoint, where declared units
    are placeholders). An EvaluationError's `rule` attribute, when set, names the ledger rule.
    """

    def __call__(
        self,
        tx: bytes,
        resolved: Mapping[OutRef, Utxo],
        params: ProtocolParameters,
        slot_config: SlotConfig,
        *,
        enforce_budget: bool = True,
    ) -> dict[RedeemerKey, ExUnits]: ...


class PlutusUnavailableError(ChainError):
    """The transaction runs Plutus scripts but the evaluator (`devnet.plutus`, uplc) is missing."""


def plutus_evaluator(
    tx: bytes,
    resolved: Mapping[OutRef, Utxo],
    params: ProtocolParameters,
    slot_config: SlotConfig,
    *,
    enforce_budget: bool = True,
) -> dict[RedeemerKey, ExUnits]:
    """The default evaluator: `devnet.plutus.evaluate_scripts` (uplc), run in the deep-stack
    child process (`_deep_stack`): uplc recurses once per term, and the serving process never
    raises its recursion limit."""
    from ...contracts._deep_stack import DeepStackError, deep_call

    try:
        outcome = deep_call(
            _evaluate_in_child, bytes(tx), dict(resolved), params, slot_config, enforce_budget
        )
    except DeepStackError as exc:
        raise EvaluationError(f"ScriptContextError: {exc}") from exc
    if isinstance(outcome, _ChildFailure):
        raise outcome.exception()
    return outcome


@dataclass(frozen=True, slots=True)
class _ChildFailure:
    """An evaluation error as data: its class name and fields (they cross a process boundary)."""

    kind: str
    message: str
    trace: tuple[str, ...] = ()
    rule: str | None = None
    key: RedeemerKey | None = None

    def exception(self) -> ChainError:
        if self.kind == "PlutusUnavailableError":
            return PlutusUnavailableError(self.message)
        if self.kind == "EvaluationError":
            return EvaluationError(self.message, self.trace)
        from . import plutus_scripts

        cls = getattr(plutus_scripts, self.kind, plutus_scripts.PlutusEvaluationError)
        error: EvaluationError = cls(self.message, self.trace, rule=self.rule, key=self.key)
        return error


def _evaluate_in_child(
    tx: bytes,
    resolved: Mapping[OutRef, Utxo],
    params: ProtocolParameters,
    slot_config: SlotConfig,
    enforce_budget: bool,
) -> dict[RedeemerKey, ExUnits] | _ChildFailure:
    try:
        from .plutus import evaluate_scripts
        from .plutus_scripts import PlutusEvaluationError
    except ImportError as exc:
        return _ChildFailure(
            "PlutusUnavailableError",
            "this transaction runs Plutus scripts, but the devnet's Plutus evaluator "
            f"(cardano_market.chain.devnet.plutus, built on uplc) cannot run: {exc}",
        )
    try:
        return evaluate_scripts(tx, resolved, params, slot_config, enforce_budget=enforce_budget)
    except PlutusEvaluationError as exc:
        return _ChildFailure(
            type(exc).__name__, str(exc), tuple(exc.trace), rule=exc.rule, key=exc.key
        )
    except EvaluationError as exc:
        return _ChildFailure("EvaluationError", str(exc), tuple(exc.trace))
    except RecursionError:
        return _ChildFailure(
            "ScriptContextError",
            "a script or datum is nested too deeply to evaluate",
            rule="MalformedScriptWitnesses",
        )


_REMEMBERED_SCRIPT_RUNS = 256
"""Script runs the ledger remembers (by transaction id, script witnesses and spent outputs)."""


def _script_inputs_digest(tx: ParsedTx, resolved: Mapping[OutRef, Utxo]) -> bytes:
    """What a transaction's scripts see besides its body: the witnessed scripts, datums and
    redeemers exactly as written (a body alone would pin them only once phase 1 has checked the
    script data hash, which `evaluate` does not), and the outputs it spends and references."""
    digest = hashlib.blake2b(digest_size=32)
    for version, script in tx.plutus_scripts:
        digest.update(bytes([version]) + len(script).to_bytes(4, "big") + script)
    for raw in (tx.datums_raw, tx.redeemers_raw):
        digest.update(b"\x00" if raw is None else len(raw).to_bytes(4, "big") + raw)
    for ref in sorted(resolved):
        digest.update(ref[0] + ref[1].to_bytes(4, "big") + resolved[ref].output_cbor)
    return digest.digest()


class Ledger:
    """An in-process Conway ledger persisted to `path` (":memory:" for a throwaway one)."""

    def __init__(
        self,
        path: str | Path,
        *,
        params: ProtocolParameters | None = None,
        network_id: int = 0,
        system_start_ms: int | None = None,
        slot_length_ms: int = 1000,
        epoch_length: int = DEFAULT_EPOCH_LENGTH,
        clock: Callable[[], float] = time.time,
        evaluator: Evaluator | None = None,
        block_on_submit: bool = True,
    ) -> None:
        self.params = params if params is not None else default_parameters()
        self.network_id = network_id
        self.epoch_length = epoch_length
        self.block_on_submit = block_on_submit
        self._clock = clock
        self._evaluator: Evaluator = evaluator if evaluator is not None else plutus_evaluator
        self._slot_length_ms = slot_length_ms
        self._fixed_start = system_start_ms
        self._views: dict[frozenset[int], bytes] = {}
        self._script_runs: OrderedDict[tuple[bytes, bytes], dict[RedeemerKey, ExUnits]] = (
            OrderedDict()
        )
        self.store = Store(path)
        with self.store.write():
            self._init_meta()

    @property
    def path(self) -> str:
        return self.store.path

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- time -------------------------------------------------------------------------------------

    def _init_meta(self) -> None:
        start = self.store.meta("system_start_ms")
        if self._fixed_start is not None and start != self._fixed_start:
            self.store.set_meta("system_start_ms", self._fixed_start)
        elif start is None:
            self.store.set_meta("system_start_ms", int(self._clock()) * 1000)
        if self.store.meta("slot_offset") is None:
            self.store.set_meta("slot_offset", 0)

    @property
    def slot_config(self) -> SlotConfig:
        start = self.store.meta("system_start_ms")
        assert start is not None  # set at construction
        return SlotConfig(zero_time_ms=start, zero_slot=0, slot_length_ms=self._slot_length_ms)

    def current_slot(self) -> int:
        """The wall clock's slot plus the persisted `advance` offset."""
        config = self.slot_config
        offset = self.store.meta("slot_offset") or 0
        return max(config.posix_ms_to_slot(int(self._clock() * 1000)), 0) + offset

    def advance(self, slots: int) -> Tip:
        """Move the chain's time forward by `slots` (tests, demos); cuts a block at the new slot."""
        if slots < 0:
            raise ValueError("the devnet's time only moves forward")
        with self.store.write():
            self.store.set_meta("slot_offset", (self.store.meta("slot_offset") or 0) + slots)
            self.store.add_block(self.current_slot())
        return self.tip()

    def tip(self) -> Tip:
        """The newest block; one is cut first (confirming the mempool) when the slot moved on."""
        with self.store.write():
            slot = self.current_slot()
            height, last_slot = self.store.last_block()
            if slot > last_slot:
                height = self.store.add_block(slot)
        return Tip(
            slot=slot,
            time_ms=self.slot_config.slot_to_posix_ms(slot),
            epoch=slot // self.epoch_length,
            block_height=height,
        )

    def produce_block(self) -> int:
        """Cut a block now (confirming the mempool); its height."""
        with self.store.write():
            return self.store.add_block(self.current_slot())

    # -- state ------------------------------------------------------------------------------------

    def reset(self) -> None:
        """Start over: no UTxOs, no transactions, no blocks, time back to the wall clock."""
        self.store.clear()
        with self.store.write():
            self._init_meta()

    def genesis(self, outputs: Iterable[TxOutput | Utxo]) -> list[Utxo]:
        """Seed funds, in the order given. A `TxOutput` lands in a fresh genesis transaction (one
        per call); a `Utxo` keeps its own reference (e.g. a fixture wallet's UTxOs)."""
        items = list(outputs)
        with self.store.write():
            slot = self.current_slot()
            seeded = {
                i: self._seed_utxo(item, slot)
                for i, item in enumerate(items)
                if isinstance(item, Utxo)
            }
            fresh = [i for i, item in enumerate(items) if not isinstance(item, Utxo)]
            if fresh:
                encoded = [items[i].to_cbor() for i in fresh]
                seeded.update(zip(fresh, self._genesis_tx(encoded, slot), strict=True))
            self.store.add_block(slot)
        return [seeded[i] for i in range(len(items))]

    def republish(self, ref: OutRef, output: TxOutput) -> Utxo:
        """An operator's update of an output no transaction can spend (the oracle's price feed):
        `ref` leaves the UTxO set and `output` arrives in a fresh genesis transaction, in one
        block. ChainError when `ref` is not unspent."""
        with self.store.write():
            if self.store.utxo(ref) is None:
                raise ChainError(f"republish: {ref[0].hex()}#{ref[1]} is not an unspent output")
            slot = self.current_slot()
            self.store.spend([ref])
            (utxo,) = self._genesis_tx([output.to_cbor()], slot)
            self.store.add_block(slot)
        return utxo

    def _seed_utxo(self, utxo: Utxo, slot: int) -> Utxo:
        if self.store.utxo(utxo.out_ref) is not None:
            raise ChainError(f"genesis: {utxo.tx_hash.hex()}#{utxo.index} already exists")
        known = self.store.transaction(utxo.tx_hash)
        if known is not None and known.cbor:
            raise ChainError(f"genesis: {utxo.tx_hash.hex()} is an applied transaction's id")
        self.store.add_utxos([utxo])
        self.store.add_transaction(utxo.tx_hash, b"", slot, None, is_valid=True, fee=0)
        return utxo

    def _genesis_tx(self, outputs: list[bytes], slot: int) -> list[Utxo]:
        counter = (self.store.meta("genesis_counter") or 0) + 1
        self.store.set_meta("genesis_counter", counter)
        digest = hashlib.blake2b(digest_size=32)
        digest.update(b"cardano-market devnet genesis" + counter.to_bytes(8, "big"))
        for out in outputs:
            digest.update(out)
        tx_id = digest.digest()
        utxos = [
            Utxo.from_cbor(b"\x82\x82\x58\x20" + tx_id + encode_head(0, ix) + out)
            for ix, out in enumerate(outputs)
        ]
        self.store.add_utxos(utxos)
        self.store.add_transaction(tx_id, b"", slot, None, is_valid=True, fee=0)
        return utxos

    # -- reads ------------------------------------------------------------------------------------

    def utxo(self, ref: OutRef) -> Utxo | None:
        return self.store.utxo(ref)

    def utxos_by_ref(self, refs: Iterable[OutRef]) -> list[Utxo]:
        found = (self.store.utxo(ref) for ref in refs)
        return [u for u in found if u is not None]

    def utxos_at(self, address: bytes) -> list[Utxo]:
        return self.store.utxos_at(address)

    def transaction(self, tx_id: bytes) -> TxRecord | None:
        return self.store.transaction(tx_id)

    def transactions_from(self, height: int) -> list[TxRecord]:
        """Applied transactions in blocks at or above `height`, then the mempool's, in order.

        Genesis transactions (no body bytes) are left out. For the monitor's spend lookups.
        """
        store = self.store
        with store._lock:  # a read-only query the store has no method for
            rows = store._conn.execute(
                "SELECT tx_id, cbor, slot, block, is_valid, fee FROM transactions "
                "WHERE (block IS NULL OR block >= ?) AND length(cbor) > 0 "
                "ORDER BY block IS NULL, block, slot, rowid",
                (height,),
            ).fetchall()
        return [TxRecord(r[0], r[1], r[2], r[3], bool(r[4]), r[5]) for r in rows]

    def spender_of(self, ref: OutRef) -> TxRecord | None:
        """The applied transaction that spent `ref` (as input, or as collateral of a phase-2
        failure); None while `ref` is unspent or never existed."""
        if self.store.utxo(ref) is not None:
            return None
        created = self.store.transaction(ref[0])
        if created is None:
            return None
        for record in self.transactions_from(created.block or 0):
            if record.tx_id == ref[0]:
                continue
            parsed = parse_transaction(record.cbor)
            spent = parsed.inputs if parsed.is_valid else parsed.collateral
            if ref in spent:
                return record
        return None

    def tx_status(self, tx_id: bytes) -> TxStatus:
        record = self.store.transaction(tx_id)
        if record is None:
            return TxStatus(TxState.UNKNOWN)
        tip = self.tip()
        record = self.store.transaction(tx_id) or record  # the tip may have confirmed it
        if record.block is None:
            return TxStatus(TxState.IN_MEMPOOL, slot=record.slot)
        return TxStatus(
            TxState.CONFIRMED,
            depth=tip.block_height - record.block + 1,
            slot=record.slot,
            block_height=record.block,
        )

    # -- submit -----------------------------------------------------------------------------------

    def submit(self, tx: bytes) -> bytes:
        """Validate `tx` against every rule and apply it; its id. Resubmitting is a no-op."""
        parsed = self._parse(tx)
        with self.store.write():
            if self.store.transaction(parsed.tx_id) is not None:
                return parsed.tx_id  # already applied (same body): idempotent
            slot = self.current_slot()
            resolved = resolve(parsed, self.store.utxo)
            check_phase_one(parsed, resolved, self._context(slot))
            scripts_ok = True
            if parsed.redeemers:
                scripts_ok = self._run_scripts(parsed, resolved, must_pass=parsed.is_valid)
            elif not parsed.is_valid:
                raise SubmitError(
                    "ValidationTagMismatch: the transaction is marked invalid but runs no script",
                    rule="ValidationTagMismatch",
                )
            if scripts_ok and not parsed.is_valid:
                raise SubmitError(
                    "ValidationTagMismatch: the transaction is marked invalid but its scripts "
                    "succeed",
                    rule="ValidationTagMismatch",
                )
            self._apply(parsed, resolved, slot)
        return parsed.tx_id

    def validate(self, tx: bytes) -> bytes:
        """Run every rule without applying the transaction; its id."""
        parsed = self._parse(tx)
        with self.store.write():
            slot = self.current_slot()
            resolved = resolve(parsed, self.store.utxo)
            check_phase_one(parsed, resolved, self._context(slot))
            if parsed.redeemers:
                self._run_scripts(parsed, resolved, must_pass=True)
        return parsed.tx_id

    def evaluate(
        self, tx: bytes, additional_utxos: Sequence[Utxo] = ()
    ) -> dict[RedeemerKey, ExUnits]:
        """Ex-units per redeemer; `additional_utxos` resolve inputs not on the devnet yet.

        Scripts run within the transaction limit (declared units may be placeholders); a
        transaction that cannot be read or resolved raises EvaluationError naming the rule.
        """
        extra = {u.out_ref: u for u in additional_utxos}

        def lookup(ref: OutRef) -> Utxo | None:
            return extra.get(ref) or self.store.utxo(ref)

        try:
            parsed = self._parse(tx)
            resolved = resolve(parsed, lookup)
        except SubmitError as exc:
            raise EvaluationError(str(exc)) from exc
        return self._run_once(parsed, resolved.all(), enforce_budget=False)

    def _run_once(
        self, tx: ParsedTx, resolved: Mapping[OutRef, Utxo], *, enforce_budget: bool
    ) -> dict[RedeemerKey, ExUnits]:
        """The ex-units each redeemer's script used, remembered for the transaction's exact body
        and inputs: a builder evaluates the final bytes, then submits them signed, and the run
        (a pure function of body, witnessed scripts, datums and the spent outputs, never of vkey
        witnesses) need not be repeated. Budgets are checked by the caller against these units,
        so an earlier unbudgeted run answers a budgeted one."""
        key = (tx.tx_id, _script_inputs_digest(tx, resolved))
        used = self._script_runs.get(key)
        if used is None:
            used = self._evaluator(
                tx.raw, resolved, self.params, self.slot_config, enforce_budget=enforce_budget
            )
            self._script_runs[key] = used
            if len(self._script_runs) > _REMEMBERED_SCRIPT_RUNS:
                self._script_runs.popitem(last=False)
        return dict(used)

    def _parse(self, tx: bytes) -> ParsedTx:
        try:
            return parse_transaction(bytes(tx))
        except CborError as exc:
            raise SubmitError(f"DeserialiseFailure: {exc}", rule="DeserialiseFailure") from exc

    def _context(self, slot: int) -> RuleContext:
        return RuleContext(self.params, self.network_id, slot, self._views)

    def _run_scripts(self, tx: ParsedTx, resolved: Resolved, *, must_pass: bool) -> bool:
        """Phase 2: True when every script succeeds within its declared budget.

        A script failure rejects the transaction when it claims validity (`must_pass`); any other
        evaluation error (a transaction scripts cannot be shown) rejects it in every case.
        """
        try:
            used = self._run_once(tx, resolved.all(), enforce_budget=True)
        except EvaluationError as exc:
            rule = getattr(exc, "rule", None) or "ScriptFailure"
            if rule == "ScriptFailure" and not must_pass:
                return False
            raise SubmitError(f"{rule}: {exc}", rule=rule, trace=exc.trace) from exc
        for redeemer in tx.redeemers:
            units = used.get(redeemer.key)
            if units is not None and (units.mem > redeemer.mem or units.steps > redeemer.steps):
                if not must_pass:
                    return False
                raise SubmitError(
                    f"ScriptFailure: {redeemer.tag} {redeemer.index} used {units.mem} mem / "
                    f"{units.steps} steps, over its declared {redeemer.mem} / {redeemer.steps}",
                    rule="ScriptFailure",
                )
        return True

    def _apply(self, tx: ParsedTx, resolved: Resolved, slot: int) -> None:
        if tx.is_valid:
            self.store.spend(tx.inputs)
            self.store.add_utxos(tx.outputs)
            fee = tx.fee
        else:  # phase-2 failure: the collateral pays, the collateral return is created
            self.store.spend(tx.collateral)
            if tx.collateral_return is not None:
                self.store.add_utxos([tx.collateral_return])
            fee = collateral_balance(tx, resolved)[0]
        self.store.add_transaction(tx.tx_id, tx.raw, slot, None, is_valid=tx.is_valid, fee=fee)
        if self.block_on_submit:
            self.store.add_block(slot)  # takes the transaction out of the mempool
