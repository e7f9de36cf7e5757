"""Workers: loops only (the chain monitor, the batcher, the custodial transaction processor), each
calling its use case in `app`."""

from .monitor import ChainMonitor

__all__ = ["ChainMonitor"]
