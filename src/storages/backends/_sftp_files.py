"""The SFTP backend's file objects: pipelined windowed reads, writes through a temporary file."""

from __future__ import annotations

import errno
import io
import stat
from typing import TYPE_CHECKING, Any

from storages.backends._sftp_connection import Connection
from storages.errors import StorageError
from storages.files import StorageFile, UploadBody
from storages.names import normalize_name

if TYPE_CHECKING:
    from storages.backends.sftpstorage import SFTPStorage

__all__ = ["SFTPStorageFile", "Upload"]

KiB = 1024
MiB = 1024 * KiB
#: Bytes read per request batch when streaming a file (32 pipelined 32 KiB requests).
READ_WINDOW = 1 * MiB
#: The largest read request paramiko sends.
REQUEST_SIZE = 32 * KiB


class Upload:
    """A temporary file being written, and where it goes when it is complete."""

    __slots__ = ("conn", "handle", "path", "temp")

    def __init__(self, conn: Connection, handle: Any, temp: str, path: str) -> None:
        self.conn = conn
        self.handle = handle
        self.temp = temp
        self.path = path


class _RemoteReader:
    """Reads a remote file from an offset in windows of pipelined requests.

    If the connection dies, it reconnects and carries on from the same offset, provided the file
    still has the size and modification time it had when it was opened.
    """

    def __init__(self, storage: SFTPStorage, path: str, start: int, attrs: Any) -> None:
        self._storage = storage
        self._path = path
        self._pos = start
        self._attrs = attrs
        self._size = int(attrs.st_size or 0)
        self._buffer = b""
        self._offset = 0
        self._conn: Connection | None = None
        self._handle: Any = None

    def _open(self) -> Any:
        if self._handle is None:
            self._conn = self._storage._conn()
            self._handle = self._conn.open(self._path, "rb")
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
            self.close()

    def _fill(self) -> None:
        length = min(READ_WINDOW, self._size - self._pos)
        if length <= 0:
            self._buffer, self._offset = b"", 0
            return
        if self._conn is not None and not self._conn.alive():
            self._reopen()  # before paramiko starts its read-ahead thread on a dead connection
        try:
            data = self._fetch(length)
        except Exception as exc:
            if self._conn is None or not self._storage._broken(self._conn, exc):
                raise
            self._reopen()
            data = self._fetch(length)
        self._buffer, self._offset = data, 0

    def _reopen(self) -> None:
        """Forget the dead connection; go on reading only if the file did not change."""
        if self._conn is not None:
            self._storage._drop(self._conn)
        self._handle = self._conn = None
        attrs = self._storage._run(lambda sftp: sftp.stat(self._path))
        if (attrs.st_size, attrs.st_mtime) != (self._attrs.st_size, self._attrs.st_mtime):
            raise StorageError(
                f"{self._path} changed while it was being read and the connection broke."
            )

    def read(self, n: int = -1) -> bytes:
        """Return up to ``n`` bytes from the current position."""
        if self._offset >= len(self._buffer):
            self._fill()
        available = len(self._buffer) - self._offset
        count = available if n is None or n < 0 else min(n, available)
        data = self._buffer[self._offset : self._offset + count]
        self._offset += count
        self._pos += count
        return data

    def close(self) -> None:
        """Close the remote handle (at the connection's next use, if it cannot be now)."""
        handle, self._handle = self._handle, None
        if handle is not None and self._conn is not None:  # _open() sets both
            self._conn.close_file_later(handle)


class SFTPStorageFile(StorageFile):
    """A file on the SFTP server: streamed pipelined reads, streamed writes via a temp file."""

    _storage: SFTPStorage
    # The connection belongs to one thread; its own clean-up queue waits for the session lock.
    clean_up_in_background = False

    def __init__(self, name: str, storage: SFTPStorage, mode: str = "rb") -> None:
        self._attrs: Any = None
        super().__init__(
            storage, storage._key(name), normalize_name(name), mode, part_size=storage.part_size
        )

    def _stat(self) -> int:
        path = self._storage._remote(self._key)
        attrs = self._storage._run(lambda sftp: sftp.stat(path))
        if stat.S_ISDIR(attrs.st_mode or 0):
            raise IsADirectoryError(errno.EISDIR, f"{self.name} is a directory")
        self._attrs = attrs
        return int(attrs.st_size or 0)

    def _read_stream(self, start: int) -> _RemoteReader:
        return _RemoteReader(self._storage, self._storage._remote(self._key), start, self._attrs)

    def _put(self, data: bytes) -> None:
        self._storage._write(self._key, UploadBody(io.BytesIO(data)), overwrite=True)

    def _begin_upload(self) -> Upload:
        storage = self._storage
        return storage._begin(storage._conn(), storage._remote(self._key))

    def _upload_part(self, state: Upload, number: int, data: bytes) -> int:
        state.handle.write(data)
        return len(data)

    def _complete_upload(self, state: Upload, parts: list[Any]) -> None:
        self._storage._finish(state, overwrite=True)

    def _abort_upload(self, state: Upload) -> None:
        self._storage._discard(state)


def _pieces(start: int, length: int) -> list[tuple[int, int]]:
    """Return ``(offset, size)`` requests of at most REQUEST_SIZE covering the range."""
    return [
        (o, min(REQUEST_SIZE, start + length - o))
        for o in range(start, start + length, REQUEST_SIZE)
    ]
