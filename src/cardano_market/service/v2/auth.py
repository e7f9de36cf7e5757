"""Who is calling the v2 API, and may they act on this user: FastAPI dependencies.

Every v2 route depends on `current_principal` (Bearer JWT, `security.jwt_auth`): anything but a
valid token is 401 `{"error": "Authentication required"}`. Routes under a user's id call
`authorize_user` (403 unless it is that user or an administrator); admin routes depend on
`current_admin`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ...app import context as app_context
from ...security.jwt_auth import AuthenticationError, Principal
from .errors import V2Error, authentication_required


def v2_context(request: Request) -> app_context.Context:
    """The app's `Context` (`app.state.v2`)."""
    ctx: app_context.Context = request.app.state.v2
    return ctx


def authenticate(request: Request) -> Principal:
    """The principal of the request's Bearer token; V2Error 401 otherwise."""
    verifier = v2_context(request).verifier
    if verifier is None:  # pragma: no cover - the service always configures one
        raise V2Error(503, "Service unavailable", "authentication is not configured")
    try:
        return verifier.verify(request.headers.get("authorization"))
    except AuthenticationError:
        raise authentication_required() from None


async def current_principal(request: Request) -> Principal:
    """FastAPI dependency: the authenticated caller (401 via V2Error)."""
    return authenticate(request)


async def current_admin(request: Request) -> Principal:
    """FastAPI dependency: an authenticated administrator (401, then 403)."""
    principal = authenticate(request)
    if not principal.is_admin:
        raise V2Error(403, "Access denied", "Administrator role required")
    return principal


def authorize_user(
    principal: Principal, user_id: str, details: str = "Insufficient permissions"
) -> None:
    """Reads: 403 `{"error": "Access denied", "details": ...}` unless `principal` is `user_id` or
    an administrator."""
    if principal.is_admin:
        return
    authorize_owner(principal, user_id, details)


def authorize_owner(
    principal: Principal, user_id: str, details: str = "Insufficient permissions"
) -> None:
    """Anything that spends a custodial wallet: only its owner, administrators included (an
    admin token must never move a user's funds)."""
    if not isinstance(user_id, str) or user_id.lower() != principal.user_id:
        raise V2Error(403, "Access denied", details)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
CurrentAdmin = Annotated[Principal, Depends(current_admin)]
Context = Annotated[app_context.Context, Depends(v2_context)]
"""The custodial API's `app.context.Context` (`app.state.v2`)."""
