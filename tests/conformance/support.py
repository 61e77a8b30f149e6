"""Helpers shared by the conformance tests: content kinds and byte-for-byte checks."""

from __future__ import annotations

import io
from typing import Any

from tests.conformance.conftest import Backend

#: Bytes shown around the first difference when two contents differ.
CONTEXT = 16


class Pipe(io.RawIOBase):
    """A readable stream that cannot seek (a socket, a pipe, a request body)."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, buffer: Any) -> int:
        chunk = self._data.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def pipe(data: bytes) -> io.BufferedReader:
    """Return a buffered, non-seekable reader of ``data``."""
    return io.BufferedReader(Pipe(data))


def assert_same_bytes(actual: bytes, expected: bytes, what: str = "content") -> None:
    """Fail with the first differing offset (pytest's own diff of megabytes is unreadable)."""
    if actual == expected:
        return
    offset = next(
        (i for i, (a, b) in enumerate(zip(actual, expected, strict=False)) if a != b),
        min(len(actual), len(expected)),
    )
    start = max(offset - CONTEXT, 0)
    raise AssertionError(
        f"{what}: {len(actual)} bytes, expected {len(expected)}; first difference at byte "
        f"{offset}: {actual[start : offset + CONTEXT]!r} != {expected[start : offset + CONTEXT]!r}"
    )


def stored_bytes(backend: Backend, storage: Any, name: str) -> bytes:
    """Return what is stored under ``name``, read through the service itself, after checking
    that reading through the storage gives the same bytes."""
    raw = backend.raw_read(storage, name)
    with storage.open(name, "rb") as handle:
        assert_same_bytes(handle.read(), raw, f"{name} read through the storage")
    return raw
