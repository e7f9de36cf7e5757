"""JSON for the v2 API with exact numbers: a Decimal is written as the number it is (12.5,
131.25), never through a binary float, so rendered amounts are exactly the base units over
10^decimals."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from fastapi.responses import Response

from ...domain.errors import MarketError


def dumps_exact(value: Any) -> str:
    """Compact JSON of dicts, lists, strings, ints, bools, None, Decimals and aware datetimes
    (ISO 8601, `Z` for UTC)."""
    parts: list[str] = []
    _write(value, parts)
    return "".join(parts)


def iso_utc(moment: datetime) -> str:
    """`2024-01-15T16:30:00Z`, as the specs print times (microseconds kept when present)."""
    text = moment.isoformat()
    return text.removesuffix("+00:00") + "Z" if text.endswith("+00:00") else text


class V2JSONResponse(Response):
    """A JSON response rendered by `dumps_exact` (content may also be pre-rendered JSON text)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        if isinstance(content, RenderedJSON):
            return content.text.encode()
        return dumps_exact(content).encode()


class RenderedJSON:
    """JSON text already rendered (an idempotent replay): sent as it is."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def _write(value: Any, out: list[str]) -> None:
    if value is None or isinstance(value, (bool, str)):
        out.append(json.dumps(value))
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise MarketError(f"cannot write {value} as a JSON number")
        out.append(format(value, "f"))
    elif isinstance(value, datetime):
        out.append(json.dumps(iso_utc(value)))
    elif isinstance(value, dict):
        out.append("{")
        for i, (key, item) in enumerate(value.items()):
            if i:
                out.append(",")
            out.append(json.dumps(str(key)))
            out.append(":")
            _write(item, out)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _write(item, out)
        out.append("]")
    else:
        raise TypeError(f"cannot write {type(value).__name__} as JSON")
