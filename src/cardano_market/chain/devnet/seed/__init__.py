"""Devnet seed files: a declarative JSON world (wallets, tokens, oracle, marketplace, sales, users)
read, checked and applied to a `Ledger` once.

`schema` reads and checks the file (`Seed`); `world` holds the fixed names, hashes and addresses
every seeded world shares; `contracts` deploys the marketplace (ReferenceDatum, reference scripts,
batcher certificate, vault); `genesis` mints the whole world in one transaction (`apply_seed`).
"""

from .genesis import SeedResult, apply_seed
from .schema import DEFAULT_SEED, Seed, load_seed, parse_seed

__all__ = ["DEFAULT_SEED", "Seed", "SeedResult", "apply_seed", "load_seed", "parse_seed"]
