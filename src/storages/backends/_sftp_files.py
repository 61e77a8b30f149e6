"""The SFTP backend's file class, and its pipelined windowed reads."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from storages.deps import require
from storages.files import StorageFile

if TYPE_CHECKING:
    from storages.backends.sftpstorage import SFTPStorage

__all__ = ["SFTPStorageFile", "WindowReader"]

KiB = 1024
MiB = 1024 * KiB
#: Bytes asked per read request. paramiko's own are 32 KiB; fewer, larger requests cost less
#: Python per byte (OpenSSH answers up to 255 KiB). A server that answers less is asked for the
#: rest, and from then on for what it answered.
REQUEST_SIZE = 128 * KiB
#: Read requests kept in flight (2 MiB: paramiko's channel window). They bound memory too:
#: answers that arrive before they are read wait here, at most this many.
IN_FLIGHT = 16


class WindowReader:
    """Reads a remote file from an offset with a sliding window of pipelined read requests.

    One handle for the whole read; ``IN_FLIGHT`` requests of ``REQUEST_SIZE`` are always on
    their way, a new one sent as each answer is taken, so the connection never waits for the
    reader, nor the reader for a round trip, and memory stays at the window's size. Requests are
    sent and answered through paramiko's own request machinery (as its ``SFTPFile`` prefetch
    does): answers that arrive while another request of this connection waits are handed to
    :meth:`_async_response`. It reads ``size`` bytes at most (the size the file had when it was
    opened), so it never asks for more than the version it was opened on.
    """

    def __init__(self, sftp: Any, path: str, start: int, size: int) -> None:
        self._sftp = sftp
        self._path = path
        self._pos = start
        self._size = size
        #: Offset of the next request to send; requests in flight, oldest first.
        self._ahead = start
        self._pending: deque[tuple[int, int, int]] = deque()
        self._answers: dict[int, bytes | BaseException] = {}
        self._piece = b""
        self._offset = 0
        self._handle: Any = None
        self._request_size = REQUEST_SIZE

    def _open(self) -> Any:
        if self._handle is None:
            self._handle = self._sftp.open(self._path, "rb")
        return self._handle

    def _request(self, offset: int, length: int) -> None:
        sftp_protocol = require("paramiko.sftp", "sftp")
        handle = self._open()
        number = self._sftp._async_request(
            self, sftp_protocol.CMD_READ, handle.handle, sftp_protocol.int64(offset), int(length)
        )
        self._pending.append((number, offset, length))

    def _async_response(self, kind: int, msg: Any, number: int) -> None:
        """Keep the answer to one of our requests (paramiko calls this as answers arrive)."""
        sftp_protocol = require("paramiko.sftp", "sftp")
        if kind == sftp_protocol.CMD_DATA:
            self._answers[number] = msg.get_string()
            return
        try:
            # An error status (or EOF, which paramiko raises as EOFError).
            self._sftp._convert_status(msg)
            error: BaseException = OSError(f"{self._path}: unexpected answer to a read")
        except BaseException as exc:
            error = exc
        self._answers[number] = error

    def _next_piece(self) -> bytes:
        while len(self._pending) < IN_FLIGHT and self._ahead < self._size:
            length = min(self._request_size, self._size - self._ahead)
            self._request(self._ahead, length)
            self._ahead += length
        if not self._pending:
            return b""
        number, offset, length = self._pending.popleft()
        while number not in self._answers:
            self._sftp._read_response()  # one answer, to whichever request it belongs
        answer = self._answers.pop(number)
        if isinstance(answer, EOFError):
            return b""  # the file got shorter: the caller reports a short read
        if isinstance(answer, BaseException):
            raise answer
        if 0 < len(answer) < length:
            # A server may answer with fewer bytes: ask for the rest, first in line, and ask
            # for no more than it answers from now on.
            self._request_size = min(self._request_size, len(answer))
            self._request(offset + len(answer), length - len(answer))
            self._pending.rotate(1)
        return answer

    def read(self, n: int = -1) -> bytes:
        """Return up to ``n`` bytes from the current position (at most one piece)."""
        if self._offset >= len(self._piece):
            self._piece, self._offset = self._next_piece(), 0
        start = self._offset
        count = len(self._piece) - start if n is None or n < 0 else n
        data = self._piece[start : start + count]
        self._offset = start + len(data)
        self._pos += len(data)
        return data

    def close(self) -> None:
        """Close the remote handle (answers still on their way are read and dropped)."""
        handle, self._handle = self._handle, None
        self._pending.clear()
        self._piece = b""
        if handle is not None:
            handle.close()  # waits for its answer, reading (and dropping) those before it
        self._answers.clear()


class SFTPStorageFile(StorageFile):
    """A file on the SFTP server: streamed pipelined reads, streamed writes via a temp file."""

    def __init__(self, name: str, storage: SFTPStorage, mode: str = "rb") -> None:
        super().__init__(name, mode, storage)
