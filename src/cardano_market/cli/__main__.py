"""`python -m cardano_market.cli`: the same as the `cardano-market` command."""

from . import main

main()
