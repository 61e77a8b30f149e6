"""File objects, written once for every backend.

:class:`StorageFile` is what ``storage.open()`` returns. Reading streams from the service
(``_read_key``) and seeks with ranged requests, pinned to the version ``_stat_key`` saw, through
:class:`storages._reads.RangeStream`, which hands the SDK's bytes over without copying; writing
goes through the core's :class:`~storages._upload.PartWriter`, the same one ``save()`` uses, so
memory stays bounded by the part size however large the file. Backends need no file code of
their own: their file classes exist for the documented names and signatures.

An explicit ``close()`` (or leaving a ``with`` block normally) commits a write. Leaving the block
with an exception, or dropping the file without closing it, aborts the upload: nothing partial is
ever stored. A file the garbage collector drops unclosed is cleaned up by the janitor thread
(:mod:`storages._janitor`), never inside the collection.
"""

from __future__ import annotations

import errno
import io
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

from django.core.files import File

from storages._reads import RangeStream
from storages._upload import PartWriter
from storages.errors import StorageError
from storages.names import normalize_name
from storages.objects import ObjectInfo

if TYPE_CHECKING:
    from storages.base import BaseStorage

__all__ = ["ModeInfo", "StorageFile", "parse_mode"]

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


class _WriteStream(io.BufferedIOBase):
    """The binary stream of a file open for writing: a :class:`PartWriter` that commits only
    when asked to."""

    def __init__(self, writer: PartWriter) -> None:
        super().__init__()
        self.writer = writer
        self.commit_on_close = False
        #: Set by ``StorageFile.discard()``: closing without a commit was asked for, so the abort
        #: runs here; otherwise the close comes from a finalizer (see ``PartWriter.abort``).
        self.discarding = False

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        if self.closed:
            raise ValueError("I/O operation on closed file.")
        return self.writer.write(data)

    def close(self) -> None:
        if self.closed:
            return
        try:
            if self.commit_on_close:
                self.writer.commit()
            else:
                # Neither close() nor discard() of the file: a finalizer (of this object or of
                # the text wrapper around it), which may run inside the garbage collector.
                self.writer.abort(background=not self.discarding)
        finally:
            super().close()


class StorageFile(File):
    """A file of a storage opened for reading or writing."""

    #: Whether the backend can append to an existing file (mode ``a``).
    supports_append: ClassVar[bool] = False
    #: Whether the backend can open a file for reading and writing (mode ``+``).
    supports_update: ClassVar[bool] = False
    #: The block a reader reads ahead for small reads and lines (large reads bypass it).
    read_buffer_size: ClassVar[int] = 1 * MiB
    #: Reads of at least this many bytes go straight to the backend's stream (None: a block).
    direct_read_size: ClassVar[int | None] = None

    def __init__(
        self, name: str, mode: str = "rb", storage: Any = None, part_size: int | None = None
    ) -> None:
        if storage is None:
            raise TypeError(f"{type(self).__name__} needs the storage it belongs to.")
        self._storage: BaseStorage = storage
        self._key = storage._key(name)
        self.name = normalize_name(name)
        self.mode = mode
        self._part_size = part_size or storage.part_size
        self._reader: RangeStream | None = None
        self._writer: _WriteStream | None = None
        self.file = None
        self.info: ObjectInfo | None = None
        self._open_stream(mode)

    @property
    def clean_up_in_background(self) -> bool:
        """Return whether the janitor thread cleans up after this file when it is dropped."""
        return bool(self._storage.clean_up_in_background)

    def _read_stream(self, start: int) -> Any:
        assert self.info is not None
        with self._storage.translating(self.name):
            return self._storage._read_key(self._key, self.info, start)

    def _open_for_reading(self) -> tuple[ObjectInfo, Any]:
        """Return the metadata of the stored version, and its stream from byte 0 or None.

        A backend whose read request also tells the object's metadata defines
        ``_open_key(key) -> (ObjectInfo, stream)``: opening a file is then one request, where
        the others make a metadata request (``_stat_key``) and a read request later.
        """
        storage = self._storage
        opener = getattr(storage, "_open_key", None)
        if opener is None or not self._key or storage._key_problem(self._key, writing=False):
            return storage._file_info(self._key, self.name), None
        with storage.translating(self.name):
            info, stream = opener(self._key)
        return info, stream

    def _reraise(self, exc: Exception) -> NoReturn:
        """Raise ``exc``, an error of the read stream, translated like the storage's own."""
        with self._storage.translating(self.name):
            raise exc

    def _short_read(self, position: int, size: int) -> OSError:
        return StorageError(
            f"{self.name}: the service ended the download at byte {position} of {size}; "
            "the file changed or the connection broke."
        )

    def _check_mode(self, mode: str) -> ModeInfo:
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
        return info

    def _open_stream(self, mode: str) -> None:
        info = self._check_mode(mode)
        storage = self._storage
        stream: Any
        if info.read:
            self.info, first = self._open_for_reading()
            if self.info.is_dir:
                if first is not None:
                    first.close()
                raise IsADirectoryError(errno.EISDIR, f"{self.name} is a directory")
            self._reader = RangeStream(self, self.info.size, self.read_buffer_size, first)
            stream = storage._wrap_read_stream(self._reader, self.info)
        else:
            target = storage._upload_target(self._key, self.name, None, overwrite=True)
            self._writer = _WriteStream(PartWriter(storage, target, self._part_size))
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
            return self._writer.writer.written
        return self.info.size if self.info is not None else 0

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
            "info": self.info,
        }

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.name} ({self.mode})>"
