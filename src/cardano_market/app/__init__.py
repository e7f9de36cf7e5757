"""Use cases: what the v1 and v2 routes, the worker and the CLI do, over the store, the chain and
the builders, all against one `context.Context`.

Per concept: orders, sales and sale_lifecycle, order_status, order_cancel (v1, the owner's wallet)
and custodial_cancel (v2), submit; custody (users' wallets), users, tokens, primary (buying on the
primary market), deals/ (the secondary market), transactions (the custodial transactions' handler
table, over custodial_tx and payloads), idempotency; signing (the signing gate). Route handlers
stay thin: they parse the request, call one use case here and render the result.
"""
