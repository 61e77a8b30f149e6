"""The first layer of :class:`~storages._remote_fs.RemoteFilesystem`: where files live on the
server (the root, server paths, directories made one level at a time), and the hooks a
file-server backend implements (listed in :mod:`storages._remote_fs`), each of which says so
when it is missing."""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar, TypeVar

from storages._remote_connections import RemoteConnections
from storages.errors import AccessDenied, AlreadyExists, ErrorRule, NotFound
from storages.objects import ObjectInfo

__all__ = ["RemotePaths"]

C = TypeVar("C")
MiB = 1024 * 1024
#: Paths that name no directory to create.
_NO_DIRECTORY = frozenset({"", ".", "/"})


class RemotePaths(RemoteConnections[C]):
    """A directory of a file server: server paths, directories, and the backend's hooks."""

    #: Bytes per write request; every body, however small, goes through the same writer.
    part_size: int = 1 * MiB
    single_put_size: int = 1 * MiB

    # Backends declare these as settings when they have them; plain defaults here.
    file_mode: Any = None
    dir_mode: Any = None
    base_url: Any = None
    _root: str = ""
    #: Whether a finished upload's size is checked before it is renamed into place: for
    #: protocols where the end of the data connection is the end of the file (FTP), so a
    #: transfer that broke off looks complete to the server.
    verify_upload_size: ClassVar[bool] = False
    derived_attrs = RemoteConnections.derived_attrs | {"_root"}
    #: The OSErrors file servers' SDKs raise; backends add their own rules to these.
    error_rules: ClassVar[Sequence[ErrorRule]] = (
        (FileNotFoundError, NotFound),
        (FileExistsError, AlreadyExists),
        (PermissionError, AccessDenied),
    )

    def _configure(self) -> None:
        super()._configure()
        self.single_put_size = self.part_size

    def _remote(self, key: str) -> str:
        """Return the server path of ``key`` (always under the root directory)."""
        root = self._root
        if not key:
            return root or "."
        if not root:
            return key
        return f"{root}{key}" if root.endswith("/") else f"{root}/{key}"

    def _makedirs(self, conn: C, path: str) -> None:
        """Make directory ``path`` and its missing parents, one level at a time."""
        if path in _NO_DIRECTORY:
            return
        try:
            self._mkdir(conn, path)
        except Exception:
            if self._is_dir(conn, path):  # it exists (maybe another writer just made it)
                return
            parent = posixpath.dirname(path)
            if parent in _NO_DIRECTORY:
                raise
            # The parent is missing, or another writer made it since the attempt failed: make
            # it if it is still missing, then try once more.
            if not self._is_dir(conn, parent):
                self._makedirs(conn, parent)
            try:
                self._mkdir(conn, path)
            except Exception:
                if self._is_dir(conn, path):
                    return
                raise
        self._dir_created(conn, path)

    # The backend's file hooks (see the module docstring); the defaults say which one is missing.

    def _stat_path(self, conn: C, path: str) -> ObjectInfo:
        raise NotImplementedError(f"{type(self).__name__} must implement _stat_path()")

    def _is_dir(self, conn: C, path: str) -> bool:
        """Return whether ``path`` is a directory on the server."""
        try:
            return self._stat_path(conn, path).is_dir
        except FileNotFoundError:
            return False

    def _open_reader(self, conn: C, path: str, info: ObjectInfo, start: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement _open_reader()")

    def _open_write(self, conn: C, path: str) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement _open_write()")

    def _upload_opened(self, conn: C, handle: Any, temp: str) -> None:
        """Give a new temporary file the configured attributes, before its first byte."""
        if self.file_mode is not None:
            self._chmod(conn, temp, self.file_mode)

    def _write_handle(self, conn: C, handle: Any, data: bytes) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement _write_handle()")

    def _close_handle(self, conn: C, handle: Any) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement _close_handle()")

    def _rename_no_replace(self, conn: C, src: str, dst: str) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement _rename_no_replace()")

    def _rename_replace(self, conn: C, src: str, dst: str) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement _rename_replace()")

    def _remove(self, conn: C, path: str) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement _remove()")

    def _mkdir(self, conn: C, path: str) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement _mkdir()")

    def _dir_created(self, conn: C, path: str) -> None:
        """Give a directory just made the configured attributes."""
        if self.dir_mode is not None:
            self._chmod(conn, path, self.dir_mode)

    def _list_entries(self, conn: C, path: str) -> Iterable[tuple[str, bool, ObjectInfo | None]]:
        raise NotImplementedError(f"{type(self).__name__} must implement _list_entries()")

    def _chmod(self, conn: C, path: str, mode: int) -> None:
        raise NotImplementedError(f"{type(self).__name__} cannot set permission bits")
