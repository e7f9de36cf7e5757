"""The declarative seed file: its model (`Seed`) and its reading, every value checked.

A seed names wallets, tokens, an oracle price, the marketplace settings, sales, users and
(optionally) other validators to deploy. Errors name the JSON path of the bad value
(`$.wallets.alice.lovelace: ...`); `Seed.hash` (of the canonical JSON, and of other validators'
bytes) is what a seeded ledger records.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ....domain.datums import Fees
from ....domain.errors import ConfigError, SeedError
from ....domain.pricing import MarketplaceConfig
from ....domain.values import ADA, MAX_ASSET_NAME_SIZE, POLICY_ID_SIZE, AssetId, unit_of
from ..deployment import Deployment, deployment_from_directory, project_deployment
from .world import FEE_BOUND, MAINNET_FEE_BOUNDS, token_policy

DEFAULT_SEED = Path(__file__).parents[1] / "demo_seed.json"
"""The demo seed shipped with the package (also at `fixtures/devnet/demo-seed.json`)."""


HOUR_MS = 3_600_000
YEAR_MS = 365 * 24 * HOUR_MS
_HEX24 = re.compile(r"[0-9a-f]{24}")
_TOP_KEYS = {
    "description",
    "contracts",
    "wallets",
    "tokens",
    "oracle",
    "marketplace",
    "sales",
    "users",
    "tokenIds",
}
_MAX_DECIMALS = 255


@dataclass(frozen=True, slots=True)
class SeedToken:
    name: str
    asset: AssetId
    decimals: int


@dataclass(frozen=True, slots=True)
class SeedWallet:
    name: str
    lovelace: int
    assets: dict[str, int]  # token name -> quantity (base units)
    utxos: int  # lovelace split over this many UTxOs; the tokens sit in the first


@dataclass(frozen=True, slots=True)
class SeedOracle:
    token: str
    price: int  # USD x 10^6 per whole token
    start_offset_ms: int  # relative to the ledger's time when seeded
    end_offset_ms: int


@dataclass(frozen=True, slots=True)
class SeedSale:
    id: str
    owner: str  # wallet name
    bundle_token: str
    bundle_amount: int
    cost_token: str | None  # None: USD; "ADA": lovelace; else a token name
    cost_amount: int
    total_bundle_quantity: int


@dataclass(frozen=True, slots=True)
class SeedUser:
    id: str  # 24 hex digits
    wallet: str
    kyc: bool


@dataclass(frozen=True, slots=True)
class Seed:
    """A checked seed; `hash` is blake2b-256 of its canonical JSON."""

    hash: bytes
    wallets: dict[str, SeedWallet]
    tokens: dict[str, SeedToken]
    oracle: SeedOracle | None
    marketplace: MarketplaceConfig | None
    cash_register: str | None
    sales: tuple[SeedSale, ...]
    users: tuple[SeedUser, ...]
    token_ids: dict[str, str]
    collateral: str | None = None  # the operator's collateral wallet (pays script collateral)
    batcher: str | None = None  # the wallet holding the batcher certificate (owns the vault)
    fee_bounds: Fees = MAINNET_FEE_BOUNDS  # the ReferenceDatum's
    deployment: Deployment | None = None  # None: the project's validators

    @property
    def contracts(self) -> Deployment:
        """The marketplace scripts this seed deploys."""
        return self.deployment or project_deployment()

    def asset(self, token: str) -> AssetId:
        """The asset id of `token` ("ADA" is lovelace)."""
        return ADA if token == "ADA" else self.tokens[token].asset


def load_seed(path: str | Path = DEFAULT_SEED) -> Seed:
    """Read and check a seed file; SeedError names the JSON path of what is wrong."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise SeedError("$", f"cannot read seed file {path}: {exc}") from exc
    try:
        # Decimals stay text: only percentages take them, read exactly (never as binary floats).
        data = json.loads(text, parse_float=str)
    except json.JSONDecodeError as exc:
        raise SeedError("$", f"{path} is not JSON: {exc}") from exc
    return parse_seed(data, base_dir=Path(path).parent)


def parse_seed(data: object, *, base_dir: Path | None = None) -> Seed:
    """Check a decoded seed document (JSON decimals may be str or float) and build a `Seed`.

    A relative `contracts.validators` directory is read from `base_dir` (the seed file's
    directory; default the working directory).
    """
    root = _mapping(data, "$", _TOP_KEYS)
    deployment = _deployment(root.get("contracts"), base_dir or Path.cwd())
    canonical = _canonical(root)
    if deployment is not None:  # the same seed with other scripts is another chain
        canonical += b"".join(deployment.scripts)
    digest = hashlib.blake2b(canonical, digest_size=32).digest()
    tokens = _tokens(root.get("tokens", {}))
    wallets = _wallets(root.get("wallets", {}), tokens)
    marketplace, operators, currency = _marketplace(root.get("marketplace"), tokens, wallets)
    cash_register, collateral, batcher = operators
    bounds = _fee_bounds(root.get("marketplace"))
    oracle = _oracle(root.get("oracle"), tokens, currency)
    sales = _sales(root.get("sales", []), tokens, wallets)
    users = _users(root.get("users", []), wallets)
    token_ids = _token_ids(root.get("tokenIds", {}), tokens)
    return Seed(
        digest,
        wallets,
        tokens,
        oracle,
        marketplace,
        cash_register,
        sales,
        users,
        token_ids,
        collateral,
        batcher or cash_register,
        bounds,
        deployment,
    )


def _deployment(raw: object, base_dir: Path) -> Deployment | None:
    """`contracts`: `{"traced": true}` deploys the project's validators built with their failure
    messages (a refused transaction says why); otherwise other validators than the project's
    (e.g. NEWM's mainnet scripts), with the starter NFT and reference-data script hash baked
    into them."""
    if raw is None:
        return None
    if isinstance(raw, dict) and set(raw) == {"traced"}:
        traced = raw["traced"]
        if not isinstance(traced, bool):
            raise SeedError("$.contracts.traced", "must be true or false")
        return project_deployment(traced=True) if traced else None
    keys = {"validators", "starterPolicyId", "starterAssetNameHex", "referenceDataScriptHash"}
    fields = _mapping(raw, "$.contracts", keys)
    for key in sorted(keys):
        if key not in fields:
            raise SeedError(f"$.contracts.{key}", "is required")
    policy = _hex(fields["starterPolicyId"], "$.contracts.starterPolicyId")
    reference = _hex(fields["referenceDataScriptHash"], "$.contracts.referenceDataScriptHash")
    for key, value in (("starterPolicyId", policy), ("referenceDataScriptHash", reference)):
        if len(value) != POLICY_ID_SIZE:
            raise SeedError(f"$.contracts.{key}", f"must be {POLICY_ID_SIZE} bytes (56 hex)")
    name = _hex(fields["starterAssetNameHex"], "$.contracts.starterAssetNameHex")
    if len(name) > MAX_ASSET_NAME_SIZE:
        raise SeedError("$.contracts.starterAssetNameHex", "is longer than 32 bytes")
    directory = base_dir / _str(fields["validators"], "$.contracts.validators")
    return deployment_from_directory(
        directory, (policy, name), reference, path="$.contracts.validators"
    )


def _canonical(root: Mapping[str, Any]) -> bytes:
    return json.dumps(root, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _tokens(raw: object) -> dict[str, SeedToken]:
    tokens: dict[str, SeedToken] = {}
    seen: dict[AssetId, str] = {}
    for name, spec in _mapping(raw, "$.tokens").items():
        path = f"$.tokens.{name}"
        if name == "ADA":
            raise SeedError(path, "ADA is built in; do not declare it as a token")
        fields = _mapping(spec, path, {"assetName", "assetNameHex", "decimals", "policyId"})
        if ("assetName" in fields) == ("assetNameHex" in fields):
            raise SeedError(path, "give exactly one of assetName (text) or assetNameHex")
        if "assetName" in fields:
            asset_name = _str(fields["assetName"], f"{path}.assetName").encode()
        else:
            asset_name = _hex(fields["assetNameHex"], f"{path}.assetNameHex")
        if len(asset_name) > MAX_ASSET_NAME_SIZE:
            raise SeedError(path, f"asset name is {len(asset_name)} bytes, at most 32 allowed")
        policy = token_policy(name)
        if "policyId" in fields:
            policy = _hex(fields["policyId"], f"{path}.policyId")
            if len(policy) != POLICY_ID_SIZE:
                raise SeedError(f"{path}.policyId", f"must be {POLICY_ID_SIZE} bytes (56 hex)")
        decimals = _int(fields.get("decimals", 0), f"{path}.decimals")
        if decimals > _MAX_DECIMALS:
            raise SeedError(f"{path}.decimals", f"must be at most {_MAX_DECIMALS}")
        asset = (policy, asset_name)
        if asset in seen:
            raise SeedError(path, f"same policy id and asset name as token {seen[asset]}")
        seen[asset] = name
        tokens[name] = SeedToken(name, asset, decimals)
    return tokens


def _wallets(raw: object, tokens: Mapping[str, SeedToken]) -> dict[str, SeedWallet]:
    wallets: dict[str, SeedWallet] = {}
    for name, spec in _mapping(raw, "$.wallets").items():
        path = f"$.wallets.{name}"
        fields = _mapping(spec, path, {"lovelace", "assets", "utxos"})
        if "lovelace" not in fields:
            raise SeedError(f"{path}.lovelace", "is required")
        lovelace = _int(fields["lovelace"], f"{path}.lovelace", minimum=1)
        count = _int(fields.get("utxos", 1), f"{path}.utxos", minimum=1)
        assets: dict[str, int] = {}
        for token, qty in _mapping(fields.get("assets", {}), f"{path}.assets").items():
            if token not in tokens:
                raise SeedError(f"{path}.assets.{token}", _unknown("token", token, tokens))
            assets[token] = _int(qty, f"{path}.assets.{token}", minimum=1)
        wallets[name] = SeedWallet(name, lovelace, assets, count)
    return wallets


_FEE_BOUND_KEYS = ("purchaseQueueBound", "refundQueueBound", "startSaleBound")


def _marketplace(
    raw: object, tokens: Mapping[str, SeedToken], wallets: Mapping[str, SeedWallet]
) -> tuple[MarketplaceConfig | None, tuple[str | None, str | None, str | None], str | None]:
    if raw is None:
        return None, (None, None, None), None
    fields = dict(_mapping(raw, "$.marketplace"))
    for key in _FEE_BOUND_KEYS:  # read by `_fee_bounds`: the reference datum's, not pricing's
        fields.pop(key, None)
    currency = _str(fields.pop("currency", None), "$.marketplace.currency")
    if currency not in tokens:
        raise SeedError("$.marketplace.currency", _unknown("token", currency, tokens))
    cash_register, collateral, batcher = (
        _operator_wallet(fields.pop(key, None), f"$.marketplace.{key}", wallets)
        for key in ("cashRegister", "collateral", "batcher")
    )
    if collateral is not None and wallets[collateral].assets:  # the ledger wants ADA only
        raise SeedError(
            "$.marketplace.collateral",
            f"wallet {collateral} holds tokens; collateral UTxOs must be ADA-only",
        )
    try:
        config = MarketplaceConfig.from_mapping(
            {**fields, "currency": unit_of(tokens[currency].asset)}
        )
    except ConfigError as exc:
        raise SeedError("$.marketplace", str(exc)) from exc
    return config, (cash_register, collateral, batcher), currency


def _fee_bounds(raw: object) -> Fees:
    """The ReferenceDatum's fee bounds (lovelace): mainnet's 1 ADA each unless the seed says."""
    fields = raw if isinstance(raw, dict) else {}
    purchase, refund, start = (
        _int(fields.get(key, FEE_BOUND), f"$.marketplace.{key}", minimum=0)
        for key in _FEE_BOUND_KEYS
    )
    return Fees(purchase, refund, start)


def _operator_wallet(raw: object, path: str, wallets: Mapping[str, SeedWallet]) -> str | None:
    if raw is None:
        return None
    name = _str(raw, path)
    if name not in wallets:
        raise SeedError(path, _unknown("wallet", name, wallets))
    return name


def _oracle(
    raw: object, tokens: Mapping[str, SeedToken], currency: str | None
) -> SeedOracle | None:
    if raw is None:
        return None
    fields = _mapping(raw, "$.oracle", {"token", "price", "validityMs"})
    token = _str(fields.get("token"), "$.oracle.token")
    if token not in tokens:
        raise SeedError("$.oracle.token", _unknown("token", token, tokens))
    if currency is not None and token != currency:
        raise SeedError(
            "$.oracle.token",
            f"the price feed is for {token}, but the marketplace currency is {currency}",
        )
    price = _int(fields.get("price"), "$.oracle.price", minimum=1)
    window = _mapping(fields.get("validityMs", {}), "$.oracle.validityMs", {"start", "end"})
    start = _int(window.get("start", -HOUR_MS), "$.oracle.validityMs.start", minimum=None)
    end = _int(window.get("end", YEAR_MS), "$.oracle.validityMs.end", minimum=None)
    if end <= start:
        raise SeedError("$.oracle.validityMs", f"end ({end}) must be after start ({start})")
    return SeedOracle(token, price, start, end)


def _sales(
    raw: object, tokens: Mapping[str, SeedToken], wallets: Mapping[str, SeedWallet]
) -> tuple[SeedSale, ...]:
    keys = {"id", "owner", "bundleToken", "bundleAmount", "costUsd", "costToken", "costAmount",
            "totalBundleQuantity"}  # fmt: skip
    sales: list[SeedSale] = []
    seen: set[str] = set()
    for i, spec in enumerate(_list(raw, "$.sales")):
        path = f"$.sales[{i}]"
        fields = _mapping(spec, path, keys)
        sale_id = _str(fields.get("id"), f"{path}.id")
        try:
            uuid.UUID(sale_id)
        except ValueError as exc:
            raise SeedError(f"{path}.id", f"{sale_id!r} is not a UUID") from exc
        if sale_id in seen:
            raise SeedError(f"{path}.id", f"duplicate sale id {sale_id}")
        seen.add(sale_id)
        owner = _str(fields.get("owner"), f"{path}.owner")
        if owner not in wallets:
            raise SeedError(f"{path}.owner", _unknown("wallet", owner, wallets))
        bundle = _str(fields.get("bundleToken"), f"{path}.bundleToken")
        if bundle not in tokens:
            raise SeedError(f"{path}.bundleToken", _unknown("token", bundle, tokens))
        if "costUsd" in fields:
            if "costToken" in fields or "costAmount" in fields:
                raise SeedError(path, "give costUsd or costToken with costAmount, not both")
            cost_token: str | None = None
            cost_amount = _int(fields["costUsd"], f"{path}.costUsd")
        else:
            cost_token = _str(fields.get("costToken"), f"{path}.costToken")
            if cost_token != "ADA" and cost_token not in tokens:
                raise SeedError(f"{path}.costToken", _unknown("token", cost_token, tokens))
            if "costAmount" not in fields:
                raise SeedError(f"{path}.costAmount", "is required with costToken")
            cost_amount = _int(fields["costAmount"], f"{path}.costAmount")
        sales.append(
            SeedSale(
                sale_id,
                owner,
                bundle,
                _int(fields.get("bundleAmount"), f"{path}.bundleAmount", minimum=1),
                cost_token,
                cost_amount,
                _int(fields.get("totalBundleQuantity"), f"{path}.totalBundleQuantity", minimum=1),
            )
        )
    return tuple(sales)


def _users(raw: object, wallets: Mapping[str, SeedWallet]) -> tuple[SeedUser, ...]:
    users: list[SeedUser] = []
    seen: set[str] = set()
    for i, spec in enumerate(_list(raw, "$.users")):
        path = f"$.users[{i}]"
        fields = _mapping(spec, path, {"id", "wallet", "kyc"})
        user_id = _str(fields.get("id"), f"{path}.id")
        if not _HEX24.fullmatch(user_id):
            raise SeedError(f"{path}.id", f"{user_id!r} is not 24 lower-case hex digits")
        if user_id in seen:
            raise SeedError(f"{path}.id", f"duplicate user id {user_id}")
        seen.add(user_id)
        name = _str(fields.get("wallet"), f"{path}.wallet")
        if name not in wallets:
            raise SeedError(f"{path}.wallet", _unknown("wallet", name, wallets))
        kyc = fields.get("kyc", False)
        if not isinstance(kyc, bool):
            raise SeedError(f"{path}.kyc", f"must be true or false, got {kyc!r}")
        users.append(SeedUser(user_id, name, kyc))
    return tuple(users)


def _token_ids(raw: object, tokens: Mapping[str, SeedToken]) -> dict[str, str]:
    ids: dict[str, str] = {}
    for name, token_id in _mapping(raw, "$.tokenIds").items():
        path = f"$.tokenIds.{name}"
        if name not in tokens:
            raise SeedError(path, _unknown("token", name, tokens))
        text = _str(token_id, path)
        if not _HEX24.fullmatch(text):
            raise SeedError(path, f"{text!r} is not 24 lower-case hex digits")
        if text in ids.values():
            raise SeedError(path, f"token id {text} is used twice")
        ids[name] = text
    return ids


# -- JSON checks ----------------------------------------------------------------------------------


def _mapping(raw: object, path: str, allowed: set[str] | None = None) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise SeedError(path, f"must be an object, got {_kind(raw)}")
    if allowed is not None:
        unknown = sorted(set(raw) - allowed)
        if unknown:
            raise SeedError(
                f"{path}.{unknown[0]}",
                f"unknown key (expected one of {', '.join(sorted(allowed))})",
            )
    return raw


def _list(raw: object, path: str) -> list[Any]:
    if not isinstance(raw, list):
        raise SeedError(path, f"must be a list, got {_kind(raw)}")
    return raw


def _str(raw: object, path: str) -> str:
    if raw is None:
        raise SeedError(path, "is required")
    if not isinstance(raw, str) or not raw:
        raise SeedError(path, f"must be a non-empty string, got {_kind(raw)}")
    return raw


def _int(raw: object, path: str, *, minimum: int | None = 0) -> int:
    if raw is None:
        raise SeedError(path, "is required")
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise SeedError(path, f"must be an integer, got {_kind(raw)} {raw!r}")
    if minimum is not None and raw < minimum:
        raise SeedError(path, f"must be at least {minimum}, got {raw}")
    return raw


def _hex(raw: object, path: str) -> bytes:
    text = _str(raw, path)
    try:
        return bytes.fromhex(text)
    except ValueError as exc:
        raise SeedError(path, f"{text!r} is not hex") from exc


def _kind(raw: object) -> str:
    if isinstance(raw, str) and re.fullmatch(r"-?\d+\.\d*(e[-+]?\d+)?", raw, re.IGNORECASE):
        return "a decimal number"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(raw), "null" if raw is None else type(raw).__name__
    )


def _unknown(kind: str, name: str, known: Mapping[str, object]) -> str:
    listed = ", ".join(sorted(known)) or "none declared"
    return f"unknown {kind} {name!r} (declared: {listed})"
