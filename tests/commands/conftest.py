"""A static-files project for the command tests: source files, settings, and a runner."""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.contrib.staticfiles.storage import staticfiles_storage
from django.core.management import call_command
from django.test import override_settings

from storages.management.commands.collectstatic import Command, unwrapped

#: The source tree: a stylesheet that references an image (so a manifest storage rewrites it),
#: a script, and plain files.
SOURCES = {
    "css/site.css": b'body { background: url("../img/logo.png"); }\n',
    "img/logo.png": b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8,
    "js/app.js": b"console.log('hello');\n" * 50,
    "fonts/readme.txt": b"fonts go here\n",
}


@dataclass
class Run:
    """What one collectstatic run printed and did."""

    command: Command
    stdout: str
    stderr: str

    @property
    def stats(self) -> Any:
        """Return the sync session's counts."""
        return self.command.stats


@dataclass
class StaticProject:
    """Source files in a directory, and the STORAGES under which collectstatic runs."""

    root: Path
    staticfiles: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)

    def write(self, name: str, data: bytes) -> None:
        """Create or change a source file."""
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.files[name] = data

    def settings(self) -> Any:
        """Return the override_settings that point Django at this project."""
        return override_settings(
            STATICFILES_DIRS=[str(self.root)],
            STATICFILES_FINDERS=["django.contrib.staticfiles.finders.FileSystemFinder"],
            STORAGES={
                "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
                "staticfiles": self.staticfiles,
            },
        )

    def storage(self) -> Any:
        """Return the static files storage of the current settings (the one the command uses)."""
        return unwrapped(staticfiles_storage)

    def collect(self, *args: str, **options: Any) -> Run:
        """Run our collectstatic under the current settings and return what it printed."""
        out, err = io.StringIO(), io.StringIO()
        command = Command()
        options.setdefault("interactive", False)
        options.setdefault("verbosity", 1)
        call_command(command, *args, stdout=out, stderr=err, **options)
        return Run(command, out.getvalue(), err.getvalue())


@pytest.fixture
def static_project(tmp_path: Path) -> Callable[[dict[str, Any]], StaticProject]:
    """Build a StaticProject for a ``STORAGES["staticfiles"]`` entry, with :data:`SOURCES`."""

    def make(staticfiles: dict[str, Any]) -> StaticProject:
        project = StaticProject(tmp_path / "static-src", staticfiles)
        for name, data in SOURCES.items():
            project.write(name, data)
        return project

    return make


class S3Calls(Counter[str]):
    """The S3 operations a storage's client makes, by name (HeadObject, PutObject, ...)."""

    def __init__(self, storage: Any) -> None:
        super().__init__()
        storage.client.meta.events.register("before-call.s3", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        self[model.name] += 1


@pytest.fixture
def s3_static(moto_server: Any, s3_bucket: str) -> Iterator[Callable[..., dict[str, Any]]]:
    """Return ``STORAGES["staticfiles"]`` for an S3 storage class on the test's bucket."""

    def entry(backend: str = "storages.backends.s3.S3StaticStorage", **options: Any) -> Any:
        return {"BACKEND": backend, "OPTIONS": moto_server.options(s3_bucket, **options)}

    yield entry


@pytest.fixture
def gcs_static(gcs_server: Any, gcs_bucket: str) -> Callable[..., dict[str, Any]]:
    """Return ``STORAGES["staticfiles"]`` for a Google Cloud storage on the test's bucket."""

    def entry(backend: str = "storages.backends.gcloud.GoogleCloudStorage", **options: Any) -> Any:
        options.setdefault("file_overwrite", True)
        return {"BACKEND": backend, "OPTIONS": gcs_server.options(gcs_bucket, **options)}

    return entry


@pytest.fixture
def azure_static(azurite: Any, azure_container: str) -> Callable[..., dict[str, Any]]:
    """Return ``STORAGES["staticfiles"]`` for an Azure storage on the test's container."""

    def entry(backend: str = "storages.backends.azure_storage.AzureStorage", **options: Any) -> Any:
        return {"BACKEND": backend, "OPTIONS": azurite.options(azure_container, **options)}

    return entry
