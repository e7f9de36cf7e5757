"""cardano-market: order amounts, order transactions and settlement for a Cardano marketplace.

The package root stays import-light so that `cardano-market --help` starts fast; import the
layers you need (`cardano_market.domain`, `cardano_market.tx`) directly.
"""

__version__ = "0.1.0"
