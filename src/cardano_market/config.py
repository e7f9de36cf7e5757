"""Service configuration from `CARDANO_MARKET_*` environment variables and an optional env file.

Validated once, at start-up, so a misconfigured service refuses to start with a message naming
the variable instead of failing on its first request. Importing this module imports pydantic
(about 0.2 s): import it inside the command that builds settings, never at the CLI's top level.
Secrets are `SecretStr` and the database URL is left out of `repr`, so logging settings is safe.
"""

from __future__ import annotations

import enum
import json
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import (
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .domain.address import decode_address, parse_address
from .domain.cip30 import OutRef
from .domain.errors import AddressError, ConfigError, InvalidValueError
from .domain.pricing import MarketplaceConfig
from .domain.values import asset_from_unit, unit_of

ENV_PREFIX = "CARDANO_MARKET_"

DEFAULT_DATABASE_URL = "sqlite:///cardano-market.db"
"""A SQLite file in the working directory (`store.db.DEFAULT_DATABASE_URL`, kept equal by a test;
not imported from there so that reading settings does not import SQLAlchemy)."""


class Network(enum.StrEnum):
    DEVNET = "devnet"
    PREVIEW = "preview"
    PREPROD = "preprod"
    MAINNET = "mainnet"

    @property
    def is_real(self) -> bool:
        """A public network: real users, real tokens, Blockfrost as the chain backend."""
        return self is not Network.DEVNET


def env_name(field: str) -> str:
    """The environment variable that sets `field` (`recaptcha_api_key` -> ..._RECAPTCHA_API_KEY)."""
    return ENV_PREFIX + field.upper()


_CONTRACT_ADDRESS_FIELDS = (
    "queue_address",
    "cash_register_address",
    "sale_address",
    "oracle_address",
    "oracle_feed_unit",
)
"""What a public network must be told (the devnet's seed provides them)."""


class Settings(BaseSettings):
    """Everything the service reads at start-up. Build it with `load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        extra="forbid",
        frozen=True,
        hide_input_in_errors=True,
        validate_default=True,
    )

    network: Network = Network.DEVNET
    database_url: str = Field(DEFAULT_DATABASE_URL, repr=False, min_length=1)
    """SQLite (`sqlite:///FILE`) or PostgreSQL (`postgresql+psycopg://user:pw@host/db`)."""
    seed: Path | None = None
    """Devnet seed file (wallets, tokens, oracle, sales); None: the embedded demo seed."""
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)

    recaptcha_enabled: bool | None = None
    """None: enabled everywhere but on the devnet."""
    recaptcha_assessment_url: str | None = None
    recaptcha_api_key: SecretStr | None = None
    recaptcha_web_site_key: str | None = None
    recaptcha_android_site_key: str | None = None
    recaptcha_ios_site_key: str | None = None
    recaptcha_min_score: float = Field(0.5, ge=0.0, le=1.0)
    """A risk score in [0, 1], not an amount: the one float this configuration holds."""
    recaptcha_timeout_seconds: float = Field(5.0, gt=0.0, le=60.0)
    unsafe_allow_no_recaptcha: bool = False
    """Run on a public network without reCAPTCHA (load tests, private deployments)."""

    devnet_path: Path = Path("devnet.db")
    """The devnet ledger's SQLite file (created and seeded at start when missing)."""

    queue_address: str | None = None
    """bech32 queue contract address (with its stake part); devnet: the seed's."""
    cash_register_address: str | None = None
    """bech32 address receiving service fees; devnet: the seed's cash register wallet."""
    sale_address: str | None = None
    """bech32 sale contract address (where sale UTxOs sit); devnet: the seed's."""
    oracle_address: str | None = None
    """bech32 address of the oracle (Charli3) price feed UTxO; devnet: the seed's."""
    oracle_feed_unit: str | None = None
    """The feed NFT as a Blockfrost unit (policy hex + name hex); devnet: the seed's."""
    reference_address: str | None = None
    """bech32 address of the reference-data UTxO (starter NFT + ReferenceDatum); sale start/end."""
    starter_nft_unit: str | None = None
    """The starter NFT as a Blockfrost unit; sale start/end read the live ReferenceDatum by it."""
    pointer_script_ref: str | None = None
    """`txhash#index` of the UTxO holding the pointer policy as a reference script."""
    sale_script_ref: str | None = None
    """`txhash#index` of the UTxO holding the sale validator as a reference script."""
    queue_script_ref: str | None = None
    """`txhash#index` of the UTxO holding the queue validator as a reference script (batcher)."""
    vault_script_ref: str | None = None
    """`txhash#index` of the UTxO holding the vault validator as a reference script (batcher)."""
    batcher_key: SecretStr | None = None
    """The batcher's signing key (holds the batcher certificate, owns its vault), same forms as
    the operator keys; the batcher's collateral is the operator collateral key. Devnet: the
    seed's batcher wallet."""
    batcher_address: str | None = None
    """bech32 address where the batcher's certificate UTxO sits; default the batcher key's
    enterprise address. Its payment part must be the batcher key's."""
    collateral_address: str | None = None
    """bech32 address of the collateral key's UTxOs for the batcher; default the key's
    enterprise address. Its payment part must be the collateral key's."""
    settle_interval_seconds: float = Field(2.0, gt=0, le=3600)
    """How often the chain monitor and the batcher poll."""
    monitor_confirmations: int = Field(0, ge=0, le=100)
    """Blocks a change must be buried under before the monitor applies it (0 on the devnet;
    use 3 or more on public networks)."""
    order_validity_seconds: int = Field(900, ge=60, le=86_400)
    """How long an issued order transaction stays valid on chain (its TTL), in seconds."""
    operator_hot_key: SecretStr | None = None
    """Sale start: the hot key (cash register) signing key, 64 hex digits (Ed25519 seed) or a
    cardano-cli `.skey` file path; devnet: the seed's cash register wallet."""
    operator_collateral_key: SecretStr | None = None
    """Sale start/end: the collateral key, same forms; devnet: the seed's collateral wallet."""

    blockfrost_project_id: SecretStr | None = None
    blockfrost_url: str | None = None
    """Blockfrost-compatible base URL; None: Blockfrost's own for the network."""

    marketplace: Annotated[dict[str, Any] | None, NoDecode] = None
    """PROTOCOL section 3 settings as JSON (`{"currency": "<unit>", "serviceFeePercentage": ...}`);
    numbers with a fraction are read as exact decimals, never as binary floats."""
    marketplace_file: Path | None = None
    """The same JSON, from a file."""

    jwt_secret: SecretStr | None = None
    """v2 (custodial API): the HS256 secret of the Bearer tokens (32+ bytes). Not used by v1."""
    jwt_public_key: str | None = None
    """v2: the token issuer's RSA public key (PEM): tokens are RS256 instead of HS256."""
    jwt_public_key_file: Path | None = None
    """The same PEM, from a file."""
    jwt_audience: str | None = None
    """v2: when set, tokens must carry this `aud`."""
    jwt_issuer: str | None = None
    """v2: when set, tokens must carry this `iss`."""
    key_encryption_key: SecretStr | None = None
    """v2: encrypts custodial wallet keys at rest (32 bytes, hex or base64). Required off the
    devnet; a devnet without it keeps a generated key beside its SQLite file
    (`security.keystore`)."""
    key_encryption_keys_retired: SecretStr | None = None
    """v2: earlier key-encryption keys, comma-separated (same forms): they still open wallets
    sealed before a rotation, never seal new ones. `cardano-market keys rotate` re-seals every
    wallet under `KEY_ENCRYPTION_KEY`, after which they can be removed."""
    primary_price_slippage_percentage: Decimal = Field(Decimal(0), ge=0, le=100)
    """v2: how far above its quote (percent, exact decimal) a primary purchase may be paid when
    the oracle price moved before the worker builds it; 0: never more than quoted."""

    escrow_key: SecretStr | None = None
    """v2: the escrow wallet's signing key (64 hex digits or a `.skey` path): deals' tokens wait
    at its enterprise address. Devnet: a derived wallet. Unset elsewhere: selling answers 503."""
    platform_fee_address: str | None = None
    """v2: bech32 address paid the platform fee of secondary purchases (devnet: a derived
    wallet; elsewhere default the cash register address)."""
    node_fee_address: str | None = None
    """v2: bech32 address paid the node fee of secondary purchases (same defaults)."""
    platform_fee_percentage: Decimal = Field(Decimal(3), ge=0, le=100)
    """v2: the platform fee, percent of a secondary purchase's price (exact decimal)."""
    node_fee_percentage: Decimal = Field(Decimal(2), ge=0, le=100)
    """v2: the node fee, percent of a secondary purchase's price (exact decimal)."""
    worker_poll_ms: int = Field(500, ge=10, le=60_000)
    """v2 worker: how long an idle worker waits before looking for work again."""
    worker_lease_seconds: int = Field(120, ge=5, le=3600)
    """v2 worker: how long a claimed transaction stays with its worker without progress."""

    max_body_bytes: int = Field(2 * 1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    """Request bodies larger than this are refused (413) while being read."""
    rate_limit_enabled: bool = True
    """Per client IP and per user, per route class (build, submit, read): 429 over the limit."""
    rate_limit_build: Annotated[str | None, Field(min_length=1)] = None
    """`limits` notation (`120/minute`); default 120/minute, 100000/minute on the devnet."""
    rate_limit_submit: Annotated[str | None, Field(min_length=1)] = None
    """Default 60/minute, 20000/minute on the devnet."""
    rate_limit_read: Annotated[str | None, Field(min_length=1)] = None
    """Default 600/minute, 100000/minute on the devnet."""
    rate_limit_storage_url: str = Field("memory://", repr=False)
    """`memory://` (one process) or `redis://host:6379/0` (shared by every replica)."""
    trusted_proxy_header: str | None = None
    """Behind a reverse proxy: the header it writes the client's address in (e.g.
    `X-Forwarded-For`, first address). Unset, the peer address is the client."""
    cors_allowed_origins: Annotated[tuple[str, ...], NoDecode] = ()
    """Comma-separated origins browsers may call the API from (none by default)."""
    submit_relay: bool = False
    """submitTx relays transactions this service did not issue (off: 404 for those)."""
    jwt_leeway_seconds: int = Field(30, ge=0, le=300)
    """v2: clock skew allowed on `exp`, `nbf` and `iat`."""
    jwt_max_lifetime_seconds: int = Field(86_400, ge=60, le=30 * 86_400)
    """v2: tokens whose `exp` lies further than this past `iat` (or now) are refused."""
    metrics_token: SecretStr | None = None
    """`/metrics` needs `Authorization: Bearer <token>` (with `METRICS_PORT` unset). On a public
    network one of the two is required: the metrics never sit open on the API port."""
    metrics_port: int | None = Field(None, ge=1, le=65535)
    """Serve `/metrics` on this port (on the API's host) instead of the API port."""
    allow_remote_devnet: bool = False
    """Let the devnet listen on a non-loopback address (it serves admin tokens and signs for
    its wallets: anyone who reaches it can use them)."""
    purge_interval_seconds: float = Field(300.0, gt=0, le=86_400)
    """How often the serve process (or `settle`) purges expired rows."""
    idempotency_retention_seconds: int = Field(7 * 86_400, ge=3600, le=365 * 86_400)
    """How long v2 idempotency records are kept."""

    # -- network profiles (issue 14): preprod and mainnet's deployment shipped as data ----------
    network_profile: bool = True
    """Fill the settings left unset from the network's profile (`domain/network_<name>.json`:
    NEWM's preprod or mainnet deployment) and check the live ReferenceDatum against it at
    start; false: every deployment setting must be given."""
    monitor_from_block: int | None = Field(None, ge=0)
    """The deployment's first block (the profile's): the monitor never looks further back."""

    _marketplace_config: MarketplaceConfig | None = PrivateAttr(default=None)
    _jwt_public_key_pem: str | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _network_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("recaptcha_enabled") in (None, ""):
            network = str(data.get("network") or Network.DEVNET).strip().lower()
            data = {**data, "recaptcha_enabled": network != Network.DEVNET}
        return data

    @model_validator(mode="before")
    @classmethod
    def _profile_defaults(cls, data: Any) -> Any:
        """Settings left unset take the network profile's values (settings always win)."""
        if not isinstance(data, dict) or str(
            data.get("network_profile", "true")
        ).strip().lower() in (
            "false",
            "0",
            "no",
        ):
            return data
        from .domain.profiles import profile_for

        profile = profile_for(str(data.get("network") or "").strip().lower())
        if profile is None:
            return data
        filled = {k: v for k, v in profile.settings().items() if data.get(k) in (None, "")}
        unset = data.get("marketplace") in (None, "") and data.get("marketplace_file") in (None, "")
        if profile.currency is not None and unset:
            filled["marketplace"] = {"currency": profile.currency}
        return {**data, **filled}

    @field_validator("network", mode="before")
    @classmethod
    def _lower_network(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("marketplace", mode="before")
    @classmethod
    def _parse_marketplace(cls, value: Any) -> Any:
        if isinstance(value, str):
            return _json_object(value, env_name("marketplace"))
        return value

    @field_validator("cors_allowed_origins", mode="before")
    @classmethod
    def _origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip().rstrip("/") for part in value.split(",") if part.strip())
        return value

    @field_validator("rate_limit_build", "rate_limit_submit", "rate_limit_read")
    @classmethod
    def _rate(cls, value: str | None) -> str | None:
        return None if value is None else check_rate_limit(value)

    @field_validator("recaptcha_assessment_url", "blockfrost_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in ("http", "https"):
            raise ValueError(f"must be an http(s) URL, got {value!r}")
        return value

    @field_validator(
        "queue_address",
        "cash_register_address",
        "sale_address",
        "oracle_address",
        "reference_address",
        "batcher_address",
        "collateral_address",
        "platform_fee_address",
        "node_fee_address",
    )
    @classmethod
    def _bech32_address(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_address(decode_address(value))
            except AddressError as exc:
                raise ValueError(f"not a Shelley address: {exc}") from None
        return value

    @field_validator(
        "pointer_script_ref", "sale_script_ref", "queue_script_ref", "vault_script_ref"
    )
    @classmethod
    def _out_ref(cls, value: str | None) -> str | None:
        if value is not None:
            parse_out_ref(value)
        return value

    @field_validator("oracle_feed_unit", "starter_nft_unit")
    @classmethod
    def _unit(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                asset_from_unit(value)
            except InvalidValueError as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_serializer("database_url")
    def _redacted_database_url(self, value: str) -> str:
        return redact_url(value)

    @model_validator(mode="after")
    def _check(self) -> Settings:
        problems: list[str] = []
        self._marketplace_config = self._read_marketplace(problems)
        if self.recaptcha_enabled:
            missing = [
                env_name(name)
                for name in ("recaptcha_assessment_url", "recaptcha_api_key")
                if getattr(self, name) is None
            ]
            if missing:
                verb = "is" if len(missing) == 1 else "are"
                problems.append(f"reCAPTCHA is enabled but {' and '.join(missing)} {verb} not set")
            if not self.recaptcha_site_keys:
                problems.append(
                    "reCAPTCHA is enabled but no site key is set: set at least one of "
                    + ", ".join(
                        env_name(f"recaptcha_{p}_site_key") for p in ("web", "android", "ios")
                    )
                )
        elif self.network.is_real and not self.unsafe_allow_no_recaptcha:
            problems.append(
                f"refusing to start on {self.network} with reCAPTCHA disabled: set "
                f"{env_name('recaptcha_enabled')}=true (with its assessment URL, API key and site "
                f"keys), or {env_name('unsafe_allow_no_recaptcha')}=true to run unprotected"
            )
        if self.network.is_real:
            if self.blockfrost_project_id is None and self.blockfrost_url is None:
                problems.append(
                    f"{self.network} needs a chain backend: set {env_name('blockfrost_project_id')}"
                )
            missing = [
                env_name(name) for name in _CONTRACT_ADDRESS_FIELDS if getattr(self, name) is None
            ]
            if missing:
                problems.append(
                    f"{self.network} needs the contract addresses: set {', '.join(missing)}"
                )
            if self._marketplace_config is None and not any("marketplace" in p for p in problems):
                problems.append(
                    f"{self.network} needs the marketplace settings (at least the currency): set "
                    f"{env_name('marketplace')} (JSON) or {env_name('marketplace_file')}"
                )
        self._check_v2(problems)
        if self.network.is_real:
            self._check_public(problems)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _check_v2(self, problems: list[str]) -> None:
        """The custodial API's keys: one token algorithm, readable keys, and no custodial key
        unencrypted off the devnet."""
        from .domain.errors import ConfigError
        from .security.jwt_auth import load_rsa_public_key, read_public_key_file
        from .security.keystore import parse_key_encryption_key, parse_retired_keys

        path = self.jwt_public_key_file
        if self.jwt_public_key is not None and path is not None:
            problems.append(
                f"set {env_name('jwt_public_key')} or {env_name('jwt_public_key_file')}, not both"
            )
        elif self.jwt_public_key is not None or path is not None:
            source = env_name("jwt_public_key" if path is None else "jwt_public_key_file")
            try:
                pem = self.jwt_public_key if path is None else read_public_key_file(path)
                load_rsa_public_key(pem or "")
                self._jwt_public_key_pem = pem
            except ConfigError as exc:
                problems.append(f"{source}: {exc}")
            if self.jwt_secret is not None:
                problems.append(
                    f"set {env_name('jwt_secret')} (HS256) or a JWT public key (RS256), not both: "
                    "one deployment accepts one token algorithm"
                )
        if self.key_encryption_key is not None:
            try:
                parse_key_encryption_key(
                    self.key_encryption_key.get_secret_value(),
                    source=env_name("key_encryption_key"),
                )
            except ConfigError as exc:
                problems.append(str(exc))
            if self.key_encryption_keys_retired is not None:
                try:
                    parse_retired_keys(
                        self.key_encryption_keys_retired.get_secret_value(),
                        source=env_name("key_encryption_keys_retired"),
                    )
                except ConfigError as exc:
                    problems.append(str(exc))
        elif self.key_encryption_keys_retired is not None:
            problems.append(
                f"{env_name('key_encryption_keys_retired')} needs {env_name('key_encryption_key')}"
                ": retired keys only open wallets, the current key seals them"
            )
        elif self.network.is_real:
            problems.append(
                f"refusing to start on {self.network} without {env_name('key_encryption_key')}: "
                "custodial wallet keys are never stored unencrypted (32 random bytes as hex or "
                "base64, e.g. `openssl rand -base64 32`)"
            )

    def _check_public(self, problems: list[str]) -> None:
        """Settings that are fine on a laptop and dangerous on a public network."""
        url = self.recaptcha_assessment_url
        if self.recaptcha_enabled and url is not None and urlsplit(url).scheme != "https":
            problems.append(
                f"{env_name('recaptcha_assessment_url')} must be https on {self.network}: the API"
                " key travels in its query"
            )
        if self.recaptcha_enabled and self.recaptcha_min_score < 0.1:
            problems.append(
                f"{env_name('recaptcha_min_score')} must be at least 0.1 on {self.network}"
                f" (got {self.recaptcha_min_score}): 0 lets every bot through"
            )
        if self.metrics_token is None and self.metrics_port is None:
            problems.append(
                f"/metrics must not be public on {self.network}: set {env_name('metrics_port')}"
                f" (a separate port) or {env_name('metrics_token')} (a bearer token)"
            )
        if self.key_encryption_key is not None:
            from .security.keystore import parse_key_encryption_key, weak_key_reason

            try:
                key = parse_key_encryption_key(self.key_encryption_key.get_secret_value())
            except ConfigError:
                key = None  # reported by _check_v2
            reason = None if key is None else weak_key_reason(key)
            if reason is not None:
                problems.append(
                    f"{env_name('key_encryption_key')} is trivially weak ({reason}): use 32 random"
                    " bytes, e.g. `openssl rand -base64 32`"
                )
        if self.jwt_audience is None or self.jwt_issuer is None:
            problems.append(
                f"{self.network} needs {env_name('jwt_audience')} and {env_name('jwt_issuer')}:"
                " a token minted for another service must not be accepted here"
            )

    def jwt_public_key_pem(self) -> str | None:
        """The RS256 public key's PEM (from the variable or the file), None for HS256."""
        return self._jwt_public_key_pem

    def _read_marketplace(self, problems: list[str]) -> MarketplaceConfig | None:
        if self.marketplace is not None and self.marketplace_file is not None:
            problems.append(
                f"set {env_name('marketplace')} or {env_name('marketplace_file')}, not both"
            )
            return None
        source, mapping = env_name("marketplace"), self.marketplace
        if self.marketplace_file is not None:
            source = f"{env_name('marketplace_file')} ({self.marketplace_file})"
            try:
                text = self.marketplace_file.read_text(encoding="utf-8")
            except OSError as exc:
                problems.append(f"{source}: cannot read: {exc.strerror or exc}")
                return None
            try:
                mapping = _json_object(text, source)
            except ValueError as exc:
                problems.append(str(exc))
                return None
        if mapping is None:
            return None
        try:
            return MarketplaceConfig.from_mapping(mapping)
        except ConfigError as exc:
            problems.append(f"{source}: {exc}")
            return None

    @property
    def marketplace_config(self) -> MarketplaceConfig | None:
        """The parsed marketplace settings; None on a devnet left to its seed's defaults."""
        return self._marketplace_config

    @property
    def recaptcha_site_keys(self) -> dict[str, str]:
        """Platform header value (lowercase) -> site key, for the platforms configured."""
        keys = {
            "web": self.recaptcha_web_site_key,
            "android": self.recaptcha_android_site_key,
            "ios": self.recaptcha_ios_site_key,
        }
        return {platform: key for platform, key in keys.items() if key}

    def describe(self) -> dict[str, object]:
        """A summary for the start-up log line: no secret, the database password masked."""
        currency = self._marketplace_config.currency if self._marketplace_config else None
        return {
            "network": self.network.value,
            "database": redact_url(self.database_url),
            "listen": f"{self.host}:{self.port}",
            "seed": str(self.seed) if self.seed else None,
            "recaptcha": bool(self.recaptcha_enabled),
            "recaptchaPlatforms": sorted(self.recaptcha_site_keys),
            "blockfrost": self.blockfrost_url
            or ("configured" if self.blockfrost_project_id else None),
            "marketplaceCurrency": unit_of(currency) if currency else None,
            "v2Auth": "RS256"
            if self._jwt_public_key_pem
            else ("HS256" if self.jwt_secret else None),
        }


def load_settings(env_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Settings from the environment, then `env_file` (a .env-style file, which must exist),
    with `overrides` (e.g. command-line options) taking precedence over both.

    Raises ConfigError naming every problem and the variables that fix it.
    """
    if env_file is not None and not Path(env_file).is_file():
        raise ConfigError(f"configuration file {env_file} does not exist")
    try:
        return Settings(_env_file=env_file, **overrides)  # type: ignore[call-arg]
    except ValidationError as exc:
        raise ConfigError(_describe_errors(exc)) from None


def check_rate_limit(text: str) -> str:
    """`text` if `limits` reads it as one rate (`100/minute`, `10 per second`); ValueError."""
    from limits import parse

    try:
        parse(text)
    except ValueError as exc:
        raise ValueError(f"not a rate limit like '100/minute': {text!r} ({exc})") from None
    return text


def parse_out_ref(text: str) -> OutRef:
    """`txhash#index` (64 hex digits, a decimal index) as an out-ref; ValueError otherwise."""
    return OutRef.parse(text)


def redact_url(url: str) -> str:
    """`url` with its password, if any, replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _json_object(text: str, source: str) -> dict[str, Any]:
    try:
        value = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{source} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ValueError(f"{source} must be a JSON object")
    return value


def _describe_errors(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        message = str(error["msg"]).removeprefix("Value error, ")
        loc = [str(part) for part in error["loc"]]
        lines.append(f"{env_name(loc[0])}: {message}" if loc else message)
    return "invalid configuration: " + "; ".join(lines)
