"""What every file-server backend (SFTP, FTP) decides the same way, written once.

:class:`RemoteFilesystem` implements every core primitive over a server with real directories,
on small hooks, and owns the policy (paths, directories and the hook declarations are its first
layer, :class:`~storages._remote_paths.RemotePaths`):

* connections (:mod:`storages._remote_connections`): one per thread, replaced when the server
  dropped it; an operation that failed because its connection died runs once more on a new one
  (``_run``); all closed on ``close()``, garbage collection and interpreter exit;
* paths: every key lives under the root directory (``_remote(key)``); missing directories are
  made one level at a time and given the configured ``dir_mode``;
* writes: to a hidden temporary file (``TEMP_PREFIX``) in the target directory, renamed into
  place when complete, create-only unless overwriting, so nothing partial is ever visible under
  a name; listings hide temporary files; a failed or abandoned upload's temporary file is
  removed; a ``save()`` whose connection dropped is sent once more on a new connection;
* reads: a stream that, if the connection dies, carries on from the same byte on a new one,
  provided the file's ``version`` (from ``_stat_path``) did not change;
* clean-ups a finalizer asks for run at once if a request may be made, else at the next use.

The hooks a backend implements (``conn`` is its connection, ``path`` a server path). They run
inside the core's error translation: let the SDK's errors out (``error_rules`` map them).

Connections
  * ``_open_connection() -> C``: connect and log in.
  * ``_close_connection(conn)``, a ``staticmethod`` (it runs in finalizers): close.
  * ``_connection_alive(conn) -> bool``: whether it still works, without a request.
  * ``_ping(conn)``: a harmless request; raises if the connection is dead.
  * optional ``_can_request_now(conn) -> bool``: False while a request is in progress on it.
  * optional ``_server_answered(exc) -> bool``: whether ``exc`` is the server's answer, not a
    dead connection (default: missing, refused, exists, our own errors; extend for the SDK's).

Files and directories
  * ``_stat_path(conn, path) -> ObjectInfo``: ``FileNotFoundError`` if missing; ``is_dir``, and
    ``version`` set to what changes with the file (e.g. ``(size, mtime)``).
  * ``_open_reader(conn, path, info, start) -> stream``: ``read(n)`` from ``start``, ``close()``.
  * ``_open_write(conn, path) -> handle``: create or truncate a file; ``FileNotFoundError`` if
    its directory is missing.
  * ``_write_handle(conn, handle, data)``; ``_close_handle(conn, handle)`` (errors of writes
    still in flight propagate).
  * ``_rename_no_replace(conn, src, dst)``: ``FileExistsError`` if ``dst`` exists;
    ``_rename_replace(conn, src, dst)``: replace ``dst`` (atomically if the server can).
  * ``_remove(conn, path)``; ``_mkdir(conn, path)`` (one level; fails if the parent is missing).
  * ``_list_entries(conn, path) -> Iterable[(name, is_dir, info)]``: ``FileNotFoundError`` if
    missing; ``info`` is a file's record as ``_stat_path`` would give it, when the listing
    tells it (SFTP attributes, MLSD facts), else None: ``scan()`` then stats that file.
  * ``_chmod(conn, path, mode)``: only needed when ``file_mode`` / ``dir_mode`` can be set.
  * optional: ``_is_dir(conn, path)`` (default: from ``_stat_path``); ``_dir_created(conn,
    path)`` and ``_upload_opened(conn, handle, temp)`` (default: ``_chmod`` with ``dir_mode`` /
    ``file_mode`` when set; override to set owners too).

Backends set ``part_size`` (``single_put_size`` follows it), declare ``file_mode``, ``dir_mode``
and ``base_url`` settings if they have them, and set ``self._root`` in ``_configure()``.
"""

from __future__ import annotations

import contextlib
import io
import posixpath
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, Generic, TypeVar

from django.core.exceptions import ImproperlyConfigured
from django.utils.encoding import filepath_to_uri

from storages._remote_connections import ResumingReader, Session
from storages._remote_paths import RemotePaths
from storages._upload import UploadBody
from storages.errors import StorageError
from storages.objects import ObjectInfo, UploadTarget

__all__ = [
    "TEMP_PREFIX",
    "RemoteFilesystem",
    "Session",
    "Upload",
    "checked_base_url",
    "checked_mode",
    "checked_root",
]

C = TypeVar("C")
#: Prefix of the temporary files uploads go to before they are renamed into place.
TEMP_PREFIX = ".~stowage-"
TEMP_SUFFIX = ".part"


@dataclass
class Upload(Generic[C]):
    """A temporary file being written, and the path it is renamed to when complete."""

    session: Session[C]
    handle: Any
    temp: str
    path: str


class RemoteFilesystem(RemotePaths[C]):
    """A storage in a directory of a file server, one connection per thread."""

    def _stat_key(self, key: str) -> ObjectInfo:
        path = self._remote(key)
        return self._run(lambda conn: self._stat_path(conn, path))

    def _root_exists(self) -> bool:
        try:
            self._stat_key("")
        except FileNotFoundError:
            return False
        return True

    def _read_key(self, key: str, info: ObjectInfo, start: int) -> ResumingReader[C]:
        return ResumingReader(self, self._remote(key), info, start)

    def _delete_key(self, key: str) -> None:
        path = self._remote(key)
        self._run(lambda conn: self._remove(conn, path))

    def _entries(self, prefix: str) -> list[tuple[str, bool, ObjectInfo | None]]:
        """Return the entries of directory ``prefix`` ([] if missing), without uploads in
        progress, in name order."""
        path = self._remote(prefix.rstrip("/"))
        try:
            entries = self._run(lambda conn: list(self._list_entries(conn, path)))
        except FileNotFoundError:
            return []
        return sorted(
            (entry for entry in entries if entry[0] not in (".", "..")),
            key=lambda entry: entry[0],
        )

    def _listdir_key(self, prefix: str) -> tuple[list[str], list[str]]:
        dirs: list[str] = []
        files: list[str] = []
        for name, is_dir, _ in self._entries(prefix):
            if not name.startswith(TEMP_PREFIX):  # an upload in progress
                (dirs if is_dir else files).append(name)
        return dirs, files

    def _scan_key(self, prefix: str) -> Iterator[tuple[str, ObjectInfo]]:
        # One listing per directory: its entries tell each file's size and time, so a file
        # is stat'ed only when the server's listing does not (LIST, links).
        dirs = []
        for name, is_dir, info in self._entries(prefix):
            if name.startswith(TEMP_PREFIX):
                continue
            if is_dir:
                dirs.append(name)
                continue
            key = prefix + name
            if info is None:
                try:
                    info = self._file_info(key, self._name(key))
                except FileNotFoundError:
                    continue  # deleted since the listing
            if not info.is_dir:  # a link to a directory is not a file either
                yield key, info
        for name in dirs:
            yield from self._scan_key(f"{prefix}{name}/")

    def _begin_upload(self, target: UploadTarget) -> Upload[C]:
        """Open a temporary file beside the target, with the configured attributes."""
        session = self._session()
        conn, path = session.conn, self._remote(target.key)
        parent = posixpath.dirname(path)
        temp = posixpath.join(parent, f"{TEMP_PREFIX}{uuid.uuid4().hex}{TEMP_SUFFIX}")
        try:
            handle = self._open_write(conn, temp)
        except FileNotFoundError:
            self._makedirs(conn, parent)
            handle = self._open_write(conn, temp)
        session.handles.add(handle)
        upload = Upload(session, handle, temp, path)
        self._local.upload = upload  # for the resend of a save whose connection dropped
        try:
            self._upload_opened(conn, handle, temp)
        except BaseException:
            self._discard(upload)
            raise
        return upload

    def _upload_part(
        self, target: UploadTarget, state: Upload[C], number: int, data: bytes, last: bool
    ) -> int:
        self._write_handle(state.session.conn, state.handle, data)
        return len(data)

    def _complete_upload(self, target: UploadTarget, state: Upload[C], parts: list[Any]) -> None:
        """Close the temporary file and rename it to its name (create-only unless overwriting)."""
        conn = state.session.conn
        try:
            self._close_handle(conn, state.handle)
        finally:
            state.session.handles.discard(state.handle)
        # A failure from here on is cleaned up by the part writer's abort (or ``_put_key``).
        if self.verify_upload_size:
            stored = self._stat_path(conn, state.temp).size
            if stored != sum(parts):
                raise StorageError(
                    f"{target.name}: the server stored {stored} of the {sum(parts)} bytes sent; "
                    "the transfer broke off, so the file was not stored."
                )
        if target.overwrite:
            self._rename_replace(conn, state.temp, state.path)
        else:
            self._rename_no_replace(conn, state.temp, state.path)

    def _put_key(self, target: UploadTarget, data: bytes) -> None:
        upload = self._begin_upload(target)
        try:
            self._upload_part(target, upload, 1, data, True)
            self._complete_upload(target, upload, [len(data)])
        except BaseException:
            self._discard(upload)
            raise

    def _abort_upload(self, target: UploadTarget, state: Upload[C]) -> None:
        self._discard(state)

    def _discard(self, upload: Upload[C]) -> None:
        """Abandon an upload: close and delete its temporary file (best effort)."""
        self._later(upload.session, lambda storage: storage._discard_now(upload))

    def _discard_now(self, upload: Upload[C]) -> None:
        conn = upload.session.conn
        if upload.handle in upload.session.handles:
            upload.session.handles.discard(upload.handle)
            with contextlib.suppress(Exception):
                self._close_handle(conn, upload.handle)
        try:
            self._remove(conn, upload.temp)
        except Exception as exc:
            # The connection died (often why the upload is abandoned), maybe unnoticed so far.
            with contextlib.suppress(Exception):
                if self._connection_broken(conn, exc):
                    self._remove_over_new_connection(upload)

    def _remove_over_new_connection(self, upload: Upload[C]) -> None:
        """Remove the temporary file of an upload whose connection died."""
        if getattr(self._local, "client", None) is upload.session:
            # This thread's connection: replace it now (its next operation would anyway).
            self._forget_client(upload.session)
            self._run(lambda conn: self._remove(conn, upload.temp))
            return
        # This thread already has another connection, maybe in the middle of a request (a
        # finalizer can run this): use one of its own.
        conn = self._open_connection()
        try:
            self._remove(conn, upload.temp)
        finally:
            type(self)._close_connection(conn)

    def _write(
        self, key: str, body: UploadBody, overwrite: bool, target: UploadTarget | None = None
    ) -> None:
        self._local.upload = None
        try:
            super()._write(key, body, overwrite, target)
            return
        except Exception as exc:
            upload: Upload[C] | None = getattr(self._local, "upload", None)
            if (
                upload is None
                or isinstance(exc, FileExistsError)
                or not self._connection_broken(upload.session.conn, exc)
                or not _rewound(body)
            ):
                raise
        finally:
            self._local.upload = None
        # The server dropped the connection mid-upload: send everything again on a new one,
        # after removing what the first attempt left behind.
        self._forget_client(upload.session)
        with contextlib.suppress(Exception), self.translating(self._name(key)):
            self._run(lambda conn: self._remove(conn, upload.temp))
        super()._write(key, body, overwrite, target)

    def save(self, name: str | None, content: Any, max_length: int | None = None) -> str:
        """Store ``content`` under ``name`` (or a free variant of it) and return the name used.

        Writes here are create-only by their final rename, which refuses a taken name itself; so
        a body small enough for one write is sent without looking whether its name is free
        first (one round trip less), and only a name found taken that way makes the save look
        for a free variant (and send the small body again).
        """
        skip = not self.file_overwrite and _small(content, self.single_put_size)
        self._local.skip_lookup = skip
        try:
            return super().save(name, content, max_length)
        finally:
            self._local.skip_lookup = False

    def is_name_available(self, name: str, max_length: int | None = None) -> bool:
        """Return whether ``name`` fits ``max_length`` and no file is stored under it."""
        if getattr(self._local, "skip_lookup", False):
            self._local.skip_lookup = False  # the save's first name only; retries look
            if max_length is None or len(name) <= max_length:
                return True
        return super().is_name_available(name, max_length)

    def url(self, name: str | None) -> str:
        """Return the URL of ``name`` under the base URL a web server publishes the root at."""
        key = self._key(name)
        if not self.base_url:
            spec = type(self)._setting_specs.get("base_url")
            aliases = "".join(f" (or {alias})" for alias in (spec.aliases if spec else ()))
            raise ImproperlyConfigured(
                f"{type(self).__name__} cannot build URLs without a base URL: set "
                f"{self.setting_label('base_url')}{aliases} to the URL under which a web "
                "server publishes the storage's root directory."
            )
        return f"{self.base_url}{filepath_to_uri(key)}"


def _small(content: Any, limit: int) -> bool:
    """Return whether ``content`` is known to fit in ``limit`` bytes."""
    try:
        size = content.size
    except (AttributeError, OSError, ValueError, TypeError):
        return False
    return isinstance(size, int) and size <= limit


def _rewound(body: UploadBody) -> bool:
    try:
        body.rewind()
    except io.UnsupportedOperation:
        return False
    return True


def checked_mode(value: Any, label: str) -> int | None:
    """Return permission bits from a setting (None: the server's default), or raise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0o7777:
        raise ImproperlyConfigured(
            f"{label} must be permission bits as an integer, such as 0o644, not {value!r}."
        )
    return value


def checked_root(value: Any, label: str) -> str:
    """Return a normalized root directory from a setting ('' is the login directory)."""
    if value is None:
        return ""
    if not isinstance(value, (str, PurePath)):
        raise ImproperlyConfigured(f"{label} must be a directory path, not {value!r}.")
    text = str(value)
    if "\x00" in text:
        raise ImproperlyConfigured(f"{label} contains a NUL byte.")
    if not text:
        return ""
    root = posixpath.normpath(text)
    return "" if root == "." else root


def checked_base_url(value: Any, label: str) -> str | None:
    """Return a URL prefix ending with '/' from a setting (a bare host gets https://)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ImproperlyConfigured(f"{label} must be a URL prefix, not {value!r}.")
    url: str = value
    if "://" not in url and not url.startswith("/"):
        url = f"https://{url}"  # a bare host name, as custom_domain takes on other backends
    return url if url.endswith("/") else url + "/"
