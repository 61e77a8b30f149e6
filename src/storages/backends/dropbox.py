"""Dropbox (``storages.backends.dropbox.DropboxStorage``; ``DropBoxStorage`` is the 1.9.1 name),
over the official ``dropbox`` SDK.

Settings are declared in :mod:`storages.backends._dropbox_settings`; the content hash, upload
session state and download streams live in :mod:`storages.backends._dropbox_transfer`. This
module maps the core's primitives onto API routes: one ``files/upload`` for a body of up to
``CHUNK_SIZE`` bytes, else an upload session (``start`` with the first part, ``append_v2`` for
the next ones, ``finish`` carrying the last part and the commit). With overwriting off the write
mode is ``add`` without autorename and with ``strict_conflict``, so the service refuses a taken
name and the core picks the next one. Every upload is checked against the content hash the
service reports. Reads are ``files/download`` of the revision the file was opened at
(``rev:<rev>``), with a ``Range`` header after a seek.
"""

from __future__ import annotations

import contextlib
import errno
import posixpath
from collections.abc import Iterator
from typing import Any, ClassVar

from storages.backends._dropbox_settings import DropboxSettings
from storages.backends._dropbox_transfer import (
    ContentHash,
    DownloadStream,
    UploadSession,
    is_conflict,
    is_denied,
    is_missing,
)
from storages.errors import AccessDenied, AlreadyExists, NotFound, StorageError
from storages.files import StorageFile
from storages.objects import ObjectInfo, UploadTarget

__all__ = [
    "DropBoxFile",
    "DropBoxStorage",
    "DropBoxStorageException",
    "DropboxFile",
    "DropboxStorage",
    "DropboxStorageException",
]

MiB = 1024 * 1024
#: The constructor arguments of django-storages, in their positional order.
LEGACY_ARGUMENTS = ("oauth2_access_token", "root_path", "timeout", "write_mode")
#: Of those, the ones where ``None`` meant "use the Django setting" (a ``None`` timeout meant
#: "wait forever", and still does).
_NONE_MEANS_SETTING = frozenset({"oauth2_access_token", "root_path", "write_mode"})


def _merge_arguments(args: tuple[Any, ...], options: dict[str, Any]) -> dict[str, Any]:
    """Return the options with django-storages' positional arguments merged in."""
    if len(args) > len(LEGACY_ARGUMENTS):
        raise TypeError(
            f"DropboxStorage takes at most {len(LEGACY_ARGUMENTS)} positional arguments "
            f"({', '.join(LEGACY_ARGUMENTS)})."
        )
    positional = dict(zip(LEGACY_ARGUMENTS, args, strict=False))
    twice = sorted(positional.keys() & options.keys())
    if twice:
        raise TypeError(f"DropboxStorage got the argument {twice[0]!r} twice.")
    merged = {**positional, **options}
    return {k: v for k, v in merged.items() if v is not None or k not in _NONE_MEANS_SETTING}


def _meta_info(meta: Any) -> ObjectInfo:
    """Return the record of a file's ``FileMetadata`` (from a stat or a listing)."""
    return ObjectInfo(
        size=int(meta.size),
        modified=meta.server_modified,
        etag=meta.content_hash,
        version=meta.rev,
        raw=meta,
    )


class DropboxStorageException(StorageError):
    """A Dropbox operation failed: the base of every error the Dropbox backend translates."""


class DropboxNotFound(DropboxStorageException, NotFound):
    """The file or folder does not exist in the Dropbox."""


class DropboxAlreadyExists(DropboxStorageException, AlreadyExists):
    """A create-only write found the name taken (or an ``update`` write a newer revision)."""


class DropboxAccessDenied(DropboxStorageException, AccessDenied):
    """The token was refused, or it lacks the permission."""


class DropboxFile(StorageFile):
    """A file in the Dropbox: ranged streaming reads, upload-session streaming writes."""

    def __init__(self, name: str, storage: DropboxStorage, mode: str = "rb") -> None:
        super().__init__(name, mode, storage)


class DropboxStorage(DropboxSettings):
    """Store files in a folder of a Dropbox (``storages.backends.dropbox.DropboxStorage``)."""

    file_class = DropboxFile
    # The SDK's HTTP session (requests) is not documented as thread-safe: one client per thread.
    client_per_thread = True
    # Parts of an upload session must arrive in order: one in flight.
    upload_concurrency = 1
    # Sessions have no part limit; this only paces how parts grow for very large files.
    max_parts = 10_000
    #: The largest part: a multiple of 4 MiB under the 150 MiB limit of one request.
    max_part_size = 148 * MiB
    #: Entries per list_folder page (None: the service decides).
    list_page_size: ClassVar[int | None] = None
    sdk_packages = frozenset({"dropbox", "requests", "urllib3", "stone"})
    derived_attrs = frozenset({"_root", "_write_mode", "part_size", "single_put_size"})
    error_rules = (
        (is_denied, DropboxAccessDenied),
        (is_missing, DropboxNotFound),
        (is_conflict, DropboxAlreadyExists),
        (lambda exc: True, DropboxStorageException),
    )

    def __init__(self, *args: Any, **options: Any) -> None:
        options = _merge_arguments(args, options)
        # Recorded as keywords, so deconstruct() can leave the token out.
        self._constructor_args = ((), options)
        super().__init__(**options)

    def _stat_key(self, key: str) -> ObjectInfo:
        path = self._path(key)
        if not path:
            return ObjectInfo(size=0, is_dir=True)
        meta = self._api("files_get_metadata", path)
        if not isinstance(meta, self._files.FileMetadata):
            return ObjectInfo(size=0, is_dir=True, raw=meta)
        return _meta_info(meta)

    def _root_exists(self) -> bool:
        try:
            with self.translating():
                self._stat_key("")
        except FileNotFoundError:
            return False
        return True

    def _read_key(self, key: str, info: ObjectInfo, start: int) -> Any:
        # A revision never changes: later ranges come from the version that was opened.
        path = f"rev:{info.version}" if info.version else self._path(key)
        headers = {"Range": f"bytes={start}-"} if start else None
        _meta, response = self._api("files_download", path, extra_headers=headers)
        return DownloadStream(response, self._name(key), start)

    def _upload_target(
        self, key: str, name: str, content_type: str | None, overwrite: bool, compress: bool = False
    ) -> UploadTarget:
        target = super()._upload_target(key, name, content_type, overwrite, compress)
        if overwrite and self._write_mode == "update":
            # The revision this write may replace: the one there now (None: none, create it).
            target.params["rev"] = self._current_rev(key, name)
        return target

    def _current_rev(self, key: str, name: str) -> str | None:
        try:
            info = self._file_info(key, name)
        except FileNotFoundError:
            return None
        return None if info.is_dir else str(info.version)

    @staticmethod
    def _creates(target: UploadTarget) -> bool:
        """Return whether the write must create the file (``add`` mode: refused if taken)."""
        return not target.overwrite or ("rev" in target.params and not target.params["rev"])

    def _mode_for(self, target: UploadTarget) -> Any:
        modes = self._files.WriteMode
        if self._creates(target):
            return modes.add
        if "rev" in target.params:
            return modes.update(target.params["rev"])
        return modes.overwrite

    @contextlib.contextmanager
    def _committing(self, target: UploadTarget) -> Iterator[None]:
        """Explain a conflict of an ``update`` write (replacing only a known revision)."""
        try:
            yield
        except Exception as exc:
            if target.overwrite and "rev" in target.params and is_conflict(exc):
                raise DropboxAlreadyExists(
                    f"{target.name} changed after this write began (or was created meanwhile), "
                    "so it was not replaced: DROPBOX_WRITE_MODE is 'update'."
                ) from exc
            raise

    def _verify(self, target: UploadTarget, meta: Any, hasher: ContentHash) -> None:
        """Check what the service stored against what was sent; remove a bad new file."""
        stored = getattr(meta, "content_hash", None)
        ours = hasher.hexdigest()
        if int(meta.size) == hasher.size and stored in (None, ours):
            return
        created = self._creates(target)
        if created:
            # The name was free before this write: leave it free rather than corrupt.
            with contextlib.suppress(Exception):
                self._api("files_delete_v2", self._path(target.key), parent_rev=meta.rev)
        raise DropboxStorageException(
            f"{target.name}: Dropbox stored {meta.size} bytes with content hash {stored} (revision "
            f"{meta.rev}) for {hasher.size} bytes sent with content hash {ours}; the upload was "
            + ("corrupted and the file removed." if created else "corrupted.")
        )

    def _put_key(self, target: UploadTarget, data: bytes) -> None:
        hasher = ContentHash()
        body_hash = hasher.add(data)
        with self._committing(target):
            meta = self._api(
                "files_upload",
                data,
                self._path(target.key),
                mode=self._mode_for(target),
                autorename=False,
                strict_conflict=True,
                content_hash=body_hash,
            )
        self._verify(target, meta, hasher)

    def _begin_upload(self, target: UploadTarget) -> UploadSession:
        return UploadSession()

    def _upload_part(
        self, target: UploadTarget, state: Any, number: int, data: bytes, last: bool
    ) -> Any:
        body_hash = state.hasher.add(data)
        if last:
            state.last, state.last_hash = data, body_hash  # sent with the commit
        elif state.session_id is None:
            started = self._api("files_upload_session_start", data, content_hash=body_hash)
            state.session_id = started.session_id
            state.offset = len(data)
        else:
            cursor = self._files.UploadSessionCursor(state.session_id, state.offset)
            self._api("files_upload_session_append_v2", data, cursor, content_hash=body_hash)
            state.offset += len(data)
        return number

    def _complete_upload(self, target: UploadTarget, state: Any, parts: list[Any]) -> None:
        files = self._files
        if state.session_id is None:
            self._put_key(target, state.last)  # the only part: no session was needed
            return
        cursor = files.UploadSessionCursor(state.session_id, state.offset)
        commit = files.CommitInfo(
            path=self._path(target.key),
            mode=self._mode_for(target),
            autorename=False,
            strict_conflict=True,
        )
        with self._committing(target):
            meta = self._api(
                "files_upload_session_finish",
                state.last,
                cursor,
                commit,
                content_hash=state.last_hash,
            )
        self._verify(target, meta, state.hasher)

    def _abort_upload(self, target: UploadTarget, state: Any) -> None:
        """Nothing to do: the service drops an unfinished session when it expires."""

    def _delete_key(self, key: str) -> None:
        path = self._path(key)
        # The service deletes a folder with everything in it: only an empty one goes here.
        if self._stat_key(key).is_dir and self._has_entries(path):
            raise DropboxStorageException(
                errno.ENOTEMPTY, f"{self._name(key)} is a folder that is not empty"
            )
        self._api("files_delete_v2", path)

    def _has_entries(self, path: str) -> bool:
        page = self._api("files_list_folder", path, limit=1)
        return bool(page.entries) or bool(page.has_more)

    def _scan_key(self, prefix: str) -> Iterator[tuple[str, ObjectInfo]]:
        # One recursive listing. Keys are built from each entry's name, whose case is the
        # stored one (path_display may give a parent folder another case), under its folder.
        files = self._files
        top = self._path(prefix.rstrip("/"))
        entries = self._list_all(top, recursive=True)
        keys = {top.lower() or "/": prefix}  # lower-case Dropbox path -> key prefix
        folders = [e for e in entries if isinstance(e, files.FolderMetadata)]
        for folder in sorted(folders, key=lambda e: e.path_lower.count("/")):
            parent = keys.get(posixpath.dirname(folder.path_lower))
            if parent is not None and folder.path_lower != top.lower():
                keys[folder.path_lower] = f"{parent}{folder.name}/"
        for entry in entries:
            parent = keys.get(posixpath.dirname(entry.path_lower))
            if isinstance(entry, files.FileMetadata) and parent is not None:
                yield parent + entry.name, _meta_info(entry)

    def _list_all(self, path: str, recursive: bool = False) -> list[Any]:
        """Return every entry of folder ``path`` across pages ([] when it is missing)."""
        try:
            page = self._api(
                "files_list_folder", path, recursive=recursive, limit=self.list_page_size
            )
        except Exception as exc:
            if is_missing(exc):  # a missing folder (or a file's name) lists as empty
                return []
            raise
        entries = list(page.entries)
        while page.has_more:
            page = self._api("files_list_folder_continue", page.cursor)
            entries.extend(page.entries)
        return entries

    def _listdir_key(self, prefix: str) -> tuple[list[str], list[str]]:
        files = self._files
        dirs: list[str] = []
        names: list[str] = []
        for entry in self._list_all(self._path(prefix.rstrip("/"))):
            if isinstance(entry, files.FolderMetadata):
                dirs.append(entry.name)
            elif isinstance(entry, files.FileMetadata):
                names.append(entry.name)
        return dirs, names

    def url(self, name: str | None) -> str:
        """Return a temporary link to the file (valid four hours; one API call)."""
        key = self._key(name)
        with self.translating(str(name)):
            return str(self._api("files_get_temporary_link", self._path(key)).link)


#: The names of django-storages 1.9.1.
DropBoxStorage = DropboxStorage
DropBoxFile = DropboxFile

#: The 1.9.1 spelling of the exception's name.
DropBoxStorageException = DropboxStorageException
