"""`PycardanoContext`: any `ChainBackend` seen as a pycardano `ChainContext`.

Lets pycardano-based code (its `TransactionBuilder`, scripts written against it) run on the devnet
or on Blockfrost through our backend. pycardano is imported here only; nothing in the rest of `src`
imports this module at start-up, so the CLI never pays for pycardano's import.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from pycardano import (
    ChainContext,
    ExecutionUnits,
    GenesisParameters,
    Network,
    TransactionFailedException,
    UTxO,
)
from pycardano import ProtocolParameters as PycardanoParameters
from pycardano.address import Address
from pycardano.backend.base import ALONZO_COINS_PER_UTXO_WORD

from ..domain.params import ProtocolParameters
from ..ledger.exunits import RedeemerKey
from .base import ChainBackend, ChainError

MAX_REF_SCRIPTS_SIZE = 200 * 1024
"""The Conway ledger's limit on reference-script bytes per transaction."""

# Our redeemer purpose tags -> pycardano's `RedeemerTag` names, lower-cased, as its builder keys.
_PURPOSES = {
    "spend": "spend",
    "mint": "mint",
    "cert": "certificate",
    "reward": "withdrawal",
    "vote": "voting",
    "propose": "proposing",
}

_KNOWN_NETWORKS: dict[str, tuple[int, int, int]] = {
    # network: (magic, Shelley epoch length in slots, genesis system start in POSIX seconds)
    "mainnet": (764824073, 432000, 1506203091),
    "preprod": (1, 432000, 1654041600),
    "preview": (2, 86400, 1666656000),
}
DEVNET_MAGIC = 42
DEFAULT_EPOCH_LENGTH = 432000


class PycardanoContext(ChainContext):  # type: ignore[misc]  # pycardano ships no type hints
    """A pycardano `ChainContext` answering from `backend` (any `ChainBackend`).

    `network_magic` and `epoch_length` override what is known about the backend's network (the
    public networks' values, or for the devnet its ledger's epoch length and magic 42).
    """

    def __init__(
        self,
        backend: ChainBackend,
        *,
        network_magic: int | None = None,
        epoch_length: int | None = None,
    ) -> None:
        self.backend = backend
        self._network_magic = network_magic
        self._epoch_length = epoch_length

    # -- parameters -------------------------------------------------------------------------------

    @property
    def protocol_param(self) -> Any:
        return to_pycardano_parameters(self.backend.protocol_parameters())

    @property
    def genesis_param(self) -> Any:
        known = _KNOWN_NETWORKS.get(str(getattr(self.backend, "network", "")))
        slot_ms = self.backend.slot_to_posix_ms(1) - self.backend.slot_to_posix_ms(0)
        if known is not None:
            magic, epoch_length, system_start = known
        else:
            magic = DEVNET_MAGIC
            ledger = getattr(self.backend, "ledger", None)
            epoch_length = int(getattr(ledger, "epoch_length", DEFAULT_EPOCH_LENGTH))
            system_start = self.backend.slot_to_posix_ms(0) // 1000
        return GenesisParameters(
            active_slots_coefficient=Fraction(1, 20),
            update_quorum=5,
            max_lovelace_supply=45_000_000_000_000_000,
            network_magic=self._network_magic if self._network_magic is not None else magic,
            epoch_length=self._epoch_length if self._epoch_length is not None else epoch_length,
            system_start=system_start,
            slots_per_kes_period=129600,
            slot_length=max(slot_ms // 1000, 1),  # pycardano counts whole seconds
            max_kes_evolutions=62,
            security_param=2160,
        )

    @property
    def network(self) -> Any:
        return Network.MAINNET if self.backend.network_id == 1 else Network.TESTNET

    @property
    def epoch(self) -> int:
        return self.backend.tip().epoch

    @property
    def last_block_slot(self) -> int:
        return self.backend.tip().slot

    # -- UTxOs, submit, evaluate ------------------------------------------------------------------

    def _utxos(self, address: str) -> list[Any]:
        raw = bytes(Address.from_primitive(address))
        return [UTxO.from_cbor(u.to_cbor()) for u in self.backend.utxos_at(raw)]

    def submit_tx_cbor(self, cbor: bytes | str) -> str:
        """Submit through the backend; the transaction id (hex). A rejection raises pycardano's
        TransactionFailedException whose cause is our `SubmitError` (its `rule` names the check)."""
        tx = bytes.fromhex(cbor) if isinstance(cbor, str) else bytes(cbor)
        try:
            return self.backend.submit(tx).hex()
        except ChainError as exc:  # SubmitError (with its rule) or the backend failing
            raise TransactionFailedException(str(exc)) from exc

    def evaluate_tx_cbor(self, cbor: bytes | str) -> dict[str, Any]:
        """Ex-units per redeemer, keyed as pycardano's builder looks them up (`"spend:0"`)."""
        tx = bytes.fromhex(cbor) if isinstance(cbor, str) else bytes(cbor)
        try:
            units = self.backend.evaluate(tx)
        except ChainError as exc:  # EvaluationError (with its trace) or the backend failing
            raise TransactionFailedException(str(exc)) from exc
        return {
            redeemer_key(key): ExecutionUnits(mem=u.mem, steps=u.steps) for key, u in units.items()
        }


def redeemer_key(key: RedeemerKey) -> str:
    """`("cert", 1)` -> `"certificate:1"`: pycardano's `f"{RedeemerTag.name.lower()}:{index}"`."""
    purpose, index = key
    try:
        return f"{_PURPOSES[purpose]}:{index}"
    except KeyError:
        raise ValueError(f"unknown redeemer purpose {purpose!r}") from None


def to_pycardano_parameters(params: ProtocolParameters) -> Any:
    """Our parameters as pycardano's `ProtocolParameters`; fields we do not model come from the
    Blockfrost JSON they were read from, else mainnet's values."""
    raw = params.raw
    return PycardanoParameters(
        min_fee_constant=params.min_fee_b,
        min_fee_coefficient=params.min_fee_a,
        max_block_size=_raw_int(raw, "max_block_size", 90112),
        max_tx_size=params.max_tx_size,
        max_block_header_size=_raw_int(raw, "max_block_header_size", 1100),
        key_deposit=params.key_deposit,
        pool_deposit=params.pool_deposit,
        pool_influence=_raw_fraction(raw, "a0", Fraction(3, 10)),
        monetary_expansion=_raw_fraction(raw, "rho", Fraction(3, 1000)),
        treasury_expansion=_raw_fraction(raw, "tau", Fraction(1, 5)),
        decentralization_param=_raw_fraction(raw, "decentralisation_param", Fraction(0)),
        extra_entropy=str(raw.get("extra_entropy") or ""),
        protocol_major_version=params.protocol_major_ver,
        protocol_minor_version=_raw_int(raw, "protocol_minor_ver", 0),
        min_utxo=_raw_int(raw, "min_utxo", params.coins_per_utxo_byte),
        min_pool_cost=_raw_int(raw, "min_pool_cost", 170_000_000),
        price_mem=params.price_mem,
        price_step=params.price_step,
        max_tx_ex_mem=params.max_tx_ex_mem,
        max_tx_ex_steps=params.max_tx_ex_steps,
        max_block_ex_mem=_raw_int(raw, "max_block_ex_mem", 62_000_000),
        max_block_ex_steps=_raw_int(raw, "max_block_ex_steps", 20_000_000_000),
        max_val_size=params.max_val_size,
        collateral_percent=params.collateral_percent,
        max_collateral_inputs=params.max_collateral_inputs,
        coins_per_utxo_word=_raw_int(raw, "coins_per_utxo_word", 0) or ALONZO_COINS_PER_UTXO_WORD,
        coins_per_utxo_byte=params.coins_per_utxo_byte,
        cost_models={name: cost_model(model) for name, model in params.cost_models.items()},
        maximum_reference_scripts_size={"bytes": MAX_REF_SCRIPTS_SIZE},
        # pycardano's tier walk (base, range, multiplier) with the Conway tiers, not its
        # Blockfrost backend's flat single tier.
        min_fee_reference_scripts={
            "base": _number(params.min_fee_ref_script_cost_per_byte),
            "range": params.ref_script_tier_size,
            "multiplier": _number(params.ref_script_tier_multiplier),
        },
    )


def cost_model(model: Any) -> dict[str, int]:
    """A cost model as pycardano wants it: a dict whose key order is the ledger's parameter order.

    A raw list (Blockfrost's `cost_models_raw`) gets zero-padded index keys, so both insertion
    order (PlutusV2+) and sorted order (pycardano sorts PlutusV1's keys) are the list's order.
    """
    if isinstance(model, dict):
        return {str(k): int(v) for k, v in model.items()}
    return {f"{i:04d}": int(v) for i, v in enumerate(model)}


def _raw_int(raw: dict[str, Any], key: str, default: int) -> int:
    value = raw.get(key)
    return default if value is None else int(value)


def _raw_fraction(raw: dict[str, Any], key: str, default: Fraction) -> Fraction:
    value = raw.get(key)
    return default if value is None else Fraction(str(value))


def _number(value: Fraction) -> int | float:
    """pycardano's reference-script fee walk takes plain numbers (its annotation says float)."""
    return int(value) if value.denominator == 1 else float(value)
