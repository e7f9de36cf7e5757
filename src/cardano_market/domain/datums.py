"""The marketplace's Plutus datums (PROTOCOL section 1) as typed records, to and from CBOR.

Encoding choice: definite-length arrays and maps, as the deployed Kotlin server writes them.
pycardano writes indefinite-length arrays; both are valid on chain, but a datum's hash depends on
the exact bytes, so ours are locked by hex vectors in `fixtures/vectors/datums.json`. Byte strings
longer than 64 bytes are written as 64-byte chunks, as the ledger requires. Decoding accepts either
array form, every constructor tag form (121..127, 1280..1400, and 102 [ix, fields]) and
big-integer tags, and checks field counts, types and sizes, raising DatumError naming the field.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Self

import cbor2

from .address import HASH_SIZE, Credential, decode_address, make_address, parse_address
from .cbor import encode_head, item_end
from .errors import AddressError, CborError, DatumError
from .values import ADA, MAX_ASSET_NAME_SIZE, AssetId

USD: AssetId = (b"USD", b"")
"""The cost-token sentinel of a USD-priced sale (amounts in USD x 10^12)."""

POINTER_NAME_SIZE = 32
DEFAULT_MAX_BUNDLE_SIZE = 2**63 - 1
"""What the deployed server writes as a sale's `max_bundle_size`."""

_CHUNK = 64
_MAX_UINT64 = 2**64 - 1

CONSTR_TAG_0 = 121
"""Constructors 0..6 are CBOR tags 121..127."""
CONSTR_TAG_7 = 1280
"""Constructors 7..127 are CBOR tags 1280..1400."""
CONSTR_TAG_GENERAL = 102
"""Any constructor: tag 102 over `[index, fields]`."""


# -- Plutus data encoding -------------------------------------------------------------------------


def constr(index: int, fields: Sequence[Any]) -> cbor2.CBORTag:
    """Plutus `Constr index fields` in the CBOR data model (tag 121+i, 1280+(i-7) or 102)."""
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise DatumError(f"constructor index must be a non-negative int, got {index!r}")
    if index <= 6:
        return cbor2.CBORTag(CONSTR_TAG_0 + index, list(fields))
    if index <= 127:
        return cbor2.CBORTag(CONSTR_TAG_7 + index - 7, list(fields))
    return cbor2.CBORTag(CONSTR_TAG_GENERAL, [index, list(fields)])


def encode_plutus(data: Any) -> bytes:
    """CBOR of Plutus data: definite-length arrays and maps, long byte strings in 64-byte chunks.

    `data` is the CBOR data model: int, bytes, list, dict or a constructor `cbor2.CBORTag`.
    """
    out = bytearray()
    _encode(data, out)
    return bytes(out)


def _encode(data: Any, out: bytearray) -> None:
    if isinstance(data, cbor2.CBORTag):
        _constructor_index(data, "Plutus data")  # only constructor tags are Plutus data
        out += encode_head(6, data.tag)
        _encode(data.value, out)
    elif isinstance(data, bool):
        raise DatumError("a bool is not Plutus data")
    elif isinstance(data, int):
        _encode_int(data, out)
    elif isinstance(data, (bytes, bytearray)):
        _encode_bytes(bytes(data), out)
    elif isinstance(data, (list, tuple)):
        out += encode_head(4, len(data))
        for item in data:
            _encode(item, out)
    elif isinstance(data, dict):
        out += encode_head(5, len(data))
        for key, value in data.items():
            _encode(key, out)
            _encode(value, out)
    else:
        raise DatumError(f"a {type(data).__name__} is not Plutus data")


def _encode_int(value: int, out: bytearray) -> None:
    if 0 <= value <= _MAX_UINT64:
        out += encode_head(0, value)
    elif -(2**64) <= value < 0:
        out += encode_head(1, -1 - value)
    else:  # bignum: tag 2 (positive) or 3 (negative, -1 - n) over a byte string, chunked like bytes
        magnitude = value if value > 0 else -1 - value
        out += encode_head(6, 2 if value > 0 else 3)
        _encode_bytes(magnitude.to_bytes((magnitude.bit_length() + 7) // 8, "big"), out)


def _encode_bytes(data: bytes, out: bytearray) -> None:
    if len(data) <= _CHUNK:
        out += encode_head(2, len(data))
        out += data
        return
    out.append(0x5F)  # indefinite-length byte string of definite 64-byte chunks
    for start in range(0, len(data), _CHUNK):
        chunk = data[start : start + _CHUNK]
        out += encode_head(2, len(chunk))
        out += chunk
    out.append(0xFF)


# -- Plutus data decoding -------------------------------------------------------------------------


def load_plutus(data: bytes | str, what: str = "datum") -> Any:
    """The CBOR data model of Plutus data given as bytes or hex; one item, nothing after it."""
    if isinstance(data, str):
        try:
            data = bytes.fromhex(data)
        except ValueError:
            raise DatumError(f"{what} is not valid hex") from None
    try:
        end = item_end(data)
    except CborError as exc:
        raise DatumError(f"{what} is not well-formed CBOR: {exc}") from None
    if end != len(data):
        raise DatumError(f"{what} has {len(data) - end} bytes after its CBOR item")
    try:
        return cbor2.loads(data)
    except Exception as exc:  # cbor2 raises several types for malformed input
        raise DatumError(f"{what} is not well-formed CBOR: {exc}") from None


def constr_of(obj: Any, where: str) -> tuple[int, list[Any]]:
    """(constructor index, fields) of a decoded Plutus constructor in any tag form."""
    if not isinstance(obj, cbor2.CBORTag):
        raise DatumError(f"{where} must be a Plutus constructor, got {_kind(obj)}")
    index = _constructor_index(obj, where)
    fields = obj.value[1] if obj.tag == CONSTR_TAG_GENERAL else obj.value
    if not isinstance(fields, (list, tuple)):
        raise DatumError(f"{where} constructor fields must be an array, got {_kind(fields)}")
    return index, list(fields)


def _constructor_index(tag: Any, where: str) -> int:
    number = tag.tag
    if CONSTR_TAG_0 <= number <= CONSTR_TAG_0 + 6:
        return int(number - CONSTR_TAG_0)
    if CONSTR_TAG_7 <= number <= CONSTR_TAG_7 + 120:
        return int(number - CONSTR_TAG_7 + 7)
    if number == CONSTR_TAG_GENERAL:
        value = tag.value
        if (
            not isinstance(value, (list, tuple))
            or len(value) != 2
            or isinstance(value[0], bool)
            or not isinstance(value[0], int)
            or value[0] < 0
        ):
            raise DatumError(f"{where} tag 102 must hold [index, fields]")
        return int(value[0])
    raise DatumError(f"{where} has CBOR tag {number}, which is not a Plutus constructor")


def _fields(obj: Any, where: str, count: int, index: int = 0) -> list[Any]:
    ix, fields = constr_of(obj, where)
    if ix != index:
        raise DatumError(f"{where} must be constructor {index}, got constructor {ix}")
    if len(fields) != count:
        raise DatumError(f"{where} must have {count} fields, got {len(fields)}")
    return fields


def _int(obj: Any, where: str) -> int:
    if isinstance(obj, bool) or not isinstance(obj, int):
        raise DatumError(f"{where} must be an integer, got {_kind(obj)}")
    return obj


def _bytes(
    obj: Any, where: str, sizes: tuple[int, ...] | None = None, max_size: int | None = None
) -> bytes:
    if not isinstance(obj, bytes):
        raise DatumError(f"{where} must be a byte string, got {_kind(obj)}")
    if sizes is not None and len(obj) not in sizes:
        allowed = " or ".join(str(s) for s in sizes)
        raise DatumError(f"{where} must be {allowed} bytes, got {len(obj)}")
    if max_size is not None and len(obj) > max_size:
        raise DatumError(f"{where} must be at most {max_size} bytes, got {len(obj)}")
    return obj


def _hash(obj: Any, where: str) -> bytes:
    return _bytes(obj, where, (HASH_SIZE,))


def _list(obj: Any, where: str) -> list[Any]:
    if not isinstance(obj, (list, tuple)):
        raise DatumError(f"{where} must be a list, got {_kind(obj)}")
    return list(obj)


def _kind(obj: Any) -> str:
    if isinstance(obj, cbor2.CBORTag):
        return f"CBOR tag {obj.tag}"
    return {
        bytes: "a byte string",
        int: "an integer",
        list: "a list",
        tuple: "a list",
        dict: "a map",
        bool: "a bool",
    }.get(type(obj), type(obj).__name__)


# -- records --------------------------------------------------------------------------------------


class PlutusRecord:
    """Shared CBOR plumbing: subclasses define `to_plutus` and `from_plutus`."""

    __slots__ = ()

    def to_plutus(self) -> cbor2.CBORTag:
        raise NotImplementedError

    @classmethod
    def from_plutus(cls, obj: Any, where: str | None = None) -> Self:
        raise NotImplementedError

    def to_cbor(self) -> bytes:
        return encode_plutus(self.to_plutus())

    def to_cbor_hex(self) -> str:
        return self.to_cbor().hex()

    @classmethod
    def from_cbor(cls, data: bytes | str) -> Self:
        return cls.from_plutus(load_plutus(data, cls.__name__))


@dataclass(frozen=True, slots=True)
class Wallet(PlutusRecord):
    """`Constr 0 [pkh, sc]`: payment key hash and stake key hash (b"" for an enterprise address)."""

    pkh: bytes
    sc: bytes = b""

    def __post_init__(self) -> None:
        _hash(self.pkh, "Wallet.pkh")
        _bytes(self.sc, "Wallet.sc", (0, HASH_SIZE))

    def to_plutus(self) -> cbor2.CBORTag:
        return constr(0, [self.pkh, self.sc])

    @classmethod
    def from_plutus(cls, obj: Any, where: str | None = None) -> Self:
        where = where or "Wallet"
        pkh, sc = _fields(obj, where, 2)
        return cls(_hash(pkh, f"{where}.pkh"), _bytes(sc, f"{where}.sc", (0, HASH_SIZE)))


VaultDatum = Wallet
"""The vault contract's datum is a Wallet."""


def _check_token(policy: Any, name: Any, amount: Any, where: str) -> None:
    _bytes(policy, f"{where}.policy")
    _bytes(name, f"{where}.name", max_size=MAX_ASSET_NAME_SIZE)
    _int(amount, f"{where}.amount")
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
        policy, name, amount = _fields(obj, where, 3)
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
        _int(self.max_bundle_size, "SaleDatum.max_bundle_size")

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
        owner, bundle, cost, max_size = _fields(obj, where, 4)
        return cls(
            Wallet.from_plutus(owner, f"{where}.owner"),
            Token.from_plutus(bundle, f"{where}.bundle"),
            Token.from_plutus(cost, f"{where}.cost"),
            _int(max_size, f"{where}.max_bundle_size"),
        )


@dataclass(frozen=True, slots=True)
class QueueDatum(PlutusRecord):
    """`Constr 0 [owner, number_of_bundles, incentive, pointer_tkn]`; incentive is ONE unit."""

    owner: Wallet
    number_of_bundles: int
    incentive: Token
    pointer_name: bytes

    def __post_init__(self) -> None:
        _int(self.number_of_bundles, "QueueDatum.number_of_bundles")
        _bytes(self.pointer_name, "QueueDatum.pointer_name", (POINTER_NAME_SIZE,))

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
        owner, bundles, incentive, pointer = _fields(obj, where, 4)
        return cls(
            Wallet.from_plutus(owner, f"{where}.owner"),
            _int(bundles, f"{where}.number_of_bundles"),
            Token.from_plutus(incentive, f"{where}.incentive"),
            _bytes(pointer, f"{where}.pointer_name", (POINTER_NAME_SIZE,)),
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
            _hash(pkh, f"Keepers.pkhs[{i}]")
        _int(self.threshold, "Keepers.threshold")

    def to_plutus(self) -> cbor2.CBORTag:
        return constr(0, [list(self.pkhs), self.threshold])

    @classmethod
    def from_plutus(cls, obj: Any, where: str | None = None) -> Self:
        where = where or "Keepers"
        pkhs, threshold = _fields(obj, where, 2)
        items = _list(pkhs, f"{where}.pkhs")
        return cls(
            tuple(_hash(p, f"{where}.pkhs[{i}]") for i, p in enumerate(items)),
            _int(threshold, f"{where}.threshold"),
        )


@dataclass(frozen=True, slots=True)
class Staking(PlutusRecord):
    """`Constr 0 [pool_id, reward_wallet]`."""

    pool_id: bytes
    reward_wallet: Wallet

    def __post_init__(self) -> None:
        _hash(self.pool_id, "Staking.pool_id")

    def to_plutus(self) -> cbor2.CBORTag:
        return constr(0, [self.pool_id, self.reward_wallet.to_plutus()])

    @classmethod
    def from_plutus(cls, obj: Any, where: str | None = None) -> Self:
        where = where or "Staking"
        pool_id, wallet = _fields(obj, where, 2)
        return cls(
            _hash(pool_id, f"{where}.pool_id"),
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
            _hash(getattr(self, name), f"Contracts.{name}")

    def to_plutus(self) -> cbor2.CBORTag:
        return constr(0, [self.sale, self.queue, self.band, self.vault, self.stake])

    @classmethod
    def from_plutus(cls, obj: Any, where: str | None = None) -> Self:
        where = where or "Contracts"
        fields = _fields(obj, where, 5)
        names = ("sale", "queue", "band", "vault", "stake")
        sale, queue, band, vault, stake = (
            _hash(f, f"{where}.{n}") for f, n in zip(fields, names, strict=True)
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
            _int(getattr(self, name), f"Fees.{name}")

    def to_plutus(self) -> cbor2.CBORTag:
        return constr(
            0, [self.purchase_queue_bound, self.refund_queue_bound, self.start_sale_bound]
        )

    @classmethod
    def from_plutus(cls, obj: Any, where: str | None = None) -> Self:
        where = where or "Fees"
        purchase, refund, start = _fields(obj, where, 3)
        return cls(
            _int(purchase, f"{where}.purchase_queue_bound"),
            _int(refund, f"{where}.refund_queue_bound"),
            _int(start, f"{where}.start_sale_bound"),
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
        _hash(self.monster_pid1, "BatcherData.monster_pid1")
        _hash(self.monster_pid2, "BatcherData.monster_pid2")
        for i, prefix in enumerate(self.monster_prefixes):
            _bytes(prefix, f"BatcherData.monster_prefixes[{i}]", max_size=MAX_ASSET_NAME_SIZE)
        _hash(self.batcher_pid, "BatcherData.batcher_pid")

    def to_plutus(self) -> cbor2.CBORTag:
        return constr(
            0,
            [self.monster_pid1, self.monster_pid2, list(self.monster_prefixes), self.batcher_pid],
        )

    @classmethod
    def from_plutus(cls, obj: Any, where: str | None = None) -> Self:
        where = where or "BatcherData"
        pid1, pid2, prefixes, batcher = _fields(obj, where, 4)
        items = _list(prefixes, f"{where}.monster_prefixes")
        return cls(
            _hash(pid1, f"{where}.monster_pid1"),
            _hash(pid2, f"{where}.monster_pid2"),
            tuple(
                _bytes(p, f"{where}.monster_prefixes[{i}]", max_size=MAX_ASSET_NAME_SIZE)
                for i, p in enumerate(items)
            ),
            _hash(batcher, f"{where}.batcher_pid"),
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
        feed_vkh, feed_pid, feed_tkn, profit_pid, profit_tkn, margin = _fields(obj, where, 6)
        _check_profit((feed_vkh, feed_pid, feed_tkn, profit_pid, profit_tkn), margin, where)
        return cls(feed_vkh, feed_pid, feed_tkn, profit_pid, profit_tkn, margin)


def _check_profit(names: tuple[Any, Any, Any, Any, Any], margin: Any, where: str) -> None:
    feed_vkh, feed_pid, feed_tkn, profit_pid, profit_tkn = names
    _hash(feed_vkh, f"{where}.feed_vkh")
    _hash(feed_pid, f"{where}.feed_pid")
    _bytes(feed_tkn, f"{where}.feed_tkn", max_size=MAX_ASSET_NAME_SIZE)
    _bytes(profit_pid, f"{where}.profit_pid", (0, HASH_SIZE))
    _bytes(profit_tkn, f"{where}.profit_tkn", max_size=MAX_ASSET_NAME_SIZE)
    _int(margin, f"{where}.profit_margin")


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
        _hash(self.hot_key, "ReferenceDatum.hot_key")
        _hash(self.pointer, "ReferenceDatum.pointer")

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
        hot_key, keepers, staking, contracts, fees, pointer, batcher, profit = _fields(
            obj, where, 8
        )
        return cls(
            _hash(hot_key, f"{where}.hot_key"),
            Keepers.from_plutus(keepers, f"{where}.keepers"),
            Staking.from_plutus(staking, f"{where}.staking"),
            Contracts.from_plutus(contracts, f"{where}.contracts"),
            Fees.from_plutus(fees, f"{where}.fees"),
            _hash(pointer, f"{where}.pointer"),
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
        _int(self.price, "OracleDatum.price")
        _int(self.start_ms, "OracleDatum.start_ms")
        _int(self.end_ms, "OracleDatum.end_ms")

    def to_plutus(self) -> cbor2.CBORTag:
        return constr(0, [constr(2, [{0: self.price, 1: self.start_ms, 2: self.end_ms}])])

    @classmethod
    def from_plutus(cls, obj: Any, where: str | None = None) -> Self:
        where = where or "OracleDatum"
        (inner,) = _fields(obj, where, 1)
        (price_map,) = _fields(inner, f"{where}.price_data", 1, index=2)
        if not isinstance(price_map, dict):
            raise DatumError(f"{where}.price_data must be a map, got {_kind(price_map)}")
        if any(type(k) is not int for k in price_map) or set(price_map) != {0, 1, 2}:
            keys = ", ".join(sorted(repr(k) for k in price_map))
            raise DatumError(f"{where}.price_data must have exactly the keys 0, 1, 2, got {keys}")
        return cls(
            _int(price_map[0], f"{where}.price"),
            _int(price_map[1], f"{where}.start_ms"),
            _int(price_map[2], f"{where}.end_ms"),
        )


# -- redeemers (PROTOCOL section 1) --------------------------------------------------------------


class _Redeemer(enum.IntEnum):
    """A redeemer without fields: `Constr index []`."""

    def to_cbor(self) -> bytes:
        return encode_plutus(constr(self.value, []))


class QueueRedeemer(_Redeemer):
    """The queue validator's redeemers: what spent an order."""

    PURCHASE = 0
    """A batcher fills the order from one sale."""
    REFUND = 1
    """A batcher returns an order that can no longer be filled."""
    CANCEL = 2
    """The owner takes the order back."""

    @classmethod
    def of(cls, constructor: int | None) -> QueueRedeemer | None:
        """The queue redeemer a decoded constructor index stands for (None: not a queue one)."""
        if constructor is None:
            return None
        try:
            return cls(constructor)
        except ValueError:
            return None


class SaleRedeemer(_Redeemer):
    """The sale validator's redeemers (constructor indexes)."""

    PURCHASE = 0
    START_SALE = 1
    TRANSFORM_SALE = 2
    REMOVE_SALE = 3


class PointerRedeemer(_Redeemer):
    """The pointer minting policy's redeemers."""

    MINT = 0
    BURN = 1


def redeemer_constructor(data: Any) -> int | None:
    """The constructor index of a decoded redeemer (any tag form), None when it is not a
    constructor: how a spend is told apart (e.g. `QueueRedeemer.of`)."""
    try:
        return constr_of(data, "redeemer")[0]
    except DatumError:
        return None


def add_to_vault(tokens: Sequence[Token]) -> bytes:
    """The vault's AddToVault [tokens] redeemer (constructor 0)."""
    return encode_plutus(constr(0, [[t.to_plutus() for t in tokens]]))


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
