"""Chain layer: one `ChainBackend` interface over the devnet emulator and Blockfrost."""
