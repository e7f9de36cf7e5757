"""The devnet tests call `plutus.run_script` and `evaluate_scripts` in this process, as a library
user may; uplc's flat decoder recurses once per term, so this test process raises its own limit
(the service never does: it evaluates in the deep-stack child,
`cardano_market.contracts._deep_stack`)."""

import sys

from cardano_market.chain.devnet.plutus import RECURSION_LIMIT

sys.setrecursionlimit(max(sys.getrecursionlimit(), RECURSION_LIMIT))
