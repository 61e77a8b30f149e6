"""FTP and FTPS (``storages.backends.ftp.FTPStorage``), over the standard library's ftplib.

Settings and the location URL live in :mod:`storages.backends._ftp_settings`; logging in and the
commands in :mod:`storages.backends._ftp_connection`; the error table and the parsing of replies
and listings in :mod:`storages.backends._ftp_replies`.
The file-server policy (a connection per thread, checked before use and replaced once when the
server dropped it, temporary files renamed into place, directories made one level at a time) is
:class:`~storages._remote_fs.RemoteFilesystem`'s; this module maps its hooks onto FTP commands:
``MLST`` (or ``SIZE`` and ``MDTM``) for metadata, ``RETR`` with ``REST`` for reads from an
offset, one ``STOR`` data connection per upload, ``RNFR``/``RNTO`` to move it into place,
``MLSD`` (or ``LIST``) for listings.

FTP has no rename that refuses to replace a file: with overwriting off, the target is checked
right before ``RNFR``/``RNTO`` (three round trips), so two processes saving the same name within
that window can still end with one file. See ``docs/backends/ftp.md``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from storages.backends._ftp_connection import FTPConnection, Transfer
from storages.backends._ftp_replies import (
    ERROR_RULES,
    FTPAlreadyExists,
    FTPStorageException,
    is_answer,
)
from storages.backends._ftp_settings import LEGACY_ARGUMENTS, FTPSettings
from storages.errors import StorageError
from storages.files import StorageFile
from storages.objects import ObjectInfo

__all__ = ["FTPStorage", "FTPStorageException", "FTPStorageFile"]


class FTPStorageFile(StorageFile):
    """A file on the FTP server: reads stream ``RETR`` (``REST`` after a seek), writes stream
    one ``STOR``."""

    def __init__(self, name: str, storage: FTPStorage, mode: str = "rb") -> None:
        super().__init__(name, mode, storage)


class FTPStorage(FTPSettings):
    """Store files in a directory of an FTP or FTPS server."""

    file_class = FTPStorageFile
    #: The limits of the Unix file systems most servers store on (PATH_MAX, NAME_MAX).
    max_key_bytes = 4096
    max_segment_bytes = 255
    sdk_packages = frozenset({"ftplib"})
    error_rules = ERROR_RULES
    # The server takes the end of the data connection for the end of the file, however it ended.
    verify_upload_size = True

    def __init__(
        self,
        location: str | None = None,
        base_url: str | None = None,
        encoding: str | None = None,
        **options: Any,
    ) -> None:
        # django-storages 1.9.1 took these three positionally, None meaning "the setting".
        legacy = zip(LEGACY_ARGUMENTS, (location, base_url, encoding), strict=True)
        options.update({attr: value for attr, value in legacy if value is not None})
        # Recorded without positional values, so deconstruct() can leave the URL out.
        self._constructor_args = ((), options)
        super().__init__(**options)

    def _open_connection(self) -> FTPConnection:
        if self._dialer is None:
            raise ImproperlyConfigured(
                "FTPStorage needs a server: set FTP_STORAGE_LOCATION (option 'location') to a "
                "URL like ftp://user:password@host:21/path."
            )
        return FTPConnection(self._dialer)

    def disconnect(self) -> None:
        """Close this storage's connections (of every thread); the next operation reconnects.

        The name of django-storages, kept: the same as :meth:`close`.
        """
        self.close()

    @staticmethod
    def _close_connection(conn: Any) -> None:
        conn.close()

    def _connection_alive(self, conn: FTPConnection) -> bool:
        return conn.alive()

    def _ping(self, conn: FTPConnection) -> None:
        with conn.control() as control:
            control.ftp.voidcmd("NOOP")

    def _can_request_now(self, conn: FTPConnection) -> bool:
        return conn.requests == 0

    def _server_answered(self, exc: BaseException) -> bool:
        return is_answer(exc) or super()._server_answered(exc)

    def _key_problem(self, key: str, writing: bool) -> str | None:
        if "\r" in key or "\n" in key:
            return "contains a line break, which FTP commands cannot carry"
        return super()._key_problem(key, writing)

    def _stat_path(self, conn: FTPConnection, path: str) -> ObjectInfo:
        with conn.control() as control:
            return control.stat(path)

    def _open_reader(self, conn: FTPConnection, path: str, info: ObjectInfo, start: int) -> Any:
        if start:
            # A read from an offset must come from the version the file was opened on.
            now = self._stat_path(conn, path)
            if now.version != info.version:
                raise StorageError(f"{path} changed while it was being read.")
        return conn.transfer("RETR", path, start, length=max(info.size - start, 0))

    def _open_write(self, conn: FTPConnection, path: str) -> Transfer:
        return conn.transfer("STOR", path)

    def _write_handle(self, conn: FTPConnection, handle: Transfer, data: bytes) -> None:
        handle.write(data)

    def _close_handle(self, conn: FTPConnection, handle: Transfer) -> None:
        handle.finish()

    def _rename_no_replace(self, conn: FTPConnection, src: str, dst: str) -> None:
        with conn.control() as control:
            # No FTP command renames "only if the target is free": look right before renaming.
            if control.exists(dst):
                raise FTPAlreadyExists(f"{dst} already exists.")
            try:
                control.rename(src, dst)
            except FTPStorageException as exc:
                if control.exists(dst):  # a server that refuses to rename onto a file
                    raise FTPAlreadyExists(f"{dst} already exists.") from exc
                raise

    def _rename_replace(self, conn: FTPConnection, src: str, dst: str) -> None:
        with conn.control() as control:
            try:
                control.rename(src, dst)
            except FTPStorageException:
                if not (control.exists(dst) and control.exists(src)):
                    raise
                # A server that refuses to rename onto a file (Windows ones): not atomic.
                with contextlib.suppress(FileNotFoundError):
                    control.remove(dst)
                control.rename(src, dst)

    def _remove(self, conn: FTPConnection, path: str) -> None:
        with conn.control() as control:
            control.remove(path)

    def _mkdir(self, conn: FTPConnection, path: str) -> None:
        with conn.control() as control:
            control.mkdir(path)

    def _list_entries(
        self, conn: FTPConnection, path: str
    ) -> Iterable[tuple[str, bool, ObjectInfo | None]]:
        with conn.control() as control:
            return control.list_dir(path)
