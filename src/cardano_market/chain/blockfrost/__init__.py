"""The Blockfrost backend (preview, preprod, mainnet): the client, its HTTP layer, its JSON reading.

`client.BlockfrostBackend` is the `ChainBackend`; `_http` holds the rate limit and retries, `_json`
turns Blockfrost's answers into the domain's types.
"""

from ._http import RetryPolicy
from .client import BlockfrostBackend, from_env

__all__ = ["BlockfrostBackend", "RetryPolicy", "from_env"]
