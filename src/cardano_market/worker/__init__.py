"""Background workers: the chain monitor that keeps the database true."""

from .monitor import ChainMonitor, MonitorEvent, PollReport

__all__ = ["ChainMonitor", "MonitorEvent", "PollReport"]
