"""Keeping the database true to the chain: the chain monitor's use case, run by `worker.monitor`.

Each poll (`ChainSync.sync_once`) reads the UTxOs at both addresses and compares them with what
the database holds (the open orders and the last sale UTxO per pointer are the checkpoint, so a
restarted monitor resumes where the last one stopped):

- a new queue UTxO with a well-formed QueueDatum becomes a `queued` order; a malformed one is
  logged once with the reason and remembered as skipped;
- an open order whose UTxO is gone is matched with the transaction that spent it, classified by
  its queue redeemer (QueuePurchase, QueueRefund, QueueCancel) or, without a readable redeemer,
  by its shape (a recreated sale UTxO holding the order's pointer plus a continuing queue output
  is a purchase; the owner among the required signers is a cancel; anything else a refund). A
  purchase fills `(bundle tokens gained by the queue output) // bundle amount` bundles and moves
  the order to the continuing output (filled or partially_filled); a refund or cancel closes it;
- a sale UTxO's bundle tokens give the sale's available bundles (Started, or SoldOut at 0); a
  sale whose pointer left the sale address is Ended once the spending transaction is deep
  enough; a pointer the database does not know, started by this service (its start transaction
  was issued here), is recorded as a sale;
- submitted issued transactions become confirmed at the configured depth, or failed once the tip
  has passed their TTL without them.

Depth and rollbacks: nothing is applied until the transaction behind it has `confirmations`
blocks (0: as soon as it is seen). Within `rollback_window` blocks the monitor re-checks what it
applied: a purchase, refund or cancel whose transaction the chain no longer has is undone (the
order reopens at the UTxO it then had; an order whose own transaction vanished is deleted); a
closed order's UTxO reappearing at the queue reopens it the same way; a confirmed issued
transaction that vanished goes back to submitted; sale availability and status are recomputed
from the UTxO set on every poll, so an Ended sale whose pointer reappears is Started again.

Modules: `poll` (what one poll follows, its events and report), `sales` (the sales and the
options every part shares), `orders` (the queue and rollbacks), `sync` (the poll over all of them
and the issued transactions).
"""
