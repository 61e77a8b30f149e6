"""The backends the conformance suite runs against, each with a capability record.

A backend joins the suite by adding a ``backend_<id>`` fixture below (or in its server module)
that returns a :class:`Backend`. Tests branch on capabilities, never on backend ids.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import django
import pytest
from django.core.files.storage import FileSystemStorage, InMemoryStorage, Storage

from tests.servers import SERVER_MODULES
from tests.servers.reference import DirectoryStorage, StaticHTTPServer, fetch

#: The reference storages, then every backend with a server module in tests/servers/ (each of
#: which defines a ``backend_<module>`` fixture).
BACKEND_IDS = ["filesystem", "inmemory", "directory", *SERVER_MODULES]

KiB = 1024
#: The reference directory backend's part size (and single-request limit) with small parts.
DIRECTORY_SMALL_PART = 64 * KiB

#: How many parts each completed upload of the directory backend had, by file path.
_DIRECTORY_PARTS: dict[str, int] = {}


@dataclass
class Capabilities:
    """What the contract may rely on for a backend."""

    #: NUL bytes and backslashes get the SPEC's treatment (Django's own storages differ).
    strict_names: bool = True
    #: Two concurrent create-only saves of one name both survive under different names.
    atomic_create: bool = True
    #: The storage can be configured to overwrite (``file_overwrite=True``).
    overwrite: bool = True
    #: ``get_created_time`` / ``get_accessed_time`` work (else ``NotImplementedError``).
    created_time: bool = False
    accessed_time: bool = False
    #: URLs can be fetched with a plain HTTP GET.
    url_fetch: bool = True
    #: ``open(name, "a")`` / ``"r+"`` work.
    append: bool = False
    update: bool = False
    #: Opened files enforce their mode, append correctly and track closing (Django's
    #: InMemoryStorage does none of these).
    strict_files: bool = True
    #: Copies of a storage (pickled, or built twice) see the same files.
    shared_state: bool = True
    #: A file object that was pickled can be opened again (Django's open the local path).
    reopen_pickled_files: bool = True


def _no_raw_read(storage: Storage, name: str) -> bytes:
    pytest.fail("this backend's record has no raw_read: it must say how to read stored bytes")


@dataclass
class Backend:
    """One backend under test: how to build a storage, what it can do, how to check it.

    ``raw_read(storage, name)`` returns the bytes stored under ``name`` as the service itself
    holds them (its own SDK or filesystem, at ``storage._key(name)``), never through the storage.
    ``small_parts`` are storage options that cut uploads into parts of at most 5 MiB with
    a single-request limit no larger, so a 12 MiB file crosses several parts.
    ``count_parts(storage, name)`` returns how many parts a stored file was uploaded in; None
    when the service does not show it (the part-count assertions are then skipped).
    """

    id: str
    make: Callable[..., Storage]
    caps: Capabilities = field(default_factory=Capabilities)
    fetch: Callable[[str], bytes] | None = None
    raw_read: Callable[[Any, str], bytes] = _no_raw_read
    small_parts: dict[str, Any] = field(default_factory=dict)
    count_parts: Callable[[Any, str], int] | None = None

    def storage(self, **options: Any) -> Storage:
        """Return a storage of this backend, in this test's isolated area."""
        return self.make(**options)


@pytest.fixture(scope="session")
def http_root() -> Iterator[tuple[Path, str]]:
    """A directory served over HTTP for the file-based reference storages."""
    root = Path(tempfile.mkdtemp(prefix="stowage-http-"))
    server = StaticHTTPServer(root).start()
    yield root, server.base_url
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def backend_filesystem(http_root: tuple[Path, str], tmp_path: Path) -> Backend:
    root, base_url = http_root
    area = Path(tempfile.mkdtemp(dir=root))
    url = f"{base_url}{area.name}/"

    def make(file_overwrite: bool = False) -> Storage:
        options: dict[str, Any] = {"location": str(area), "base_url": url}
        if file_overwrite:
            if django.VERSION < (5, 1):
                pytest.skip("Django 4.2's FileSystemStorage has no option to overwrite files")
            options["allow_overwrite"] = True
        return FileSystemStorage(**options)

    def raw_read(storage: Any, name: str) -> bytes:
        return Path(storage.path(name)).read_bytes()

    caps = Capabilities(
        strict_names=False,
        created_time=True,
        accessed_time=True,
        append=True,
        update=True,
        reopen_pickled_files=False,
    )
    return Backend("filesystem", make, caps, fetch, raw_read)


@pytest.fixture
def backend_inmemory() -> Backend:
    shared: dict[str, Any] = {}

    def make(file_overwrite: bool = False) -> Storage:
        # One in-memory tree per test, shared by every storage the test builds.
        if "storage" not in shared:
            shared["storage"] = InMemoryStorage(base_url="http://testserver/media/")
        storage = shared["storage"]
        if file_overwrite:
            pytest.skip("Django's InMemoryStorage has no option to overwrite files")
        return storage  # type: ignore[no-any-return]

    def raw_read(storage: Any, name: str) -> bytes:
        # Nothing lies below the storage's own files: their content is the stored state.
        with storage.open(name, "rb") as handle:
            return bytes(handle.read())

    caps = Capabilities(
        strict_names=False,
        atomic_create=False,
        created_time=True,
        accessed_time=True,
        url_fetch=False,
        append=True,
        update=True,
        strict_files=False,
        shared_state=False,
        reopen_pickled_files=False,
    )
    return Backend("inmemory", make, caps, None, raw_read)


class PartCountingDirectoryStorage(DirectoryStorage):
    """The directory reference backend, noting how many parts each completed upload had
    (a directory keeps no trace of them; an object store's ETag or block list does)."""

    def _complete_upload(self, target: Any, state: Any, parts: list[Any]) -> None:
        super()._complete_upload(target, state, parts)
        _DIRECTORY_PARTS[str(self.path_of(target.key))] = len(parts)

    def _put_key(self, target: Any, data: bytes) -> None:
        super()._put_key(target, data)
        _DIRECTORY_PARTS[str(self.path_of(target.key))] = 1


@pytest.fixture
def backend_directory(http_root: tuple[Path, str]) -> Backend:
    root, base_url = http_root
    area = Path(tempfile.mkdtemp(dir=root))

    def make(file_overwrite: bool = False, **options: Any) -> Storage:
        return PartCountingDirectoryStorage(
            root=str(area),
            base_url=f"{base_url}{area.name}/",
            file_overwrite=file_overwrite,
            **options,
        )

    def raw_read(storage: Any, name: str) -> bytes:
        return (area / storage._key(name)).read_bytes()

    def count_parts(storage: Any, name: str) -> int:
        return _DIRECTORY_PARTS[str(area / storage._key(name))]

    return Backend(
        "directory",
        make,
        Capabilities(accessed_time=True),
        fetch,
        raw_read,
        small_parts={"part_size": DIRECTORY_SMALL_PART},
        count_parts=count_parts,
    )


@pytest.fixture(params=BACKEND_IDS)
def backend(request: pytest.FixtureRequest) -> Backend:
    """Each backend of the suite in turn."""
    return request.getfixturevalue(f"backend_{request.param}")  # type: ignore[no-any-return]


@pytest.fixture
def storage(backend: Backend) -> Storage:
    """A fresh storage of the backend under test, with its default overwrite policy off."""
    return backend.storage()
