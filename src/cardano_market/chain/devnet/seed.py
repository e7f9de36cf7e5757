"""Devnet seed files: a declarative JSON world (wallets, tokens, oracle, marketplace, sales, users)
read, checked and applied to a `Ledger` once.

Every key, policy id and address is derived from names, so one seed always yields the same chain.
Errors name the JSON path of the bad value (`$.wallets.alice.lovelace: ...`). A seeded ledger
records the seed's hash: applying the same seed again is a no-op, a different one asks for a reset.

The marketplace contracts are deployed for real: a starter NFT (policy derived from a label, name
"NEWMarketplace") holds the ReferenceDatum at a reference-data address; the pointer policy and the
sale, queue and vault validators (the project's OpShin scripts applied to the starter NFT) sit in
reference-script UTxOs; each seeded sale's bundle tokens and its pointer token (under the real
pointer policy, named by `domain.pointer` over a pseudo input derived from the sale id) sit at the
real sale address (script payment + script stake part, header 0x31 like mainnet), so its owner can
end it and batchers can fill orders from it. The batcher (a wallet named by the marketplace's
`batcher`, default the cash register) holds a batcher-certificate token and, when the profit
margin is not zero, owns a vault UTxO holding the vault minimum. The band and stake hashes are
label-derived stand-ins (nothing runs them).

A seed's `contracts` section deploys other validators instead of the project's (`deployment.py`):
e.g. NEWM's mainnet sale, queue and vault, with mainnet's starter NFT and reference-data address
(which those scripts have baked in) and the project's pointer policy in the reference datum.
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

import cbor2

from ...domain.address import script_address
from ...domain.cip30 import Utxo
from ...domain.datums import (
    USD,
    BatcherData,
    Contracts,
    Fees,
    Keepers,
    OracleDatum,
    ProfitData,
    ReferenceDatum,
    SaleDatum,
    Staking,
    Token,
    Wallet,
    wallet_from_address,
)
from ...domain.errors import ConfigError, SeedError
from ...domain.outputs import TxOutput
from ...domain.pointer import pointer_asset_name
from ...domain.pricing import MarketplaceConfig
from ...domain.protocol import BATCHER_PREFIX
from ...domain.sale import Sale, SaleStatus
from ...domain.values import ADA, MAX_ASSET_NAME_SIZE, POLICY_ID_SIZE, AssetId, Value, unit_of
from ...synthetic import SyntheticWallet, wallet
from .deployment import (
    PLUTUS_V3,
    PROJECT_REFERENCE_DATA_HASH,
    PROJECT_STARTER_NFT,
    Deployment,
    deployment_from_directory,
    label_hash,
    project_deployment,
)
from .ledger import Ledger

DEFAULT_SEED = Path(__file__).with_name("demo_seed.json")
"""The demo seed shipped with the package (also at `fixtures/devnet/demo-seed.json`)."""

SEED_HASH_META = "seed_hash"
"""Ledger meta key holding the applied seed's hash (its first 7 bytes, as an integer)."""

HOUR_MS = 3_600_000
YEAR_MS = 365 * 24 * HOUR_MS
ORACLE_FEED_NAME = b"OracleFeed"
_LABEL = "cardano-market devnet"
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


_hash28 = label_hash


def token_policy(name: str) -> bytes:
    """Default policy id of token `name`: blake2b-224("cardano-market devnet token/<name>")."""
    return _hash28(f"token/{name}")


ORACLE_SCRIPT_HASH = _hash28("oracle")
ORACLE_FEED_POLICY = _hash28("oracle feed")
STARTER_POLICY, STARTER_NAME = PROJECT_STARTER_NFT
STARTER_NFT: AssetId = PROJECT_STARTER_NFT
REFERENCE_DATA_SCRIPT_HASH = PROJECT_REFERENCE_DATA_HASH
"""Holds the starter NFT and the ReferenceDatum; no script exists behind it (nothing spends it)."""
SCRIPT_STORE_HASH = _hash28("script references")
"""Holds the reference-script UTxOs; no script exists behind it (they stay forever)."""
STAKE_SCRIPT_HASH = _hash28("stake stand-in")
BAND_SCRIPT_HASH = _hash28("band stand-in")
FEE_BOUND = 1_000_000
"""Each ReferenceDatum fee bound, in lovelace, unless the seed sets it (mainnet's)."""
MAINNET_FEE_BOUNDS = Fees(FEE_BOUND, FEE_BOUND, FEE_BOUND)
BATCHER_POLICY = _hash28("batcher certificate")
BATCHER_CERTIFICATE: AssetId = (BATCHER_POLICY, BATCHER_PREFIX + b"devnet batcher")
"""The batcher's certificate token: the ReferenceDatum's batcher policy, the certificate prefix."""
CERTIFICATE_LOVELACE = 5_000_000
"""Lovelace beside the certificate: its UTxO also collects the incentives (a second policy)."""
VAULT_MINIMUM_LOVELACE = 10_000_000
"""What a vault UTxO must always keep (the vault validator's minimum)."""


def pointer_script() -> bytes:
    """The pointer minting policy applied to the devnet starter NFT (ledger form)."""
    return project_deployment().pointer_script


def sale_script() -> bytes:
    """The sale validator applied to the devnet starter NFT (ledger form)."""
    return project_deployment().sale_script


def queue_script() -> bytes:
    """The queue validator applied to the devnet starter NFT (ledger form)."""
    return project_deployment().queue_script


def vault_script() -> bytes:
    """The vault validator applied to the devnet starter NFT (ledger form)."""
    return project_deployment().vault_script


def pointer_policy() -> bytes:
    """The devnet pointer policy id (the applied pointer script's hash)."""
    return project_deployment().pointer_policy


def sale_script_hash() -> bytes:
    """The devnet sale validator's hash (the applied sale script's hash)."""
    return project_deployment().sale_script_hash


def queue_script_hash() -> bytes:
    """The devnet queue validator's hash (the applied queue script's hash)."""
    return project_deployment().queue_script_hash


def vault_script_hash() -> bytes:
    """The devnet vault validator's hash (the applied vault script's hash)."""
    return project_deployment().vault_script_hash


_LAZY_HASHES = {
    "POINTER_POLICY": pointer_policy,
    "SALE_SCRIPT_HASH": sale_script_hash,
    "QUEUE_SCRIPT_HASH": queue_script_hash,
    "VAULT_SCRIPT_HASH": vault_script_hash,
}


def __getattr__(name: str) -> bytes:
    """`POINTER_POLICY`, `SALE_SCRIPT_HASH`, `QUEUE_SCRIPT_HASH` and `VAULT_SCRIPT_HASH` of the
    project's deployment, computed on first use (applying a script imports uplc, which would make
    importing this module slow)."""
    if name in _LAZY_HASHES:
        return _LAZY_HASHES[name]()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def oracle_address(network_id: int = 0) -> bytes:
    """The devnet oracle's address (a script address nothing can spend from)."""
    return script_address(ORACLE_SCRIPT_HASH, None, network_id)


def sale_address(network_id: int = 0, deployment: Deployment | None = None) -> bytes:
    """The sale contract's address: the applied sale validator with the stake stand-in."""
    d = deployment or project_deployment()
    return script_address(d.sale_script_hash, STAKE_SCRIPT_HASH, network_id)


def queue_address(network_id: int = 0, deployment: Deployment | None = None) -> bytes:
    """Where orders go: the applied queue validator with the stake part, so batchers see them."""
    d = deployment or project_deployment()
    return script_address(d.queue_script_hash, STAKE_SCRIPT_HASH, network_id)


def vault_address(network_id: int = 0, deployment: Deployment | None = None) -> bytes:
    """Where purchases pay the profit: the applied vault validator with the stake part."""
    d = deployment or project_deployment()
    return script_address(d.vault_script_hash, STAKE_SCRIPT_HASH, network_id)


def reference_data_address(network_id: int = 0, deployment: Deployment | None = None) -> bytes:
    return (deployment or project_deployment()).reference_data_address(network_id)


def script_store_address(network_id: int = 0) -> bytes:
    return script_address(SCRIPT_STORE_HASH, None, network_id)


ORACLE_FEED_ASSET: AssetId = (ORACLE_FEED_POLICY, ORACLE_FEED_NAME)


# -- the parsed seed ------------------------------------------------------------------------------


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


# -- applying a seed ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SeededOracle:
    address: bytes
    feed_asset: AssetId
    utxo: Utxo
    datum: OracleDatum


@dataclass(frozen=True, slots=True)
class SeededSale:
    sale: Sale
    utxo: Utxo | None  # None once the sale UTxO is no longer on the ledger (ended)


@dataclass(frozen=True, slots=True)
class SeededContracts:
    """The deployed marketplace: what the sale and batch builders and the service read.

    UTxOs that transactions spend (the vault, the batcher's certificate) are the ones on the
    ledger when the seed was (re)applied.
    """

    starter_nft: AssetId
    reference_utxo: Utxo  # the starter NFT with the inline ReferenceDatum
    reference_datum: ReferenceDatum
    pointer_script_utxo: Utxo  # reference script: the pointer minting policy
    sale_script_utxo: Utxo  # reference script: the sale validator
    pointer_policy: bytes
    sale_script_hash: bytes
    sale_address: bytes
    queue_address: bytes  # the queue validator with the stake part
    queue_script_utxo: Utxo  # reference script: the queue validator
    vault_script_utxo: Utxo  # reference script: the vault validator
    queue_script_hash: bytes
    vault_script_hash: bytes
    vault_address: bytes
    batcher_certificate: AssetId
    certificate_utxo: Utxo | None  # the batcher's UTxO holding the certificate
    vault_utxo: Utxo | None  # owned by the batcher; None when the profit margin is zero


@dataclass(frozen=True, slots=True)
class SeedResult:
    """What a seed put on the ledger; `applied` is False when the ledger already held it."""

    seed: Seed
    applied: bool
    wallets: dict[str, SyntheticWallet]
    oracle: SeededOracle | None
    sales: tuple[SeededSale, ...]
    marketplace: MarketplaceConfig | None
    cash_register: SyntheticWallet | None  # its key is the hot key
    users: tuple[SeedUser, ...]
    token_ids: dict[str, str]
    contracts: SeededContracts | None = None
    collateral: SyntheticWallet | None = None  # the operator's collateral key and UTxOs
    batcher: SyntheticWallet | None = None  # holds the batcher certificate, owns the vault

    @property
    def hot_key(self) -> SyntheticWallet | None:
        return self.cash_register


def seed_tag(seed: Seed) -> int:
    """The integer a seeded ledger records for `seed` (its hash's first 7 bytes)."""
    return int.from_bytes(seed.hash[:7], "big")


def ledger_seed_tag(ledger: Ledger) -> int | None:
    """The seed tag a ledger records; None when it was never seeded (or was reset)."""
    return ledger.store.meta(SEED_HASH_META)


def apply_seed(ledger: Ledger, seed: Seed) -> SeedResult:
    """Put `seed` on `ledger` in one genesis transaction; a no-op when it is there already.

    Raises SeedError when the ledger holds a different seed (reset it first) or when a declared
    output is below the ledger's minimum ADA.
    """
    network = ledger.network_id
    keys = {name: wallet(name, network) for name in sorted(seed.wallets)}
    with ledger.store.write():
        recorded = ledger_seed_tag(ledger)
        if recorded is not None and recorded != seed_tag(seed):
            raise SeedError(
                "$",
                "this ledger was seeded from a different seed; reset it first "
                "(cardano-market devnet reset)",
            )
        applied = recorded is None
        if applied:
            now_ms = ledger.slot_config.slot_to_posix_ms(ledger.current_slot())
            outputs = _wallet_outputs(ledger, seed, keys)
            oracle_out = _oracle_output(ledger, seed, now_ms)
            if oracle_out is not None:
                outputs.append(oracle_out)
            outputs += _contract_outputs(ledger, seed, keys)
            outputs += [_sale_output(ledger, seed, sale, keys) for sale in seed.sales]
            ledger.genesis(outputs)
            ledger.store.set_meta(SEED_HASH_META, seed_tag(seed))
    oracle = _find_oracle(ledger, seed)
    sales = tuple(_seeded_sale(ledger, seed, sale, keys) for sale in seed.sales)
    return SeedResult(
        seed=seed,
        applied=applied,
        wallets=keys,
        oracle=oracle,
        sales=sales,
        marketplace=seed.marketplace,
        cash_register=keys[seed.cash_register] if seed.cash_register else None,
        users=seed.users,
        token_ids=dict(seed.token_ids),
        contracts=_find_contracts(ledger, seed, keys[seed.batcher] if seed.batcher else None),
        collateral=keys[seed.collateral] if seed.collateral else None,
        batcher=keys[seed.batcher] if seed.batcher else None,
    )


def hot_key_hash(seed: Seed) -> bytes:
    """The ReferenceDatum's hot key: the cash register's key hash (a label-derived hash when the
    seed names no cash register: then nobody can start sales, but seeded ones can be ended)."""
    if seed.cash_register is None:
        return _hash28("hot key")
    return wallet(seed.cash_register).payment_key.hash


def reference_datum(seed: Seed) -> ReferenceDatum:
    """The devnet ReferenceDatum (PROTOCOL section 1) for `seed`."""
    hot_key = hot_key_hash(seed)
    market = seed.marketplace
    profit = (market.currency if market else None) or (b"", b"")
    deployed = seed.contracts
    return ReferenceDatum(
        hot_key=hot_key,
        keepers=Keepers((_hash28("keeper"),), 1),
        staking=Staking(_hash28("stake pool"), Wallet(hot_key)),
        contracts=Contracts(
            sale=deployed.sale_script_hash,
            queue=deployed.queue_script_hash,
            band=BAND_SCRIPT_HASH,
            vault=deployed.vault_script_hash,
            stake=STAKE_SCRIPT_HASH,
        ),
        fees=seed.fee_bounds,
        pointer=deployed.pointer_policy,
        batcher_data=BatcherData(
            _hash28("monster 1"),
            _hash28("monster 2"),
            (BATCHER_PREFIX,),
            BATCHER_POLICY,
        ),
        profit_data=ProfitData(
            ORACLE_SCRIPT_HASH,
            ORACLE_FEED_POLICY,
            ORACLE_FEED_NAME,
            profit[0],
            profit[1],
            market.profit_amount_usd if market else 0,
        ),
    )


def _contract_outputs(
    ledger: Ledger, seed: Seed, keys: Mapping[str, SyntheticWallet]
) -> list[TxOutput]:
    """The starter NFT with the ReferenceDatum, the pointer, sale, queue and vault reference
    scripts, then the batcher's certificate and (with a profit margin) its vault."""
    network = ledger.network_id
    datum = reference_datum(seed)
    deployed = seed.contracts
    reference = TxOutput(
        deployed.reference_data_address(network),
        Value.of(0, {deployed.starter_nft: 1}),
        inline_datum=datum.to_cbor(),
    )
    store = script_store_address(network)
    outputs = [reference] + [
        TxOutput(store, Value(0), script_ref=cbor2.dumps([PLUTUS_V3, script]))
        for script in deployed.scripts
    ]
    if seed.batcher is not None:
        batcher = keys[seed.batcher]
        certificate = Value.of(CERTIFICATE_LOVELACE, {BATCHER_CERTIFICATE: 1})
        outputs.append(TxOutput(batcher.address, certificate))
        if datum.profit_data.profit_margin != 0:
            owner = Wallet(batcher.payment_key.hash).to_cbor()
            vault = Value(VAULT_MINIMUM_LOVELACE)
            vault_at = vault_address(network, deployed)
            outputs.append(TxOutput(vault_at, vault, inline_datum=owner))
    return [o.with_min_ada(ledger.params) for o in outputs]


def _find_contracts(
    ledger: Ledger, seed: Seed, batcher: SyntheticWallet | None
) -> SeededContracts | None:
    network = ledger.network_id
    deployed = seed.contracts
    holders = [
        (u, u.inline_datum)
        for u in ledger.utxos_at(deployed.reference_data_address(network))
        if u.value.quantity(deployed.starter_nft) == 1
    ]
    if not holders:
        return None
    reference_utxo, datum = holders[0]
    if datum is None:
        raise SeedError("$", "the starter NFT's UTxO has lost its ReferenceDatum")
    by_script = {
        u.script_ref: u
        for u in ledger.utxos_at(script_store_address(network))
        if u.script_ref is not None
    }
    found = [by_script.get(cbor2.dumps([PLUTUS_V3, s])) for s in deployed.scripts]
    pointer_utxo, sale_utxo, queue_utxo, vault_utxo = found
    if pointer_utxo is None or sale_utxo is None or queue_utxo is None or vault_utxo is None:
        raise SeedError("$", "the seeded reference-script UTxOs are missing from the ledger")
    certificates = [] if batcher is None else ledger.utxos_at(batcher.address)
    owner = None if batcher is None else Wallet(batcher.payment_key.hash).to_cbor()
    vault_at = vault_address(network, deployed)
    vaults = [u for u in ledger.utxos_at(vault_at) if u.inline_datum == owner]
    return SeededContracts(
        starter_nft=deployed.starter_nft,
        reference_utxo=reference_utxo,
        reference_datum=ReferenceDatum.from_cbor(datum),
        pointer_script_utxo=pointer_utxo,
        sale_script_utxo=sale_utxo,
        pointer_policy=deployed.pointer_policy,
        sale_script_hash=deployed.sale_script_hash,
        sale_address=sale_address(network, deployed),
        queue_address=queue_address(network, deployed),
        queue_script_utxo=queue_utxo,
        vault_script_utxo=vault_utxo,
        queue_script_hash=deployed.queue_script_hash,
        vault_script_hash=deployed.vault_script_hash,
        vault_address=vault_at,
        batcher_certificate=BATCHER_CERTIFICATE,
        certificate_utxo=next(
            (u for u in certificates if u.value.quantity(BATCHER_CERTIFICATE)), None
        ),
        vault_utxo=vaults[0] if vaults else None,
    )


def _wallet_outputs(
    ledger: Ledger, seed: Seed, keys: Mapping[str, SyntheticWallet]
) -> list[TxOutput]:
    outputs: list[TxOutput] = []
    for name, spec in sorted(seed.wallets.items()):
        share, rest = divmod(spec.lovelace, spec.utxos)
        tokens = {seed.asset(t): q for t, q in spec.assets.items()}
        for i in range(spec.utxos):
            coin = share + (rest if i == 0 else 0)
            out = TxOutput(keys[name].address, Value.of(coin, tokens if i == 0 else None))
            needed = out.min_ada(ledger.params)
            if coin < needed:
                raise SeedError(
                    f"$.wallets.{name}.lovelace",
                    f"UTxO {i} of this wallet would hold {coin} lovelace, below the minimum "
                    f"ADA of {needed} for its value; raise lovelace or lower utxos",
                )
            outputs.append(out)
    return outputs


def _oracle_output(ledger: Ledger, seed: Seed, now_ms: int) -> TxOutput | None:
    if seed.oracle is None:
        return None
    datum = OracleDatum(
        seed.oracle.price,
        now_ms + seed.oracle.start_offset_ms,
        now_ms + seed.oracle.end_offset_ms,
    )
    out = TxOutput(
        oracle_address(ledger.network_id),
        Value.of(0, {ORACLE_FEED_ASSET: 1}),
        inline_datum=datum.to_cbor(),
    )
    return out.with_min_ada(ledger.params)


def sale_pointer_name(sale_id: str) -> bytes:
    """The pointer name of a seeded sale: `domain.pointer` over a pseudo input
    `(blake2b-256("cardano-market devnet sale start/<id>"), 0)`."""
    pseudo_tx = hashlib.blake2b(f"{_LABEL} sale start/{sale_id}".encode(), digest_size=32)
    return pointer_asset_name([(pseudo_tx.digest(), 0)])


def _sale_output(
    ledger: Ledger, seed: Seed, sale: SeedSale, keys: Mapping[str, SyntheticWallet]
) -> TxOutput:
    bundle = seed.asset(sale.bundle_token)
    cost = USD if sale.cost_token is None else seed.asset(sale.cost_token)
    datum = SaleDatum(
        wallet_from_address(keys[sale.owner].address),
        Token.of(bundle, sale.bundle_amount),
        Token.of(cost, sale.cost_amount),
    )
    value = Value.of(
        seed.marketplace.sale_lovelace if seed.marketplace else 0,
        {
            bundle: sale.bundle_amount * sale.total_bundle_quantity,
            (seed.contracts.pointer_policy, sale_pointer_name(sale.id)): 1,
        },
    )
    address = sale_address(ledger.network_id, seed.contracts)
    out = TxOutput(address, value, inline_datum=datum.to_cbor())
    return out.with_min_ada(ledger.params)


def _find_oracle(ledger: Ledger, seed: Seed) -> SeededOracle | None:
    if seed.oracle is None:
        return None
    address = oracle_address(ledger.network_id)
    for utxo in ledger.utxos_at(address):
        if utxo.value.quantity(ORACLE_FEED_ASSET) and utxo.inline_datum is not None:
            datum = OracleDatum.from_cbor(utxo.inline_datum)
            return SeededOracle(address, ORACLE_FEED_ASSET, utxo, datum)
    raise SeedError("$.oracle", "the seeded oracle UTxO is missing from the ledger")


def _seeded_sale(
    ledger: Ledger, seed: Seed, sale: SeedSale, keys: Mapping[str, SyntheticWallet]
) -> SeededSale:
    pointer = sale_pointer_name(sale.id)
    cost: AssetId | None = None if sale.cost_token is None else seed.asset(sale.cost_token)
    record = Sale(
        id=sale.id,
        status=SaleStatus.STARTED,
        pointer_name=pointer,
        owner_address=keys[sale.owner].address,
        bundle=seed.asset(sale.bundle_token),
        bundle_amount=sale.bundle_amount,
        cost=cost,
        cost_amount=sale.cost_amount,
        total_bundle_quantity=sale.total_bundle_quantity,
        available_bundle_quantity=sale.total_bundle_quantity,
    )
    deployed = seed.contracts
    holders = [
        u
        for u in ledger.utxos_at(sale_address(ledger.network_id, deployed))
        if u.value.quantity((deployed.pointer_policy, pointer))
    ]
    return SeededSale(record, holders[0] if holders else None)
