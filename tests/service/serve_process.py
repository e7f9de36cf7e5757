"""`cardano-market serve` as a real process for the edge tests: start, wait for /health, read its
memory, stop."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Served:
    process: subprocess.Popen[str]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_bytes(self) -> int:
        """The serving process's resident memory (VmRSS)."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS line")

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_serve(
    directory: Path, env_extra: dict[str, str] | None = None, args: tuple[str, ...] = ()
) -> Served:
    """A devnet `serve` in `directory` (its own devnet and SQLite files), ready to answer."""
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARDANO_MARKET_")}
    env.update(env_extra or {})
    log = directory / "serve.log"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cardano_market.cli",
            "serve",
            "--port",
            str(port),
            "--text-logs",
            *args,
        ],
        cwd=directory,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        text=True,
    )
    served = Served(process, port, log)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and served.alive():
        try:
            if httpx.get(f"{served.url}/health", timeout=2).status_code == 200:
                return served
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    served.stop()
    raise AssertionError(f"serve did not start:\n{log.read_text()[-3000:]}")
