"""The shared reading of transactions: parsing, witnesses, ex-units, redeemer keys, script hashes.

The builders (`tx`), the devnet's ledger (`chain.devnet`) and the signing gate (`app.signing`) all
read transactions through this layer, so a transaction means the same thing to each of them.
"""
