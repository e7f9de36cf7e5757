"""The composition root: settings in, a running service out. It builds the chain backend
(`chain`), the database (`database`), the keys and their registration with the signing gate
(`keys`), the marketplace and the v2 context (`marketplace`), the background loops (`workers`),
the HTTP app (`web`) and the multi-process serve (`serve`). Only `cli`, `demo` and tests sit above.
"""

from .assembly import open_service
from .parts import ServiceParts
from .web import create_service_app

__all__ = ["ServiceParts", "create_service_app", "open_service"]
