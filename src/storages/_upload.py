"""The one upload path: what ``save()`` receives, and the part writer every upload goes through.

:class:`UploadBody` adapts whatever ``save()`` received (any Django ``File``, text or bytes, a
non-seekable stream) into one forward-only binary reader that can be rewound for a retry.

:class:`PartWriter` cuts a stream of bytes into parts and drives a storage's upload primitives
(``_put_key``, ``_begin_upload``, ``_upload_part``, ``_complete_upload``, ``_abort_upload``):
a body that fits in ``single_put_size`` is one request; a larger one is a multi-part upload whose
parts grow so that ``max_parts`` can hold a very large file, up to ``upload_concurrency`` of them
in flight. Memory stays bounded by (parts in flight + 1) x part size. Both ``save()`` and a file
opened for writing use it, so part sizing, parallel parts, create-only commits and aborts are
decided here once.
"""

from __future__ import annotations

import io
import tempfile
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from django.conf import settings as django_settings

from storages._janitor import janitor
from storages.objects import UploadTarget
from storages.utils import is_seekable

if TYPE_CHECKING:
    from storages.base import BaseStorage

__all__ = ["PartWriter", "SourceWindow", "UploadBody", "part_size_for", "read_full"]

MiB = 1024 * 1024
#: Bytes of a non-seekable body kept in memory for a retry before it spills to disk.
DEFAULT_SPOOL_SIZE = 8 * MiB
#: Parts of one upload share a size for a tenth of ``max_parts``, then the size doubles.
GROWTH_STEPS = 10
#: The part size stops doubling after this many steps.
MAX_DOUBLINGS = 20


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
                max_size=spool_size or DEFAULT_SPOOL_SIZE,
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


def part_size_for(index: int, base: int, max_parts: int | None, max_part_size: int | None) -> int:
    """Return the size of part ``index`` (from 0): ``base``, doubling every tenth of
    ``max_parts`` so an upload of unknown size can grow far beyond ``base`` x ``max_parts``."""
    size = base
    if max_parts:
        step = max(max_parts // GROWTH_STEPS, 1)
        size = base << min(index // step, MAX_DOUBLINGS)
    if max_part_size:
        size = min(size, max_part_size)
    return size


class SourceWindow:
    """``length`` bytes of a seekable ``source`` from ``offset``, read like a file.

    A part made of a window is sent straight from the file, in small reads, and never held in
    memory, so a backend whose requests are expensive can send very large parts (see
    ``BaseStorage.window_size``). Windows of one source are used one at a time.
    """

    def __init__(self, source: Any, offset: int, length: int) -> None:
        self._source = source
        self._offset = offset
        self.length = length
        self._pos = 0

    def __len__(self) -> int:
        return self.length

    def read(self, n: int = -1) -> bytes:
        """Return up to ``n`` bytes from the current position (the rest when negative)."""
        left = self.length - self._pos
        count = left if n is None or n < 0 else min(n, left)
        if count <= 0:
            return b""
        self._source.seek(self._offset + self._pos)
        data = read_full(self._source, count)
        if isinstance(data, str):
            raise TypeError("a source window needs a binary source")
        self._pos += len(data)
        return data

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Move within the window (requests rewinds a body it has to send again)."""
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.length}[whence]
        self._pos = min(max(base + offset, 0), self.length)
        return self._pos

    def tell(self) -> int:
        """Return the position within the window."""
        return self._pos

    def sub(self, skip: int) -> SourceWindow:
        """Return the window without its first ``skip`` bytes."""
        return SourceWindow(self._source, self._offset + skip, self.length - skip)

    def blocks(self, size: int = MiB) -> Iterator[bytes]:
        """Yield the window's bytes in blocks of ``size`` (from its start)."""
        self.seek(0)
        while block := self.read(size):
            yield block
        self.seek(0)


class PartWriter:
    """Cut written bytes into parts and upload them with a storage's primitives.

    Nothing is stored until :meth:`commit`; :meth:`abort` (or any failure in ``commit``)
    abandons the upload so nothing partial is ever visible under the name. The last part is
    always sent by ``commit()`` with ``last=True`` (resumable protocols must mark it).
    """

    def __init__(self, storage: BaseStorage, target: UploadTarget, part_size: int = 0) -> None:
        self._storage = storage
        self.target = target
        self._base = part_size or storage.part_size
        self._single = max(storage.single_put_size, 0)
        self._workers = max(int(storage.upload_concurrency or 1), 1)
        # The bytes not sent yet, as views: of the caller's own ``bytes`` (immutable, so a part
        # made of one whole object is sent without a copy) or of a private copy.
        self._chunks: list[memoryview] = []
        self._buffered = 0
        self._state: Any = None
        self._started = False
        self._parts: list[Any] = []
        self._sent = 0
        self._pending: deque[Future[Any]] = deque()
        self._pool: ThreadPoolExecutor | None = None
        self.written = 0

    def _part_size(self) -> int:
        storage = self._storage
        return part_size_for(self._sent, self._base, storage.max_parts, storage.max_part_size)

    def _limit(self) -> int:
        size = self._part_size()
        return size if self._started else max(size, self._single)

    def write(self, data: Any) -> int:
        """Buffer ``data``, uploading every part that is full and followed by more bytes."""
        view = memoryview(data if isinstance(data, bytes) else bytes(data)).cast("B")
        total = len(view)
        while view:
            limit = self._limit()
            if self._buffered >= limit:
                self._flush()  # more bytes follow, so every full part can go now
                continue
            piece = view[: limit - self._buffered]
            view = view[len(piece) :]
            self._chunks.append(piece)
            self._buffered += len(piece)
        self.written += total
        return total

    def _take(self, size: int) -> bytes:
        """Remove the first ``size`` buffered bytes and return them (no copy when they are
        exactly one of the caller's ``bytes`` objects)."""
        taken: list[memoryview] = []
        needed = size
        while needed:
            chunk = self._chunks[0]
            if len(chunk) <= needed:
                taken.append(self._chunks.pop(0))
                needed -= len(chunk)
            else:
                taken.append(chunk[:needed])
                self._chunks[0] = chunk[needed:]
                needed = 0
        self._buffered -= size
        if len(taken) == 1:
            whole = taken[0].obj
            if isinstance(whole, bytes) and len(whole) == size:
                return whole
        return b"".join(taken)

    def _clear(self) -> None:
        self._chunks.clear()
        self._buffered = 0

    def _call(self, hook: str, *args: Any) -> Any:
        storage = self._storage
        with storage.translating(self.target.name):
            return getattr(storage, hook)(self.target, *args)

    def _begin(self) -> None:
        if not self._started:
            if self._storage.clean_up_in_background:
                janitor.start()  # now, so a finalizer never has to start a thread
            self._state = self._call("_begin_upload")
            self._started = True

    def _flush(self) -> None:
        self._begin()
        while self._buffered >= (size := self._part_size()):
            self._send(self._take(size), last=False)

    def _send(self, data: bytes, last: bool) -> None:
        self._sent += 1
        number = self._sent
        if self._workers == 1:
            self._parts.append(self._call("_upload_part", self._state, number, data, last))
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="storages-upload")
        self._pending.append(
            self._pool.submit(self._call, "_upload_part", self._state, number, data, last)
        )
        del data  # only the pool holds the part now
        while len(self._pending) >= self._workers:
            self._parts.append(self._pending.popleft().result())

    def _drain(self) -> None:
        while self._pending:
            self._parts.append(self._pending.popleft().result())

    def upload_windows(self, source: Any, size: int, window: int) -> None:
        """Store the ``size`` bytes of the seekable ``source`` as parts of ``window`` bytes
        sent straight from it (:class:`SourceWindow`), one at a time; abort on any failure."""
        try:
            self._begin()
            for offset in range(0, size, window):
                length = min(window, size - offset)
                part = SourceWindow(source, offset, length)
                self._sent += 1
                self._parts.append(
                    self._call(
                        "_upload_part", self._state, self._sent, part, offset + length >= size
                    )
                )
            self.written = size
            self._call("_complete_upload", self._state, self._parts)
            self._started = False
        except BaseException:
            self.abort()
            raise

    def commit(self) -> None:
        """Store everything written: one request, or the last part and the completion."""
        try:
            if not self._started and self._buffered <= self._single:
                self._call("_put_key", self._take(self._buffered))
            else:
                self._begin()
                # Keep at least one byte for the last part (an empty one is refused by some).
                while self._buffered > (size := self._part_size()):
                    self._send(self._take(size), last=False)
                self._send(self._take(self._buffered), last=True)
                self._drain()
                self._call("_complete_upload", self._state, self._parts)
                self._started = False
        except BaseException:
            self.abort()
            raise
        finally:
            self._clear()
            self._shutdown()

    def abort(self, background: bool = False) -> None:
        """Abandon the upload (in the janitor thread if ``background`` and the backend allows)."""
        self._clear()
        for future in self._pending:
            future.cancel()
        # Parts still on their way would outlive an abort that ran before them.
        pending, self._pending = self._pending, deque()
        for future in pending:
            if not future.cancelled():
                future.exception()
        self._shutdown()
        if not self._started:
            return
        self._started = False
        storage, target, state = self._storage, self.target, self._state
        if background and storage.clean_up_in_background:
            janitor.submit(lambda: _abort(storage, target, state))
        else:
            _abort(storage, target, state)

    def _shutdown(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False)


def _abort(storage: BaseStorage, target: UploadTarget, state: Any) -> None:
    with storage.translating(target.name):
        storage._abort_upload(target, state)
