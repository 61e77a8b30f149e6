"""The binary stream of a file open for reading (what ``StorageFile.file`` is in mode ``rb``).

:class:`RangeStream` reads one streamed request (the backend's ``_read_key``) from the current
position to the end, and opens a new one after a seek outside what it holds. It hands over the
bytes as the service's SDK returns them: a ``read(n)`` of at least a block (``buffer_size``,
1 MiB) is one ``read(n)`` of the SDK's stream, returned as it came (no copy into a buffer of
ours and out again), so a file reads as fast as the SDK's own streamed read. Smaller reads,
lines and ``peek`` are served from one block read ahead, so memory stays bounded by that block
plus what the caller asked for. ``readinto`` fills the caller's buffer straight from streams
that can (``readinto`` of their own), such as sockets.

:class:`PieceStream` is the ``read(n)`` stream of SDKs that stream a body as an iterator of
pieces: a read of one whole piece returns it as it came; a read across pieces joins them.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from storages._janitor import janitor

if TYPE_CHECKING:
    from storages.files import StorageFile

__all__ = ["DIRECT_READ", "PieceStream", "RangeStream"]

MiB = 1024 * 1024

#: The block read ahead by default. Reads of at least a block go straight to the SDK's stream
#: (Django's ``chunks(1 MiB)``, ``read()``); smaller ones, like ``shutil.copyfileobj``'s and
#: Django's default 64 KiB, are sliced from the block: one trip through the SDK's stack a block
#: costs less than one a read, on top of a copy of 64 KiB.
DIRECT_READ = MiB
#: The most ``peek()`` returns.
PEEK_SIZE = 64 * 1024


def _joined(*parts: Any) -> bytes:
    """Return the pieces as one bytes object, each piece copied once.

    A memory file rather than ``b"".join``: it grows as the pieces come (each can be freed once
    copied), and hands its buffer over without a copy, so a whole file read in pieces peaks at
    about its size rather than twice it.
    """
    gathered = io.BytesIO()
    for part in parts:
        if isinstance(part, (bytes, bytearray, memoryview)):
            gathered.write(part)
        else:
            for piece in part:
                gathered.write(piece)
    return gathered.getvalue()


def seek_target(position: int, size: int, offset: int, whence: int) -> int:
    """Return the position ``seek(offset, whence)`` moves a file of ``size`` bytes to."""
    bases = {io.SEEK_SET: 0, io.SEEK_CUR: position, io.SEEK_END: size}
    if whence not in bases:
        raise ValueError(f"invalid whence: {whence!r}")
    target = bases[whence] + offset
    if target < 0:
        raise ValueError(f"negative seek position {target}")
    return target


class RangeStream(io.BufferedIOBase):
    """A seekable reader of one stored version of a file, from the service's streams."""

    def __init__(
        self, owner: StorageFile, size: int, buffer_size: int = DIRECT_READ, stream: Any = None
    ) -> None:
        super().__init__()
        self._owner = owner
        self._size = size
        self._buffer_size = buffer_size
        #: Reads of at least this many bytes, when nothing is held, go straight to the stream.
        self._direct = min(owner.direct_read_size or buffer_size, buffer_size)
        #: The caller's position; the SDK's stream is at ``_pos + len(_buf) - _off``.
        self._pos = 0
        self._buf = b""
        self._off = 0
        #: The SDK's stream (None until the first read; ``stream``: already open at byte 0).
        self._stream: Any = stream
        if stream is not None and owner.clean_up_in_background:
            janitor.start()  # now, so a finalizer never has to start a thread
        #: Set by ``StorageFile.close()``; a close without it comes from a finalizer.
        self.closing = False

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on closed file.")

    def _open_stream(self) -> Any:
        if self._owner.clean_up_in_background:
            janitor.start()  # now, so a finalizer never has to start a thread
        self._stream = self._owner._read_stream(self._pos + len(self._buf) - self._off)
        return self._stream

    def _drop_stream(self, background: bool = False) -> None:
        stream, self._stream = self._stream, None
        close = getattr(stream, "close", None)
        if close is None:
            return
        if background:
            janitor.submit(close)
        else:
            close()

    def _next(self, n: int) -> bytes:
        """Return the next 1 to ``n`` bytes of the SDK's stream (``n`` > 0, not past the end);
        only called when the block read ahead is used up, which it forgets."""
        self._buf, self._off = b"", 0
        stream = self._stream if self._stream is not None else self._open_stream()
        try:
            data: bytes = stream.read(n)
        except Exception as exc:
            self._owner._reraise(exc)
        if not data:
            raise self._owner._short_read(self._pos, self._size)
        return data

    def _take(self, n: int) -> bytes:
        """Return ``n`` bytes of the block read ahead (as many as it holds)."""
        start = self._off
        data = self._buf[start : start + n]
        self._off = start + len(data)
        self._pos += len(data)
        return data

    def _fill(self) -> bool:
        """Read the next block ahead (the one held is used up); False at the end of the file."""
        left = self._size - self._pos
        if left <= 0:
            return False
        self._buf, self._off = self._next(min(self._buffer_size, left)), 0
        return True

    def read(self, size: int | None = -1) -> bytes:
        """Return ``size`` bytes (fewer only at the end of the file; all that is left if < 0)."""
        if size is not None and size >= 0 and not self.closed:
            # copyfileobj's 64 KiB reads from the block held, in a few bytecodes: at a local
            # server's 6-10 GB/s, this layer was a fifth of a 64 KiB read's time.
            start = self._off
            end = start + size
            if end <= len(self._buf):
                self._off = end
                self._pos += size
                return self._buf[start:end]
        self._check_open()
        if size is None or size < 0:
            return self.readall()
        held = len(self._buf) - self._off  # less than size: the fast path took the rest
        size = min(size, self._size - self._pos)
        if size <= held:
            return self._take(size)
        if held == 0 and size >= self._direct:
            # The common case of chunks() and copyfileobj: the SDK's own bytes, as they came.
            data = self._next(size)
            self._pos += len(data)
            if len(data) == size:
                return data
            parts = [data]
        else:
            parts = [self._take(held)] if held else []
        wanted = size - sum(map(len, parts))
        while wanted > 0:
            if wanted >= self._direct:
                data = self._next(wanted)
                self._pos += len(data)
            elif self._fill():
                data = self._take(wanted)
            else:
                break
            parts.append(data)
            wanted -= len(data)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def readall(self) -> bytes:
        """Return everything from the position to the end (one request to the SDK if it can)."""
        self._check_open()
        held = self._take(len(self._buf) - self._off) if self._off < len(self._buf) else b""
        if self._pos >= self._size:
            return held
        data = self._next(self._size - self._pos)
        self._pos += len(data)
        if not held and self._pos >= self._size:
            return data  # the SDK returned the rest in one piece: as it came
        return held + data if self._pos >= self._size else _joined(held, data, self._rest())

    def _rest(self) -> Iterator[bytes]:
        while self._pos < self._size:
            data = self._next(self._size - self._pos)
            self._pos += len(data)
            yield data

    def read1(self, size: int = -1) -> bytes:
        """Return up to ``size`` bytes with at most one read of the SDK's stream."""
        self._check_open()
        if self._off < len(self._buf):
            return self._take(len(self._buf) - self._off if size < 0 else size)
        left = self._size - self._pos
        if size == 0 or left <= 0:
            return b""
        if size >= self._direct:
            data = self._next(min(size, left))
            self._pos += len(data)
            return data
        self._fill()
        return self._take(len(self._buf) if size < 0 else size)

    def readinto(self, buffer: Any) -> int:
        """Fill ``buffer`` (fewer bytes only at the end of the file); return the count."""
        self._check_open()
        view = memoryview(buffer).cast("B")
        wanted = min(len(view), max(self._size - self._pos, 0))
        done = 0
        if self._off < len(self._buf):
            held = memoryview(self._buf)[self._off : self._off + wanted]
            done = len(held)
            view[:done] = held
            self._off += done
            self._pos += done
        while done < wanted:
            done += self._next_into(view[done:wanted])
        return done

    def readinto1(self, buffer: Any) -> int:
        """Fill ``buffer`` with at most one read of the SDK's stream; return the count."""
        self._check_open()
        view = memoryview(buffer).cast("B")
        if self._off < len(self._buf) or self._pos >= self._size or not view:
            data = self.read1(len(view))
            view[: len(data)] = data
            return len(data)
        return self._next_into(view[: self._size - self._pos])

    def _next_into(self, view: memoryview) -> int:
        self._buf, self._off = b"", 0
        stream = self._stream if self._stream is not None else self._open_stream()
        fill = getattr(stream, "readinto", None)
        if fill is None:
            data = self._next(len(view))
            count = len(data)
            view[:count] = data
        else:
            try:
                count = fill(view)
            except Exception as exc:
                self._owner._reraise(exc)
            if not count:
                raise self._owner._short_read(self._pos, self._size)
        self._pos += count
        return count

    def peek(self, size: int = 0) -> bytes:
        """Return the bytes read ahead without moving (reading a block if none is held)."""
        self._check_open()
        if self._off >= len(self._buf):
            self._fill()
        return self._buf[self._off : self._off + max(size, PEEK_SIZE)]

    def readline(self, size: int | None = -1) -> bytes:
        """Return the next line (up to ``size`` bytes), its line break included."""
        self._check_open()
        limit = -1 if size is None else size
        parts: list[bytes] = []
        taken = 0
        while limit < 0 or taken < limit:
            if self._off >= len(self._buf) and not self._fill():
                break
            newline = self._buf.find(b"\n", self._off)
            stop = len(self._buf) if newline < 0 else newline + 1
            if limit >= 0:
                stop = min(stop, self._off + limit - taken)
            parts.append(self._take(stop - self._off))
            taken += len(parts[-1])
            if newline >= 0 and stop == newline + 1:
                break
        return b"".join(parts)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Move to ``offset``; a later read outside the block held opens a new request."""
        self._check_open()
        target = seek_target(self._pos, self._size, offset, whence)
        if target != self._pos:
            block_start = self._pos - self._off
            if block_start <= target <= block_start + len(self._buf):
                self._off = target - block_start  # still inside the block read ahead
            else:
                self._drop_stream()
                self._buf, self._off = b"", 0
            self._pos = target
        return self._pos

    def tell(self) -> int:
        """Return the position."""
        self._check_open()
        return self._pos

    def close(self) -> None:
        """Close the SDK's stream (from a finalizer: in the janitor thread, if the backend
        cleans up in the background)."""
        if self.closed:
            return
        # Without ``closing``, a finalizer, maybe inside the garbage collector: releasing an HTTP
        # response can take its connection pool's lock, which the interrupted code may hold.
        self._buf = b""
        try:
            self._drop_stream(background=not self.closing and self._owner.clean_up_in_background)
        finally:
            super().close()


class PieceStream:
    """``read(n)`` over an iterator of byte pieces, from byte ``skip`` of them.

    A read of one whole piece hands it over without a copy; a read across pieces joins them
    once. ``close`` (optional) releases what the pieces come from; it also runs when the pieces
    run out.
    """

    def __init__(
        self,
        pieces: Iterator[bytes],
        skip: int = 0,
        close: Callable[[], object] | None = None,
    ) -> None:
        self._pieces = pieces
        self._skip = skip
        self._close = close
        self._piece = b""
        self._offset = 0

    def _fill(self) -> bool:
        while self._offset >= len(self._piece):
            piece = next(self._pieces, None)
            if piece is None:
                self.close()
                return False
            self._piece, self._offset = piece, 0
            if self._skip:
                # For sources that cannot start at an offset: read through to it.
                dropped = min(self._skip, len(piece))
                self._offset, self._skip = dropped, self._skip - dropped
        return True

    def read(self, n: int = -1) -> bytes:
        """Return ``n`` bytes (fewer only at the end; everything left when ``n`` < 0)."""
        if n is None or n < 0:
            parts = []
            while self._fill():
                parts.append(self._piece[self._offset :])
                self._offset = len(self._piece)
            return b"".join(parts)
        if n == 0 or not self._fill():
            return b""
        start, piece = self._offset, self._piece
        if len(piece) - start >= n:
            # Within one piece; a whole piece of bytes slices to itself: no copy.
            self._offset = start + n
            return bytes(piece[start : start + n])
        # Small pieces (some SDKs hand over a few KiB at a time): gathered here in one loop,
        # joined once.
        first = piece[start:]
        self._offset = len(piece)
        rest = self._more(n - len(first))
        second = next(rest, None)
        return bytes(first) if second is None else _joined(first, second, rest)

    def _more(self, wanted: int) -> Iterator[bytes]:
        while wanted > 0 and self._fill():
            data = self._piece[:wanted]
            self._offset = len(data)
            wanted -= len(data)
            yield data

    def close(self) -> None:
        """Release the source of the pieces (once)."""
        close, self._close = self._close, None
        self._piece, self._offset = b"", 0
        if close is not None:
            close()
        else:
            stop = getattr(self._pieces, "close", None)
            if stop is not None:
                self._pieces = iter(())
                stop()
