"""Listing every file below a directory with its metadata, and the sync sessions built on it.

:meth:`Scanning.scan` is public: ``(name, info)`` for every file below a directory. Backends
answer it with one paged listing by overriding :meth:`Scanning._scan_key`; the default walks
``_listdir_key`` and stats each file. :meth:`Scanning.sync_session` opens a
:class:`~storages._sync.SyncSession` (``collectstatic``, ``storages copy|sync``); while it is
open the storage's ``exists``, ``save`` and ``delete`` go through it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from storages._naming import NamePolicy
from storages.errors import StorageError
from storages.objects import ObjectInfo

if TYPE_CHECKING:
    from storages._sync import SyncSession

__all__ = ["Scanning"]


class Scanning(NamePolicy):
    """``scan()`` over the backend's listing, and the storage's current sync session."""

    runtime_attrs = NamePolicy.runtime_attrs | {"_sync"}

    if TYPE_CHECKING:  # BaseStorage, which every storage class also is, has these

        def _file_info(self, key: str, name: str) -> ObjectInfo: ...
        def _listdir_key(self, prefix: str) -> tuple[Sequence[str], Sequence[str]]: ...

    def _init_runtime(self) -> None:
        super()._init_runtime()
        self._sync: SyncSession | None = None

    def scan(self, prefix: str = "") -> Iterator[tuple[str, ObjectInfo]]:
        """Yield ``(name, info)`` for every file below the directory ``prefix``, recursively,
        names relative to the storage's root, in one paged listing where the service has one."""
        if isinstance(prefix, str) and prefix and not prefix.strip("/"):
            prefix = ""  # "/" is the storage's root, as in listdir()
        key = self._key(prefix)
        root = f"{key}/" if key else ""
        with self.translating(prefix):
            for found, info in self._scan_key(root):
                yield self._name(found), info

    def _scan_key(self, prefix: str) -> Iterator[tuple[str, ObjectInfo]]:
        """Yield ``(key, info)`` for every file whose key starts with ``prefix`` ("" or ending
        with "/"); the default walks ``_listdir_key`` and stats each file."""
        try:
            with self.translating(prefix):
                dirs, files = self._listdir_key(prefix)
        except FileNotFoundError:
            return  # no such directory: nothing below it
        for file_name in sorted(set(files)):
            key = prefix + file_name
            try:
                yield key, self._file_info(key, self._name(key))
            except FileNotFoundError:
                continue  # deleted since the listing (or a name too long to exist)
        for dir_name in sorted(set(dirs)):
            if dir_name:
                yield from self._scan_key(f"{prefix}{dir_name}/")

    @contextlib.contextmanager
    def sync_session(self, prefix: str = "", **options: Any) -> Iterator[SyncSession]:
        """Batch writes and deletes below ``prefix`` against one listing, skipping files stored
        already; the options are :class:`~storages._sync.SyncSession`'s (``jobs``, ``dry_run``,
        ``last_names``, ``on_event``, ``background``)."""
        from storages._sync import SyncSession

        if self._sync is not None:
            raise StorageError(f"{self!r} already has a sync session open.")
        session = SyncSession(self, prefix, **options)  # type: ignore[arg-type]
        self._sync = session
        try:
            yield session
        except BaseException:
            self._sync = None
            session.abandon()
            raise
        self._sync = None
        session.close()
