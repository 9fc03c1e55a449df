"""`Range: bytes=...` on stored files (RFC 9110, section 14): one range per request.

A file may come from any storage backend as an open file object, not a path on this disk,
so Starlette's `FileResponse` (which opens a path) cannot serve it; this reads the range
from the object. Several ranges in one request are answered with the whole file (200), as
the RFC allows; so is an `If-Range` that does not name the file's current ETag.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ONE_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ByteRange:
    """Bytes `start` to `end`, both included, of a file of `size` bytes."""

    start: int
    end: int
    size: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    @property
    def content_range(self) -> str:
        return f"bytes {self.start}-{self.end}/{self.size}"


class NotSatisfiable(ValueError):
    """The range starts past the file's end (416, `Content-Range: bytes */size`)."""


def wanted_range(
    header: str | None, if_range: str | None, etag: str, size: int
) -> ByteRange | None:
    """The one range to send, or None for the whole file; `NotSatisfiable` for a range
    that lies past the end."""
    if header is None or (if_range is not None and if_range.strip() != etag):
        return None
    match = _ONE_RANGE.match(header)
    if match is None:
        return None  # several ranges, another unit, or unreadable: the whole file
    first, last = match.groups()
    if not first:
        if not last:
            return None
        suffix = int(last)  # the last `suffix` bytes
        if suffix == 0:
            raise NotSatisfiable(header)
        return ByteRange(max(0, size - suffix), size - 1, size) if size else None
    start = int(first)
    end = size - 1 if not last else min(int(last), size - 1)
    if last and int(last) < start:
        return None  # an invalid range is ignored
    if start >= size:
        raise NotSatisfiable(header)
    return ByteRange(start, end, size)
