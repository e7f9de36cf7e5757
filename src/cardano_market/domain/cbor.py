"""Byte-level CBOR helpers: find where an item ends without decoding it.

Used wherever bytes we did not produce must be kept exactly (a transaction body, a UTxO's output,
a witness set's scripts and redeemers): the transaction id and datum hashes depend on the bytes.
"""

from __future__ import annotations

import cbor2

from .errors import CborError

_BREAK = 0xFF


def _head(data: bytes, pos: int) -> tuple[int, int, int | None, int]:
    """Parse an item head at `pos`: (major type, additional info, argument or None, next pos)."""
    try:
        initial = data[pos]
    except IndexError:
        raise CborError(f"CBOR ends early at byte {pos}") from None
    major, info = initial >> 5, initial & 0x1F
    pos += 1
    if info < 24:
        return major, info, info, pos
    if info in (24, 25, 26, 27):
        size = 1 << (info - 24)
        if pos + size > len(data):
            raise CborError(f"CBOR ends early inside the head at byte {pos - 1}")
        return major, info, int.from_bytes(data[pos : pos + size], "big"), pos + size
    if info == 31 and major in (2, 3, 4, 5, 7):
        return major, info, None, pos  # indefinite length (or break for major 7)
    raise CborError(f"invalid CBOR head 0x{initial:02x} at byte {pos - 1}")


MAX_DEPTH = 400
"""Nesting the scanner follows (arrays, maps, tags, indefinite strings); no ledger item we read
comes near it, and deeper input is refused before it costs anything."""


def item_end(data: bytes, pos: int = 0) -> int:
    """Index one past the end of the CBOR item starting at `pos`.

    Iterative: `pending` holds, per open container, the items still to skip (None: until a
    break). Nesting deeper than `MAX_DEPTH` raises CborError.
    """
    pending: list[int | None] = []
    while True:
        if pending and pending[-1] is None:
            if pos >= len(data):
                raise CborError("indefinite item has no break")
            if data[pos] == _BREAK:
                pos += 1
                pending.pop()
                complete = True
            else:
                complete = False
        else:
            complete = False
        if not complete:
            major, _info, arg, pos = _head(data, pos)
            if major in (0, 1, 7):
                if arg is None:
                    raise CborError(f"unexpected break at byte {pos - 1}")
                complete = True
            elif major in (2, 3) and arg is not None:
                pos += arg
                if pos > len(data):
                    raise CborError(f"CBOR string of {arg} bytes runs past the end")
                complete = True
            elif major == 6:
                _open(pending, 1)
            elif arg is None:  # indefinite string, array or map: items until a break
                _open(pending, None)
            elif arg == 0:
                complete = True
            else:
                _open(pending, arg * (1 if major == 4 else 2))
        if complete:
            while pending:  # the item just read may be the last of its container
                left = pending[-1]
                if left is None:
                    break
                if left > 1:
                    pending[-1] = left - 1
                    break
                pending.pop()
            if not pending:
                return pos


def _open(pending: list[int | None], items: int | None) -> None:
    if len(pending) >= MAX_DEPTH:
        raise CborError(f"CBOR nested deeper than {MAX_DEPTH} levels")
    pending.append(items)


def split_array(data: bytes, pos: int = 0) -> tuple[list[tuple[int, int]], int]:
    """Spans (start, end) of each element of the array at `pos`, and the array's end."""
    major, _info, arg, pos = _head(data, pos)
    if major != 4:
        raise CborError(f"expected a CBOR array at byte {pos - 1}")
    spans: list[tuple[int, int]] = []
    if arg is None:
        while True:
            if pos >= len(data):
                raise CborError("indefinite array has no break")
            if data[pos] == _BREAK:
                return spans, pos + 1
            end = item_end(data, pos)
            spans.append((pos, end))
            pos = end
    for _ in range(arg):
        end = item_end(data, pos)
        spans.append((pos, end))
        pos = end
    return spans, pos


def split_map(data: bytes, pos: int = 0) -> tuple[list[tuple[bytes, bytes]], int]:
    """Raw (key bytes, value bytes) pairs of the map at `pos`, and the map's end."""
    major, _info, arg, pos = _head(data, pos)
    if major != 5:
        raise CborError(f"expected a CBOR map at byte {pos - 1}")
    pairs: list[tuple[bytes, bytes]] = []
    count = 0
    while arg is None or count < arg:
        if arg is None:
            if pos >= len(data):
                raise CborError("indefinite map has no break")
            if data[pos] == _BREAK:
                return pairs, pos + 1
        key_end = item_end(data, pos)
        value_end = item_end(data, key_end)
        pairs.append((data[pos:key_end], data[key_end:value_end]))
        pos = value_end
        count += 1
    return pairs, pos


def encode_head(major: int, arg: int) -> bytes:
    """The shortest head for a definite item of `major` type with argument `arg`."""
    if arg < 24:
        return bytes([(major << 5) | arg])
    for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if arg < (1 << (8 * size)):
            return bytes([(major << 5) | info]) + arg.to_bytes(size, "big")
    raise CborError(f"CBOR argument {arg} does not fit in 64 bits")


def map_entry_count(data: bytes, pos: int = 0) -> int:
    """Total number of map entries in the item at `pos`, nested maps included.

    cbor2 keeps the last of duplicate map keys silently; comparing this count with the decoded
    dicts' sizes (`decoded_entry_count`) exposes duplicates, which the ledger rejects.
    """
    count = 0
    stack = [pos]
    end = len(data)
    while stack:
        pos = stack.pop()
        major, _info, arg, nxt = _head(data, pos)
        if major == 6:
            stack.append(nxt)
        elif major in (4, 5):
            per = 1 if major == 4 else 2
            child = nxt
            seen = 0
            while (arg is None and child < end and data[child] != _BREAK) or (
                arg is not None and seen < arg * per
            ):
                stack.append(child)
                child = item_end(data, child)
                seen += 1
            if major == 5:
                count += seen // 2
    return count


def decoded_entry_count(obj: object) -> int:
    """Total number of dict entries in a cbor2-decoded structure (see `map_entry_count`)."""
    if isinstance(obj, dict):
        return len(obj) + sum(
            decoded_entry_count(k) + decoded_entry_count(v) for k, v in obj.items()
        )
    if isinstance(obj, list):
        return sum(decoded_entry_count(x) for x in obj)
    value = getattr(obj, "value", None)  # CBORTag
    if value is not None and not isinstance(obj, (bytes, str, int)):
        return decoded_entry_count(value)
    return 0


def reject_duplicate_keys(raw: bytes, decoded: object, where: str) -> None:
    """Raise CborError when `raw` holds a map with a repeated key that cbor2 silently merged.

    Fast path: if re-encoding the decoded object reproduces `raw`, nothing was dropped. Only
    non-canonical input pays for the byte-level count.
    """
    try:
        if cbor2.dumps(decoded) == raw:
            return
    except Exception:  # an object cbor2 cannot re-encode: fall through to the exact count
        pass
    if map_entry_count(raw) != decoded_entry_count(decoded):
        raise CborError(f"{where} has a duplicate map key (the ledger rejects it)")
