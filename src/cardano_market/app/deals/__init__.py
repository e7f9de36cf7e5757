"""The secondary market for custodial users: list tokens (sell), buy from a deal, delist, and the
order book. Escrow and pricing are `tx.deal`'s; this package decides who may do what, when.

- Sell is asynchronous: `request_sell` checks the request, stores a pending deal and a `sell`
  transaction; the worker builds the escrow lock with `SellHandler`, and the deal turns active
  (with its escrow output) once that transaction is on chain, or cancelled if it fails.
- Buy and delist are synchronous and run in the caller's unit of work.

`listing` (sell and the order book), `buying`, `delisting`; `escrow` holds what a settlement of a
deal shares (finding its escrow output, recovering a lost one, signing and submitting);
`errors` the refusals.

Serialising a deal. Every purchase spends the deal's one escrow output, so two purchases of a
deal must never be built from the same output. The deal row is the lock: a purchase starts with
`DealRepo.reserve` (PostgreSQL: a conditional UPDATE, which row-locks the deal until commit;
SQLite: the database write lock), and keeps it while it reads the escrow reference, builds,
signs and submits, moves the reference to the new escrow output and commits. A second buyer's
reserve waits on that lock, then sees the new remaining quantity and the new escrow output: it
either proceeds from there or, when the first took what it wanted, gets `DealConflictError`
(409). Delist takes the same lock by cancelling with the version it read (a purchase in between
bumps the version, so the delist re-reads). Reservations therefore never outlive a settlement:
while a deal is active and unlocked, its escrow output holds exactly `remaining` tokens.

Crash recovery. If the process dies after the ledger accepted a purchase but before the commit,
the database still names the spent escrow output. The next settlement of the deal finds the
deal's current escrow output on chain by its datum (`tx.deal.find_escrow`), takes the quantity
sold meanwhile off `remaining` and records a recovered trade in the audit log.
"""
