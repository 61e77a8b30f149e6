"""``BaseStorage``: Django's Storage API over a backend's few primitives, written once.

A backend subclasses it (or :class:`~storages._object_store.ObjectStore`, or
:class:`~storages._remote_fs.RemoteFilesystem`), declares its settings as
:class:`~storages.settings.Setting` class attributes and fills in hooks that take *service keys*,
never user names (``docs/writing-a-backend.md`` lists them):

* ``_connect()`` builds the SDK client;
* ``_stat_key(key)`` returns an :class:`~storages.objects.ObjectInfo`, or raises
  ``FileNotFoundError``; ``exists``, ``size``, the time methods and an opened file derive from it;
* ``_read_key(key, info, start)`` opens a stream from byte ``start``, pinned to ``info``;
* ``_put_key``, ``_begin_upload``, ``_upload_part``, ``_complete_upload``, ``_abort_upload``:
  the upload primitives the core's part writer drives, for ``save()`` and ``open('wb')`` alike;
  with ``target.overwrite`` False the final request must be an atomic create-only write that
  raises ``FileExistsError`` when the key is taken;
* ``_delete_key(key)`` and ``_listdir_key(prefix)``;
* optionally ``_scan_key(prefix)``, every file below a prefix with its metadata in one paged
  listing (the default walks ``_listdir_key`` and stats each file);
* optionally ``_copy_key_from(source, key, info, target)``, a copy inside the service (the
  default answers False: ``storages copy|sync`` streams the file instead).

Settings, clients and error translation come from :class:`~storages._clients.ClientPool`; the
name pipeline and the choice of a free name from :class:`~storages._naming.NamePolicy`;
``scan()`` and sync sessions from :class:`~storages._scanning.Scanning`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any, ClassVar

from django.conf import settings as django_settings
from django.core.files import File
from django.core.files.storage import Storage
from django.core.files.utils import validate_file_name

from storages import names
from storages._direct_default import NoDirectUploads
from storages._scanning import Scanning
from storages._upload import PartWriter, UploadBody
from storages.errors import AlreadyExists, NotFound, StorageError
from storages.files import StorageFile
from storages.objects import ObjectInfo, UploadTarget
from storages.settings import Setting

__all__ = ["BaseStorage"]

MiB = 1024 * 1024


class BaseStorage(Scanning, NoDirectUploads, Storage):
    """The base of every backend: names, overwrite policy, uploads and metadata."""

    #: Largest number of bytes a file object keeps in memory before spilling to disk.
    max_memory_size: Setting = Setting(None, 0, doc="Spool size before using disk (0: all).")

    file_class: ClassVar[type[StorageFile]] = StorageFile
    #: The most parts one upload may have, and the largest part (None: no limit).
    max_parts: ClassVar[int | None] = None
    max_part_size: ClassVar[int | None] = None
    #: Whether the service records when files were created / last read.
    knows_created: ClassVar[bool] = False
    knows_accessed: ClassVar[bool] = False
    #: Whether a file dropped unclosed is cleaned up by the janitor thread (False: in the
    #: finalizer itself, for a backend that guards against the garbage collector itself).
    clean_up_in_background: ClassVar[bool] = True

    #: Part size of uploads, the largest body sent in one request, and parts sent in parallel;
    #: backends set them from their own settings in ``_configure()``.
    part_size: int = 8 * MiB
    single_put_size: int = 8 * MiB
    upload_concurrency: int = 1
    #: Parts of this size are sent straight from a seekable body of known size, as
    #: :class:`~storages._upload.SourceWindow` objects (0: never; parts are always bytes). For
    #: services where each request is expensive: large parts without holding them in memory.
    window_size: int = 0

    def save(self, name: str | None, content: Any, max_length: int | None = None) -> str:
        """Store ``content`` under ``name`` (or a free variant of it) and return the name used."""
        if name is None:
            name = content.name
        if not hasattr(content, "chunks"):
            content = File(content, name)
        validate_file_name(str(name), allow_relative_path=True)
        sync = self._sync
        if sync is not None and sync.covers(self._key(name)):
            # A sync session replaces the file under the name given, or keeps it when identical.
            return sync.save(names.truncate_name(names.normalize_name(name), max_length), content)
        name = self.get_available_name(str(name), max_length=max_length)
        saved = self._save_with_policy(name, content, max_length)
        validate_file_name(saved, allow_relative_path=True)
        return saved

    def _save(self, name: str, content: Any) -> str:
        return self._save_with_policy(name, content, None)

    def _save_with_policy(self, name: str, content: Any, max_length: int | None) -> str:
        name = names.normalize_name(name)
        sync = self._sync
        if sync is not None and sync.covers(self._key(name)):
            return sync.save(name, content)
        self._check_writable(self._key(name))
        overwrite = bool(self.file_overwrite)
        body = UploadBody(content, replayable=not overwrite, spool_size=self.max_memory_size)
        try:
            for _ in range(self.max_name_attempts):
                try:
                    self._write(self._key(name), body, overwrite=overwrite)
                    return name
                except FileExistsError:
                    if overwrite:
                        raise
                    # Someone stored this name between our check and our write: take the next.
                    body.rewind()
                    name = self._next_free_name(name, max_length)
        finally:
            body.release()
        raise AlreadyExists(f"No free name for {name!r} after {self.max_name_attempts} tries.")

    def _upload_target(
        self, key: str, name: str, content_type: str | None, overwrite: bool, compress: bool = False
    ) -> UploadTarget:
        """Decide where and how an upload is stored; object stores add content types."""
        return UploadTarget(key, name, overwrite, content_type)

    def _write(
        self, key: str, body: UploadBody, overwrite: bool, target: UploadTarget | None = None
    ) -> None:
        """Store ``body`` at ``key`` through the part writer (create-only unless ``overwrite``),
        as ``target`` says when the caller decided it already."""
        if target is None:
            target = self._upload_target(key, self._name(key), body.content_type, overwrite, True)
        source: Any = body
        if target.gzip:
            from storages.compress import GzipCompressingReader

            source = GzipCompressingReader(body)
        writer = PartWriter(self, target)
        size = body.size
        if self.window_size and source is body and body.seekable and size and size > self.part_size:
            body.content.seek(0)
            writer.upload_windows(body.content, size, self.window_size)
            return
        try:
            while data := source.read(self.part_size):
                writer.write(data)
        except BaseException:
            writer.abort()
            raise
        writer.commit()

    def _open(self, name: str, mode: str = "rb") -> File:
        key = self._key(name)
        if any(flag in mode for flag in "wax+"):
            # Refuse before the first part is uploaded, not at close() with the data gone.
            self._check_writable(key)
        return self.file_class(name=name, mode=mode, storage=self)  # type: ignore[call-arg]

    def _file_info(self, key: str, name: str) -> ObjectInfo:
        """Return the metadata of ``key``: the one place "not found" is decided."""
        if key and self._key_problem(key, writing=False) is not None:
            raise NotFound(f"{name}: no such file (the name is too long to exist).")
        if self._sync is not None:
            self._sync.settle(key)  # a write in flight: read what it stores
        with self.translating(name):
            return self._stat_key(key)

    def _wrap_read_stream(self, stream: Any, info: ObjectInfo) -> Any:
        """Return the binary stream reads go through (e.g. to decompress); default: as is."""
        return stream

    def _root_exists(self) -> bool:
        """Return whether the storage's root exists (``exists("")``)."""
        return True

    def exists(self, name: str) -> bool:
        """Return whether a file (or directory) is stored under ``name``."""
        key = self._key(name)
        if not key:
            with self.translating(name):
                return self._root_exists()
        sync = self._sync
        if sync is not None and sync.covers(key):
            return sync.exists(key)
        try:
            self._file_info(key, name)
        except FileNotFoundError:
            return False
        return True

    def delete(self, name: str) -> None:
        """Delete the file stored under ``name``; a missing file is not an error."""
        key = self._key(name)
        if not key:
            raise names.UnsafeName("Refusing to delete the storage root.")
        if self._key_problem(key, writing=False) is not None:
            return
        sync = self._sync
        if sync is not None and sync.covers(key):
            sync.delete(key, name)
            return
        # Suppress outside the translation, which turns SDK "not found" errors into NotFound.
        with contextlib.suppress(FileNotFoundError), self.translating(name):
            self._delete_key(key)

    def size(self, name: str) -> int:
        """Return the size in bytes of the file stored under ``name``."""
        return int(self._file_info(self._key(name), name).size)

    def listdir(self, path: str) -> tuple[list[str], list[str]]:
        """Return ``(directories, files)`` directly under ``path``, names relative to it."""
        if isinstance(path, str) and path and not path.strip("/"):
            path = ""  # "/" is the storage's root, as on a filesystem
        key = self._key(path)
        if key and self._key_problem(key, writing=False) is not None:
            # As for files: a name the service cannot hold names no directory either.
            raise NotFound(f"{path}: no such directory (the service cannot hold this name).")
        prefix = f"{key}/" if key else ""
        with self.translating(path):
            dirs, files = self._listdir_key(prefix)
        return sorted(set(dirs)), sorted(set(files))

    def _time(self, name: str, field: str, known: bool = True) -> datetime:
        if not known:
            raise NotImplementedError(
                f"{type(self).__name__} does not know the {field} time of files."
            )
        value = getattr(self._file_info(self._key(name), name), field)
        if value is None:
            raise StorageError(f"{name}: the service reports no {field} time.")
        return self._localize(value)

    def get_modified_time(self, name: str) -> datetime:
        """Return when the file was last modified (aware UTC if ``USE_TZ``, else naive local)."""
        return self._time(name, "modified")

    def get_created_time(self, name: str) -> datetime:
        """Return when the file was created, where the service records it."""
        return self._time(name, "created", self.knows_created)

    def get_accessed_time(self, name: str) -> datetime:
        """Return when the file was last read, where the service records it."""
        return self._time(name, "accessed", self.knows_accessed)

    @staticmethod
    def _localize(value: datetime) -> datetime:
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        if getattr(django_settings, "USE_TZ", True):
            return value.astimezone(timezone.utc)
        return value.astimezone().replace(tzinfo=None)

    # The primitives (see the module docstring); the defaults say which one is missing.

    def _stat_key(self, key: str) -> ObjectInfo:
        raise NotImplementedError(f"{type(self).__name__} must implement _stat_key()")

    def _read_key(self, key: str, info: ObjectInfo, start: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement _read_key()")

    def _put_key(self, target: UploadTarget, data: bytes) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement _put_key()")

    def _begin_upload(self, target: UploadTarget) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement _begin_upload()")

    def _upload_part(
        self, target: UploadTarget, state: Any, number: int, data: bytes, last: bool
    ) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement _upload_part()")

    def _complete_upload(self, target: UploadTarget, state: Any, parts: list[Any]) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement _complete_upload()")

    def _abort_upload(self, target: UploadTarget, state: Any) -> None:
        """Abandon an upload and free its parts; the default does nothing."""

    def _delete_key(self, key: str) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement _delete_key()")

    def _listdir_key(self, prefix: str) -> tuple[Sequence[str], Sequence[str]]:
        raise NotImplementedError(f"{type(self).__name__} must implement _listdir_key()")

    def _copy_key_from(
        self, source: BaseStorage, key: str, info: ObjectInfo, target: UploadTarget
    ) -> bool:
        """Copy ``source``'s object ``key`` (described by ``info``) to ``target`` inside the
        service, the bytes never passing through this process; return False when this storage
        cannot (another service or account): the caller streams the file instead."""
        return False
