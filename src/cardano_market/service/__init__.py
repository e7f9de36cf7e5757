"""The HTTP service: a FastAPI app (`app.create_app`) with the v1 error body and, on the devnet,
the CIP-30 wallet and chain-control routes a dApp, a browser or a test walks."""
