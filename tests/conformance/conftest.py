"""The backends the conformance suite runs against, each with a capability record.

A backend joins the suite by adding a ``backend_<id>`` fixture below that returns a
:class:`Backend`. Tests branch on capabilities, never on backend ids.
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


@dataclass
class Backend:
    """One backend under test: how to build a storage, what it can do, how to fetch a URL."""

    id: str
    make: Callable[..., Storage]
    caps: Capabilities = field(default_factory=Capabilities)
    fetch: Callable[[str], bytes] | None = None

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

    caps = Capabilities(
        strict_names=False,
        created_time=True,
        accessed_time=True,
        append=True,
        update=True,
        reopen_pickled_files=False,
    )
    return Backend("filesystem", make, caps, fetch)


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
    return Backend("inmemory", make, caps, None)


@pytest.fixture
def backend_directory(http_root: tuple[Path, str]) -> Backend:
    root, base_url = http_root
    area = Path(tempfile.mkdtemp(dir=root))

    def make(file_overwrite: bool = False) -> Storage:
        return DirectoryStorage(
            root=str(area), base_url=f"{base_url}{area.name}/", file_overwrite=file_overwrite
        )

    return Backend("directory", make, Capabilities(accessed_time=True), fetch)


@pytest.fixture(params=BACKEND_IDS)
def backend(request: pytest.FixtureRequest) -> Backend:
    """Each backend of the suite in turn."""
    return request.getfixturevalue(f"backend_{request.param}")  # type: ignore[no-any-return]


@pytest.fixture
def storage(backend: Backend) -> Storage:
    """A fresh storage of the backend under test, with its default overwrite policy off."""
    return backend.storage()
