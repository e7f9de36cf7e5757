"""Is the configured deployment the one on chain? (`cardano-market check`, and `serve` at start.)

The reference datum is found by the starter NFT at the reference address; every contract hash,
policy, bound and reference script the service relies on is read from it and compared with the
settings and, on preprod and mainnet, the network profile. Each check is one line: its name,
whether it passed, and what was found. `serve` refuses to start when a structural check fails
(a wrong datum, script, address or policy: it would build transactions nobody accepts);
`check` adds the live ones (the oracle's freshness, the chain backend's latency).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..chain.base import ChainBackend, ChainError
from ..domain.address import encode_address, parse_address, script_address
from ..domain.cip30 import OutRef, Utxo
from ..domain.datums import OracleDatum, ReferenceDatum
from ..domain.errors import MarketError
from ..domain.profiles import NetworkProfile
from ..domain.values import AssetId, unit_of
from ..ledger.references import reference_datum_of, reference_script_hash

CONTRACTS = ("sale", "queue", "vault")


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'} {self.name}: {self.detail}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ExpectedDeployment:
    """What the settings (filled from the profile) say the deployment is."""

    network_id: int
    reference_address: bytes
    starter_nft: AssetId
    queue_address: bytes
    sale_address: bytes
    oracle_address: bytes
    oracle_feed: AssetId
    currency: AssetId
    script_refs: dict[str, OutRef] = field(default_factory=dict)
    """`sale`, `queue`, `vault`, `pointer` -> the out-ref holding that reference script."""
    profile: NetworkProfile | None = None


def structural_checks(backend: ChainBackend, expected: ExpectedDeployment) -> list[Check]:
    """The reference datum and everything read from it; no clock, no latency."""
    checks: list[Check] = []
    datum = _reference_datum(backend, expected, checks)
    if datum is None:
        return checks
    contracts = datum.contracts
    hashes = {"sale": contracts.sale, "queue": contracts.queue, "vault": contracts.vault}
    profile = expected.profile
    if profile is not None:
        _profile_checks(profile, datum, hashes, checks)
    for name, address in (("queue", expected.queue_address), ("sale", expected.sale_address)):
        wanted = script_address(hashes[name], contracts.stake, expected.network_id)
        checks.append(
            Check(
                f"{name} address",
                address == wanted,
                f"{encode_address(address)} carries the {name} script and the stake script "
                f"{contracts.stake.hex()}"
                if address == wanted
                else f"configured {encode_address(address)}, the datum makes it "
                f"{encode_address(wanted)} (script {hashes[name].hex()}, stake "
                f"{contracts.stake.hex()})",
            )
        )
    profit = datum.profit_data
    oracle_payment = parse_address(expected.oracle_address).payment.hash
    feed = (profit.feed_pid, profit.feed_tkn)
    oracle_ok = oracle_payment == profit.feed_vkh and feed == expected.oracle_feed
    checks.append(
        Check(
            "oracle",
            oracle_ok,
            f"{encode_address(expected.oracle_address)} feed {unit_of(expected.oracle_feed)}"
            + ("" if oracle_ok else f"; the datum names script {profit.feed_vkh.hex()} feed "
               f"{unit_of(feed)}"),
        )
    )  # fmt: skip
    profit_token = (profit.profit_pid, profit.profit_tkn)
    checks.append(
        Check(
            "currency policy",
            profit_token == expected.currency,
            f"{unit_of(expected.currency)}"
            + ("" if profit_token == expected.currency else f"; the datum's profit token is "
               f"{unit_of(profit_token)}"),
        )
    )  # fmt: skip
    _script_checks(backend, expected, datum, checks)
    return checks


def live_checks(
    backend: ChainBackend,
    expected: ExpectedDeployment,
    *,
    now_ms: int,
    monotonic: Callable[[], float] = time.monotonic,
) -> list[Check]:
    """The chain backend's latency and the oracle datum's window (must contain now)."""
    checks: list[Check] = []
    started = monotonic()
    try:
        tip = backend.tip()
    except ChainError as exc:
        return [Check("chain backend", False, f"unreachable: {exc}")]
    elapsed_ms = (monotonic() - started) * 1000
    checks.append(
        Check("chain backend", True, f"tip {tip.block_height} (slot {tip.slot}) in "
              f"{elapsed_ms:.0f} ms")
    )  # fmt: skip
    try:
        holders = backend.utxos_with_asset(expected.oracle_address, expected.oracle_feed)
        if len(holders) != 1:
            raise ChainError(f"{len(holders)} UTxOs hold the feed NFT (exactly one must)")
        datum = OracleDatum.from_cbor(holders[0].inline_datum or b"")
    except (ChainError, MarketError) as exc:
        return [*checks, Check("oracle datum", False, str(exc))]
    fresh = datum.start_ms <= now_ms <= datum.end_ms
    checks.append(
        Check(
            "oracle datum",
            fresh,
            f"price {datum.price} (USD x 10^6 per token), valid {_iso(datum.start_ms)} to "
            f"{_iso(datum.end_ms)}" + ("" if fresh else f": stale at {_iso(now_ms)}"),
        )
    )
    return checks


def check_deployment(
    backend: ChainBackend, expected: ExpectedDeployment, *, now_ms: int
) -> list[Check]:
    return [*live_checks(backend, expected, now_ms=now_ms), *structural_checks(backend, expected)]


def failures(checks: Iterable[Check]) -> list[Check]:
    return [c for c in checks if not c.ok]


# -- the parts ------------------------------------------------------------------------------------


def _reference_datum(
    backend: ChainBackend, expected: ExpectedDeployment, checks: list[Check]
) -> ReferenceDatum | None:
    nft = unit_of(expected.starter_nft)
    where = f"{encode_address(expected.reference_address)} (starter NFT {nft})"
    try:
        holders = backend.utxos_with_asset(expected.reference_address, expected.starter_nft)
    except ChainError as exc:
        checks.append(Check("reference datum", False, f"{where}: {exc}"))
        return None
    if len(holders) != 1:
        checks.append(
            Check("reference datum", False, f"{len(holders)} UTxOs at {where} (exactly one must)")
        )
        return None
    utxo: Utxo = holders[0]
    try:
        datum = reference_datum_of(utxo)
    except MarketError as exc:
        checks.append(Check("reference datum", False, f"{where}: does not decode: {exc}"))
        return None
    checks.append(
        Check(
            "reference datum",
            True,
            f"found at {utxo.out_ref} and decoded (hot key "
            f"{datum.hot_key.hex()}, pointer policy {datum.pointer.hex()})",
        )
    )
    return datum


def _profile_checks(
    profile: NetworkProfile,
    datum: ReferenceDatum,
    hashes: dict[str, bytes],
    checks: list[Check],
) -> None:
    pairs: list[tuple[str, bytes | int | tuple[int, ...] | None, bytes | int | tuple[int, ...]]] = [
        (f"{name} script hash", profile.script_hash(name), hashes[name]) for name in CONTRACTS
    ]
    pairs += [
        ("stake script hash", profile.stake_script_hash, datum.contracts.stake),
        ("band script hash", profile.band_script_hash, datum.contracts.band),
        ("pointer policy", profile.pointer_policy, datum.pointer),
        ("batcher policy", profile.batcher_policy, datum.batcher_data.batcher_pid),
        ("hot key", profile.hot_key, datum.hot_key),
        ("profit margin", profile.profit_margin, datum.profit_data.profit_margin),
        (
            "fee bounds",
            profile.fee_bounds,
            (
                datum.fees.purchase_queue_bound,
                datum.fees.refund_queue_bound,
                datum.fees.start_sale_bound,
            ),
        ),
    ]
    for name, wanted, found in pairs:
        if wanted is None:
            continue  # the profile does not know it: nothing to compare with
        checks.append(
            Check(
                name,
                wanted == found,
                _text(found)
                if wanted == found
                else f"the datum says {_text(found)}, the {profile.network} profile "
                f"{_text(wanted)}",
            )
        )


def _script_checks(
    backend: ChainBackend,
    expected: ExpectedDeployment,
    datum: ReferenceDatum,
    checks: list[Check],
) -> None:
    wanted = {
        "sale": datum.contracts.sale,
        "queue": datum.contracts.queue,
        "vault": datum.contracts.vault,
        "pointer": datum.pointer,
    }
    refs = {name: ref for name, ref in expected.script_refs.items() if name in wanted}
    if not refs:
        checks.append(Check("reference scripts", True, "none configured: nothing to compare"))
        return
    try:
        found = script_hashes(backend, refs.values())
    except ChainError as exc:
        checks.append(Check("reference scripts", False, str(exc)))
        return
    for name, ref in refs.items():
        where = str(OutRef.of(ref))
        if ref not in found:
            checks.append(Check(f"{name} reference script", False, f"{where} is spent or unknown"))
            continue
        got = found[ref]
        ok = got == wanted[name]
        checks.append(
            Check(
                f"{name} reference script",
                ok,
                f"{where} holds {_text(got)}"
                + ("" if ok else f", the datum names {wanted[name].hex()}"),
            )
        )


def script_hashes(backend: ChainBackend, refs: Iterable[OutRef]) -> dict[OutRef, bytes | None]:
    """Each unspent out-ref's reference-script hash: as Blockfrost reports it (no script
    download), else computed from the UTxO's script."""
    reported = getattr(backend, "reported_script_hashes", None)
    if callable(reported):
        hashes: dict[OutRef, bytes | None] = reported(list(refs))
        return hashes
    return {u.out_ref: reference_script_hash(u) for u in backend.utxos_by_ref(list(refs))}


def _text(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, tuple):
        return ", ".join(f"{v:,}" if isinstance(v, int) else str(v) for v in value)
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))
