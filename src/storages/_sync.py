"""Sync sessions: many writes to one storage, decided against one listing of it.

``with storage.sync_session() as session:`` (what ``collectstatic`` and ``storages copy|sync``
use) lists the storage once with :meth:`~storages.base.BaseStorage.scan`, then:

* ``exists()`` is answered from that listing (a name exists when a file is stored under it or
  below it), instead of one request per name;
* ``save()`` and ``_save()`` compare the checksum of what *would be stored* (the bytes after
  gzip, when the storage compresses that content type) with the stored object's, and send
  nothing when they match; other saves replace the file under the name given, as
  ``collectstatic`` expects, and carry their checksum as object metadata so the next session
  compares multipart objects too. Bodies up to :data:`INLINE_SIZE` are read, hashed and sent
  by ``jobs`` threads (at most ``2 x jobs`` of them in memory); larger ones are hashed in a
  first pass over the (seekable) file, then streamed in the caller's thread;
* ``delete()`` is deferred to the end of the session and cancelled by a later save of the same
  name (a manifest storage deletes files it is about to save again, unchanged);
* a read (``open``, ``size``, times) of a name being written waits for its write;
* names in ``last_names`` (a manifest) are written only after every earlier write succeeded;
  with ``background=False`` every write is made in the caller's thread, in order.

The session ends by waiting for every write, then running the deferred deletes; failures are
collected and raised together as :class:`SyncFailed`. While a session is open, every thread
that uses the storage goes through it: open sessions in a process of their own (a management
command), not in a running site.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from django.core.files.base import ContentFile
from django.core.files.utils import validate_file_name

from storages import names
from storages._compare import INLINE_SIZE, Prepared, matches, needs_stat, prepare
from storages._upload import UploadBody
from storages.errors import StorageError
from storages.objects import ObjectInfo, UploadTarget

if TYPE_CHECKING:
    from storages.base import BaseStorage

__all__ = ["DEFAULT_JOBS", "INLINE_SIZE", "SyncFailed", "SyncSession", "SyncStats"]

#: Writes and deletes in flight when the caller gives no number.
DEFAULT_JOBS = 8
#: Failed names an error message lists before "and N more".
LISTED_FAILURES = 20

#: ``on_event(kind, name, size)`` is called for every outcome: "copied", "skipped", "deleted"
#: or "failed" (``size``: the bytes stored, 0 for the others).
EventHook = Callable[[str, str, int], None]


class SyncFailed(StorageError):
    """Some writes or deletes of a sync session failed; ``failures`` maps names to errors."""

    def __init__(self, failures: dict[str, BaseException]) -> None:
        self.failures = dict(failures)
        listed = sorted(self.failures)
        shown = ", ".join(listed[:LISTED_FAILURES])
        more = f" and {len(listed) - LISTED_FAILURES} more" if len(listed) > LISTED_FAILURES else ""
        first = self.failures[listed[0]] if listed else None
        super().__init__(f"{len(listed)} file(s) failed: {shown}{more} (first error: {first})")


@dataclass
class SyncStats:
    """What a session did: files sent (``server_side`` of them copied inside the service),
    skipped as identical, deleted, bytes stored, failures."""

    copied: int = 0
    skipped: int = 0
    deleted: int = 0
    bytes: int = 0
    failures: dict[str, BaseException] = field(default_factory=dict)
    server_side: int = 0
    #: Called with every outcome counted (see :data:`EventHook`).
    on_event: EventHook | None = field(default=None, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count_copied(
        self, name: str, size: int, *, stored: bool = True, server_side: bool = False
    ) -> None:
        """Count ``name`` as sent (``stored`` False: a dry run, no bytes were stored)."""
        with self._lock:
            self.copied += 1
            self.bytes += size if stored else 0
            self.server_side += server_side
        self._report("copied", name, size)

    def count_skipped(self, name: str) -> None:
        """Count ``name`` as identical to what is stored."""
        with self._lock:
            self.skipped += 1
        self._report("skipped", name)

    def count_deleted(self, name: str) -> None:
        """Count ``name`` as deleted."""
        with self._lock:
            self.deleted += 1
        self._report("deleted", name)

    def count_failed(self, name: str, exc: BaseException) -> None:
        """Record that ``name`` failed with ``exc``."""
        with self._lock:
            self.failures[name] = exc
        self._report("failed", name)

    def _report(self, kind: str, name: str, size: int = 0) -> None:
        if self.on_event is not None:
            self.on_event(kind, name, size)


class SyncSession:
    """Writes and deletes of one storage against one listing of it (see the module docstring)."""

    def __init__(
        self,
        storage: BaseStorage,
        prefix: str = "",
        *,
        jobs: int = DEFAULT_JOBS,
        dry_run: bool = False,
        last_names: Iterable[str] = (),
        on_event: EventHook | None = None,
        background: bool = True,
    ) -> None:
        self.storage = storage
        self.dry_run = dry_run
        self._background = background
        self.stats = SyncStats(on_event=on_event)
        root = storage._key(prefix)
        self._root = f"{root}/" if root else ""
        self._last = {storage._key(name) for name in last_names}
        self._lock = threading.Lock()
        self._listing: dict[str, ObjectInfo] = {}
        self._dirs: set[str] | None = None
        self._deleted: dict[str, str] = {}  # key -> name: deletes deferred to the end
        self._pending: dict[str, Future[None]] = {}
        self._slots = threading.BoundedSemaphore(2 * max(jobs, 1))
        self._pool = ThreadPoolExecutor(max(jobs, 1), thread_name_prefix="stowage-sync")
        with storage.translating(prefix):
            for key, info in storage._scan_key(self._root):
                self._listing[key] = info

    def covers(self, key: str) -> bool:
        """Return whether the session decides for ``key`` (it lies under the session's prefix)."""
        return key.startswith(self._root)

    def listing(self) -> dict[str, ObjectInfo]:
        """Return what the session knows is stored, by storage name."""
        with self._lock:
            return {self.storage._name(key): info for key, info in self._listing.items()}

    def exists(self, key: str) -> bool:
        """Return whether a file is stored under ``key`` (or below it: a directory) as far as
        the session knows, counting its own writes and deletes."""
        with self._lock:
            if key in self._pending:
                return True
            if key in self._deleted:
                return False
            if key in self._listing:
                return True
            if self._dirs is None:
                # Built once, then kept up to date as files appear; a directory whose files
                # are only deleted later in the session still counts (deletes run at its end).
                self._dirs = {parent for stored in self._listing for parent in _parents(stored)}
            return key in self._dirs

    def settle(self, key: str) -> None:
        """Wait until a write of ``key`` in flight has finished (so a read sees it)."""
        with self._lock:
            future = self._pending.get(key)
        if future is not None:
            future.exception()

    def delete(self, key: str, name: str) -> None:
        """Delete ``key`` at the end of the session, unless it is saved again before then."""
        self.settle(key)
        with self._lock:
            self._deleted[key] = name

    def save(self, name: str, content: Any) -> str:
        """Store ``content`` under ``name`` unless the same bytes are stored there; return it."""
        self.put(name, content)
        return names.normalize_name(name)

    def put(
        self,
        name: str,
        content: Any,
        source_modified: datetime | None = None,
        compare: bool = True,
    ) -> bool:
        """Store ``content`` under ``name`` unless the same bytes are stored there already.

        Return whether it is (being) sent. When the storage knows no checksum of the stored
        object, it counts as the same when the sizes match and it is not older than
        ``source_modified`` (Django's own rule, to the second). With ``compare`` False the
        caller decided already: it is sent, and a body too large for memory is not read twice
        to compute its checksum first.
        """
        storage = self.storage
        name = names.normalize_name(name)
        validate_file_name(name, allow_relative_path=True)
        key = storage._key(name)
        storage._check_writable(key)
        self.settle(key)
        if key in self._last:
            self.drain()
            if self.stats.failures:
                raise SyncFailed(self.stats.failures)
        content_type = getattr(content, "content_type", None)
        target = storage._upload_target(key, name, content_type, True, True)
        body = UploadBody(content, replayable=True, spool_size=storage.max_memory_size)
        try:
            prepared = prepare(body, target, hash_large=compare)
            inline, size = prepared.data, prepared.size
            with self._lock:
                self._deleted.pop(key, None)  # saved again: the deferred delete is moot
                if self._dirs is not None:
                    self._dirs.update(_parents(key))  # its directories exist now
            if compare and self._identical(key, name, target, prepared, source_modified):
                self.stats.count_skipped(name)
                return False
            if self.dry_run:
                self.stats.count_copied(name, size or 0, stored=False)
                return True
            target.checksum = prepared.checksum
            if inline is None:
                body.rewind()
                self._write(target, body, size)
                return True
        finally:
            body.release()
        # Bytes already compressed: stored as they are, with the encoding decided above.
        stored = replace(target, gzip=False)
        if key in self._last or not self._background:
            self._write(stored, UploadBody(ContentFile(inline)), len(inline))
            return True
        self._slots.acquire()
        with self._lock:
            self._pending[key] = self._pool.submit(self._send_inline, stored, inline)
        return True

    def _identical(
        self,
        key: str,
        name: str,
        target: UploadTarget,
        prepared: Prepared,
        source_modified: datetime | None,
    ) -> bool:
        with self._lock:
            info = self._listing.get(key)
        if info is None or (prepared.size is not None and info.size != prepared.size):
            return False
        if needs_stat(info, prepared):
            try:
                info = self.storage._file_info(key, name)  # a stat tells the metadata
            except FileNotFoundError:
                return False
            with self._lock:
                self._listing[key] = info
        return matches(info, target, prepared, source_modified)

    def _send_inline(self, target: UploadTarget, data: bytes) -> None:
        try:
            self._write(target, UploadBody(ContentFile(data)), len(data))
        finally:
            with self._lock:
                self._pending.pop(target.key, None)
            self._slots.release()

    def _write(self, target: UploadTarget, body: UploadBody, size: int | None) -> None:
        try:
            self.storage._write(target.key, body, True, target)
        except Exception as exc:
            with self._lock:
                self._listing.pop(target.key, None)  # its state is unknown now
            self.stats.count_failed(target.name, exc)
            return
        finally:
            body.release()
        self.record(target, size or 0)

    def record(self, target: UploadTarget, size: int, server_side: bool = False) -> None:
        """Count ``target`` as stored with ``size`` bytes (``server_side``: copied inside the
        service, see :mod:`storages._server_copy`)."""
        info = ObjectInfo(
            size=size,
            modified=datetime.now(timezone.utc),
            checksum=target.checksum,
            content_type=target.content_type,
            content_encoding=target.content_encoding,
        )
        with self._lock:
            self._listing[target.key] = info
        self.stats.count_copied(target.name, size, server_side=server_side)

    def known(self, name: str) -> ObjectInfo | None:
        """Return what the session knows is stored under ``name`` (None: nothing)."""
        key = self.storage._key(name)
        with self._lock:
            return None if key in self._deleted else self._listing.get(key)

    def clear(self) -> list[str]:
        """Delete every file the session's listing holds, now; return their names."""
        with self._lock:
            doomed = {key: self.storage._name(key) for key in self._listing}
        self._delete_now(doomed)
        return sorted(doomed.values())

    def _delete_now(self, doomed: dict[str, str]) -> None:
        def delete(key: str, name: str) -> None:
            if not self.dry_run:
                try:
                    with contextlib.suppress(FileNotFoundError), self.storage.translating(name):
                        self.storage._delete_key(key)
                except Exception as exc:
                    self.stats.count_failed(name, exc)
                    return
            with self._lock:
                self._listing.pop(key, None)
                self._dirs = None
            self.stats.count_deleted(name)

        for future in [self._pool.submit(delete, key, name) for key, name in doomed.items()]:
            future.result()

    def drain(self) -> None:
        """Wait for every write in flight."""
        while True:
            with self._lock:
                pending = list(self._pending.values())
            if not pending:
                return
            for future in pending:
                future.exception()

    def close(self) -> None:
        """Wait for the writes, run the deferred deletes, and raise the failures, if any."""
        try:
            self.drain()
            with self._lock:
                doomed = {k: n for k, n in self._deleted.items() if k in self._listing}
                self._deleted.clear()
            if not self.stats.failures:  # never delete while a replacement may be missing
                self._delete_now(doomed)
        finally:
            self._stop()
        if self.stats.failures:
            raise SyncFailed(self.stats.failures)

    def abandon(self) -> None:
        """Wait for the writes in flight and stop, running none of the deferred deletes."""
        try:
            self.drain()
        finally:
            self._stop()

    def _stop(self) -> None:
        self._pool.shutdown(wait=True)
        # The workers made clients of their own where the SDK's are per thread: close them.
        self.storage._close_finished_thread_clients()


def _parents(key: str) -> Iterable[str]:
    parts = key.split("/")[:-1]
    for index in range(1, len(parts) + 1):
        yield "/".join(parts[:index])
