"""Developer tools: small, real local stand-ins for outside services (tests, demos, load tests).

Not imported by the service itself.
"""
