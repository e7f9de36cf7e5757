"""Settling the queue (PROTOCOL section 6): the batcher's use case, run by `worker.batcher`.

`deployment` reads the marketplace UTxOs and holds the batcher's keys; `view` is a round's view of
the chain (with this batcher's transactions not on chain yet); `settler` chooses the orders and
builds, signs and submits each one's purchase and refund; `report` says what a round did.
"""
