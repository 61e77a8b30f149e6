"""Libcloud's LOCAL driver: a directory on disk, one sub-directory per container (SERVERS.md §7).

No server process: the driver needs only ``fasteners`` for its file locks.
"""

from __future__ import annotations

import importlib.util
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tests.servers import unavailable

LOCAL_TYPE = "libcloud.storage.types.Provider.LOCAL"
CONTAINER = "media"
#: Part size for the conformance suite's many-part uploads.
SMALL_PART = 1024 * 1024


def local_providers(root: Path, alias: str = "local", **extra: Any) -> dict[str, Any]:
    """Return ``LIBCLOUD_PROVIDERS`` with one LOCAL entry rooted at ``root``."""
    return {
        alias: {"type": LOCAL_TYPE, "user": str(root), "key": None, "bucket": CONTAINER, **extra}
    }


@pytest.fixture
def libcloud_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh driver root holding an empty container directory."""
    if importlib.util.find_spec("fasteners") is None:
        unavailable("libcloud's LOCAL driver needs the 'fasteners' package")
    # The driver leaves one lock file per written path in the temporary directory: keep them
    # in the test's own directory, which pytest cleans up.
    locks = tmp_path / "locks"
    locks.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(locks))
    root = tmp_path / "libcloud-root"
    (root / CONTAINER).mkdir(parents=True)
    return root


@pytest.fixture
def libcloud_local(libcloud_root: Path) -> Any:
    """Build LOCAL-driver storages on the test's root: ``libcloud_local(**options)``."""
    from storages.backends.apache_libcloud import LibCloudStorage

    def make(cls: type = LibCloudStorage, **options: Any) -> Any:
        return cls("local", providers=local_providers(libcloud_root), **options)

    return make


@pytest.fixture
def backend_libcloud_local(libcloud_local: Any, libcloud_root: Path) -> Any:
    """The Libcloud backend on the LOCAL driver, for the conformance suite."""
    from tests.conformance.conftest import Backend, Capabilities
    from tests.servers.reference import fetch

    def make(file_overwrite: bool = False, **options: Any) -> Any:
        return libcloud_local(file_overwrite=file_overwrite, **options)

    def raw_read(storage: Any, name: str) -> bytes:
        return (libcloud_root / CONTAINER / storage._key(name)).read_bytes()

    # Libcloud has no conditional write (check-then-write), and LOCAL URLs are file: URLs.
    caps = Capabilities(atomic_create=False, url_fetch=False)
    small_parts = {"upload_part_size": SMALL_PART}
    return Backend("libcloud_local", make, caps, fetch, raw_read, small_parts)
