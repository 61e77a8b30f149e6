"""``manage.py storages copy|sync SRC DST [PREFIX]``: files from one configured storage to another.

The source is listed once (:meth:`~storages.base.BaseStorage.scan`, or a walk of ``listdir``
for Django's own storages) and the destination is one sync session (:mod:`storages._sync`).
A file is skipped when the destination holds one of the same size and checksum (size only
with ``size_only``); when either side knows no checksum, the file is read and hashed as it
would be stored, and compared then. ``jobs`` workers each stream one file at a time, so memory
stays bounded by ``jobs`` bodies of at most :data:`~storages._sync.INLINE_SIZE` (larger files
are streamed in parts). With ``delete``, destination files below the prefix that the source
does not have are deleted, and only once every copy succeeded. Re-running resumes: whatever was
copied is skipped. Between two storages of one service and account, files are copied inside
the service (:mod:`storages._server_copy`) instead of through this process.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from storages._clients import ClientPool
from storages._server_copy import copy_inside
from storages._sync import EventHook, SyncSession, SyncStats
from storages.base import BaseStorage
from storages.objects import ObjectInfo

__all__ = ["SourceFile", "list_source", "transfer"]


@dataclass
class SourceFile:
    """One file of the source: its name, size, checksum (hex MD5 of the stored bytes) and
    modification time, as far as the source tells them without reading the file."""

    name: str
    size: int | None
    checksum: str | None = None
    modified: datetime | None = None
    encoded: bool = False
    #: What the source's listing told (None: not a django-stowage storage).
    info: ObjectInfo | None = None


def list_source(storage: Any, prefix: str = "") -> Iterator[SourceFile]:
    """Yield every file below ``prefix`` of any Django storage."""
    if isinstance(storage, BaseStorage):
        for name, info in storage.scan(prefix):
            yield _from_info(name, info)
        return
    yield from _walk(storage, prefix.strip("/"))


def _from_info(name: str, info: ObjectInfo) -> SourceFile:
    return SourceFile(
        name, info.size, info.checksum, info.modified, bool(info.content_encoding), info
    )


def _walk(storage: Any, directory: str) -> Iterator[SourceFile]:
    try:
        dirs, files = storage.listdir(directory)
    except FileNotFoundError:
        return
    for file_name in sorted(files):
        name = posixpath.join(directory, file_name) if directory else file_name
        try:
            size = storage.size(name)
        except (OSError, NotImplementedError):
            size = None
        try:
            modified = storage.get_modified_time(name)
        except (OSError, NotImplementedError):
            modified = None
        yield SourceFile(name, size, None, modified)
    for dir_name in sorted(dirs):
        yield from _walk(storage, posixpath.join(directory, dir_name) if directory else dir_name)


def _identical_listed(source: SourceFile, stored: ObjectInfo | None, size_only: bool) -> bool:
    """Return whether the listings alone show that ``stored`` holds ``source`` already."""
    if stored is None or source.size is None or stored.size != source.size:
        return False
    if size_only:
        return True
    return (
        not source.encoded
        and not stored.content_encoding
        and source.checksum is not None
        and stored.checksum is not None
        and source.checksum == stored.checksum
    )


def transfer(
    source: Any,
    destination: BaseStorage,
    prefix: str = "",
    *,
    jobs: int = 8,
    dry_run: bool = False,
    delete: bool = False,
    size_only: bool = False,
    on_event: EventHook | None = None,
) -> SyncStats:
    """Copy every file below ``prefix`` of ``source`` to ``destination`` (see the module
    docstring); raise :class:`~storages._sync.SyncFailed` listing the files that failed."""
    with destination.sync_session(
        prefix, jobs=jobs, dry_run=dry_run, on_event=on_event, background=False
    ) as session:
        listed = list(list_source(source, prefix))
        with ThreadPoolExecutor(max(jobs, 1), thread_name_prefix="stowage-copy") as pool:
            for future in [pool.submit(_copy_one, source, session, f, size_only) for f in listed]:
                future.result()
        for storage in (source, destination):
            if isinstance(storage, ClientPool):
                storage._close_finished_thread_clients()  # those of the copy workers
        if delete:
            wanted = {f.name for f in listed}
            for name in session.listing():
                if name not in wanted:
                    destination.delete(name)  # deferred: runs only if every copy succeeded
    return session.stats


def _copy_one(source: Any, session: SyncSession, file: SourceFile, size_only: bool) -> None:
    stored = session.known(file.name)
    if _identical_listed(file, stored, size_only):
        session.stats.count_skipped(file.name)
        return
    # Compared by reading only when the listings could not tell (no checksum on a side).
    undecided = stored is not None and stored.size == file.size and not size_only
    try:
        if not undecided and copy_inside(source, session, file.name, file.info):
            return
        with source.open(file.name, "rb") as handle:
            session.put(file.name, handle, source_modified=file.modified, compare=undecided)
    except Exception as exc:
        session.stats.count_failed(file.name, exc)
