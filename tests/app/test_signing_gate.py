"""The signing gate (app/signing.py) against a real devnet ledger: what each kind's mandate lets a
service key sign, and a property test that no mix of a caller's and the service's UTxOs ever gets
a signature over a service-held UTxO. Transactions here are encoded by hand (the gate reads bytes,
whoever wrote them)."""

from __future__ import annotations

import ast
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import cbor2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cardano_market.app.errors import UnprocessableError
from cardano_market.app.signing import (
    Mandate,
    ServiceKeys,
    SigningGate,
    SigningKind,
    SigningRefusedError,
    batch_mandate,
    custodial_mandate,
    escrow_mandate,
    refuse_service_utxos,
    sale_end_mandate,
    sale_start_mandate,
)
from cardano_market.chain.devnet import DevnetBackend
from cardano_market.domain.address import Credential, make_address
from cardano_market.domain.cip30 import Utxo
from cardano_market.domain.keys import PaymentKey
from cardano_market.domain.outputs import TxOutput
from cardano_market.domain.values import Value
from cardano_market.ledger.witness import vkey_witnesses
from cardano_market.tx.body import encode_body
from keys import enterprise

ADA = 1_000_000
HOT = PaymentKey.derive("gate/hot")
COLLATERAL = PaymentKey.derive("gate/collateral")
BATCHER = PaymentKey.derive("gate/batcher")
ESCROW = PaymentKey.derive("gate/escrow")
SELLER = PaymentKey.derive("gate/seller")
OTHER_USER = PaymentKey.derive("gate/other-user")
POLICY = b"\x70" * 28
SALE_SCRIPT = b"\x5a" * 28
NETWORK = 0

SERVICE = {
    HOT.hash: "the marketplace operator",
    COLLATERAL.hash: "the operator's collateral wallet",
    BATCHER.hash: "the batcher",
    ESCROW.hash: "the escrow",
}


def base(key: PaymentKey, stake: bytes) -> bytes:
    return make_address(Credential.key(key.hash), Credential.key(stake), NETWORK)


class World:
    """A devnet ledger with UTxOs at the seller's, another user's and every service key, each at
    its enterprise address and at base addresses with foreign stake parts."""

    def __init__(self, chain: DevnetBackend) -> None:
        self.chain = chain
        self.gate = SigningGate(chain, ServiceKeys(SERVICE))
        outputs: list[TxOutput] = []
        for key in (HOT, COLLATERAL, BATCHER, ESCROW, SELLER, OTHER_USER):
            outputs.append(TxOutput(enterprise(key), Value.of(20 * ADA)))
            for stake in (b"\x01" * 28, SELLER.hash):
                outputs.append(TxOutput(base(key, stake), Value.of(10 * ADA)))
        self.utxos = chain.ledger.genesis(outputs)
        self.script_utxo = chain.ledger.genesis(
            [
                TxOutput(
                    make_address(Credential.script(SALE_SCRIPT), None, NETWORK), Value.of(5 * ADA)
                )
            ]
        )[0]

    def at(self, key: PaymentKey) -> list[Utxo]:
        return [u for u in self.utxos if u.address[1:29] == key.hash]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    chain = DevnetBackend.open(tmp_path_factory.mktemp("gate") / "devnet.db")
    yield World(chain)
    chain.close()


def transaction(
    inputs: Sequence[Utxo],
    outputs: Sequence[TxOutput],
    *,
    fee: int = 200_000,
    mint: dict[tuple[bytes, bytes], int] | None = None,
    required: Sequence[bytes] = (),
    collateral: Sequence[Utxo] = (),
    collateral_return: TxOutput | None = None,
    total_collateral: int | None = None,
    extra: Sequence[tuple[int, bytes]] = (),
) -> bytes:
    fields: list[tuple[int, bytes]] = list(extra)
    if mint:
        grouped: dict[bytes, dict[bytes, int]] = {}
        for (policy, name), qty in mint.items():
            grouped.setdefault(policy, {})[name] = qty
        fields.append((9, cbor2.dumps(grouped)))
    if collateral:
        fields.append((13, cbor2.dumps([list(u.out_ref) for u in collateral])))
    if required:
        fields.append((14, cbor2.dumps(list(required))))
    if collateral_return is not None:
        fields.append((16, collateral_return.to_cbor()))
    if total_collateral is not None:
        fields.append((17, cbor2.dumps(total_collateral)))
    body = encode_body(
        sorted(u.out_ref for u in inputs), [o.to_cbor() for o in outputs], fee, None, sorted(fields)
    )
    return b"\x84" + body + b"\xa0\xf5\xf6"


def start_mandate() -> Mandate:
    return sale_start_mandate(
        hot=HOT, collateral=COLLATERAL, seller_key=SELLER.hash, pointer_policy=POLICY
    )


def start_transaction(world: World, inputs: Sequence[Utxo]) -> bytes:
    """A sale start's shape: the given inputs, one pointer minted, the operator's collateral."""
    fee = 300_000
    spent = sum(u.value.coin for u in inputs)
    return transaction(
        inputs,
        [TxOutput(enterprise(SELLER), Value.of(spent - fee))],
        mint={(POLICY, b"\xca\x11\xab\x1e" + b"\x00" * 28): 1},
        required=[HOT.hash, COLLATERAL.hash],
        **operator_collateral(world, fee),  # type: ignore[arg-type]
    )


# -- the property ---------------------------------------------------------------------------------


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_no_mix_of_utxos_gets_a_signature_over_a_service_held_one(
    world: World, data: st.DataObject
) -> None:
    picks = st.integers(0, len(world.utxos) - 1)
    chosen = [
        world.utxos[i] for i in data.draw(st.lists(picks, min_size=1, max_size=6, unique=True))
    ]
    tx = start_transaction(world, chosen)
    held = [u for u in chosen if u.address[1:29] in SERVICE]
    others = [u for u in chosen if u.address[1:29] not in SERVICE | {SELLER.hash: ""}]
    if held or others:
        with pytest.raises(SigningRefusedError, match="belongs to"):
            world.gate.sign(tx, start_mandate())
        with pytest.raises(UnprocessableError, match="belongs to") if held else _nothing():
            refuse_service_utxos(chosen, world.gate.service_keys)
    else:
        signed = world.gate.sign(tx, start_mandate())
        assert {vkey for vkey, _sig in vkey_witnesses(signed)} == {HOT.vkey, COLLATERAL.vkey}


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return False


# -- each rule ------------------------------------------------------------------------------------


def test_the_sale_start_policy_signs_a_sellers_own_start(world: World) -> None:
    tx = start_transaction(world, world.at(SELLER)[:2])
    signed = world.gate.sign(tx, start_mandate())
    assert {vkey for vkey, _sig in vkey_witnesses(signed)} == {HOT.vkey, COLLATERAL.vkey}


@pytest.mark.parametrize(
    ("mint", "required", "reason"),
    [
        ({}, [HOT.hash, COLLATERAL.hash], "mints nothing"),
        ({(POLICY, b"a"): 2}, [HOT.hash, COLLATERAL.hash], "exactly 1"),
        ({(POLICY, b"a"): 1, (POLICY, b"b"): 1}, [HOT.hash, COLLATERAL.hash], "exactly 1"),
        ({(b"\x01" * 28, b"a"): 1}, [HOT.hash, COLLATERAL.hash], "exactly 1"),
        ({(POLICY, b"a"): 1}, [HOT.hash], "required signers"),
        ({(POLICY, b"a"): 1}, [HOT.hash, COLLATERAL.hash, SELLER.hash], "required signers"),
    ],
)
def test_a_sale_start_mints_one_pointer_and_names_exactly_its_signers(
    world: World, mint: dict[tuple[bytes, bytes], int], required: list[bytes], reason: str
) -> None:
    seller = world.at(SELLER)[0]
    tx = transaction(
        [seller], [TxOutput(seller.address, Value.of(9 * ADA))], mint=mint, required=required
    )
    with pytest.raises(SigningRefusedError, match=reason):
        world.gate.sign(tx, start_mandate())


def test_collateral_comes_only_from_the_collateral_key_and_goes_back(world: World) -> None:
    seller = world.at(SELLER)[0]
    collateral = next(u for u in world.at(COLLATERAL) if u.address == enterprise(COLLATERAL))
    hot = world.at(HOT)[0]
    common = {
        "mint": {(POLICY, b"a"): 1},
        "required": [HOT.hash, COLLATERAL.hash],
        "fee": 300_000,
    }
    out = [TxOutput(seller.address, Value.of(seller.value.coin - 300_000))]
    cases = [
        (  # the hot key's UTxO as collateral
            transaction(
                [seller],
                out,
                collateral=[hot],
                collateral_return=TxOutput(hot.address, Value.of(hot.value.coin - 450_000)),
                total_collateral=450_000,
                **common,  # type: ignore[arg-type]
            ),
            "not the collateral key's",
        ),
        (  # the return pays someone else
            transaction(
                [seller],
                out,
                collateral=[collateral],
                collateral_return=TxOutput(
                    seller.address, Value.of(collateral.value.coin - 450_000)
                ),
                total_collateral=450_000,
                **common,  # type: ignore[arg-type]
            ),
            "pays another key",
        ),
        (  # the return keeps back more than the total collateral
            transaction(
                [seller],
                out,
                collateral=[collateral],
                collateral_return=TxOutput(collateral.address, Value.of(ADA)),
                total_collateral=450_000,
                **common,  # type: ignore[arg-type]
            ),
            "gives back",
        ),
        (  # a total collateral above the fee's share
            transaction(
                [seller],
                out,
                collateral=[collateral],
                collateral_return=TxOutput(
                    collateral.address, Value.of(collateral.value.coin - 5 * ADA)
                ),
                total_collateral=5 * ADA,
                **common,  # type: ignore[arg-type]
            ),
            "exceeds",
        ),
        (  # no return at all: the whole UTxO at stake
            transaction([seller], out, collateral=[collateral], **common),  # type: ignore[arg-type]
            "collateral return",
        ),
    ]
    for tx, reason in cases:
        with pytest.raises(SigningRefusedError, match=reason):
            world.gate.sign(tx, start_mandate())


def test_a_sale_end_spends_only_the_sale_script_and_the_sellers_utxos(world: World) -> None:
    mandate = sale_end_mandate(
        collateral=COLLATERAL,
        seller_key=SELLER.hash,
        sale_script=SALE_SCRIPT,
        pointer_policy=POLICY,
    )
    seller = world.at(SELLER)[0]
    other_script = world.chain.ledger.genesis(
        [TxOutput(make_address(Credential.script(b"\x66" * 28), None, NETWORK), Value.of(2 * ADA))]
    )[0]
    burn = {(POLICY, b"a"): -1}
    tx = transaction(
        [seller, other_script],
        [TxOutput(seller.address, Value.of(ADA))],
        mint=burn,
        required=[SELLER.hash],
    )
    with pytest.raises(SigningRefusedError, match="which this kind never spends"):
        world.gate.sign(tx, mandate)
    # The collateral key signs only when it backs the transaction: here nothing needs it.
    tx = transaction(
        [seller, world.script_utxo],
        [TxOutput(seller.address, Value.of(ADA))],
        mint=burn,
        required=[SELLER.hash],
    )
    with pytest.raises(SigningRefusedError, match="needs no signature"):
        world.gate.sign(tx, mandate)


def test_a_custodial_user_never_signs_for_another_users_utxo(world: World) -> None:
    mine, theirs = world.at(SELLER)[0], world.at(OTHER_USER)[0]
    tx = transaction([mine, theirs], [TxOutput(mine.address, Value.of(20 * ADA))])
    mandate = custodial_mandate(SigningKind.CUSTODIAL_ORDER, user=SELLER)
    with pytest.raises(SigningRefusedError, match="belongs to another wallet"):
        world.gate.sign(tx, mandate)
    alone = transaction([mine], [TxOutput(mine.address, Value.of(9 * ADA))])
    assert {vkey for vkey, _sig in vkey_witnesses(world.gate.sign(alone, mandate))} == {SELLER.vkey}


def test_an_escrow_lock_takes_no_collateral(world: World) -> None:
    """A lock pays the seller's tokens to the escrow's key address: no script runs, so the
    mandate lets nothing be put up as collateral (docs/security.md: collateral "none")."""
    mine = [u for u in world.at(SELLER) if u.address == enterprise(SELLER)]
    spent, backing = mine[0], mine[0]
    total = 300_000
    tx = transaction(
        [spent],
        [TxOutput(enterprise(ESCROW), Value.of(spent.value.coin - 200_000))],
        collateral=[backing],
        collateral_return=TxOutput(backing.address, Value.of(backing.value.coin - total)),
        total_collateral=total,
    )
    mandate = custodial_mandate(SigningKind.ESCROW_LOCK, user=SELLER)
    with pytest.raises(SigningRefusedError, match="takes no collateral"):
        world.gate.sign(tx, mandate)


def test_an_escrow_signs_only_the_deals_escrow_output_to_the_deals_parties(world: World) -> None:
    deal_escrow, other_escrow = world.at(ESCROW)[:2]
    buyer = world.at(OTHER_USER)[0]
    mandate = escrow_mandate(
        SigningKind.DEAL_BUY,
        escrow=ESCROW,
        user=PaymentKey.derive("gate/other-user"),
        escrow_inputs=[deal_escrow.out_ref],
        pay_to_keys=[OTHER_USER.hash, SELLER.hash, ESCROW.hash],
    )
    paid = [TxOutput(enterprise(SELLER), Value.of(5 * ADA))]
    beyond = transaction([deal_escrow, other_escrow, buyer], paid)
    with pytest.raises(SigningRefusedError, match="is not one this transaction may spend"):
        world.gate.sign(beyond, mandate)
    outsider = transaction([deal_escrow, buyer], [TxOutput(enterprise(HOT), Value.of(5 * ADA))])
    with pytest.raises(SigningRefusedError, match="pays an address this kind never pays"):
        world.gate.sign(outsider, mandate)
    fair = transaction([deal_escrow, buyer], paid)
    assert len(vkey_witnesses(world.gate.sign(fair, mandate))) == 2


def test_the_batcher_gets_back_what_it_put_in(world: World) -> None:
    certificate = world.at(BATCHER)[0]
    mandate = batch_mandate(
        SigningKind.PURCHASE, batcher=BATCHER, collateral=COLLATERAL, scripts=[SALE_SCRIPT]
    )

    def purchase(batcher_gets: int) -> bytes:
        return transaction(
            [certificate, world.script_utxo],
            [TxOutput(certificate.address, Value.of(batcher_gets))],
            **operator_collateral(world, 300_000),  # type: ignore[arg-type]
        )

    with pytest.raises(SigningRefusedError, match="back less than it put in"):
        world.gate.sign(purchase(certificate.value.coin - 1), mandate)
    signed = world.gate.sign(purchase(certificate.value.coin + ADA), mandate)
    assert {vkey for vkey, _sig in vkey_witnesses(signed)} == {BATCHER.vkey, COLLATERAL.vkey}


def operator_collateral(world: World, fee: int) -> dict[str, object]:
    """The body fields of the operator's collateral, returned but the fee's share."""
    [collateral] = [u for u in world.at(COLLATERAL) if u.address == enterprise(COLLATERAL)]
    total = -(-fee * world.chain.protocol_parameters().collateral_percent // 100)
    return {
        "fee": fee,
        "collateral": [collateral],
        "collateral_return": TxOutput(collateral.address, Value.of(collateral.value.coin - total)),
        "total_collateral": total,
    }


def test_certificates_withdrawals_and_unknown_inputs_are_refused(world: World) -> None:
    mine = world.at(SELLER)[0]
    mandate = custodial_mandate(SigningKind.CUSTODIAL_ORDER, user=SELLER)
    reward = b"\xe0" + SELLER.hash
    withdrawal = transaction(
        [mine], [TxOutput(mine.address, Value.of(ADA))], extra=[(5, cbor2.dumps({reward: 0}))]
    )
    with pytest.raises(SigningRefusedError, match="withdrawals"):
        world.gate.sign(withdrawal, mandate)
    ghost = Utxo(b"\x99" * 32, 0, mine.address, mine.value, mine.output_cbor)
    with pytest.raises(SigningRefusedError, match="not an unspent output on chain"):
        world.gate.sign(transaction([ghost], [TxOutput(mine.address, Value.of(ADA))]), mandate)
    with pytest.raises(SigningRefusedError, match="not a transaction"):
        world.gate.sign(b"\x84\x00", mandate)


def test_a_proposal_is_refused_whatever_its_deposit(world: World) -> None:
    """Body key 20 is refused for what it is, not for the deposit it moves: a proposal with a
    zero deposit (a network whose governance deposit is 0, like the devnet's) is still one."""
    mine = world.at(SELLER)[0]
    mandate = custodial_mandate(SigningKind.CUSTODIAL_ORDER, user=SELLER)
    info_action = [0, b"\xe0" + SELLER.hash, [6], ["https://example.org", b"\x00" * 32]]
    tx = transaction(
        [mine], [TxOutput(mine.address, Value.of(ADA))], extra=[(20, cbor2.dumps([info_action]))]
    )
    with pytest.raises(SigningRefusedError, match="proposals"):
        world.gate.sign(tx, mandate)


def test_the_gate_costs_little_per_signature(world: World) -> None:
    """Measured, not asserted tightly: the note quotes this figure (a devnet read included)."""
    tx = start_transaction(world, world.at(SELLER)[:2])
    mandate = start_mandate()
    rounds = 200
    began = time.perf_counter()
    for _ in range(rounds):
        world.gate.check(tx, mandate)
    per_check = (time.perf_counter() - began) / rounds
    print(f"signing gate check: {per_check * 1e6:.0f} us per transaction")
    assert per_check < 0.01


# -- nothing else signs with a service key ---------------------------------------------------------

SRC = Path(__file__).resolve().parents[2] / "src" / "cardano_market"
ALLOWED_SIGNERS = {
    "app/signing.py",  # the gate
    "ledger/witness.py",  # sign_transaction itself
    "domain/keys.py",  # PaymentKey.sign itself
    "chain/devnet/wallet.py",  # the devnet's CIP-30 user wallets (never a service key's)
}


def test_only_the_gate_calls_a_signing_function() -> None:
    offenders = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC).as_posix()
        if rel.startswith("contracts/onchain/"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            gate_call = isinstance(func, ast.Attribute) and name == "sign" and _is_gate(func.value)
            if (
                name in ("sign_transaction", "sign")
                and not gate_call
                and rel not in ALLOWED_SIGNERS
            ):
                offenders.append(f"{rel}:{node.lineno}")
    assert offenders == []


def _is_gate(node: ast.expr) -> bool:
    """`<...>.gate.sign(...)` or `self.gate.sign(...)`: a call into the gate."""
    return isinstance(node, ast.Attribute) and node.attr == "gate"
