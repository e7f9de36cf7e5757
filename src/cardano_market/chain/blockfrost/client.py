"""The Blockfrost backend: `ChainBackend` for preview, preprod and mainnet over Blockfrost's API.

Built on httpx (blockfrost-python has no session, timeout, retry or 429 handling). Requests go
through a token bucket (10/s, burst 500) and bounded jittered retries (`_http`); answers become the
domain's types (`_json`). Protocol parameters are cached per epoch, the tip for a few
seconds, scripts by hash for good. Submission is never blindly retried: after an ambiguous failure
the transaction is looked up first, so the same transaction is not sent twice.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal, Self

import httpx

from ...domain import hashes
from ...domain.address import encode_address
from ...domain.cip30 import OutRef, Utxo
from ...domain.datums import OracleDatum
from ...domain.errors import MarketError
from ...domain.params import ProtocolParameters
from ...domain.slots import SlotConfig
from ...domain.values import AssetId, unit_of
from ...ledger.exunits import ExUnits, RedeemerKey
from ..base import (
    ChainError,
    ChainTransaction,
    OraclePrice,
    SubmitError,
    Tip,
    TxState,
    TxStatus,
    chain_transaction,
)
from . import _json as bf
from ._http import (
    RETRYABLE_STATUSES,
    TIMEOUT,
    TRANSPORT_ERROR,
    BlockfrostHttp,
    Clock,
    NotFoundError,
    OnRetry,
    RetriesExhaustedError,
    RetryPolicy,
    Sleep,
    StatusError,
    TokenBucket,
    error_message,
    parse_json,
    retry_after_seconds,
    status_reason,
)

log = logging.getLogger(__name__)

Network = Literal["mainnet", "preprod", "preview"]

BASE_URLS: dict[str, str] = {
    "mainnet": "https://cardano-mainnet.blockfrost.io/api/v0",
    "preprod": "https://cardano-preprod.blockfrost.io/api/v0",
    "preview": "https://cardano-preview.blockfrost.io/api/v0",
}

PAGE_SIZE = 100
"""Blockfrost's largest page; pages are numbered from 1."""

MAX_PAGES = 100_000
"""A guard against a server that never sends a short page (10 million items)."""


SLOT_CONFIGS: dict[str, SlotConfig] = {
    "mainnet": SlotConfig(zero_time_ms=1_596_059_091_000, zero_slot=4_492_800),
    "preprod": SlotConfig(zero_time_ms=1_655_769_600_000, zero_slot=86_400),
    "preview": SlotConfig(zero_time_ms=1_666_656_000_000, zero_slot=0),
}


class BlockfrostBackend:
    """`ChainBackend` over Blockfrost. Thread-safe; close it (or use `with`) to free the client.

    `clock` drives the tip cache; `sleep` the retry backoff; `limiter` defaults to Blockfrost's
    10 requests/s with a burst of 500. `evaluate_version` adds `?version=N` to evaluation requests
    (answers in either Ogmios format are read). `on_retry(method, path, reason)` hears about every
    retry, submissions included (e.g. `Metrics.chain_retry` to count them by reason).
    """

    def __init__(
        self,
        project_id: str,
        network: Network = "preprod",
        base_url: str | None = None,
        *,
        timeout: float | httpx.Timeout = 20.0,
        retry: RetryPolicy | None = None,
        limiter: TokenBucket | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        tip_ttl: float = 5.0,
        slot_config: SlotConfig | None = None,
        evaluate_version: int | None = None,
        client: httpx.Client | None = None,
        on_retry: OnRetry | None = None,
    ) -> None:
        if network not in BASE_URLS:
            raise ValueError(f"network must be one of {', '.join(BASE_URLS)}, got {network!r}")
        if not project_id:
            raise ValueError("a Blockfrost project id is required")
        self.network = network
        self.network_id = 1 if network == "mainnet" else 0
        self.slot_config = slot_config or SLOT_CONFIGS[network]
        self.tip_ttl = tip_ttl
        self.evaluate_version = evaluate_version
        self._clock = clock
        self.http = BlockfrostHttp(
            base_url or BASE_URLS[network],
            project_id,
            timeout=timeout,
            retry=retry,
            limiter=limiter,
            sleep=sleep,
            client=client,
            on_retry=on_retry,
        )
        self._lock = threading.Lock()
        self._tip: tuple[float, Tip] | None = None
        self._params: tuple[int, ProtocolParameters] | None = None  # (tip epoch when read, params)
        self._scripts: dict[str, bytes] = {}

    # -- lifecycle --------------------------------------------------------------------------------

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- time -------------------------------------------------------------------------------------

    def tip(self) -> Tip:
        """The latest block's slot, time, epoch and height (cached for `tip_ttl` seconds)."""
        now = self._clock()
        with self._lock:
            if self._tip is not None and now - self._tip[0] < self.tip_ttl:
                return self._tip[1]
        block = self.http.request_json("GET", "/blocks/latest")
        try:
            tip = Tip(
                slot=int(block["slot"]),
                time_ms=int(block["time"]) * 1000,
                epoch=int(block["epoch"]),
                block_height=int(block["height"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise bf.MalformedResponseError(f"/blocks/latest is malformed ({exc!r})") from exc
        with self._lock:
            self._tip = (now, tip)
        return tip

    def slot_to_posix_ms(self, slot: int) -> int:
        return self.slot_config.slot_to_posix_ms(slot)

    def posix_ms_to_slot(self, time_ms: int) -> int:
        return self.slot_config.posix_ms_to_slot(time_ms)

    # -- parameters -------------------------------------------------------------------------------

    def protocol_parameters(self) -> ProtocolParameters:
        """The latest parameters, read again only when the tip's epoch changes."""
        epoch = self.tip().epoch
        with self._lock:
            if self._params is not None and self._params[0] == epoch:
                return self._params[1]
        raw = self.http.request_json("GET", "/epochs/latest/parameters")
        try:
            params = ProtocolParameters.from_blockfrost(raw)
        except MarketError as exc:
            raise bf.MalformedResponseError(f"/epochs/latest/parameters: {exc}") from exc
        with self._lock:
            self._params = (epoch, params)
        return params

    # -- UTxOs ------------------------------------------------------------------------------------

    def utxos_at(self, address: bytes) -> list[Utxo]:
        """Every UTxO at `address` (an address Blockfrost has never seen has none)."""
        path = f"/addresses/{self._bech32(address)}/utxos"
        return self._utxos(path)

    def utxos_with_asset(self, address: bytes, asset: AssetId) -> list[Utxo]:
        """The UTxOs at `address` that hold `asset` (a native token)."""
        path = f"/addresses/{self._bech32(address)}/utxos/{unit_of(asset)}"
        return self._utxos(path)

    def utxos_by_ref(self, refs: Iterable[OutRef]) -> list[Utxo]:
        """The unspent ones among `refs`, in the order given; spent or unknown refs are absent."""
        wanted = list(dict.fromkeys(refs))
        by_tx: dict[bytes, dict[int, Utxo]] = {}
        for tx_hash in dict.fromkeys(h for h, _ in wanted):
            by_tx[tx_hash] = self._unspent_outputs(tx_hash)
        return [by_tx[h][i] for h, i in wanted if i in by_tx[h]]

    def reported_script_hashes(self, refs: Iterable[OutRef]) -> dict[OutRef, bytes | None]:
        """The reference-script hash Blockfrost reports for each unspent one of `refs` (None: no
        script), without fetching the scripts (`cardano-market check`, the start-up check)."""
        wanted = set(refs)
        found: dict[OutRef, bytes | None] = {}
        for tx_hash in dict.fromkeys(h for h, _ in wanted):
            path = f"/txs/{tx_hash.hex()}/utxos"
            try:
                body = self.http.request_json("GET", path)
            except NotFoundError:
                continue
            outputs = body.get("outputs") if isinstance(body, dict) else None
            if not isinstance(outputs, list):
                raise bf.MalformedResponseError(f"{path} has no outputs")
            for output in outputs:
                ref = (tx_hash, output.get("output_index") if isinstance(output, dict) else None)
                if ref not in wanted or output.get("collateral"):
                    continue
                if output.get("consumed_by_tx") is not None:
                    continue
                reported = output.get("reference_script_hash")
                try:
                    found[ref] = bytes.fromhex(reported) if reported else None
                except (TypeError, ValueError) as exc:
                    raise bf.MalformedResponseError(f"{path}: bad reference_script_hash") from exc
        return found

    def _unspent_outputs(self, tx_hash: bytes) -> dict[int, Utxo]:
        path = f"/txs/{tx_hash.hex()}/utxos"
        try:
            body = self.http.request_json("GET", path)
        except NotFoundError:
            return {}
        try:
            outputs = body["outputs"]
        except (KeyError, TypeError) as exc:
            raise bf.MalformedResponseError(f"{path} has no outputs") from exc
        found: dict[int, Utxo] = {}
        for i, output in enumerate(outputs):
            # A collateral return output exists only if the transaction failed its scripts;
            # Blockfrost lists it either way, so it is left out.
            if output.get("collateral") or output.get("consumed_by_tx") is not None:
                continue
            utxo = bf.utxo_from_blockfrost(
                output, self.script_ref, tx_hash=tx_hash.hex(), where=f"{path} outputs[{i}]"
            )
            found[utxo.index] = utxo
        return found

    def _utxos(self, path: str) -> list[Utxo]:
        utxos: dict[OutRef, Utxo] = {}
        for i, entry in enumerate(self._pages(path)):
            if not isinstance(entry, dict):
                raise bf.MalformedResponseError(f"{path} item {i} is not an object")
            utxo = bf.utxo_from_blockfrost(entry, self.script_ref, where=f"{path} item {i}")
            utxos.setdefault(utxo.out_ref, utxo)  # pages can overlap when the set moves
        return list(utxos.values())

    def _pages(self, path: str, query: Mapping[str, str] | None = None) -> Iterator[Any]:
        """Every item of a paginated list, page 1 first; a 404 on page 1 is an empty list."""
        for page in range(1, MAX_PAGES + 1):
            params: dict[str, str | int] = {"page": page, "count": PAGE_SIZE, "order": "asc"}
            params.update(query or {})
            try:
                items = self.http.request_json("GET", path, params=params)
            except NotFoundError:
                if page == 1:
                    return
                raise
            if not isinstance(items, list):
                raise bf.MalformedResponseError(f"{path} page {page} is not a list")
            yield from items
            if len(items) < PAGE_SIZE:
                return
        raise ChainError(f"{path} has more than {MAX_PAGES} pages")

    # -- scripts ----------------------------------------------------------------------------------

    def script_ref(self, script_hash: str) -> bytes:
        """The script reference CBOR `[language, script]` of a script hash (hex), cached forever."""
        with self._lock:
            cached = self._scripts.get(script_hash)
        if cached is not None:
            return cached
        info = self.http.request_json("GET", f"/scripts/{script_hash}")
        kind = info.get("type") if isinstance(info, dict) else None
        if kind in bf.PLUTUS_LANGUAGES:
            body = self.http.request_json("GET", f"/scripts/{script_hash}/cbor")
            cbor_hex = body.get("cbor") if isinstance(body, dict) else None
            ref = bf.plutus_script_ref(script_hash, bf.PLUTUS_LANGUAGES[kind], cbor_hex)
        elif kind == "timelock":
            body = self.http.request_json("GET", f"/scripts/{script_hash}/json")
            script_json = body.get("json") if isinstance(body, dict) else None
            ref = bf.native_script_ref(script_hash, script_json)
        else:
            raise bf.MalformedResponseError(f"/scripts/{script_hash}: unknown type {kind!r}")
        with self._lock:
            self._scripts[script_hash] = ref
        return ref

    # -- submission -------------------------------------------------------------------------------

    def submit(self, tx: bytes) -> bytes:
        """Submit a signed transaction; returns its id. Idempotent for the same bytes.

        429 and 425 (mempool full) mean "not taken": retried after backoff. A timeout, a dropped
        connection or a 5xx may hide an accepted submission, so before sending again the
        transaction is looked up (`/txs/{id}`, `/mempool/{id}`); if the lookup cannot answer,
        ChainError says the outcome is unknown rather than risking a second submission. A 400 is
        the node's rejection (SubmitError with its message), unless the transaction turns out to
        be on chain or in the mempool already, which is success.
        """
        tx_id = bf.transaction_id(tx)
        path = "/tx/submit"
        headers = {"Content-Type": "application/cbor"}
        attempts = self.http.retry.max_attempts
        ambiguous = False
        last = "no attempt made"
        reason = ""
        for attempt in range(attempts):
            if ambiguous and self._already_submitted(tx_id, last):
                return tx_id
            retry_after = None
            try:
                response = self.http.send_once("POST", path, content=tx, headers=headers)
            except httpx.TimeoutException as exc:
                ambiguous, last = True, f"timeout ({type(exc).__name__})"
                reason = TIMEOUT
            except httpx.TransportError as exc:
                ambiguous, last = True, f"transport error ({type(exc).__name__}: {exc})"
                reason = TRANSPORT_ERROR
            else:
                status = response.status_code
                if status == 200:
                    return self._accepted(tx_id, response)
                message = error_message(response)
                if status == 400:
                    if self._known_quietly(tx_id):
                        return tx_id
                    raise SubmitError(
                        f"transaction {tx_id.hex()} rejected: {message}", bf.rejection_rule(message)
                    )
                if status in (425, 429):
                    # Not taken: safe to send again (an earlier ambiguous failure still counts).
                    last = f"HTTP {status}: {message}"
                    retry_after = retry_after_seconds(response)
                elif status in RETRYABLE_STATUSES:
                    ambiguous, last = True, f"HTTP {status}: {message}"
                else:
                    raise StatusError("POST", path, status, message)
                reason = status_reason(status)
            if attempt + 1 < attempts:
                self.http.notify_retry("POST", path, reason)
                self.http.backoff(attempt, retry_after)
        if ambiguous and self._already_submitted(tx_id, last):
            return tx_id
        raise RetriesExhaustedError("POST", f"{path} (transaction {tx_id.hex()})", attempts, last)

    def _accepted(self, tx_id: bytes, response: httpx.Response) -> bytes:
        try:
            answered = parse_json(response)
        except ValueError:
            return tx_id  # accepted (200); the id is ours either way
        if isinstance(answered, str) and answered.lower() != tx_id.hex():
            raise ChainError(
                f"Blockfrost accepted the transaction but answered id {answered}, not {tx_id.hex()}"
            )
        return tx_id

    def _already_submitted(self, tx_id: bytes, last: str) -> bool:
        """Whether an earlier, ambiguous submission went through; ChainError if unknowable."""
        try:
            return self._known(tx_id)
        except ChainError as exc:
            raise ChainError(
                f"submission of {tx_id.hex()} may or may not have been accepted ({last}) and the "
                f"lookup failed ({exc}); check tx_status before submitting again"
            ) from exc

    def _known(self, tx_id: bytes) -> bool:
        return self.tx_status(tx_id).state is not TxState.UNKNOWN

    def _known_quietly(self, tx_id: bytes) -> bool:
        """`_known`, but False when the lookup fails (a rejection's message matters more)."""
        try:
            return self._known(tx_id)
        except ChainError as exc:
            log.debug("lookup of rejected transaction %s failed: %s", tx_id.hex(), exc)
            return False

    # -- evaluation -------------------------------------------------------------------------------

    def evaluate(
        self, tx: bytes, additional_utxos: Sequence[Utxo] = ()
    ) -> dict[RedeemerKey, ExUnits]:
        """Ex-units per redeemer (`("spend", 0)` ...), as the node measures them.

        `additional_utxos` resolve inputs that are not on chain yet (chained transactions).
        Script failures raise EvaluationError with the node's message and the scripts' traces.
        """
        payload = {
            "cbor": tx.hex(),
            "additionalUtxoSet": [bf.ogmios_utxo(u) for u in additional_utxos],
        }
        params = {"version": self.evaluate_version} if self.evaluate_version is not None else None
        body = self.http.request_json(
            "POST", "/utils/txs/evaluate/utxos", params=params, json_body=payload
        )
        return bf.parse_evaluation(body)

    # -- status -----------------------------------------------------------------------------------

    def tx_status(self, tx_id: bytes) -> TxStatus:
        """Confirmed (with depth), in Blockfrost's mempool, or unknown."""
        tx_hex = tx_id.hex()
        try:
            tx = self.http.request_json("GET", f"/txs/{tx_hex}")
        except NotFoundError:
            return self._mempool_status(tx_hex)
        try:
            height, slot = int(tx["block_height"]), int(tx["slot"])
        except (KeyError, TypeError, ValueError) as exc:
            raise bf.MalformedResponseError(f"/txs/{tx_hex} is malformed ({exc!r})") from exc
        tip = self.tip()
        if tip.block_height < height:  # the cached tip is older than the block: read it again
            with self._lock:
                self._tip = None
            tip = self.tip()
        depth = max(1, tip.block_height - height + 1)
        return TxStatus(TxState.CONFIRMED, depth=depth, slot=slot, block_height=height)

    def _mempool_status(self, tx_hex: str) -> TxStatus:
        try:
            self.http.request_json("GET", f"/mempool/{tx_hex}")
        except NotFoundError:
            return TxStatus(TxState.UNKNOWN)
        except StatusError as exc:
            if exc.status in (400, 403, 405, 501):  # no mempool endpoint on this plan or host
                log.debug("Blockfrost mempool lookup unavailable: %s", exc)
                return TxStatus(TxState.UNKNOWN)
            raise
        return TxStatus(TxState.IN_MEMPOOL)

    # -- history (ChainHistory) -------------------------------------------------------------------

    def transaction(self, tx_id: bytes) -> ChainTransaction | None:
        """A transaction in a block (`/txs/{hash}` and its CBOR); None when Blockfrost has none.

        Transactions still in the mempool are not returned: the monitor waits for a block.
        """
        tx_hex = tx_id.hex()
        try:
            info = self.http.request_json("GET", f"/txs/{tx_hex}")
            body = self.http.request_json("GET", f"/txs/{tx_hex}/cbor")
        except NotFoundError:
            return None
        try:
            height, slot = int(info["block_height"]), int(info["slot"])
            raw = bytes.fromhex(body["cbor"])
        except (KeyError, TypeError, ValueError) as exc:
            raise bf.MalformedResponseError(f"/txs/{tx_hex} is malformed ({exc!r})") from exc
        try:
            parsed = chain_transaction(raw, block_height=height, slot=slot)
        except MarketError as exc:
            raise bf.MalformedResponseError(f"/txs/{tx_hex}/cbor: {exc}") from exc
        if parsed.tx_id != tx_id:
            raise bf.MalformedResponseError(f"/txs/{tx_hex}/cbor holds another transaction")
        return parsed

    def spending_transaction(self, ref: OutRef) -> ChainTransaction | None:
        """What spent `ref`: the output's `consumed_by_tx` in `/txs/{hash}/utxos`; where the
        server does not send that field, the address's transactions from the output's block on."""
        tx_hash, index = ref
        path = f"/txs/{tx_hash.hex()}/utxos"
        try:
            body = self.http.request_json("GET", path)
        except NotFoundError:
            return None
        outputs = body.get("outputs") if isinstance(body, dict) else None
        if not isinstance(outputs, list):
            raise bf.MalformedResponseError(f"{path} has no outputs")
        output = next(
            (o for o in outputs if isinstance(o, dict) and o.get("output_index") == index),
            None,
        )
        if output is None or output.get("collateral"):
            return None
        if "consumed_by_tx" in output:
            spender = output["consumed_by_tx"]
            return None if spender is None else self.transaction(bytes.fromhex(spender))
        return self._spender_from_address(ref, str(output.get("address", "")))

    def address_transactions(self, address: str, from_height: int) -> list[tuple[bytes, int]]:
        """(tx id, block height) of every transaction touching `address` (bech32) from block
        `from_height` on, oldest first."""
        path = f"/addresses/{address}/transactions"
        found: list[tuple[bytes, int]] = []
        for i, item in enumerate(self._pages(path, {"from": str(from_height)})):
            try:
                found.append((bytes.fromhex(item["tx_hash"]), int(item["block_height"])))
            except (KeyError, TypeError, ValueError) as exc:
                raise bf.MalformedResponseError(f"{path} item {i} is malformed ({exc!r})") from exc
        return found

    def _spender_from_address(self, ref: OutRef, address: str) -> ChainTransaction | None:
        created = self.tx_status(ref[0])
        if created.block_height is None or not address:
            return None
        for tx_id, _height in self.address_transactions(address, created.block_height):
            if tx_id == ref[0]:
                continue
            candidate = self.transaction(tx_id)
            if candidate is not None and candidate.spends(ref):
                return candidate
        return None

    # -- oracle -----------------------------------------------------------------------------------

    def oracle_price(self, oracle_address: bytes, feed_asset: AssetId) -> OraclePrice:
        """The Charli3 price datum of the one UTxO at `oracle_address` holding the feed NFT."""
        utxos = self.utxos_with_asset(oracle_address, feed_asset)
        where = f"oracle {self._bech32(oracle_address)} feed {unit_of(feed_asset)}"
        if not utxos:
            raise ChainError(f"{where}: no UTxO holds the feed NFT")
        if len(utxos) > 1:
            refs = ", ".join(f"{u.tx_hash.hex()}#{u.index}" for u in utxos)
            raise ChainError(f"{where}: {len(utxos)} UTxOs hold the feed NFT ({refs})")
        utxo = utxos[0]
        datum = utxo.inline_datum
        if datum is None and utxo.datum_hash is not None:
            datum = self._datum_by_hash(utxo.datum_hash)
        if datum is None:
            raise ChainError(f"{where}: the feed UTxO carries no datum")
        try:
            price = OracleDatum.from_cbor(datum)
        except MarketError as exc:
            raise ChainError(f"{where}: {exc}") from exc
        return OraclePrice(price.price, price.start_ms, price.end_ms, utxo)

    def _datum_by_hash(self, datum_hash: bytes) -> bytes:
        path = f"/scripts/datum/{datum_hash.hex()}/cbor"
        body = self.http.request_json("GET", path)
        cbor_hex = body.get("cbor") if isinstance(body, dict) else None
        if not isinstance(cbor_hex, str):
            raise bf.MalformedResponseError(f"{path} has no cbor")
        datum = bytes.fromhex(cbor_hex)
        if hashes.datum_hash(datum) != datum_hash:
            raise bf.MalformedResponseError(f"{path}: the datum does not hash to the datum hash")
        return datum

    # -- helpers ----------------------------------------------------------------------------------

    def _bech32(self, address: bytes) -> str:
        if not address:
            raise ChainError("address is empty")
        network_id = address[0] & 0x0F
        if network_id != self.network_id:
            raise ChainError(
                f"address {address.hex()} is for network {network_id}, but this backend is "
                f"{self.network} (network {self.network_id})"
            )
        return encode_address(address)


def from_env(
    network: Network = "preprod",
    env: Callable[[str], str | None] | None = None,
    **kwargs: Any,
) -> BlockfrostBackend:
    """A backend with the project id from `BLOCKFROST_PROJECT_ID` (ChainError when unset)."""
    lookup = env or os.environ.get
    project_id = lookup("BLOCKFROST_PROJECT_ID")
    if not project_id:
        raise ChainError("BLOCKFROST_PROJECT_ID is not set")
    return BlockfrostBackend(project_id, network, **kwargs)


__all__ = [
    "BASE_URLS",
    "SLOT_CONFIGS",
    "BlockfrostBackend",
    "NotFoundError",
    "RetryPolicy",
    "SlotConfig",
    "StatusError",
    "TokenBucket",
    "from_env",
]
