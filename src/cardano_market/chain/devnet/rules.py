"""Phase-1 ledger rules of the devnet, each failure named as the Conway ledger names it.

Pure functions over a parsed transaction, its resolved inputs and the protocol parameters; no I/O.
Fees and minimum ADA come from `domain.fees`, the same functions the builders use, so what a
builder produces is exactly what the devnet accepts. Phase 2 (Plutus) is the ledger's job, after
these checks pass: `check_phase_one` returns the scripts it will have to run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, NoReturn

from ...domain.address import parse_address, payment_key_hash
from ...domain.cip30 import OutRef, Utxo
from ...domain.errors import AddressError
from ...domain.fees import min_ada, min_fee, reference_scripts_size
from ...domain.hashes import blake2b_256, datum_hash, key_hash
from ...domain.params import ProtocolParameters
from ...domain.scriptdata import CostModelError, language_views, script_data_hash
from ...domain.values import AssetId, unit_of
from ...ledger.exunits import RedeemerKey
from ...ledger.parse import ParsedTx
from ...ledger.scripts import Script, script_from_ref
from ..base import SubmitError
from .scripts import eval_native, native_signers

Lookup = Callable[[OutRef], Utxo | None]


def fail(rule: str, message: str) -> NoReturn:
    raise SubmitError(f"{rule}: {message}", rule=rule)


@dataclass(slots=True)
class Resolved:
    """The UTxOs a transaction spends, uses as collateral and references."""

    inputs: list[Utxo]  # ledger order, as the transaction's inputs
    collateral: list[Utxo]
    reference: list[Utxo]

    def all(self) -> dict[OutRef, Utxo]:
        out = {u.out_ref: u for u in self.reference}
        out.update((u.out_ref, u) for u in self.collateral)
        out.update((u.out_ref, u) for u in self.inputs)
        return out


@dataclass(slots=True)
class RuleContext:
    params: ProtocolParameters
    network_id: int
    slot: int
    views_cache: dict[frozenset[int], bytes] = field(default_factory=dict)


@dataclass(slots=True)
class ScriptPlan:
    """What phase 2 must run: the Plutus script of each redeemer, by purpose."""

    plutus: dict[RedeemerKey, Script] = field(default_factory=dict)

    @property
    def runs_scripts(self) -> bool:
        return bool(self.plutus)


# -- resolution -----------------------------------------------------------------------------------


def resolve(tx: ParsedTx, lookup: Lookup) -> Resolved:
    """Every input, collateral input and reference input must be unspent (BadInputsUTxO)."""
    if not tx.inputs:
        fail("InputSetEmptyUTxO", "the transaction spends no input")
    missing: list[OutRef] = []

    def find(refs: Iterable[OutRef]) -> list[Utxo]:
        found = []
        for ref in refs:
            utxo = lookup(ref)
            if utxo is None:
                missing.append(ref)
            else:
                found.append(utxo)
        return found

    resolved = Resolved(find(tx.inputs), find(tx.collateral), find(tx.reference_inputs))
    if missing:
        refs = ", ".join(f"{h.hex()}#{i}" for h, i in dict.fromkeys(missing))
        fail("BadInputsUTxO", f"unknown or already spent input(s) {refs}")
    return resolved


# -- the rules ------------------------------------------------------------------------------------


def check_phase_one(tx: ParsedTx, resolved: Resolved, ctx: RuleContext) -> ScriptPlan:
    """Run every phase-1 rule; raise SubmitError naming the first one broken."""
    params = ctx.params
    if tx.size > params.max_tx_size:
        fail(
            "MaxTxSizeUTxO",
            f"the transaction is {tx.size} bytes; the limit is {params.max_tx_size}",
        )
    check_validity_interval(tx, ctx.slot)
    check_network(tx, ctx.network_id)
    check_outputs(tx, params)
    check_fee(tx, resolved, params)
    check_value_conserved(tx, resolved, params)
    check_vkey_witnesses(tx, resolved)
    plan = check_scripts(tx, resolved, available_scripts(tx, resolved))
    check_datums(tx, resolved, plan)
    check_redeemers(tx, plan)
    check_metadata(tx)
    check_script_data_hash(tx, plan, ctx)
    if tx.redeemers:
        check_ex_units(tx, params)
        check_collateral(tx, resolved, params)
    return plan


def check_validity_interval(tx: ParsedTx, slot: int) -> None:
    if tx.validity_start is not None and slot < tx.validity_start:
        fail(
            "OutsideValidityIntervalUTxO",
            f"the current slot {slot} is before the validity start {tx.validity_start}",
        )
    if tx.ttl is not None and slot >= tx.ttl:
        fail(
            "OutsideValidityIntervalUTxO",
            f"the current slot {slot} is at or after the TTL {tx.ttl} (the transaction expired)",
        )


def check_network(tx: ParsedTx, network_id: int) -> None:
    if tx.network_id is not None and tx.network_id != network_id:
        fail(
            "WrongNetworkInTxBody",
            f"the body's network id is {tx.network_id}; this network is {network_id}",
        )
    for out in _all_outputs(tx):
        try:
            parsed = parse_address(out.address)
        except AddressError as exc:
            fail("WrongNetwork", f"output {out.index} address: {exc}")
        if parsed.network_id != network_id:
            fail(
                "WrongNetwork",
                f"output {out.index} pays an address of network {parsed.network_id}; "
                f"this network is {network_id}",
            )
    for account, _coin in tx.withdrawals:
        if account[0] & 0x0F != network_id:
            fail("WrongNetworkWithdrawal", f"reward account {account.hex()} is on another network")


def check_outputs(tx: ParsedTx, params: ProtocolParameters) -> None:
    """Min-ADA of each output (exact size) and the maximum value size, collateral return too."""
    for out in _all_outputs(tx):
        needed = min_ada(params, len(out.output_cbor))
        if out.value.coin < needed:
            fail(
                "BabbageOutputTooSmallUTxO",
                f"output {out.index} holds {out.value.coin} lovelace; its {len(out.output_cbor)} "
                f"bytes need at least {needed}",
            )
        value_size = len(out.value.to_cbor())
        if value_size > params.max_val_size:
            fail(
                "OutputTooBigUTxO",
                f"output {out.index} value is {value_size} bytes; "
                f"the limit is {params.max_val_size}",
            )


def check_fee(tx: ParsedTx, resolved: Resolved, params: ProtocolParameters) -> None:
    mem = sum(r.mem for r in tx.redeemers)
    steps = sum(r.steps for r in tx.redeemers)
    ref_size = reference_scripts_size((*resolved.inputs, *resolved.reference))
    needed = min_fee(params, tx.size, mem=mem, steps=steps, ref_script_size=ref_size)
    if tx.fee < needed:
        detail = f"{tx.size} bytes"
        if mem or steps:
            detail += f", {mem} mem / {steps} steps"
        if ref_size:
            detail += f", {ref_size} bytes of reference scripts"
        fail("FeeTooSmallUTxO", f"the fee is {tx.fee}; the minimum for {detail} is {needed}")


def check_value_conserved(tx: ParsedTx, resolved: Resolved, params: ProtocolParameters) -> None:
    """consumed (inputs + mint + withdrawals + refunds) == produced (outputs + fee + deposits)."""
    for account, coin in tx.withdrawals:
        if coin:
            fail(
                "WithdrawalsNotInRewardsCERTS",
                f"reward account {account.hex()} has no rewards on the devnet; withdraw 0",
            )
    deposits, refunds = certificate_deposits(tx.certificates, params)
    coin_in = sum(u.value.coin for u in resolved.inputs) + refunds
    coin_out = (
        sum(o.value.coin for o in tx.outputs)
        + tx.fee
        + deposits
        + tx.proposal_deposits
        + tx.donation
    )
    assets: dict[AssetId, int] = {}
    for utxo in resolved.inputs:
        for asset, qty in utxo.value.assets.items():
            assets[asset] = assets.get(asset, 0) + qty
    for asset, qty in tx.mint.items():
        assets[asset] = assets.get(asset, 0) + qty
    for out in tx.outputs:
        for asset, qty in out.value.assets.items():
            assets[asset] = assets.get(asset, 0) - qty
    unbalanced = {unit_of(a): q for a, q in assets.items() if q}
    if coin_in != coin_out or unbalanced:
        parts = []
        if coin_in != coin_out:
            parts.append(f"lovelace consumed {coin_in} != produced {coin_out}")
        parts += [
            f"{unit}: {'surplus' if q > 0 else 'deficit'} of {abs(q)}"
            for unit, q in sorted(unbalanced.items())
        ]
        fail("ValueNotConservedUTxO", "; ".join(parts))


def certificate_deposits(certs: list[Any], params: ProtocolParameters) -> tuple[int, int]:
    """(deposits paid, refunds received) by the certificates, in lovelace."""
    deposits = refunds = 0
    for cert in certs:
        kind = cert[0]
        if kind == 0:
            deposits += params.key_deposit
        elif kind == 1:
            refunds += params.key_deposit
        elif kind == 3:
            deposits += params.pool_deposit
        elif kind in (7, 11, 12, 13) and type(cert[-1]) is int:
            deposits += cert[-1]
        elif kind == 16 and len(cert) > 2 and type(cert[2]) is int:
            deposits += cert[2]
        elif kind in (8, 17) and type(cert[-1]) is int:
            refunds += cert[-1]
    return deposits, refunds


def check_vkey_witnesses(tx: ParsedTx, resolved: Resolved) -> None:
    """Every vkey witness verifies over the id; every required key hash has one."""
    from nacl.exceptions import BadSignatureError  # imported here: keeps imports light
    from nacl.signing import VerifyKey

    for vkey, sig in tx.vkey_witnesses:
        try:
            VerifyKey(vkey).verify(tx.tx_id, sig)
        except (BadSignatureError, ValueError, TypeError):
            fail(
                "InvalidWitnessesUTXOW",
                f"the signature by key {key_hash(vkey).hex()} does not verify over "
                f"transaction {tx.tx_id.hex()}",
            )
    have = witness_key_hashes(tx)
    missing = required_vkey_hashes(tx, resolved) - have
    if missing:
        fail(
            "MissingVKeyWitnessesUTXOW",
            "no vkey witness for key hash(es) " + ", ".join(sorted(h.hex() for h in missing)),
        )


def witness_key_hashes(tx: ParsedTx) -> set[bytes]:
    return {key_hash(vkey) for vkey, _sig in tx.vkey_witnesses}


def required_vkey_hashes(tx: ParsedTx, resolved: Resolved) -> set[bytes]:
    """Key hashes that must sign: key-locked inputs and collateral, required signers,
    key-credential withdrawals and certificates (the ledger's `witsVKeyNeeded`)."""
    needed: set[bytes] = set(tx.required_signers)
    for utxo in (*resolved.inputs, *resolved.collateral):
        try:
            pkh = payment_key_hash(utxo.address)
        except AddressError:
            continue
        if pkh is not None:
            needed.add(pkh)
    for account, _coin in tx.withdrawals:
        if account[0] >> 4 == 14:
            needed.add(account[1:])
    for cert in tx.certificates:
        needed.update(_cert_key_hashes(cert))
    return needed


def _cert_key_hashes(cert: list[Any]) -> Iterator[bytes]:
    kind = cert[0]
    if kind == 3 and len(cert) > 7:  # pool registration: operator and owners
        yield cert[1]
        yield from cert[7] if isinstance(cert[7], list) else ()
    elif kind == 4:
        yield cert[1]
    elif kind in _CRED_CERTS:
        cred = cert[1]
        if isinstance(cred, list) and len(cred) == 2 and cred[0] == 0:
            yield cred[1]


# Certificates whose second field is a credential that must witness them (not a plain
# stake registration, kind 0, which needs no witness).
_CRED_CERTS = frozenset({1, 2, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18})


# -- scripts --------------------------------------------------------------------------------------


def available_scripts(tx: ParsedTx, resolved: Resolved) -> dict[bytes, Script]:
    """Scripts by hash: the witness set's and the reference scripts of inputs and references."""
    scripts: dict[bytes, Script] = {}
    for utxo in (*resolved.inputs, *resolved.reference):
        if utxo.script_ref is not None:
            script = script_from_ref(utxo.script_ref)
            scripts[script.hash] = script
    for script in witness_scripts(tx):
        scripts[script.hash] = script
    return scripts


def witness_scripts(tx: ParsedTx) -> list[Script]:
    return [Script(0, s) for s in tx.native_scripts] + [
        Script(version, body) for version, body in tx.plutus_scripts
    ]


def needed_scripts(tx: ParsedTx, resolved: Resolved) -> list[tuple[RedeemerKey, bytes]]:
    """(purpose, script hash) of every script the transaction must run (`scriptsNeeded`)."""
    needed: list[tuple[RedeemerKey, bytes]] = []
    for i, utxo in enumerate(resolved.inputs):
        if len(utxo.address) > 28 and utxo.address[0] < 0x80 and utxo.address[0] & 0x10:
            needed.append((("spend", i), utxo.address[1:29]))
    for i, policy in enumerate(sorted({policy for policy, _name in tx.mint})):
        needed.append((("mint", i), policy))
    accounts = sorted(tx.withdrawals, key=lambda w: (w[0][0] & 0x0F, w[0][0] >> 4 != 15, w[0][1:]))
    for i, (account, _coin) in enumerate(accounts):
        if account[0] >> 4 == 15:
            needed.append((("reward", i), account[1:]))
    for i, cert in enumerate(tx.certificates):
        if cert[0] in _CRED_CERTS:
            cred = cert[1]
            if isinstance(cred, list) and len(cred) == 2 and cred[0] == 1:
                needed.append((("cert", i), cred[1]))
    return needed


def check_scripts(tx: ParsedTx, resolved: Resolved, scripts: dict[bytes, Script]) -> ScriptPlan:
    needed = needed_scripts(tx, resolved)
    needed_hashes = {h for _purpose, h in needed}
    missing = sorted({h.hex() for h in needed_hashes if h not in scripts})
    if missing:
        fail("MissingScriptWitnessesUTXOW", "no script given for hash(es) " + ", ".join(missing))
    extraneous = sorted({s.hash.hex() for s in witness_scripts(tx) if s.hash not in needed_hashes})
    if extraneous:
        fail(
            "ExtraneousScriptWitnessesUTXOW",
            "the witness set holds script(s) no purpose needs: " + ", ".join(extraneous),
        )
    signers = witness_key_hashes(tx)
    plan = ScriptPlan()
    for purpose, script_hash in needed:
        script = scripts[script_hash]
        if script.is_plutus:
            plan.plutus[purpose] = script
        elif not eval_native(script.body, signers, tx.validity_start, tx.ttl):
            fail(
                "ScriptWitnessNotValidatingUTXOW",
                f"native script {script_hash.hex()} ({purpose[0]} {purpose[1]}) is not satisfied "
                "by the transaction's signatures and validity interval",
            )
    return plan


def native_script_keys(tx: ParsedTx, resolved: Resolved) -> set[bytes]:
    """Key hashes mentioned by the native scripts the transaction runs (what a wallet may sign)."""
    scripts = available_scripts(tx, resolved)
    keys: set[bytes] = set()
    for _purpose, script_hash in needed_scripts(tx, resolved):
        script = scripts.get(script_hash)
        if script is not None and not script.is_plutus:
            keys.update(native_signers(script.body))
    return keys


def check_datums(tx: ParsedTx, resolved: Resolved, plan: ScriptPlan) -> None:
    given = {datum_hash(d): d for d in tx.datums}
    required: set[bytes] = set()
    for (tag, index), script in plan.plutus.items():
        if tag != "spend":
            continue
        utxo = resolved.inputs[index]
        if utxo.datum_hash is not None:
            required.add(utxo.datum_hash)
        elif utxo.inline_datum is None and script.language < 3:
            fail(
                "UnspendableUTxONoDatumHash",
                f"input {utxo.tx_hash.hex()}#{utxo.index} is locked by a PlutusV"
                f"{script.language} script but carries no datum",
            )
    missing = sorted(h.hex() for h in required if h not in given)
    if missing:
        fail("MissingRequiredDatums", "no datum given for hash(es) " + ", ".join(missing))
    allowed = set(required)
    for utxo in (*resolved.inputs, *resolved.reference, *tx.outputs):
        if utxo.datum_hash is not None:
            allowed.add(utxo.datum_hash)
    extra = sorted(h.hex() for h in given if h not in allowed)
    if extra:
        fail(
            "NotAllowedSupplementalDatums",
            "datum(s) neither needed nor referenced by an output: " + ", ".join(extra),
        )


def check_redeemers(tx: ParsedTx, plan: ScriptPlan) -> None:
    given = {r.key for r in tx.redeemers}
    missing = sorted(set(plan.plutus) - given)
    if missing:
        fail("MissingRedeemers", "no redeemer for " + ", ".join(f"{t} {i}" for t, i in missing))
    extra = sorted(given - set(plan.plutus))
    if extra:
        fail(
            "ExtraRedeemers",
            "redeemer(s) with no Plutus script to run: " + ", ".join(f"{t} {i}" for t, i in extra),
        )


def check_metadata(tx: ParsedTx) -> None:
    if tx.auxiliary_data is None:
        if tx.aux_data_hash is not None:
            fail("MissingTxMetadata", "the body holds an auxiliary data hash but no data follows")
        return
    if tx.aux_data_hash is None:
        fail("MissingTxBodyMetadataHash", "auxiliary data present but the body holds no hash")
    actual = blake2b_256(tx.auxiliary_data)
    if actual != tx.aux_data_hash:
        fail(
            "ConflictingMetadataHash",
            f"the body's auxiliary data hash is {tx.aux_data_hash.hex()}; the data hash to "
            f"{actual.hex()}",
        )


def check_script_data_hash(tx: ParsedTx, plan: ScriptPlan, ctx: RuleContext) -> None:
    languages = frozenset(s.language for s in plan.plutus.values())
    expected: bytes | None = None
    if tx.redeemers or tx.datums or languages:
        views = ctx.views_cache.get(languages)
        if views is None:
            try:
                views = language_views(languages, ctx.params.cost_models)
            except CostModelError as exc:
                fail("CollectErrors", str(exc))
            ctx.views_cache[languages] = views
        expected = script_data_hash(tx.redeemers_raw, tx.datums_raw if tx.datums else None, views)
    if expected != tx.script_data_hash:
        given = tx.script_data_hash.hex() if tx.script_data_hash else "none"
        fail(
            "PPViewHashesDontMatch",
            f"the body's script data hash is {given}; the redeemers, datums and cost models "
            f"hash to {expected.hex() if expected else 'none'}",
        )


def check_ex_units(tx: ParsedTx, params: ProtocolParameters) -> None:
    mem = sum(r.mem for r in tx.redeemers)
    steps = sum(r.steps for r in tx.redeemers)
    if mem > params.max_tx_ex_mem or steps > params.max_tx_ex_steps:
        fail(
            "ExUnitsTooBigUTxO",
            f"the redeemers declare {mem} mem / {steps} steps; the limit is "
            f"{params.max_tx_ex_mem} / {params.max_tx_ex_steps}",
        )


def collateral_balance(tx: ParsedTx, resolved: Resolved) -> tuple[int, dict[AssetId, int]]:
    """(lovelace, token deltas) of collateral inputs minus the collateral return."""
    coin = sum(u.value.coin for u in resolved.collateral)
    tokens: dict[AssetId, int] = {}
    for utxo in resolved.collateral:
        for asset, qty in utxo.value.assets.items():
            tokens[asset] = tokens.get(asset, 0) + qty
    if tx.collateral_return is not None:
        coin -= tx.collateral_return.value.coin
        for asset, qty in tx.collateral_return.value.assets.items():
            tokens[asset] = tokens.get(asset, 0) - qty
    return coin, {a: q for a, q in tokens.items() if q}


def check_collateral(tx: ParsedTx, resolved: Resolved, params: ProtocolParameters) -> None:
    if not tx.collateral:
        fail("NoCollateralInputs", "a transaction that runs scripts must give collateral inputs")
    if len(tx.collateral) > params.max_collateral_inputs:
        fail(
            "TooManyCollateralInputs",
            f"{len(tx.collateral)} collateral inputs; at most {params.max_collateral_inputs}",
        )
    for utxo in resolved.collateral:
        try:
            pkh = payment_key_hash(utxo.address)
        except AddressError:
            pkh = None
        if pkh is None:
            fail(
                "ScriptsNotPaidUTxO",
                f"collateral input {utxo.tx_hash.hex()}#{utxo.index} is not locked by a key",
            )
    coin, tokens = collateral_balance(tx, resolved)
    if tokens:
        units = ", ".join(f"{unit_of(a)} {q:+d}" for a, q in sorted(tokens.items()))
        fail(
            "CollateralContainsNonADA",
            f"collateral minus its return holds tokens ({units}); return them all",
        )
    if coin < 0 or coin * 100 < tx.fee * params.collateral_percent:
        needed = -(-tx.fee * params.collateral_percent // 100)
        fail(
            "InsufficientCollateral",
            f"collateral (net of its return) is {coin} lovelace; {params.collateral_percent}% of "
            f"the fee {tx.fee} is {needed}",
        )
    if tx.total_collateral is not None and tx.total_collateral != coin:
        fail(
            "IncorrectTotalCollateralField",
            f"the body's total collateral is {tx.total_collateral}; collateral minus its return "
            f"is {coin}",
        )


# -- helpers --------------------------------------------------------------------------------------


def _all_outputs(tx: ParsedTx) -> list[Utxo]:
    if tx.collateral_return is None:
        return tx.outputs
    return [*tx.outputs, tx.collateral_return]
