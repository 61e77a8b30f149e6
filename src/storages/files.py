"""Streaming file objects, written once for every backend.

:class:`StorageFile` is what ``storage.open()`` returns. Reading streams from the service and
seeks with ranged requests; writing buffers one part at a time and uploads it, so memory stays
bounded by the part size however large the file. A backend subclasses it and fills in hooks:

* reading: ``_stat()`` (size; raises ``FileNotFoundError``) and ``_read_stream(start)``
  (a readable object from byte ``start`` to the end);
* writing: ``_put(data)`` for a file that fits in one part, otherwise ``_begin_upload()``,
  ``_upload_part(state, number, data)``, ``_complete_upload(state, parts)`` and
  ``_abort_upload(state)``.

An explicit ``close()`` (or leaving a ``with`` block normally) commits a write. Leaving the block
with an exception, or dropping the file without closing it, aborts the upload: nothing partial is
ever stored. When the garbage collector drops an unclosed file, the abort (or the release of a
download stream) runs in a thread of its own (``_janitor``): a collection can start inside any
allocation, including one made while the HTTP client holds a lock that this clean-up needs.

:class:`UploadBody` adapts whatever ``save()`` received (any Django ``File``, text or bytes, a
non-seekable stream) into one forward-only binary reader that can be rewound for a retry.
"""

from __future__ import annotations

import io
import logging
import os
import queue
import tempfile
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from django.conf import settings as django_settings
from django.core.files import File

from storages.utils import is_seekable

if TYPE_CHECKING:
    from storages.base import BaseStorage

__all__ = ["ModeInfo", "StorageFile", "UploadBody", "parse_mode", "read_full"]

MiB = 1024 * 1024


class ModeInfo:
    """What an ``open()`` mode string allows."""

    __slots__ = ("append", "binary", "create", "mode", "read", "truncate", "write")

    def __init__(self, mode: str) -> None:
        self.mode = mode
        chars = set(mode)
        if (
            not mode
            or len(chars) != len(mode)
            or chars - set("rwaxbt+")
            or len(chars & set("rwax")) != 1
            or {"b", "t"} <= chars
        ):
            raise ValueError(f"invalid mode: {mode!r}")
        plus = "+" in chars
        self.binary = "b" in chars
        self.read = "r" in chars or plus
        self.write = bool(chars & set("wax")) or plus
        self.truncate = "w" in chars
        self.append = "a" in chars
        self.create = "x" in chars


def parse_mode(mode: str) -> ModeInfo:
    """Return the :class:`ModeInfo` of ``mode``, or raise ``ValueError`` for a malformed one."""
    return ModeInfo(mode)


class UploadBody:
    """A forward-only binary reader over the content passed to ``save()``.

    Text content is encoded as UTF-8. When ``replayable`` and the content cannot seek, what is
    read is also kept in a spooled temporary file so :meth:`rewind` can replay it for a retry.
    """

    def __init__(self, content: Any, *, replayable: bool = False, spool_size: int = 0) -> None:
        self.content = content
        self.name: str | None = getattr(content, "name", None)
        self.content_type: str | None = getattr(content, "content_type", None)
        self._seekable = is_seekable(content)
        inner = getattr(content, "file", content)
        self._text = isinstance(inner, io.TextIOBase)
        self.size: int | None = None if self._text else _known_size(content)
        if self._seekable:
            content.seek(0)
        self._pending = b""
        self._spool: Any = None
        if replayable and not self._seekable:
            self._spool = tempfile.SpooledTemporaryFile(  # noqa: SIM115 - closed by release()
                max_size=spool_size or 8 * MiB,
                dir=getattr(django_settings, "FILE_UPLOAD_TEMP_DIR", None),
            )
        self._replaying = False

    @property
    def seekable(self) -> bool:
        """Return whether the underlying content can seek (so SDKs may retry on their own)."""
        return self._seekable and not self._text

    def _source_read(self, n: int) -> bytes:
        data = self.content.read(n) if n >= 0 else self.content.read()
        if isinstance(data, str):
            return data.encode("utf-8")
        return bytes(data) if not isinstance(data, bytes) else data

    def read(self, n: int = -1) -> bytes:
        """Return up to ``n`` bytes (all that is left when ``n`` is negative)."""
        replayed = b""
        if self._replaying:
            replayed = bytes(self._spool.read(n))
            if n >= 0 and len(replayed) == n:
                return replayed
            # The spool is used up (its position is now its end): continue from the source.
            self._replaying = False
            if n >= 0:
                n -= len(replayed)
        if n is None or n < 0:
            data = self._pending + self._source_read(-1)
            self._pending = b""
        else:
            while len(self._pending) < n:
                chunk = self._source_read(n - len(self._pending))
                if not chunk:
                    break
                self._pending = chunk if not self._pending else self._pending + chunk
            data, self._pending = self._pending[:n], self._pending[n:]
        if self._spool is not None:
            self._spool.write(data)
        return replayed + data if replayed else data

    def read_full(self, n: int) -> bytes:
        """Return exactly ``n`` bytes, or fewer only at the end of the content."""
        return self.read(n)

    def rewind(self) -> None:
        """Go back to the first byte, for a retry."""
        self._pending = b""
        if self._seekable:
            self.content.seek(0)
        elif self._spool is not None:
            self._spool.seek(0)
            self._replaying = True
        else:
            raise io.UnsupportedOperation("This content cannot be read a second time.")

    def release(self) -> None:
        """Free the replay spool."""
        if self._spool is not None:
            self._spool.close()
            self._spool = None


def read_full(source: Any, size: int) -> bytes:
    """Read ``size`` bytes from ``source``, fewer only at its end (streams may return less)."""
    data = source.read(size)
    if len(data) >= size or not data:
        return bytes(data)
    parts = [data]
    got = len(data)
    while got < size:
        more = source.read(size - got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def _known_size(content: Any) -> int | None:
    try:
        size = content.size
    except (AttributeError, OSError, ValueError, TypeError):
        return None
    return size if isinstance(size, int) else None


logger = logging.getLogger("storages")


class _Janitor:
    """Runs the clean-ups that finalizers hand over, one at a time, in a daemon thread.

    ``submit()`` only puts on a ``SimpleQueue``, which is safe to call from a finalizer; the
    thread is started ahead of time, by ``start()``, from ordinary code.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget the thread and the queue (in a forked child, which has no such thread)."""
        self._queue: queue.SimpleQueue[Callable[[], object]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start the thread if it is not running yet."""
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                thread = threading.Thread(target=self._run, name="storages-janitor", daemon=True)
                thread.start()
                self._thread = thread

    def submit(self, cleanup: Callable[[], object]) -> None:
        """Queue ``cleanup`` (safe inside a finalizer)."""
        self._queue.put(cleanup)

    def _run(self) -> None:
        while True:
            cleanup = self._queue.get()
            try:
                cleanup()
            except Exception:
                logger.warning("Cleaning up after a file dropped unclosed failed.", exc_info=True)


_janitor = _Janitor()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_janitor.reset)


class _RangeReader(io.RawIOBase):
    """Raw reader: one streamed request from the current position, reopened after a seek."""

    def __init__(self, owner: StorageFile, size: int) -> None:
        super().__init__()
        self._owner = owner
        self._size = size
        self._pos = 0
        self._stream: Any = None
        #: Set by ``StorageFile.close()``; a close without it comes from a finalizer.
        self.closing = False

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def _drop_stream(self, background: bool = False) -> None:
        stream, self._stream = self._stream, None
        close = getattr(stream, "close", None)
        if close is None:
            return
        if background:
            _janitor.submit(close)
        else:
            close()

    def _read_some(self, n: int) -> bytes:
        if self._stream is None:
            if self._owner.clean_up_in_background:
                _janitor.start()  # now, so a finalizer never has to start a thread
            self._stream = self._owner._call("_read_stream", self._pos)
        data: bytes = self._owner._call_on(self._stream.read, n)
        if not data:
            raise self._owner._short_read(self._pos, self._size)
        return data

    def readinto(self, buffer: Any) -> int:
        wanted = min(len(buffer), self._size - self._pos)
        if wanted <= 0:
            return 0
        data = self._read_some(wanted)
        n = len(data)
        buffer[:n] = data
        self._pos += n
        return n

    def readall(self) -> bytes:
        parts = []
        while self._pos < self._size:
            data = self._read_some(min(MiB, self._size - self._pos))
            parts.append(data)
            self._pos += len(data)
        return b"".join(parts)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            target = offset
        elif whence == io.SEEK_CUR:
            target = self._pos + offset
        elif whence == io.SEEK_END:
            target = self._size + offset
        else:
            raise ValueError(f"invalid whence: {whence!r}")
        if target < 0:
            raise ValueError(f"negative seek position {target}")
        if target != self._pos:
            self._drop_stream()
            self._pos = target
        return self._pos

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        # Without ``closing``, a finalizer, maybe inside the garbage collector: releasing an HTTP
        # response can take its connection pool's lock, which the interrupted code may hold.
        self._drop_stream(background=not self.closing and self._owner.clean_up_in_background)
        super().close()


class _PartWriter(io.BufferedIOBase):
    """Buffers writes into parts and uploads each full part; commits only when asked."""

    def __init__(self, owner: StorageFile, part_size: int) -> None:
        super().__init__()
        self._owner = owner
        self._base_part_size = part_size
        self._buffer = bytearray()
        self._state: Any = None
        self._parts: list[Any] = []
        self.written = 0
        self.commit_on_close = False
        #: Set by ``StorageFile.discard()``: closing without a commit was asked for, so the abort
        #: runs here; otherwise the close comes from a finalizer (see ``abort()``).
        self.discarding = False

    def writable(self) -> bool:
        return True

    def _part_size(self) -> int:
        return self._owner.part_size_for(len(self._parts), self._base_part_size)

    def write(self, data: Any) -> int:
        if self.closed:
            raise ValueError("I/O operation on closed file.")
        view = memoryview(data).cast("B")
        total = len(view)
        while view:
            room = self._part_size() - len(self._buffer)
            self._buffer += view[:room]
            view = view[room:]
            if len(self._buffer) >= self._part_size():
                self._send(bytes(self._buffer))
                self._buffer.clear()
        self.written += total
        return total

    def _send(self, data: bytes) -> None:
        if self._state is None:
            if self._owner.clean_up_in_background:
                _janitor.start()  # now, so a finalizer never has to start a thread
            self._state = self._owner._call("_begin_upload")
        number = len(self._parts) + 1
        self._parts.append(self._owner._call("_upload_part", self._state, number, data))

    def _commit(self) -> None:
        if self._state is None:
            self._owner._call("_put", bytes(self._buffer))
        else:
            if self._buffer or not self._parts:
                self._send(bytes(self._buffer))
            self._owner._call("_complete_upload", self._state, self._parts)
            self._state = None
        self._buffer.clear()

    def abort(self, background: bool = False) -> None:
        """Drop the buffered data and abort any upload in progress (in the janitor thread if
        ``background`` and the backend allows it)."""
        self._buffer.clear()
        state, self._state = self._state, None
        if state is None:
            return
        owner = self._owner
        if background and owner.clean_up_in_background:
            _janitor.submit(lambda: owner._call("_abort_upload", state))
        else:
            owner._call("_abort_upload", state)

    def close(self) -> None:
        if self.closed:
            return
        try:
            if self.commit_on_close:
                try:
                    self._commit()
                except BaseException:
                    self.abort()
                    raise
            else:
                # Neither close() nor discard() of the file: a finalizer (of this object or of
                # the text wrapper around it), which may run inside the garbage collector.
                self.abort(background=not self.discarding)
        finally:
            super().close()


class StorageFile(File):
    """A file of a storage opened for reading or writing; backends subclass it."""

    #: Whether the backend can append to an existing file (mode ``a``).
    supports_append: ClassVar[bool] = False
    #: Whether the backend can open a file for reading and writing (mode ``+``).
    supports_update: ClassVar[bool] = False
    #: The largest number of parts one upload may have (``None``: no limit).
    max_parts: ClassVar[int | None] = None
    #: The largest size of one part.
    max_part_size: ClassVar[int | None] = None
    #: Buffer size of the reader wrapped around the range stream.
    read_buffer_size: ClassVar[int] = 1 * MiB
    #: Whether a file dropped unclosed has its upload aborted, or its download stream closed, by
    #: a background thread (False: in the finalizer itself, for a backend that guards this).
    clean_up_in_background: ClassVar[bool] = True

    def __init__(
        self, storage: BaseStorage, key: str, name: str, mode: str = "rb", part_size: int = 0
    ) -> None:
        self._storage = storage
        self._key = key
        self.name = name
        self.mode = mode
        self._part_size = part_size or storage.default_part_size
        self._reader: _RangeReader | None = None
        self._writer: _PartWriter | None = None
        self.file = None
        self._size: int | None = None
        self._open_stream(mode)

    # -- hooks backends implement ----------------------------------------------------------

    def _stat(self) -> int:
        """Return the stored size; raise ``FileNotFoundError`` when the file is missing."""
        raise NotImplementedError

    def _read_stream(self, start: int) -> Any:
        """Return an object whose ``read(n)`` yields the bytes from ``start`` to the end."""
        raise NotImplementedError

    def _put(self, data: bytes) -> None:
        """Store ``data`` in one request (the whole file fits in one part)."""
        raise NotImplementedError

    def _begin_upload(self) -> Any:
        """Start a multi-part upload and return its state."""
        raise NotImplementedError

    def _upload_part(self, state: Any, number: int, data: bytes) -> Any:
        """Upload part ``number`` (from 1) and return what completing it needs."""
        raise NotImplementedError

    def _complete_upload(self, state: Any, parts: list[Any]) -> None:
        """Finish the upload so the file appears with all its parts."""
        raise NotImplementedError

    def _abort_upload(self, state: Any) -> None:
        """Abandon the upload and free its parts."""

    def _wrap_read_stream(self, stream: Any) -> Any:
        """Return the binary stream reads go through (e.g. to decompress); default: as is."""
        return stream

    # -- machinery -------------------------------------------------------------------------

    def _call(self, hook: str, *args: Any) -> Any:
        with self._storage.translating(self.name):
            return getattr(self, hook)(*args)

    def _call_on(self, function: Any, *args: Any) -> Any:
        with self._storage.translating(self.name):
            return function(*args)

    def _short_read(self, position: int, size: int) -> OSError:
        from storages.errors import StorageError

        return StorageError(
            f"{self.name}: the service ended the download at byte {position} of {size}; "
            "the file changed or the connection broke."
        )

    def part_size_for(self, index: int, base: int) -> int:
        """Return the size of part ``index`` (from 0), growing so ``max_parts`` can hold a lot."""
        size = base
        if self.max_parts:
            step = max(self.max_parts // 10, 1)
            size = base << min(index // step, 20)
        if self.max_part_size:
            size = min(size, self.max_part_size)
        return size

    def _open_stream(self, mode: str) -> None:
        info = parse_mode(mode)
        backend = type(self._storage).__name__
        if info.append and not self.supports_append:
            raise io.UnsupportedOperation(f"{backend} cannot append to files (mode {mode!r}).")
        if info.read and info.write and not self.supports_update:
            raise io.UnsupportedOperation(
                f"{backend} cannot open a file for both reading and writing (mode {mode!r})."
            )
        if info.create:
            raise io.UnsupportedOperation(
                f"{backend} files cannot be opened in mode {mode!r}; use storage.save(), which "
                "never overwrites unless the storage is set to."
            )
        stream: Any
        if info.read:
            self._size = int(self._call("_stat"))
            self._reader = _RangeReader(self, self._size)
            stream = io.BufferedReader(self._reader, buffer_size=self.read_buffer_size)
            stream = self._wrap_read_stream(stream)
        else:
            self._writer = _PartWriter(self, self._part_size)
            stream = self._writer
        if not info.binary:
            stream = io.TextIOWrapper(stream, encoding="utf-8", write_through=True)
        self.file = stream
        self.mode = mode

    @property
    def size(self) -> int:
        """Return the file's size: stored size when reading, bytes written when writing."""
        if self._writer is not None:
            if self.file is not None and not self.file.closed:
                self.file.flush()
            return self._writer.written
        return self._size or 0

    @property
    def closed(self) -> bool:
        """Return whether the file is closed."""
        return self.file is None or self.file.closed

    def open(self, mode: str | None = None) -> StorageFile:
        """Rewind an open file, or open it again (with ``mode`` or the previous mode)."""
        if not self.closed and (mode is None or mode == self.mode):
            self.seek(0)
        else:
            if not self.closed:
                self.close()
            self._open_stream(mode or self.mode)
        return self

    def close(self) -> None:
        """Close the file; a file open for writing is committed to the service now."""
        if self.file is None or self.file.closed:
            return
        if self._writer is not None:
            self._writer.commit_on_close = True
        if self._reader is not None:
            self._reader.closing = True
        self.file.close()

    def discard(self) -> None:
        """Close a file open for writing without storing anything."""
        if self._writer is not None:
            self._writer.commit_on_close = False
            self._writer.discarding = True
        if self._reader is not None:
            self._reader.closing = True
        if self.file is not None and not self.file.closed:
            self.file.close()

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None and self._writer is not None:
            self.discard()
        else:
            self.close()

    def __getstate__(self) -> dict[str, Any]:
        # A pickled file keeps its name and mode; it reopens lazily with open().
        return {
            "_storage": self._storage,
            "_key": self._key,
            "name": self.name,
            "mode": self.mode,
            "_part_size": self._part_size,
            "_reader": None,
            "_writer": None,
            "file": None,
            "_size": self._size,
        }

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.name} ({self.mode})>"
