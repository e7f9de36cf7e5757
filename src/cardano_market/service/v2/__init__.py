"""The v2 custodial API: Bearer-authenticated users, asynchronous transactions, secondary market."""
