"""SFTP (``storages.backends.sftpstorage.SFTPStorage``), over paramiko.

Settings are declared in :mod:`storages.backends._sftp_settings`; connecting (host keys,
authentication, the password prompt) lives in :mod:`storages.backends._sftp_connection`. The
file-server policy (connections per thread, temporary files renamed into place, directories,
reconnecting) is :class:`~storages._remote_fs.RemoteFilesystem`'s; this module maps its hooks
onto paramiko's ``SFTPClient``.

Without overwriting, the final rename is SFTP's plain ``rename``, which by the protocol never
replaces an existing file (OpenSSH implements it with ``link(2)``): a create-only write that is
atomic across processes. With overwriting, ``posix-rename@openssh.com`` replaces the file
atomically.
"""

from __future__ import annotations

import contextlib
import stat
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Any

from storages._remote_fs import TEMP_PREFIX as TEMP_PREFIX  # where uploads are written first
from storages.backends._sftp_connection import (
    Connection,
    HostKeyError,
    UnknownHostKeyWarning,
    open_connection,
)
from storages.backends._sftp_files import SFTPStorageFile, WindowReader
from storages.backends._sftp_settings import LEGACY_ARGUMENTS, SECRET_PARAMS, SFTPSettings
from storages.errors import AccessDenied, AlreadyExists
from storages.objects import ObjectInfo

__all__ = [
    "HostKeyError",
    "SFTPStorage",
    "SFTPStorageFile",
    "UnknownHostKeyWarning",
]


def _is_auth_error(exc: BaseException) -> bool:
    return type(exc).__name__ in {"AuthenticationException", "BadAuthenticationType"}


def _timestamp(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, timezone.utc)


def _attrs_info(attrs: Any) -> ObjectInfo:
    """Return the record of a file's SFTP attributes (from a stat or a listing)."""
    return ObjectInfo(
        size=int(attrs.st_size or 0),
        modified=_timestamp(attrs.st_mtime),
        accessed=_timestamp(attrs.st_atime),
        is_dir=stat.S_ISDIR(attrs.st_mode or 0),
        version=(attrs.st_size, attrs.st_mtime),
        raw=attrs,
    )


class SFTPStorage(SFTPSettings):
    """Store files in a directory of an SFTP server."""

    file_class = SFTPStorageFile
    #: Linux's PATH_MAX: the longest path the server's filesystem calls accept.
    max_key_bytes = 4096
    #: Linux's NAME_MAX: the longest single file or directory name.
    max_segment_bytes = 255
    knows_accessed = True
    sdk_packages = frozenset({"paramiko"})
    derived_attrs = SFTPSettings.derived_attrs | {"_prompted_password"}
    error_rules = (*SFTPSettings.error_rules, (_is_auth_error, AccessDenied))

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

    def _configure(self) -> None:
        super()._configure()
        #: A password typed at the prompt, kept for the other threads and reconnections.
        self._prompted_password: str | None = self.__dict__.get("_prompted_password")

    def _extra_secrets(self) -> list[Any]:
        params = self.__dict__.get("params") or {}
        secrets: list[Any] = [params[k] for k in SECRET_PARAMS if params.get(k)]
        if self.__dict__.get("_prompted_password"):
            secrets.append(self._prompted_password)
        return secrets

    def _open_connection(self) -> Connection:
        try:
            conn, password = open_connection(self, self._prompted_password)
        except AccessDenied:
            self._remember_password(None)  # refused: asked for again next time
            raise
        self._remember_password(password)
        return conn

    def _remember_password(self, password: str | None) -> None:
        if password != self._prompted_password:
            self._prompted_password = password
            self._forget_secrets()

    @staticmethod
    def _close_connection(conn: Connection) -> None:
        conn.close()

    def _connection_alive(self, conn: Connection) -> bool:
        return conn.alive()

    def _ping(self, conn: Connection) -> None:
        conn.sftp.normalize(".")

    def _can_request_now(self, conn: Connection) -> bool:
        return conn.can_request_now()

    @property
    def sftp(self) -> Any:
        """Return this thread's paramiko ``SFTPClient`` (connecting if needed)."""
        with self.translating():
            return self._session().conn.sftp

    def _stat_path(self, conn: Connection, path: str) -> ObjectInfo:
        return _attrs_info(conn.sftp.stat(path))

    def _open_reader(
        self, conn: Connection, path: str, info: ObjectInfo, start: int
    ) -> WindowReader:
        return WindowReader(conn.sftp, path, start, info.size)

    def _open_write(self, conn: Connection, path: str) -> Any:
        handle = conn.sftp.open(path, "wb")
        handle.set_pipelined(True)  # errors of the writes show at close()
        return handle

    def _upload_opened(self, conn: Connection, handle: Any, temp: str) -> None:
        self._apply_attributes(handle.chmod, handle.chown, handle.stat, self.file_mode, temp)

    def _write_handle(self, conn: Connection, handle: Any, data: bytes) -> None:
        handle.write(data)

    def _close_handle(self, conn: Connection, handle: Any) -> None:
        handle.close()  # waits for the pipelined writes' answers

    def _rename_no_replace(self, conn: Connection, src: str, dst: str) -> None:
        sftp = conn.sftp
        try:
            sftp.rename(src, dst)
        except (FileNotFoundError, PermissionError):
            raise
        except OSError as exc:
            # SFTP reports "file exists" only as a generic failure: look.
            with contextlib.suppress(FileNotFoundError):
                sftp.stat(dst)
                raise AlreadyExists(f"{dst} already exists.") from exc
            raise

    def _rename_replace(self, conn: Connection, src: str, dst: str) -> None:
        sftp = conn.sftp
        try:
            sftp.posix_rename(src, dst)
        except OSError as exc:
            if "unsupported" not in str(exc).lower():
                raise
            # A server without the posix-rename extension: not atomic, but it works.
            with contextlib.suppress(FileNotFoundError):
                sftp.remove(dst)
            sftp.rename(src, dst)

    def _remove(self, conn: Connection, path: str) -> None:
        conn.sftp.remove(path)

    def _mkdir(self, conn: Connection, path: str) -> None:
        conn.sftp.mkdir(path)

    def _dir_created(self, conn: Connection, path: str) -> None:
        sftp = conn.sftp
        self._apply_attributes(
            lambda mode: sftp.chmod(path, mode),
            lambda uid, gid: sftp.chown(path, uid, gid),
            lambda: sftp.stat(path),
            self.dir_mode,
            path,
        )

    def _chmod(self, conn: Connection, path: str, mode: int) -> None:
        conn.sftp.chmod(path, mode)

    def _list_entries(
        self, conn: Connection, path: str
    ) -> Iterable[tuple[str, bool, ObjectInfo | None]]:
        entries: list[tuple[str, bool, ObjectInfo | None]] = []
        for attrs in conn.sftp.listdir_attr(path):
            mode = attrs.st_mode or 0
            # A listing describes a link itself (lstat): a stat follows it to its file.
            info = None if stat.S_ISLNK(mode) else _attrs_info(attrs)
            entries.append((attrs.filename, stat.S_ISDIR(mode), info))
        return entries

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
