"""The HTTP app over opened parts: the service's routers (`service.app.create_app`) handed the
marketplace, reCAPTCHA, metrics, the v2 context, the edge's options and what runs in the
background while the app is up."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..config import Settings
from .workers import housekeeping_loop, in_app_background, settlement_loops

if TYPE_CHECKING:
    from fastapi import FastAPI

    from ..service.edge import EdgeOptions
    from ..service.ratelimit import RateLimits
    from .parts import ServiceParts


def create_service_app(
    parts: ServiceParts, *, worker: bool = False, settle: bool = False
) -> FastAPI:
    """The HTTP app over opened `parts` (v1 and v2 routes, health, metrics, /devnet on the
    devnet); with `worker`, a v2 transaction worker runs in-process while the app is up; with
    `settle`, the chain monitor and (on the devnet) the batcher too."""
    from ..service.app import create_app
    from ..service.recaptcha import RecaptchaVerifier
    from ..service.v1.routes import V1

    recaptcha = RecaptchaVerifier.from_settings(
        parts.settings, on_outcome=parts.metrics.recaptcha_outcome
    )
    loops = [
        *(settlement_loops(parts, optional_batcher=True) if settle else ()),
        housekeeping_loop(parts),
    ]
    return create_app(
        parts.chain,
        wallets=parts.wallets,
        v1=V1.build(
            parts.market,
            parts.metrics,
            operator=parts.operator,
            deployment=parts.deployment,
            submit_relay=parts.settings.submit_relay,
        ),
        metrics=parts.metrics,
        recaptcha=recaptcha,
        database=parts.database,
        on_close=parts.close,
        v2=parts.v2,
        background=in_app_background(parts.v2, worker=worker, loops=loops),
        edge=edge_options(parts.settings),
    )


def edge_options(settings: Settings) -> EdgeOptions:
    """The edge's settings: body limit, rate limits (memory or Redis), proxy header, CORS, and
    where /metrics may be read."""
    from ..service.edge import EdgeOptions
    from ..service.ratelimit import RateLimiter

    limiter = None
    if settings.rate_limit_enabled:
        limiter = RateLimiter(rate_limits(settings), settings.rate_limit_storage_url)
    token = settings.metrics_token
    return EdgeOptions(
        max_body_bytes=settings.max_body_bytes,
        limiter=limiter,
        trusted_proxy_header=settings.trusted_proxy_header,
        cors_allowed_origins=settings.cors_allowed_origins,
        metrics_token=None if token is None else token.get_secret_value(),
        metrics_elsewhere=settings.metrics_port is not None,
    )


def rate_limits(settings: Settings) -> RateLimits:
    """The rate limits in force: the network's defaults, then each configured one."""
    from ..service.ratelimit import RateLimits

    base = RateLimits.defaults(devnet=not settings.network.is_real)
    return RateLimits(
        settings.rate_limit_build or base.build,
        settings.rate_limit_submit or base.submit,
        settings.rate_limit_read or base.read,
    )
