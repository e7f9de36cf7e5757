"""Security for the v2 custodial API: Bearer JWT authentication and signing keys sealed at rest.

Nothing here imports PyJWT or cryptography until it is used, so importing the package is cheap.
"""

from .jwt_auth import (
    AUTHENTICATION_REQUIRED,
    AccessDeniedError,
    AuthenticationError,
    JwtVerifier,
    Principal,
    issue_token,
    load_rsa_public_key,
)
from .keystore import KeyStore, KeystoreError, devnet_key_file, parse_key_encryption_key

__all__ = [
    "AUTHENTICATION_REQUIRED",
    "AccessDeniedError",
    "AuthenticationError",
    "JwtVerifier",
    "KeyStore",
    "KeystoreError",
    "Principal",
    "devnet_key_file",
    "issue_token",
    "load_rsa_public_key",
    "parse_key_encryption_key",
]
