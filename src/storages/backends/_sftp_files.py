"""The SFTP backend's file class, and its pipelined windowed reads."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from storages.files import StorageFile

if TYPE_CHECKING:
    from storages.backends.sftpstorage import SFTPStorage

__all__ = ["SFTPStorageFile", "WindowReader"]

KiB = 1024
MiB = 1024 * KiB
#: Bytes read per request batch when streaming a file (32 pipelined 32 KiB requests).
READ_WINDOW = 1 * MiB
#: The largest read request paramiko sends.
REQUEST_SIZE = 32 * KiB


class WindowReader:
    """Reads a remote file from an offset in windows of pipelined requests.

    It reads ``size`` bytes at most (the size the file had when it was opened), so it never
    asks for more than the version it was opened on.
    """

    def __init__(self, sftp: Any, path: str, start: int, size: int) -> None:
        self._sftp = sftp
        self._path = path
        self._pos = start
        self._size = size
        self._buffer = b""
        self._offset = 0
        self._handle: Any = None

    def _open(self) -> Any:
        if self._handle is None:
            self._handle = self._sftp.open(self._path, "rb")
        return self._handle

    def _fetch(self, length: int) -> bytes:
        if length <= REQUEST_SIZE:
            handle = self._open()
            handle.seek(self._pos)
            return bytes(handle.read(length))
        # readv pipelines a window's requests instead of waiting for each in turn, one request
        # per piece (paramiko joins larger reads by repeated concatenation). Each window gets a
        # handle of its own: paramiko's read-ahead can fall back to plain reads while its
        # requests are still being sent, and the answers that then arrive twice must not pile
        # up in a handle that lives as long as the file.
        self.close()
        handle = self._open()
        try:
            return b"".join(handle.readv(_pieces(self._pos, length)))
        finally:
            # Best effort: on a dead connection, the error worth raising is the read's.
            with contextlib.suppress(Exception):
                self.close()

    def read(self, n: int = -1) -> bytes:
        """Return up to ``n`` bytes from the current position."""
        if self._offset >= len(self._buffer):
            length = min(READ_WINDOW, self._size - self._pos)
            self._buffer = self._fetch(length) if length > 0 else b""
            self._offset = 0
        available = len(self._buffer) - self._offset
        count = available if n is None or n < 0 else min(n, available)
        data = self._buffer[self._offset : self._offset + count]
        self._offset += count
        self._pos += count
        return data

    def close(self) -> None:
        """Close the remote handle."""
        handle, self._handle = self._handle, None
        if handle is not None:
            handle.close()


class SFTPStorageFile(StorageFile):
    """A file on the SFTP server: streamed pipelined reads, streamed writes via a temp file."""

    def __init__(self, name: str, storage: SFTPStorage, mode: str = "rb") -> None:
        super().__init__(name, mode, storage)


def _pieces(start: int, length: int) -> list[tuple[int, int]]:
    """Return ``(offset, size)`` requests of at most REQUEST_SIZE covering the range."""
    return [
        (o, min(REQUEST_SIZE, start + length - o))
        for o in range(start, start + length, REQUEST_SIZE)
    ]
