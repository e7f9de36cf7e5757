"""The marketplace's Plutus datums (PROTOCOL section 1) as typed records, to and from CBOR.

A datum's hash depends on its exact bytes, so ours (written by `plutus_data`, definite-length as the
deployed Kotlin server writes them) are locked by hex vectors in `fixtures/vectors/datums.json`.
Decoding checks field counts, types and sizes, raising DatumError naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Self

import cbor2

from .address import HASH_SIZE, Credential, decode_address, make_address, parse_address
from .errors import AddressError, DatumError
from .plutus_data import (
    PlutusRecord,
    constr,
    kind_of,
    read_bytes,
    read_fields,
    read_hash,
    read_int,
    read_list,
)
from .values import ADA, MAX_ASSET_NAME_SIZE, AssetId

USD: AssetId = (b"USD", b"")
"""The cost-token sentinel of a USD-priced sale (amounts in USD x 10^12)."""

POINTER_NAME_SIZE = 32
DEFAULT_MAX_BUNDLE_SIZE = 2**63 - 1
"""What the deployed server writes as a sale's `max_bundle_size`."""

@dataclass(frozen=True, slots=True)
class Wallet(PlutusRecord):
    """`Constr 0 [pkh, sc]`: payment key hash and stake key hash (b"" for an enterprise address)."""

    pkh: bytes
    sc: bytes = b""

    def __post_init__(self) -> None:
        read_hash(self.pkh, "Wallet.pkh")
        read_bytes(self.sc, "Wallet.sc", (0, HASH_SIZE))

    def to_plutus(self) -> cbor2.CBORTag:
        return constr(0, [self.pkh, self.sc])

    @classmethod
    def from_plutus(cls, obj: Any, where: str | None = None) -> Self:
        where = where or "Wallet"
        pkh, sc = read_fields(obj, where, 2)
        return cls(read_hash(pkh, f"{where}.pkh"), read_bytes(sc, f"{where}.sc", (0, HASH_SIZE)))


VaultDatum = Wallet
"""The vault contract's datum is a Wallet."""


def _check_token(policy: Any, name: Any, amount: Any, where: str) -> None:
    read_bytes(policy, f"{where}.policy")
    read_bytes(name, f"{where}.name", max_size=MAX_ASSET_NAME_SIZE)
    read_int(amount, f"{where}.amount")
    if policy in (ADA[0], USD[0]):
        if name:
            which = "ADA" if policy == ADA[0] else "USD"
            raise DatumError(f"{where}.name must be empty for {which}, got {len(name)} bytes")
    elif len(policy) != HASH_SIZE:
        raise DatumError(
            f"{where}.policy must be empty (ADA), b'USD' or {HASH_SIZE} bytes, got {len(policy)}"
        )


@dataclass(frozen=True, slots=True)
class Token(PlutusRecord):
    """`Constr 0 [pid, tkn, amt]`: ADA is (b"", b""), USD is (b"USD", b"")."""

    policy: bytes
    name: bytes
    amount: int

    def __post_init__(self) -> None:
        _check_token(self.policy, self.name, self.amount, "Token")

    @classmethod
    def of(cls, asset: AssetId, amount: int) -> Token:
        return cls(asset[0], asset[1], amount)

    @property
    def asset(self) -> AssetId:
        return (self.policy, self.name)

    def to_plutus(self) -> cbor2.CBORTag:
        return constr(0, [self.policy, self.name, self.amount])

    @classmethod
    def from_plutus(cls, obj: Any, where: str | None = None) -> Self:
        where = where or "Token"
        policy, name, amount = read_fields(obj, where, 3)
        _check_token(policy, name, amount, where)
        return cls(policy, name, amount)


@dataclass(frozen=True, slots=True)
class SaleDatum(PlutusRecord):
    """`Constr 0 [owner, bundle, cost, max_bundle_size]`; amounts are per bundle."""

    owner: Wallet
    bundle: Token
    cost: Token
    max_bundle_size: int = DEFAULT_MAX_BUNDLE_SIZE

    def __post_init__(self) -> None:
        read_int(self.max_bundle_size, "SaleDatum.max_bundle_size")

    def to_plutus(self) -> cbor2.CBORTag:
        return constr(
            0,
            [
                self.owner.to_plutus(),
                self.bundle.to_plutus(),
                self.cost.to_plutus(),
                self.max_bundle_size,
            ],
        )

    @classmethod
    def from_plutus(cls, obj: Any, where: str | None = None) -> Self:
        where = where or "SaleDatum"
        owner, bundle, cost, max_size = read_fields(obj, where, 4)
        return cls(
            Wallet.from_plutus(owner, f"{where}.owner"),
            Token.from_plutus(bundle, f"{where}.bundle"),
            Token.from_plutus(cost, f"{where}.cost"),
            read_int(max_size, f"{where}.max_bundle_size"),
        )


@dataclass(frozen=True, slots=True)
class QueueDatum(PlutusRecord):
    """`Constr 0 [owner, number_of_bundles, incentive, pointer_tkn]`; incentive is ONE unit."""

    owner: Wallet
    number_of_bundles: int
    incentive: Token
    pointer_name: bytes

    def __post_init__(self) -> None:
        read_int(self.number_of_bundles, "QueueDatum.number_of_bundles")
        read_bytes(self.pointer_name, "QueueDatum.pointer_name", (POINTER_NAME_SIZE,))

    def to_plutus(self) -> cbor2.CBORTag:
        return constr(
            0,
            [
                self.owner.to_plutus(),
                self.number_of_bundles,
                self.incentive.to_plutus(),
                self.pointer_name,
            ],
        )

    @classmethod
    def from_plutus(cls, obj: Any, where: str | None = None) -> Self:
        where = where or "QueueDatum"
        owner, bundles, incentive, pointer = read_fields(obj, where, 4)
        return cls(
            Wallet.from_plutus(owner, f"{where}.owner"),
            read_int(bundles, f"{where}.number_of_bundles"),
            Token.from_plutus(incentive, f"{where}.incentive"),
            read_bytes(pointer, f"{where}.pointer_name", (POINTER_NAME_SIZE,)),
        )


# -- the reference datum and its sub-records ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Keepers(PlutusRecord):
    """`Constr 0 [pkhs, threshold]`: the multisig that may update the reference datum."""

    pkhs: tuple[bytes, ...]
    threshold: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "pkhs", tuple(self.pkhs))
        for i, pkh in enumerate(self.pkhs):
            read_hash(pkh, f"Keepers.pkhs[{i}]")
        read_int(self.threshold, "Keepers.threshold")

    def to_plutus(self) -> cbor2.CBORTag:
        return constr(0, [list(self.pkhs), self.threshold])

    @classmethod
    def from_plutus(cls, obj: Any, where: str | None = None) -> Self:
        where = where or "Keepers"
        pkhs, threshold = read_fields(obj, where, 2)
        items = read_list(pkhs, f"{where}.pkhs")
        return cls(
            tuple(read_hash(p, f"{where}.pkhs[{i}]") for i, p in enumerate(items)),
            read_int(threshold, f"{where}.threshold"),
        )


@dataclass(frozen=True, slots=True)
class Staking(PlutusRecord):
    """`Constr 0 [pool_id, reward_wallet]`."""

    pool_id: bytes
    reward_wallet: Wallet

    def __post_init__(self) -> None:
        read_hash(self.pool_id, "Staking.pool_id")

    def to_plutus(self) -> cbor2.CBORTag:
        return constr(0, [self.pool_id, self.reward_wallet.to_plutus()])

    @classmethod
    def from_plutus(cls, obj: Any, where: str | None = None) -> Self:
        where = where or "Staking"
        pool_id, wallet = read_fields(obj, where, 2)
        return cls(
            read_hash(pool_id, f"{where}.pool_id"),
            Wallet.from_plutus(wallet, f"{where}.reward_wallet"),
        )


@dataclass(frozen=True, slots=True)
class Contracts(PlutusRecord):
    """`Constr 0 [sale, queue, band, vault, stake]`: script hashes."""

    sale: bytes
    queue: bytes
    band: bytes
    vault: bytes
    stake: bytes

    def __post_init__(self) -> None:
        for name in ("sale", "queue", "band", "vault", "stake"):
            read_hash(getattr(self, name), f"Contracts.{name}")

    def to_plutus(self) -> cbor2.CBORTag:
        return constr(0, [self.sale, self.queue, self.band, self.vault, self.stake])

    @classmethod
    def from_plutus(cls, obj: Any, where: str | None = None) -> Self:
        where = where or "Contracts"
        fields = read_fields(obj, where, 5)
        names = ("sale", "queue", "band", "vault", "stake")
        sale, queue, band, vault, stake = (
            read_hash(f, f"{where}.{n}") for f, n in zip(fields, names, strict=True)
        )
        return cls(sale, queue, band, vault, stake)


@dataclass(frozen=True, slots=True)
class Fees(PlutusRecord):
    """`Constr 0 [purchase_queue_bound, refund_queue_bound, start_sale_bound]` in lovelace."""

    purchase_queue_bound: int
    refund_queue_bound: int
    start_sale_bound: int

    def __post_init__(self) -> None:
        for name in ("purchase_queue_bound", "refund_queue_bound", "start_sale_bound"):
            read_int(getattr(self, name), f"Fees.{name}")

    def to_plutus(self) -> cbor2.CBORTag:
        return constr(
            0, [self.purchase_queue_bound, self.refund_queue_bound, self.start_sale_bound]
        )

    @classmethod
    def from_plutus(cls, obj: Any, where: str | None = None) -> Self:
        where = where or "Fees"
        purchase, refund, start = read_fields(obj, where, 3)
        return cls(
            read_int(purchase, f"{where}.purchase_queue_bound"),
            read_int(refund, f"{where}.refund_queue_bound"),
            read_int(start, f"{where}.start_sale_bound"),
        )


@dataclass(frozen=True, slots=True)
class BatcherData(PlutusRecord):
    """`Constr 0 [monster_pid1, monster_pid2, monster_prefixes, batcher_pid]`."""

    monster_pid1: bytes
    monster_pid2: bytes
    monster_prefixes: tuple[bytes, ...]
    batcher_pid: bytes

    def __post_init__(self) -> None:
        object.__setattr__(self, "monster_prefixes", tuple(self.monster_prefixes))
        read_hash(self.monster_pid1, "BatcherData.monster_pid1")
        read_hash(self.monster_pid2, "BatcherData.monster_pid2")
        for i, prefix in enumerate(self.monster_prefixes):
            read_bytes(prefix, f"BatcherData.monster_prefixes[{i}]", max_size=MAX_ASSET_NAME_SIZE)
        read_hash(self.batcher_pid, "BatcherData.batcher_pid")

    def to_plutus(self) -> cbor2.CBORTag:
        return constr(
            0,
            [self.monster_pid1, self.monster_pid2, list(self.monster_prefixes), self.batcher_pid],
        )

    @classmethod
    def from_plutus(cls, obj: Any, where: str | None = None) -> Self:
        where = where or "BatcherData"
        pid1, pid2, prefixes, batcher = read_fields(obj, where, 4)
        items = read_list(prefixes, f"{where}.monster_prefixes")
        return cls(
            read_hash(pid1, f"{where}.monster_pid1"),
            read_hash(pid2, f"{where}.monster_pid2"),
            tuple(
                read_bytes(p, f"{where}.monster_prefixes[{i}]", max_size=MAX_ASSET_NAME_SIZE)
                for i, p in enumerate(items)
            ),
            read_hash(batcher, f"{where}.batcher_pid"),
        )


@dataclass(frozen=True, slots=True)
class ProfitData(PlutusRecord):
    """`Constr 0 [feed_vkh, feed_pid, feed_tkn, profit_pid, profit_tkn, profit_margin]`.

    `profit_margin` is USD x 10^12 (500000000000 = $0.50).
    """

    feed_vkh: bytes
    feed_pid: bytes
    feed_tkn: bytes
    profit_pid: bytes
    profit_tkn: bytes
    profit_margin: int

    def __post_init__(self) -> None:
        _check_profit(
            (self.feed_vkh, self.feed_pid, self.feed_tkn, self.profit_pid, self.profit_tkn),
            self.profit_margin,
            "ProfitData",
        )

    def to_plutus(self) -> cbor2.CBORTag:
        return constr(
            0,
            [
                self.feed_vkh,
                self.feed_pid,
                self.feed_tkn,
                self.profit_pid,
                self.profit_tkn,
                self.profit_margin,
            ],
        )

    @classmethod
    def from_plutus(cls, obj: Any, where: str | None = None) -> Self:
        where = where or "ProfitData"
        feed_vkh, feed_pid, feed_tkn, profit_pid, profit_tkn, margin = read_fields(obj, where, 6)
        _check_profit((feed_vkh, feed_pid, feed_tkn, profit_pid, profit_tkn), margin, where)
        return cls(feed_vkh, feed_pid, feed_tkn, profit_pid, profit_tkn, margin)


def _check_profit(names: tuple[Any, Any, Any, Any, Any], margin: Any, where: str) -> None:
    feed_vkh, feed_pid, feed_tkn, profit_pid, profit_tkn = names
    read_hash(feed_vkh, f"{where}.feed_vkh")
    read_hash(feed_pid, f"{where}.feed_pid")
    read_bytes(feed_tkn, f"{where}.feed_tkn", max_size=MAX_ASSET_NAME_SIZE)
    read_bytes(profit_pid, f"{where}.profit_pid", (0, HASH_SIZE))
    read_bytes(profit_tkn, f"{where}.profit_tkn", max_size=MAX_ASSET_NAME_SIZE)
    read_int(margin, f"{where}.profit_margin")


@dataclass(frozen=True, slots=True)
class ReferenceDatum(PlutusRecord):
    """The live protocol settings held with the starter NFT at the reference-data address."""

    hot_key: bytes
    keepers: Keepers
    staking: Staking
    contracts: Contracts
    fees: Fees
    pointer: bytes  # pointer-token policy id
    batcher_data: BatcherData
    profit_data: ProfitData

    def __post_init__(self) -> None:
        read_hash(self.hot_key, "ReferenceDatum.hot_key")
        read_hash(self.pointer, "ReferenceDatum.pointer")

    def to_plutus(self) -> cbor2.CBORTag:
        return constr(
            0,
            [
                self.hot_key,
                self.keepers.to_plutus(),
                self.staking.to_plutus(),
                self.contracts.to_plutus(),
                self.fees.to_plutus(),
                self.pointer,
                self.batcher_data.to_plutus(),
                self.profit_data.to_plutus(),
            ],
        )

    @classmethod
    def from_plutus(cls, obj: Any, where: str | None = None) -> Self:
        where = where or "ReferenceDatum"
        hot_key, keepers, staking, contracts, fees, pointer, batcher, profit = read_fields(
            obj, where, 8
        )
        return cls(
            read_hash(hot_key, f"{where}.hot_key"),
            Keepers.from_plutus(keepers, f"{where}.keepers"),
            Staking.from_plutus(staking, f"{where}.staking"),
            Contracts.from_plutus(contracts, f"{where}.contracts"),
            Fees.from_plutus(fees, f"{where}.fees"),
            read_hash(pointer, f"{where}.pointer"),
            BatcherData.from_plutus(batcher, f"{where}.batcher_data"),
            ProfitData.from_plutus(profit, f"{where}.profit_data"),
        )


@dataclass(frozen=True, slots=True)
class OracleDatum(PlutusRecord):
    """Charli3 price feed: `Constr 0 [Constr 2 [Map{0: price, 1: start_ms, 2: end_ms}]]`.

    `price` is USD x 10^6 per whole currency token (2723 = $0.002723); the window is POSIX ms.
    """

    price: int
    start_ms: int
    end_ms: int

    def __post_init__(self) -> None:
        read_int(self.price, "OracleDatum.price")
        read_int(self.start_ms, "OracleDatum.start_ms")
        read_int(self.end_ms, "OracleDatum.end_ms")

    def to_plutus(self) -> cbor2.CBORTag:
        return constr(0, [constr(2, [{0: self.price, 1: self.start_ms, 2: self.end_ms}])])

    @classmethod
    def from_plutus(cls, obj: Any, where: str | None = None) -> Self:
        where = where or "OracleDatum"
        (inner,) = read_fields(obj, where, 1)
        (price_map,) = read_fields(inner, f"{where}.price_data", 1, index=2)
        if not isinstance(price_map, dict):
            raise DatumError(f"{where}.price_data must be a map, got {kind_of(price_map)}")
        if any(type(k) is not int for k in price_map) or set(price_map) != {0, 1, 2}:
            keys = ", ".join(sorted(repr(k) for k in price_map))
            raise DatumError(f"{where}.price_data must have exactly the keys 0, 1, 2, got {keys}")
        return cls(
            read_int(price_map[0], f"{where}.price"),
            read_int(price_map[1], f"{where}.start_ms"),
            read_int(price_map[2], f"{where}.end_ms"),
        )


# -- owner addresses ------------------------------------------------------------------------------


def wallet_from_address(address: bytes | str) -> Wallet:
    """The Wallet datum of an owner address (raw bytes, bech32 or hex).

    Only a key payment credential with a key stake credential (base address, header type 0) or
    none (enterprise, type 6) fits; anything else raises AddressError saying why, where the
    deployed server silently mis-encodes it.
    """
    raw = decode_address(address) if isinstance(address, str) else address
    parsed = parse_address(raw)
    problems: list[str] = []
    if parsed.payment.is_script:
        problems.append("a script payment credential")
    if parsed.stake is not None and parsed.stake.is_script:
        problems.append("a script stake credential")
    if parsed.pointer is not None:
        problems.append("a pointer stake reference")
    if problems:
        raise AddressError(
            f"{' and '.join(problems)} cannot be expressed in a Wallet datum, which holds a "
            f"payment key hash and a stake key hash (address header type {parsed.header_type})"
        )
    return Wallet(parsed.payment.hash, parsed.stake.hash if parsed.stake else b"")


def address_from_wallet(wallet: Wallet, network_id: int) -> bytes:
    """The raw address a Wallet datum stands for: base (key, key) or enterprise (key)."""
    stake = Credential.key(wallet.sc) if wallet.sc else None
    return make_address(Credential.key(wallet.pkh), stake, network_id)
