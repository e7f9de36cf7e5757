"""Domain errors. Each names what was wrong so the edge can map it to a status and a cause."""

from __future__ import annotations


class MarketError(Exception):
    """Base class of every error this library raises on purpose."""


class CborError(MarketError, ValueError):
    """Bytes that are not the CBOR structure expected (the message says which field and why)."""


class InvalidValueError(MarketError, ValueError):
    """A Value that breaks a ledger rule: zero or negative quantity, oversize name or policy."""


class AddressError(MarketError, ValueError):
    """An address that is malformed or cannot play the role asked of it."""


class DatumError(MarketError, ValueError):
    """Plutus data that does not have the expected layout."""


class PricingError(MarketError):
    """An order that cannot be priced: the request's values are unacceptable (HTTP 422)."""


class InsufficientFundsError(MarketError):
    """The wallet's UTxOs cannot cover the transaction; `shortfall` maps unit -> missing amount."""

    def __init__(self, message: str, shortfall: dict[str, int]) -> None:
        super().__init__(message)
        self.shortfall = shortfall


class WitnessError(MarketError, ValueError):
    """A witness set that cannot be merged into the transaction it is offered for."""


class InvalidSaleError(MarketError, ValueError):
    """A sale record whose fields break an invariant (pointer size, quantities, assets)."""


class ConfigError(MarketError, ValueError):
    """A configuration setting that is missing, of the wrong type or out of range."""


class PointerError(MarketError, ValueError):
    """A sale's pointer-token name cannot be derived from the transaction's inputs."""


class PendingUnavailableError(MarketError, LookupError):
    """A pending order or sale id that cannot be used (HTTP 404); subclasses say why.

    `kind` is "order" or "sale", `id` the id asked for; the message is the API's cause.
    """

    def __init__(self, message: str, *, kind: str, id: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.id = id


class UnknownPendingError(PendingUnavailableError):
    """No pending order or sale has this id (never issued, or purged)."""


class ExpiredPendingError(PendingUnavailableError):
    """The pending order or sale outlived its TTL before it was used."""


class UsedPendingError(PendingUnavailableError):
    """The pending order or sale was already used: ids are single-use."""


class StoreError(MarketError):
    """The database cannot hold or find what was asked: a duplicate id, an unknown row, or an
    integer outside the columns' exact range."""


class DuplicateRecordError(StoreError):
    """A row with this id (or unique key) already exists with different content."""


class UnknownRecordError(StoreError, LookupError):
    """An update names a row that does not exist."""


class SeedError(MarketError, ValueError):
    """A devnet seed file that is malformed (`path` is the JSON path of the offending value,
    e.g. `$.wallets.alice.lovelace`), or that cannot be applied to the ledger as it is."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
