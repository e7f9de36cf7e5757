"""The signing gate: the one place a key the service holds makes a signature.

Every signature by the operator's hot or collateral key, the batcher's, the escrow's or a custodial
user's is asked for with a `Mandate`: the kind of transaction, the keys to sign with, and what a
transaction of that kind may do. The gate resolves every spent, collateral and reference input from
the chain backend (never from the caller's bytes, never from the transaction's own claims), checks
the mandate and only then signs. A refusal raises `SigningRefusedError` and makes no signature.

Why one gate: the builders take UTxO lists from callers, and a key's witness authorises every input
at that key. A check in each builder protects one path; the gate protects every path, including
ones not written yet. `tests/app/test_signing_gate.py` proves nothing else signs with a service key.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ..chain.base import ChainBackend
from ..domain.address import Credential, parse_address
from ..domain.cip30 import OutRef, Utxo
from ..domain.errors import AddressError, CborError
from ..domain.keys import PaymentKey
from ..domain.values import Value, sum_values, unit_of
from ..ledger.parse import ParsedTx, parse_transaction
from ..ledger.witness import sign_transaction, splice_witnesses
from .errors import UnprocessableError


class SigningRefusedError(UnprocessableError):
    """The transaction breaks its kind's policy: nothing was signed (422; the worker fails it)."""


class SigningKind(enum.StrEnum):
    """What a transaction a service key signs is for; each kind has its own policy."""

    SALE_START = "sale_start"  # operator hot + collateral keys co-sign a seller's pointer mint
    SALE_END = "sale_end"  # operator collateral key co-signs a seller's RemoveSale
    PURCHASE = "purchase"  # batcher (certificate) + collateral keys
    REFUND = "refund"  # batcher (certificate) + collateral keys
    CUSTODIAL_ORDER = "custodial_order"  # a custodial user pays an order to the queue
    CUSTODIAL_CANCEL = "custodial_cancel"  # a custodial user takes a queued order back
    ESCROW_LOCK = "escrow_lock"  # a custodial seller locks tokens at the escrow (a listing)
    DEAL_BUY = "deal_buy"  # escrow + custodial buyer keys: a secondary-market purchase
    DELIST = "delist"  # escrow + custodial seller keys: escrowed tokens back to the seller


class ServiceKeys:
    """Every payment key hash the service holds or is paid at, and whose it is (for messages).

    Filled once at start-up (`runtime.keys`): the operator's hot and collateral keys, the
    cash register, the batcher, the escrow and the fee addresses. An input at one of these keys
    is spent only under a mandate that names the key in `service_spend`, whatever the address's
    stake part."""

    def __init__(self, owners: Mapping[bytes, str] | None = None) -> None:
        self._owners: dict[bytes, str] = dict(owners or {})

    def register(self, key_hash: bytes, owner: str) -> None:
        """Add a key (the first name given to a key wins)."""
        self._owners.setdefault(bytes(key_hash), owner)

    def register_address(self, address: bytes, owner: str) -> None:
        """Add the payment key of `address` (nothing for a script address)."""
        key = _payment_key(address)
        if key is not None:
            self.register(key, owner)

    def owner_of_key(self, key_hash: bytes) -> str | None:
        return self._owners.get(key_hash)

    def owner_of_address(self, address: bytes) -> str | None:
        """Who among the service's keys pays `address` (None: nobody the service holds)."""
        key = _payment_key(address)
        return None if key is None else self._owners.get(key)

    def __contains__(self, key_hash: object) -> bool:
        return key_hash in self._owners

    def __len__(self) -> int:
        return len(self._owners)


@dataclass(frozen=True, slots=True)
class Mandate:
    """What a transaction must be for the gate to sign it with `signers`.

    - spent inputs: at a key in `spend_keys` or a script in `spend_scripts`; at a key the service
      holds only when it is also in `service_spend`; a key with an entry in `pinned` may spend
      only those out-refs;
    - collateral: only at `collateral_key`, returned by a collateral return to that key less the
      total collateral, itself at most the fee times the ledger's collateral percentage;
    - mint: nothing, or (with `mint`) exactly one asset of that policy, of that quantity;
    - required signers: exactly `required_signers` when given;
    - outputs: every one paid to a key in `pay_to_keys` when given;
    - the value spent from each key in `kept_whole` comes back to that key in full;
    - no certificates, withdrawals, votes, proposals or treasury donations;
    - every signer is needed (a required signer, or the key of a spent or collateral input).
    """

    kind: SigningKind
    signers: tuple[PaymentKey, ...]
    spend_keys: frozenset[bytes]
    service_spend: frozenset[bytes] = frozenset()
    spend_scripts: frozenset[bytes] = frozenset()
    pinned: Mapping[bytes, frozenset[OutRef]] = field(default_factory=dict)
    collateral_key: bytes | None = None
    mint: tuple[bytes, int] | None = None
    required_signers: frozenset[bytes] | None = None
    pay_to_keys: frozenset[bytes] | None = None
    kept_whole: frozenset[bytes] = frozenset()


class SigningGate:
    """Checks a transaction against its mandate with inputs read from `backend`, then signs."""

    def __init__(self, backend: ChainBackend, service_keys: ServiceKeys) -> None:
        self._backend = backend
        self.service_keys = service_keys

    def check(
        self, tx: bytes, mandate: Mandate, *, pending: Mapping[OutRef, Utxo] | None = None
    ) -> ParsedTx:
        """Refuse (SigningRefusedError) unless `tx` meets `mandate`; the parsed transaction.

        `pending`: outputs of transactions this service built and submitted whose outputs the
        backend may not show yet (the batcher's refund spends its purchase's queue output)."""
        try:
            parsed = parse_transaction(tx)
        except CborError as exc:
            raise SigningRefusedError(f"{mandate.kind}: not a transaction: {exc}") from None
        _check_no_extras(parsed, mandate.kind)
        resolved = self._resolve(parsed, pending or {}, mandate.kind)
        self._check_spent(parsed, resolved, mandate)
        self._check_collateral(parsed, resolved, mandate)
        _check_mint(parsed, mandate)
        _check_required_signers(parsed, mandate)
        _check_outputs(parsed, resolved, mandate)
        _check_signers_needed(parsed, resolved, mandate)
        return parsed

    def sign(
        self, tx: bytes, mandate: Mandate, *, pending: Mapping[OutRef, Utxo] | None = None
    ) -> bytes:
        """`tx` with the mandate's signers' witnesses spliced in, after `check` passes."""
        self.check(tx, mandate, pending=pending)
        seeds = [key.seed for key in mandate.signers]
        return splice_witnesses(tx, sign_transaction(tx, seeds))

    # -- checks that read the chain -------------------------------------------------------------

    def _resolve(
        self, tx: ParsedTx, pending: Mapping[OutRef, Utxo], kind: SigningKind
    ) -> dict[OutRef, Utxo]:
        wanted = list(dict.fromkeys([*tx.inputs, *tx.collateral, *tx.reference_inputs]))
        found = {u.out_ref: u for u in self._backend.utxos_by_ref(wanted)}
        for ref in wanted:
            if ref not in found and ref in pending:
                found[ref] = pending[ref]
        missing = [ref for ref in wanted if ref not in found]
        if missing:
            raise SigningRefusedError(
                f"{kind}: input {_ref(missing[0])} is not an unspent output on chain"
            )
        return found

    def _check_spent(self, tx: ParsedTx, resolved: Mapping[OutRef, Utxo], mandate: Mandate) -> None:
        for ref in tx.inputs:
            utxo = resolved[ref]
            credential = _credential(utxo, mandate.kind)
            if credential.is_script:
                if credential.hash not in mandate.spend_scripts:
                    raise SigningRefusedError(
                        f"{mandate.kind}: input {_ref(ref)} is at script "
                        f"{credential.hash.hex()}, which this kind never spends"
                    )
                continue
            service_owner = self.service_keys.owner_of_key(credential.hash)
            if service_owner is not None and credential.hash not in mandate.service_spend:
                raise SigningRefusedError(
                    f"{mandate.kind}: input {_ref(ref)} belongs to {service_owner}"
                )
            if credential.hash not in mandate.spend_keys:
                raise SigningRefusedError(
                    f"{mandate.kind}: input {_ref(ref)} belongs to another wallet"
                )
            pins = mandate.pinned.get(credential.hash)
            if pins is not None and ref not in pins:
                owner = service_owner or "a pinned wallet"
                raise SigningRefusedError(
                    f"{mandate.kind}: input {_ref(ref)} of {owner} is not one this "
                    "transaction may spend"
                )

    def _check_collateral(
        self, tx: ParsedTx, resolved: Mapping[OutRef, Utxo], mandate: Mandate
    ) -> None:
        if not tx.collateral:
            if tx.collateral_return is not None or tx.total_collateral is not None:
                raise SigningRefusedError(f"{mandate.kind}: a collateral return without collateral")
            return
        kind = mandate.kind
        if mandate.collateral_key is None:
            raise SigningRefusedError(f"{kind}: this kind of transaction takes no collateral")
        for ref in tx.collateral:
            if _payment_key(resolved[ref].address) != mandate.collateral_key:
                raise SigningRefusedError(
                    f"{kind}: collateral {_ref(ref)} is not the collateral key's"
                )
        put_in = sum_values(resolved[ref].value for ref in tx.collateral)
        back = tx.collateral_return
        total = tx.total_collateral
        if back is None or total is None:
            raise SigningRefusedError(
                f"{kind}: collateral must come with a collateral return and a total collateral"
            )
        if _payment_key(back.address) != mandate.collateral_key:
            raise SigningRefusedError(f"{kind}: the collateral return pays another key")
        most = -(
            -tx.fee * self._backend.protocol_parameters().collateral_percent // 100
        )  # ceil, exact
        if total > most:
            raise SigningRefusedError(
                f"{kind}: total collateral {total} exceeds {most} (the fee's collateral share)"
            )
        if back.value + Value(total) != put_in:
            raise SigningRefusedError(
                f"{kind}: the collateral return gives back {back.value.coin} lovelace and "
                f"{len(back.value.assets)} assets of {put_in.coin} and {len(put_in.assets)}, "
                f"less {total}"
            )


def refuse_service_utxos(
    utxos: Sequence[Utxo], service_keys: ServiceKeys, field: str = "utxoCborHexList"
) -> None:
    """422 naming the first UTxO of a caller's wallet list that sits at a key the service holds:
    a builder refuses it before anything is claimed (the gate would refuse it at signing)."""
    for i, utxo in enumerate(utxos):
        owner = service_keys.owner_of_address(utxo.address)
        if owner is not None:
            raise UnprocessableError(f"{field}[{i}]: belongs to {owner}")


# -- the mandate of each kind ---------------------------------------------------------------------


def sale_start_mandate(
    *, hot: PaymentKey, collateral: PaymentKey, seller_key: bytes, pointer_policy: bytes
) -> Mandate:
    """The operator co-signs a seller's sale start: the seller's UTxOs only, one pointer minted,
    the operator's collateral returned, the hot and collateral keys as the required signers."""
    return Mandate(
        kind=SigningKind.SALE_START,
        signers=_unique(hot, collateral),
        spend_keys=frozenset({seller_key}),
        collateral_key=collateral.hash,
        mint=(pointer_policy, 1),
        required_signers=frozenset({hot.hash, collateral.hash}),
    )


def sale_end_mandate(
    *, collateral: PaymentKey, seller_key: bytes, sale_script: bytes, pointer_policy: bytes
) -> Mandate:
    """The operator's collateral co-signs a seller's sale end: the sale UTxO and the seller's
    UTxOs only, one pointer burned, the seller as the required signer."""
    return Mandate(
        kind=SigningKind.SALE_END,
        signers=(collateral,),
        spend_keys=frozenset({seller_key}),
        spend_scripts=frozenset({sale_script}),
        collateral_key=collateral.hash,
        mint=(pointer_policy, -1),
        required_signers=frozenset({seller_key}),
    )


def batch_mandate(
    kind: SigningKind, *, batcher: PaymentKey, collateral: PaymentKey, scripts: Iterable[bytes]
) -> Mandate:
    """The batcher's purchase or refund: its certificate UTxO (given back whole, plus the
    incentive) and the marketplace scripts' UTxOs; the operator's collateral returned."""
    if kind not in (SigningKind.PURCHASE, SigningKind.REFUND):
        raise ValueError(f"{kind} is not a batcher transaction")
    return Mandate(
        kind=kind,
        signers=_unique(batcher, collateral),
        spend_keys=frozenset({batcher.hash}),
        service_spend=frozenset({batcher.hash}),
        spend_scripts=frozenset(scripts),
        collateral_key=collateral.hash,
        kept_whole=frozenset({batcher.hash}),
    )


def custodial_mandate(
    kind: SigningKind, *, user: PaymentKey, scripts: Iterable[bytes] = ()
) -> Mandate:
    """A custodial user's own transaction: only that user's UTxOs (and, for a cancel, the
    queue's), the user's own collateral (none for an escrow lock: no script runs), nothing
    minted."""
    if kind not in (
        SigningKind.CUSTODIAL_ORDER,
        SigningKind.CUSTODIAL_CANCEL,
        SigningKind.ESCROW_LOCK,
    ):
        raise ValueError(f"{kind} is not a custodial user's own transaction")
    return Mandate(
        kind=kind,
        signers=(user,),
        spend_keys=frozenset({user.hash}),
        spend_scripts=frozenset(scripts),
        collateral_key=None if kind is SigningKind.ESCROW_LOCK else user.hash,
    )


def escrow_mandate(
    kind: SigningKind,
    *,
    escrow: PaymentKey,
    user: PaymentKey,
    escrow_inputs: Iterable[OutRef],
    pay_to_keys: Iterable[bytes],
) -> Mandate:
    """A deal buy or a delist: the user's UTxOs and only the escrow outputs the deal records,
    paid only to the parties the deal names (`pay_to_keys`)."""
    if kind not in (SigningKind.DEAL_BUY, SigningKind.DELIST):
        raise ValueError(f"{kind} is not an escrow transaction")
    return Mandate(
        kind=kind,
        signers=_unique(escrow, user),
        spend_keys=frozenset({escrow.hash, user.hash}),
        service_spend=frozenset({escrow.hash}),
        pinned={escrow.hash: frozenset(escrow_inputs)},
        pay_to_keys=frozenset(pay_to_keys),
    )


def _unique(*keys: PaymentKey) -> tuple[PaymentKey, ...]:
    return tuple({key.hash: key for key in keys}.values())


# -- checks on the transaction alone ---------------------------------------------------------------


def _check_no_extras(tx: ParsedTx, kind: SigningKind) -> None:
    for present, what in (
        (tx.certificates, "certificates"),
        (tx.withdrawals, "withdrawals"),
        (tx.has_votes, "votes"),
        (tx.has_proposals, "proposals"),
        (tx.donation, "a treasury donation"),
    ):
        if present:
            raise SigningRefusedError(f"{kind}: the transaction carries {what}")


def _check_mint(tx: ParsedTx, mandate: Mandate) -> None:
    if mandate.mint is None:
        if tx.mint:
            raise SigningRefusedError(f"{mandate.kind}: the transaction mints or burns tokens")
        return
    policy, quantity = mandate.mint
    entries = list(tx.mint.items())
    if len(entries) != 1 or entries[0][0][0] != policy or entries[0][1] != quantity:
        minted = ", ".join(f"{unit_of(a)}: {q}" for a, q in entries) or "nothing"
        raise SigningRefusedError(
            f"{mandate.kind}: mints {minted}; exactly {quantity} of one {policy.hex()} token "
            "expected"
        )


def _check_required_signers(tx: ParsedTx, mandate: Mandate) -> None:
    if mandate.required_signers is None:
        return
    if set(tx.required_signers) != mandate.required_signers:
        raise SigningRefusedError(
            f"{mandate.kind}: required signers "
            f"{sorted(h.hex() for h in tx.required_signers)} differ from the kind's "
            f"{sorted(h.hex() for h in mandate.required_signers)}"
        )


def _check_outputs(tx: ParsedTx, resolved: Mapping[OutRef, Utxo], mandate: Mandate) -> None:
    if mandate.pay_to_keys is not None:
        for out in tx.outputs:
            key = _payment_key(out.address)
            if key is None or key not in mandate.pay_to_keys:
                raise SigningRefusedError(
                    f"{mandate.kind}: output {out.index} pays an address this kind never pays"
                )
    for key in mandate.kept_whole:
        spent = _value_at(key, (resolved[ref] for ref in tx.inputs))
        returned = _value_at(key, tx.outputs)
        if not returned.covers(spent):
            short = ", ".join(f"{u}: {q}" for u, q in returned.shortfall(spent).items())
            raise SigningRefusedError(
                f"{mandate.kind}: the outputs give key {key.hex()} back less than it put in "
                f"(short of {short})"
            )


def _check_signers_needed(tx: ParsedTx, resolved: Mapping[OutRef, Utxo], mandate: Mandate) -> None:
    needed = set(tx.required_signers)
    for ref in [*tx.inputs, *tx.collateral]:
        key = _payment_key(resolved[ref].address)
        if key is not None:
            needed.add(key)
    for signer in mandate.signers:
        if signer.hash not in needed:
            raise SigningRefusedError(
                f"{mandate.kind}: key {signer.hash.hex()} would sign a transaction that needs "
                "no signature of it"
            )


# -- helpers ---------------------------------------------------------------------------------------


def _credential(utxo: Utxo, kind: SigningKind) -> Credential:
    try:
        return parse_address(utxo.address).payment
    except AddressError as exc:
        raise SigningRefusedError(f"{kind}: input {_ref(utxo.out_ref)}: {exc}") from None


def _payment_key(address: bytes) -> bytes | None:
    """The payment key hash paying `address`; None for a script, Byron or malformed address."""
    try:
        payment = parse_address(address).payment
    except AddressError:
        return None
    return None if payment.is_script else payment.hash


def _value_at(key: bytes, utxos: Iterable[Utxo]) -> Value:
    return sum_values(u.value for u in utxos if _payment_key(u.address) == key)


def _ref(ref: OutRef) -> str:
    return str(OutRef.of(ref))
