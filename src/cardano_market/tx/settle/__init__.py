"""Settlement transactions (PROTOCOL section 6): the batcher's purchase and refund of queued
orders, and the owner's cancel, each in its own module over one inputs record (`inputs`), with
the fee paid from the order settled in `fee`."""
