"""Reference storages for the conformance suite, and the HTTP server that serves their files.

* Django's own ``FileSystemStorage`` and ``InMemoryStorage``: the behaviour we match.
* ``DirectoryStorage``: this package's ``BaseStorage`` (and its part writer and file objects)
  driven over a plain directory, so the shared machinery (settings, names, overwrite policy,
  part uploads, range reads) is held to the contract with no network service in the way.
"""

from __future__ import annotations

import os
import sys
import tempfile
import urllib.request
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

from storages.base import BaseStorage
from storages.errors import AccessDenied, AlreadyExists, NotFound
from storages.objects import ObjectInfo, UploadTarget
from storages.settings import Setting
from tests.servers import ServerProcess, free_port


class DirectoryStorage(BaseStorage):
    """BaseStorage over a local directory (test reference, not a product backend).

    Parts are written as separate files and joined on completion, like an object store.
    """

    root = Setting("STOWAGE_TEST_ROOT", "")
    base_url = Setting(None, "")
    part_size = Setting(None, 64 * 1024)
    upload_concurrency = Setting(None, 1)
    knows_accessed = True
    error_rules = (
        (FileNotFoundError, NotFound),
        (FileExistsError, AlreadyExists),
        (PermissionError, AccessDenied),
    )

    def _configure(self) -> None:
        super()._configure()
        self.single_put_size = self.part_size

    def _connect(self) -> Path:
        return Path(self.root)

    @property
    def uploads(self) -> Path:
        """Return the folder holding unfinished uploads (outside the root)."""
        return Path(self.root + ".uploads")

    def path_of(self, key: str) -> Path:
        """Return the local path of ``key``."""
        return Path(self.root, key)

    def store(self, key: str, chunks: Any, overwrite: bool) -> None:
        """Write ``chunks`` to ``key`` atomically; create-only unless ``overwrite``."""
        path = self.path_of(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                for chunk in chunks:
                    handle.write(chunk)
            if overwrite:
                os.replace(tmp, path)
            else:
                os.link(tmp, path)  # fails with FileExistsError: an atomic create-only write
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def _stat_key(self, key: str) -> ObjectInfo:
        path = self.path_of(key)
        attrs = path.stat()
        return ObjectInfo(
            size=attrs.st_size,
            modified=datetime.fromtimestamp(attrs.st_mtime, timezone.utc),
            accessed=datetime.fromtimestamp(attrs.st_atime, timezone.utc),
            version=(attrs.st_size, attrs.st_mtime_ns),
            is_dir=path.is_dir(),
        )

    def _read_key(self, key: str, info: ObjectInfo, start: int) -> Any:
        handle = self.path_of(key).open("rb")
        handle.seek(start)
        return handle

    def _put_key(self, target: UploadTarget, data: bytes) -> None:
        self.store(target.key, [data], overwrite=target.overwrite)

    def _begin_upload(self, target: UploadTarget) -> Any:
        folder = self.uploads / uuid.uuid4().hex
        folder.mkdir(parents=True)
        return folder

    def _upload_part(
        self, target: UploadTarget, state: Any, number: int, data: bytes, last: bool
    ) -> Any:
        part = state / f"{number:05d}"
        part.write_bytes(data)
        return part

    def _complete_upload(self, target: UploadTarget, state: Any, parts: list[Any]) -> None:
        try:
            self.store(target.key, (p.read_bytes() for p in parts), overwrite=target.overwrite)
        finally:
            self._remove_parts(state)

    def _abort_upload(self, target: UploadTarget, state: Any) -> None:
        self._remove_parts(state)

    def _remove_parts(self, state: Any) -> None:
        for part in state.iterdir():
            part.unlink()
        state.rmdir()

    def _delete_key(self, key: str) -> None:
        self.path_of(key).unlink()

    def _listdir_key(self, prefix: str) -> tuple[list[str], list[str]]:
        dirs: list[str] = []
        files: list[str] = []
        try:
            entries = list(os.scandir(self.path_of(prefix)))
        except FileNotFoundError:
            return dirs, files
        for entry in entries:
            if entry.name.startswith(".tmp-"):
                continue
            (dirs if entry.is_dir() else files).append(entry.name)
        return dirs, files

    def url(self, name: str | None) -> str:
        """Return the URL of ``name`` under ``base_url``."""
        key = self._key(name)
        return self.base_url + quote(key)


class StaticHTTPServer:
    """``python -m http.server`` over a directory, to fetch URLs of file-based storages."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.process = ServerProcess(
            "http-static",
            [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(self.port)],
            self.port,
            cwd=root,
        )
        self.base_url = f"http://127.0.0.1:{self.port}/"

    def start(self) -> StaticHTTPServer:
        """Start serving and wait until ready."""
        self.process.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self.process.stop()


def fetch(url: str) -> bytes:
    """Return the body at ``url`` (raising ``urllib.error.HTTPError`` for errors)."""
    with urllib.request.urlopen(url, timeout=30) as response:
        return bytes(response.read())
