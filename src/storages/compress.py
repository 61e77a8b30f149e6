"""Streaming gzip for uploads and transparent gunzip for downloads.

The compressed bytes depend only on the input (the gzip header's timestamp is always 0), so the
same file always gets the same ETag/MD5 and is never re-uploaded just because it was re-gzipped.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterable
from typing import Any, BinaryIO

__all__ = [
    "GZIP_CONTENT_TYPES",
    "GzipCompressingReader",
    "gunzip_reader",
    "should_gzip",
]

#: The content types compressed when gzip is on (the ``GZIP_CONTENT_TYPES`` setting's default).
GZIP_CONTENT_TYPES: tuple[str, ...] = (
    "text/css",
    "text/javascript",
    "application/javascript",
    "application/x-javascript",
    "image/svg+xml",
)

_CHUNK = 256 * 1024


def should_gzip(content_type: str | None, gzip_types: Iterable[str]) -> bool:
    """Return whether a body of ``content_type`` is compressed when gzip is on."""
    if not content_type:
        return False
    return content_type.split(";", 1)[0].strip().lower() in {t.lower() for t in gzip_types}


class GzipCompressingReader:
    """Read a source stream and return its gzip-compressed bytes, one chunk at a time."""

    def __init__(self, source: Any, level: int = 6) -> None:
        self._source = source
        # wbits=31 selects the gzip container with a zero timestamp: deterministic output.
        self._compressor = zlib.compressobj(level, zlib.DEFLATED, 31)
        self._buffer = bytearray()
        self._done = False
        self.name = getattr(source, "name", None)

    def readable(self) -> bool:
        """Return True: this is a readable stream."""
        return True

    def _fill(self, wanted: int) -> None:
        while not self._done and (wanted < 0 or len(self._buffer) < wanted):
            data = self._source.read(_CHUNK)
            if isinstance(data, str):
                data = data.encode("utf-8")
            if data:
                self._buffer += self._compressor.compress(data)
            else:
                self._buffer += self._compressor.flush()
                self._done = True

    def read(self, n: int = -1) -> bytes:
        """Return up to ``n`` compressed bytes (all the rest when ``n`` is negative)."""
        n = -1 if n is None else n
        self._fill(n)
        if n < 0 or n >= len(self._buffer):
            out = bytes(self._buffer)
            self._buffer.clear()
        else:
            out = bytes(self._buffer[:n])
            del self._buffer[:n]
        return out


def gunzip_reader(stream: BinaryIO) -> BinaryIO:
    """Return a reader that decompresses the gzip ``stream`` as it is read."""
    return gzip.GzipFile(fileobj=stream, mode="rb")  # type: ignore[return-value]
