"""The service's app factory: one FastAPI app with the v1 error body and, on the devnet, its routes.

Small on purpose: the v1 marketplace routes, settings, database and reCAPTCHA join it later.
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import FastAPI

from ..chain.base import ChainBackend
from ..chain.devnet import DevnetBackend, DevnetWallet
from .devnet import devnet_router
from .errors import install_error_handlers


def create_app(
    backend: ChainBackend | None = None,
    *,
    wallets: Mapping[str, DevnetWallet] | None = None,
) -> FastAPI:
    """The HTTP app over `backend`.

    On a `DevnetBackend` the `/devnet` routes are mounted. `wallets` names the devnet wallets they
    expose (name -> `DevnetWallet`, e.g. from the seed loader or `devnet.devnet_wallets`); the
    devnet keeps no registry of names itself, so without it `/devnet/wallets` is empty. Passing
    wallets for any other backend is an error: they would never be served.
    """
    app = FastAPI(title="cardano-market", version="0.1.0")
    install_error_handlers(app)
    if isinstance(backend, DevnetBackend):
        app.include_router(devnet_router(backend, dict(wallets or {})))
    elif wallets:
        raise ValueError("devnet wallets need a DevnetBackend: only the devnet serves them")
    return app
