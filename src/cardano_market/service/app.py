"""The service's app factory: one FastAPI app with the v1 error body, the v1 routes, health,
metrics, and on the devnet its wallet routes.

`create_app` takes opened parts (tests pass what they need); `runtime.web.create_service_app`
builds them from settings.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI

from ..chain.base import ChainBackend
from ..chain.devnet import DevnetBackend, DevnetWallet
from .devnet import devnet_router
from .errors import install_error_handlers

if TYPE_CHECKING:
    from ..app.context import Context
    from ..store.db import Database
    from .edge import EdgeOptions
    from .observability import Metrics
    from .recaptcha import RecaptchaVerifier
    from .v1.routes import V1

DESCRIPTION = """
Order amounts, unsigned order and sale transactions, and submission for a Cardano marketplace,
wire-compatible with the deployed NEWM marketplace server (v1). Every v1 route needs the
`g-recaptcha-platform` and `g-recaptcha-token` headers when reCAPTCHA is enabled. Errors are
`{"code", "description", "cause"}`.
"""


def create_app(
    backend: ChainBackend | None = None,
    *,
    wallets: Mapping[str, DevnetWallet] | None = None,
    v1: V1 | None = None,
    metrics: Metrics | None = None,
    recaptcha: RecaptchaVerifier | None = None,
    database: Database | None = None,
    on_close: Callable[[], None] | None = None,
    v2: Context | None = None,
    background: Callable[[], Callable[[], None]] | None = None,
    edge: EdgeOptions | None = None,
) -> FastAPI:
    """The HTTP app over `backend`.

    On a `DevnetBackend` the `/devnet` routes are mounted. `wallets` names the devnet wallets they
    expose (name -> `DevnetWallet`); passing wallets for any other backend is an error: they
    would never be served. With `v1` (and its reCAPTCHA verifier) the v1 routes are mounted; with
    `metrics`, `/metrics` and the request-id middleware; with `database` and `backend`, `/health`.
    `on_close` runs when the app shuts down, after the reCAPTCHA client is closed. With `v2`
    the custodial API is mounted (and on the devnet `POST /devnet/token`). `background` starts
    what runs while the app is up (the v2 transaction worker, the chain monitor, the batcher,
    housekeeping: `runtime.workers`) and returns what stops it. `edge` puts the body limit, JSON
    depth check, rate limits, Bearer check before the body on /v2, and CORS in front of every
    route (`service.edge`).
    """

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stop_background = background() if background is not None else None
        try:
            yield
        finally:
            if stop_background is not None:
                stop_background()
            if recaptcha is not None:
                await recaptcha.aclose()
            if on_close is not None:
                on_close()

    app = FastAPI(
        title="cardano-market", version="0.1.0", description=DESCRIPTION, lifespan=lifespan
    )
    install_error_handlers(app)
    if metrics is not None:
        from .observability import install_observability

        install_observability(app, metrics)
    if database is not None and backend is not None:
        from .health import health_router

        app.include_router(health_router(ping_database=database.ping, backend=backend))
    if v1 is not None:
        if recaptcha is None:
            raise ValueError("the v1 routes need a reCAPTCHA verifier (a disabled one is fine)")
        from .v1.routes import cardano, marketplace

        app.state.v1 = v1
        app.state.recaptcha = recaptcha
        app.include_router(marketplace)
        app.include_router(cardano)
    if v2 is not None:
        _mount_v2(app, v2)
    if isinstance(backend, DevnetBackend):
        app.include_router(devnet_router(backend, dict(wallets or {})))
    elif wallets:
        raise ValueError("devnet wallets need a DevnetBackend: only the devnet serves them")
    if edge is not None:
        from .edge import install_edge

        install_edge(app, edge, _v2_user(v2) if v2 is not None else None)
    return app


def _v2_user(v2: Context) -> Callable[[str | None], str] | None:
    verifier = v2.verifier
    if verifier is None:
        return None

    def user_of(authorization: str | None) -> str:
        return verifier.verify(authorization).user_id

    return user_of


def _mount_v2(app: FastAPI, v2: Context) -> None:
    from .v2.auth import authenticate
    from .v2.errors import install_v2_error_handlers
    from .v2.routes import devnet_token_router, v2_routers

    app.state.v2 = v2
    for router in v2_routers():
        app.include_router(router)
    if v2.devnet:
        app.include_router(devnet_token_router())
    install_v2_error_handlers(app, authenticate=authenticate)
