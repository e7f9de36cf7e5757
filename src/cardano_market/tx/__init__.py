"""Transaction builders: coin selection, the order transaction, witness splicing."""
