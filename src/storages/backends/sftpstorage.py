"""SFTP (``storages.backends.sftpstorage.SFTPStorage``), over paramiko.

Settings are declared in :mod:`storages.backends._sftp_settings`; connecting (host keys,
authentication, the password prompt) lives in :mod:`storages.backends._sftp_connection`.

Every write goes to a hidden temporary file in the target directory, gets its mode and owner
there, and is then renamed into place, so no partial file is ever visible under its name.
Without overwriting, that rename is SFTP's plain ``rename``, which by the protocol never replaces
an existing file (OpenSSH implements it with ``link(2)``): a create-only write that is atomic
across processes. With overwriting, ``posix-rename@openssh.com`` replaces the file atomically.

Each thread gets its own connection, reused until the storage is closed. A connection the server
dropped is replaced on the next operation, and an operation that failed because the connection
died is tried once more on a new one.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import posixpath
import stat
import uuid
import weakref
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, ClassVar, TypeVar

from django.core.exceptions import ImproperlyConfigured, SuspiciousFileOperation
from django.utils.encoding import filepath_to_uri

from storages.backends._sftp_connection import (
    Connection,
    HostKeyError,
    UnknownHostKeyWarning,
    open_connection,
)
from storages.backends._sftp_files import SFTPStorageFile, Upload
from storages.backends._sftp_settings import LEGACY_ARGUMENTS, SECRET_PARAMS, SFTPSettings
from storages.base import BaseStorage
from storages.errors import AccessDenied, AlreadyExists, NotFound, StorageError
from storages.files import UploadBody

__all__ = [
    "HostKeyError",
    "SFTPStorage",
    "SFTPStorageFile",
    "UnknownHostKeyWarning",
]

T = TypeVar("T")
KiB = 1024
MiB = 1024 * KiB
#: Prefix of the temporary files uploads go to before they are renamed into place.
TEMP_PREFIX = ".~stowage-"
#: Bytes taken from the content per write call when saving.
WRITE_CHUNK = 1 * MiB


def _is_auth_error(exc: BaseException) -> bool:
    return type(exc).__name__ in {"AuthenticationException", "BadAuthenticationType"}


# Storages with open connections, closed when the interpreter exits.
_live: weakref.WeakSet[SFTPStorage] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for storage in list(_live):
        with contextlib.suppress(Exception):
            storage.close()


def _close_connections(connections: list[Connection]) -> None:
    for conn in list(connections):
        conn.close()


def _discard_now(upload: Upload) -> None:
    with contextlib.suppress(Exception):
        upload.conn.close_file(upload.handle)
    with contextlib.suppress(Exception):
        upload.conn.sftp.remove(upload.temp)


class SFTPStorage(SFTPSettings, BaseStorage):
    """Store files in a directory of an SFTP server."""

    file_class = SFTPStorageFile
    # paramiko's SFTP client serializes its requests: a connection per thread lets threads work
    # in parallel, and keeps one thread's dead connection from failing another's operation.
    client_per_thread = True
    #: Bytes a file opened for writing buffers before it sends them.
    part_size: ClassVar[int] = 1 * MiB
    #: Linux's PATH_MAX: the longest path the server's filesystem calls accept.
    max_key_bytes = 4096
    #: Linux's NAME_MAX: the longest single file or directory name.
    max_segment_bytes: ClassVar[int] = 255
    derived_attrs = frozenset({"_root", "_prompted_password", "_finalizer"})
    error_rules = (
        (FileNotFoundError, NotFound),
        (FileExistsError, AlreadyExists),
        (PermissionError, AccessDenied),
        (_is_auth_error, AccessDenied),
    )

    def __init__(self, *args: Any, **options: Any) -> None:
        if len(args) > len(LEGACY_ARGUMENTS):
            raise TypeError(
                f"SFTPStorage takes at most {len(LEGACY_ARGUMENTS)} positional arguments "
                f"({', '.join(LEGACY_ARGUMENTS)})."
            )
        for attr, value in zip(LEGACY_ARGUMENTS, args, strict=False):
            if attr in options:
                raise TypeError(f"SFTPStorage got the argument {attr!r} twice.")
            options[attr] = value
        # In django-storages 1.9.1 None meant "use the Django setting": it still does.
        options = {k: v for k, v in options.items() if not (k in LEGACY_ARGUMENTS and v is None)}
        self._constructor_args = ((), options)
        super().__init__(**options)

    def _init_runtime(self) -> None:
        super()._init_runtime()
        # Close this storage's connections when it is garbage collected, and at exit.
        self._finalizer = weakref.finalize(self, _close_connections, self._clients)
        _live.add(self)

    def _configure(self) -> None:
        super()._configure()
        self._configure_sftp()
        self.__dict__.setdefault("_prompted_password", None)

    # -- secrets ---------------------------------------------------------------------------

    def _secret_values(self) -> list[Any]:
        secrets = self.__dict__.get("_secret_cache")
        if secrets is None:
            secrets = list(super()._secret_values())
            params = self.__dict__.get("params") or {}
            secrets.extend(params[k] for k in SECRET_PARAMS if params.get(k))
            if self.__dict__.get("_prompted_password"):
                secrets.append(self._prompted_password)
            self._secret_cache = secrets
        return secrets

    _prompted_password: str | None

    def _remember_password(self, password: str) -> None:
        self._prompted_password = password
        self._secret_cache = None

    def _forget_password(self) -> None:
        self._prompted_password = None
        self._secret_cache = None

    # -- connections -----------------------------------------------------------------------

    def _connect(self) -> Connection:
        with self._lock:
            # Connections of threads that ended are never used again.
            stale = [c for c in self._clients if not c.thread.is_alive()]
            for conn in stale:
                self._clients.remove(conn)
        for conn in stale:
            conn.close()
        return open_connection(self)

    def _disconnect(self, client: Connection) -> None:
        client.close()

    def _conn(self) -> Connection:
        """Return this thread's connection, replacing it if the server dropped it."""
        conn: Connection = self.client
        if not conn.alive():
            self._drop(conn)
            conn = self.client
        conn.run_deferred()
        return conn

    def _drop(self, conn: Connection) -> None:
        """Forget and close ``conn`` (so this thread's next operation reconnects)."""
        with self._lock:
            if conn in self._clients:
                self._clients.remove(conn)
        if getattr(self._local, "client", None) is conn:
            self._local.client = None
        conn.close()

    def _broken(self, conn: Connection, exc: BaseException) -> bool:
        """Return whether ``exc`` came from ``conn`` dying (rather than from the request)."""
        if not conn.alive():
            return True
        answers = (StorageError, SuspiciousFileOperation, FileNotFoundError, PermissionError)
        if isinstance(exc, answers):
            return False  # the server answered (paramiko maps only these two statuses to errnos)
        # The transport may not have noticed yet: ask the server something harmless.
        try:
            conn.sftp.normalize(".")
        except Exception:
            return True
        return False

    def _run(self, operation: Callable[[Any], T]) -> T:
        """Run ``operation(sftp_client)``, once more on a new connection if this one died."""
        conn = self._conn()
        try:
            return operation(conn.sftp)
        except Exception as exc:
            if not self._broken(conn, exc):
                raise
            self._drop(conn)
        return operation(self._conn().sftp)

    @property
    def sftp(self) -> Any:
        """Return this thread's paramiko ``SFTPClient`` (connecting if needed)."""
        return self._conn().sftp

    # -- paths -----------------------------------------------------------------------------

    def _check_key_length(self, key: str) -> None:
        super()._check_key_length(key)
        limit = self.max_segment_bytes
        for segment in key.split("/"):
            if len(segment) * 4 > limit and len(segment.encode("utf-8")) > limit:
                raise SuspiciousFileOperation(
                    f"The name {segment[:40]!r}... is {len(segment.encode('utf-8'))} bytes long; "
                    f"file and directory names on an SFTP server allow {limit}. Give the file "
                    "field a max_length so Django shortens names, or use shorter names."
                )

    def _storable(self, key: str) -> bool:
        """Return whether ``key`` is short enough to name a file (else none can exist)."""
        try:
            self._check_key_length(key)
        except SuspiciousFileOperation:
            return False
        return True

    def _remote(self, key: str) -> str:
        """Return the server path of ``key`` (always under the root directory)."""
        root = self._root
        if not key:
            return root or "."
        if not root:
            return key
        return f"{root}{key}" if root.endswith("/") else f"{root}/{key}"

    def _is_dir(self, sftp: Any, path: str) -> bool:
        try:
            return stat.S_ISDIR(sftp.stat(path).st_mode or 0)
        except FileNotFoundError:
            return False

    def _makedirs(self, sftp: Any, path: str) -> None:
        """Create directory ``path`` and its missing parents, with the configured attributes."""
        if path in ("", ".", "/"):
            return
        try:
            sftp.mkdir(path)
        except FileNotFoundError:
            self._makedirs(sftp, posixpath.dirname(path))
            try:
                sftp.mkdir(path)
            except OSError:
                if self._is_dir(sftp, path):  # another writer made it meanwhile
                    return
                raise
        except OSError:
            if self._is_dir(sftp, path):
                return
            raise
        self._apply_attributes(
            lambda mode: sftp.chmod(path, mode),
            lambda uid, gid: sftp.chown(path, uid, gid),
            lambda: sftp.stat(path),
            self.dir_mode,
            path,
        )

    def _apply_attributes(
        self,
        chmod: Callable[[int], Any],
        chown: Callable[[int, int], Any],
        get_attrs: Callable[[], Any],
        mode: int | None,
        path: str,
    ) -> None:
        """Set ``mode`` and the configured owner with ``chmod``/``chown`` (of a path or handle)."""
        if mode is not None:
            chmod(mode)
        if self.uid is None and self.gid is None:
            return
        uid, gid = self.uid, self.gid
        if uid is None or gid is None:
            # SFTP sets the owner and the group together: keep the one not configured.
            attrs = get_attrs()
            uid = attrs.st_uid if uid is None else uid
            gid = attrs.st_gid if gid is None else gid
        try:
            chown(uid, gid)
        except PermissionError as exc:
            raise AccessDenied(
                f"The SFTP server refused to give {path} the owner {uid}:{gid} "
                f"({self.setting_label('uid')} / {self.setting_label('gid')}); changing the "
                f"owner usually needs root: {exc}"
            ) from exc

    # -- writing ---------------------------------------------------------------------------

    def _begin(self, conn: Connection, path: str) -> Upload:
        """Open a temporary file beside ``path`` with the configured mode and owner."""
        parent = posixpath.dirname(path)
        temp = posixpath.join(parent, f"{TEMP_PREFIX}{uuid.uuid4().hex}.part")
        try:
            handle = conn.open(temp, "wb")
        except FileNotFoundError:
            self._makedirs(conn.sftp, parent)
            handle = conn.open(temp, "wb")
        upload = Upload(conn, handle, temp, path)
        try:
            handle.set_pipelined(True)
            self._apply_attributes(handle.chmod, handle.chown, handle.stat, self.file_mode, path)
        except BaseException:
            self._discard(upload)
            raise
        return upload

    def _finish(self, upload: Upload, overwrite: bool) -> None:
        """Close the temporary file and move it to its name (create-only unless ``overwrite``)."""
        sftp = upload.conn.sftp
        try:
            upload.conn.close_file(upload.handle)  # waits for the pipelined writes: errors show
            if overwrite:
                self._replace(sftp, upload.temp, upload.path)
                return
            try:
                sftp.rename(upload.temp, upload.path)
            except (FileNotFoundError, PermissionError):
                raise
            except OSError as exc:
                # SFTP reports "file exists" only as a generic failure: look.
                with contextlib.suppress(FileNotFoundError):
                    sftp.stat(upload.path)
                    raise AlreadyExists(f"{upload.path} already exists.") from exc
                raise
        except BaseException:
            self._discard(upload)
            raise

    def _replace(self, sftp: Any, temp: str, path: str) -> None:
        try:
            sftp.posix_rename(temp, path)
        except OSError as exc:
            if "unsupported" not in str(exc).lower():
                raise
            # A server without the posix-rename extension: not atomic, but it works.
            with contextlib.suppress(FileNotFoundError):
                sftp.remove(path)
            sftp.rename(temp, path)

    def _discard(self, upload: Upload) -> None:
        """Abandon an upload: close and delete its temporary file (best effort)."""
        upload.conn.later(lambda: _discard_now(upload))

    def _write(self, key: str, body: UploadBody, overwrite: bool) -> None:
        path = self._remote(key)
        abandoned: str | None = None
        while True:
            conn = self._conn()
            upload: Upload | None = None
            try:
                if abandoned:
                    with contextlib.suppress(OSError):
                        conn.sftp.remove(abandoned)  # left behind by the dropped connection
                upload = self._begin(conn, path)
                try:
                    while chunk := body.read(WRITE_CHUNK):
                        upload.handle.write(chunk)
                except BaseException:
                    self._discard(upload)
                    raise
                self._finish(upload, overwrite)
                return
            except (AlreadyExists, AccessDenied):
                raise
            except Exception as exc:
                if abandoned is not None or not self._broken(conn, exc) or not _rewound(body):
                    raise
            # The server dropped the connection: send everything again on a new one.
            abandoned = upload.temp if upload is not None else ""
            self._drop(conn)

    # -- other storage hooks ---------------------------------------------------------------

    def _open_key(self, key: str, name: str, mode: str) -> SFTPStorageFile:
        return self.file_class(name, self, mode)

    def _stat_key(self, key: str) -> Any:
        if len(key) * 4 > self.max_segment_bytes and not self._storable(key):
            # The server answers such paths with a protocol error, not "no such file".
            raise NotFound(f"{self._name(key)}: no such file (the name is too long to exist).")
        path = self._remote(key)
        return self._run(lambda sftp: sftp.stat(path))

    def _exists_key(self, key: str) -> bool:
        try:
            self._stat_key(key)
        except FileNotFoundError:
            return False
        return True

    def _delete_key(self, key: str) -> None:
        path = self._remote(key)
        self._run(lambda sftp: sftp.remove(path))

    def _size_key(self, key: str) -> int:
        return int(self._stat_key(key).st_size or 0)

    def _time(self, key: str, field: str) -> datetime:
        value = getattr(self._stat_key(key), field)
        if value is None:
            raise StorageError(f"The SFTP server reports no {field} for {self._name(key)!r}.")
        return datetime.fromtimestamp(value, timezone.utc)

    def _modified_key(self, key: str) -> datetime:
        return self._time(key, "st_mtime")

    def _accessed_key(self, key: str) -> datetime:
        return self._time(key, "st_atime")

    def _listdir_key(self, prefix: str) -> tuple[list[str], list[str]]:
        path = self._remote(prefix.rstrip("/"))
        try:
            entries = self._run(lambda sftp: sftp.listdir_attr(path))
        except FileNotFoundError:
            return [], []
        dirs: list[str] = []
        files: list[str] = []
        for entry in entries:
            if entry.filename.startswith(TEMP_PREFIX):
                continue  # an upload in progress
            (dirs if stat.S_ISDIR(entry.st_mode or 0) else files).append(entry.filename)
        return dirs, files

    def url(self, name: str | None) -> str:
        """Return the URL of ``name`` under ``SFTP_BASE_URL`` (default: ``MEDIA_URL``)."""
        key = self._key(name)
        if not self.base_url:
            raise ImproperlyConfigured(
                f"SFTPStorage cannot build URLs without a base URL: set "
                f"{self.setting_label('base_url')} (or MEDIA_URL) to the URL under which a web "
                "server publishes the storage's root directory."
            )
        return f"{self.base_url}{filepath_to_uri(key)}"


def _rewound(body: UploadBody) -> bool:
    try:
        body.rewind()
    except io.UnsupportedOperation:
        return False
    return True
