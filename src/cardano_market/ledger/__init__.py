"""The shared reading of transactions: parsing, witnesses, ex-units, redeemer keys, script hashes.

The builders (`tx`), the devnet's ledger (`chain.devnet`), the chain history and the signing gate
(`app.signing`) all read transactions through this layer, so a transaction means the same thing to
each of them: `parse` (the one parser, the transaction id), `witness` (vkey witnesses: signing,
splicing, sizes), `redeemers` and `exunits` (witness key 5), `scripts` (language tags, script
references) and `references` (what a deployment's UTxOs carry). Script hashes themselves are
`domain.hashes.script_hash(language, script)`.
"""
