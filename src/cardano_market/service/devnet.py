"""The devnet's HTTP face: a CIP-30 wallet per named devnet wallet, the tip, time and parameters.

Mounted only when the chain is the devnet. A demo, a browser or a test walks the exact path a real
dApp walks: `getUtxos(amount)` -> build -> `signTx` -> splice -> submit. Amounts and transactions
are CBOR hex, as CIP-30 passes them; JSON keys are camelCase, as in the v1 API.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from ..chain.base import Tip
from ..chain.devnet import DevnetBackend, DevnetWallet, TxSignError
from ..chain.devnet.wallet import TxSignErrorCode
from ..domain.errors import CborError
from ..domain.values import Value
from .errors import bad_request, not_found, unprocessable

MAX_ADVANCE_SLOTS = 10**9  # about 31 years of one-second slots


class _Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class WalletInfo(_Camel):
    name: str
    address: str = Field(description="bech32 base address (payment key + stake key)")


class SignTxRequest(_Camel):
    tx_cbor_hex: str = Field(description="the transaction to sign, CBOR hex")
    partial_sign: bool = Field(
        False, description="CIP-30 partialSign: sign even when others must sign too"
    )


class SignTxResponse(_Camel):
    witness_set_cbor_hex: str


class TipResponse(_Camel):
    slot: int
    time: int = Field(description="POSIX milliseconds of the slot's start")
    epoch: int
    block_height: int

    @classmethod
    def of(cls, tip: Tip) -> TipResponse:
        return cls(slot=tip.slot, time=tip.time_ms, epoch=tip.epoch, block_height=tip.block_height)


class AdvanceRequest(_Camel):
    slots: int = Field(
        ge=0, le=MAX_ADVANCE_SLOTS, strict=True, description="slots to move time forward by"
    )


def devnet_wallets(backend: DevnetBackend, names: Iterable[str]) -> dict[str, DevnetWallet]:
    """A CIP-30 wallet for each name (keys derived from the name), for `devnet_router`."""
    return {name: DevnetWallet(backend, name) for name in names}


def devnet_router(backend: DevnetBackend, wallets: Mapping[str, DevnetWallet]) -> APIRouter:
    """The `/devnet` routes over `backend`; `wallets` are the named wallets they expose."""
    router = APIRouter(prefix="/devnet", tags=["devnet"])

    def wallet_named(name: str) -> DevnetWallet:
        found = wallets.get(name)
        if found is None:
            known = ", ".join(sorted(wallets)) or "none"
            raise not_found(f"no devnet wallet named {name!r} (known: {known})")
        return found

    @router.get("/wallets", response_model=list[WalletInfo])
    def list_wallets() -> list[WalletInfo]:
        """The named devnet wallets and their addresses."""
        return [WalletInfo(name=name, address=w.bech32) for name, w in sorted(wallets.items())]

    @router.get("/wallets/{name}/utxos", response_model=list[str] | None)
    def get_utxos(
        name: str,
        amount: str | None = Query(None, description="CIP-30 cbor<value> hex; absent: every UTxO"),
    ) -> list[str] | None:
        """CIP-30 `getUtxos(amount)`: TransactionUnspentOutput hex list, null when uncoverable."""
        wallet = wallet_named(name)
        wanted = None
        if amount is not None:
            try:
                wanted = Value.from_cbor(amount)
            except (CborError, ValueError) as exc:
                raise bad_request(f"amount: {exc}") from exc
        return wallet.get_utxos(wanted)

    @router.post("/wallets/{name}/sign-tx", response_model=SignTxResponse)
    def sign_tx(name: str, request: SignTxRequest) -> SignTxResponse:
        """CIP-30 `signTx(tx, partialSign)`: the wallet's witness set."""
        wallet = wallet_named(name)
        try:
            bytes.fromhex(request.tx_cbor_hex)
        except ValueError as exc:
            raise bad_request("txCborHex: not valid hex") from exc
        try:
            witnesses = wallet.sign_tx(request.tx_cbor_hex, request.partial_sign)
        except TxSignError as exc:
            if isinstance(exc.__cause__, ValueError):  # CborError too: the bytes are no tx
                raise bad_request(f"txCborHex: {exc}") from exc
            code = TxSignErrorCode(exc.code)
            cip30_name = code.name.title().replace("_", "")  # PROOF_GENERATION -> ProofGeneration
            raise unprocessable(f"CIP-30 TxSignError {cip30_name} ({code.value}): {exc}") from exc
        return SignTxResponse(witness_set_cbor_hex=witnesses)

    @router.get("/tip", response_model=TipResponse)
    def tip() -> TipResponse:
        """The newest block: slot, time (POSIX ms), epoch and height."""
        return TipResponse.of(backend.tip())

    @router.post("/advance", response_model=TipResponse)
    def advance(request: AdvanceRequest) -> TipResponse:
        """Move the devnet's time forward by `slots`; the new tip."""
        return TipResponse.of(backend.advance(request.slots))

    @router.get("/protocol-parameters")
    def protocol_parameters() -> dict[str, Any]:
        """The parameters in Blockfrost's `/epochs/latest/parameters` shape."""
        return backend.protocol_parameters().to_blockfrost()

    return router
