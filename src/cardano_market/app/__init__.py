"""Use cases: what the v1 routes (and the CLI demo) do, over the store, the chain and the builders.

Route handlers stay thin: they parse the request, call one method here and render the result.
"""
