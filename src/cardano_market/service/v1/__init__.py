"""The v1 marketplace API: NEWM-compatible, non-custodial, reCAPTCHA-guarded routes and models."""
