"""Any Apache Libcloud storage driver (S3 and S3-compatible services, Google Storage, Azure,
OpenStack Swift, a local directory, ...) behind Django's storage API.

Settings and driver construction live in :mod:`storages.backends._libcloud_settings`, the
streaming helpers in :mod:`storages.backends._libcloud_transfer`. A driver is not safe to share
between threads (its connection keeps the last response), so each thread gets its own.

Libcloud has no conditional write, so with overwriting off a save checks that the name is free
and then writes: two processes saving one name at the same moment can both win, the later
replacing the earlier. Drivers that write in place (LOCAL) show a file while it is being written.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from django.core.exceptions import ImproperlyConfigured

from storages.backends._libcloud_settings import LibCloudSettings, describe
from storages.backends._libcloud_transfer import ChunkReader, StreamedUpload, modified_time
from storages.deps import require
from storages.errors import AccessDenied, AlreadyExists, NotFound, StorageError
from storages.files import StorageFile
from storages.objects import ObjectInfo, UploadTarget

__all__ = ["LibCloudFile", "LibCloudStorage"]

MiB = 1024 * 1024
#: Bytes asked of a driver per chunk of a download.
READ_CHUNK = 1 * MiB


def _libcloud_error(*names: str) -> Callable[[BaseException], bool]:
    """Match libcloud exceptions by class name, so the table needs no import of libcloud."""

    def match(exc: BaseException) -> bool:
        return any(
            klass.__name__ in names and klass.__module__.startswith("libcloud.")
            for klass in type(exc).__mro__
        )

    return match


def _http_status(*codes: int) -> Callable[[BaseException], bool]:
    return lambda exc: getattr(exc, "http_code", None) in codes


class LibCloudFile(StorageFile):
    """A file in a Libcloud container: streamed reads, writes streamed part by part."""

    # The driver's small pieces are joined once for a 64 KiB read, where gathering them into a
    # block read ahead and slicing the read from it copies every byte twice.
    direct_read_size = 64 * 1024

    def __init__(self, name: str, storage: LibCloudStorage, mode: str = "rb") -> None:
        super().__init__(name, mode, storage)


class LibCloudStorage(LibCloudSettings):
    """Store files in one container of a Libcloud storage driver."""

    file_class = LibCloudFile
    max_key_bytes = 1024
    client_per_thread = True
    sdk_packages = frozenset({"libcloud", "requests", "urllib3"})
    derived_attrs = frozenset({"provider", "bucket", "_driver_class", "_traits", "_spare_driver"})
    error_rules = (
        (_libcloud_error("ObjectDoesNotExistError", "ContainerDoesNotExistError"), NotFound),
        (_libcloud_error("InvalidCredsError"), AccessDenied),
        (_http_status(401, 403), AccessDenied),
        (_http_status(404), NotFound),
    )

    def __init__(self, provider_name: str | None = None, option: Any = None, **options: Any):
        if provider_name is not None:
            options["provider_name"] = provider_name
        if option is not None:
            options["option"] = option
        super().__init__(**options)

    def _configure(self) -> None:
        super()._configure()
        self.part_size = self.single_put_size = int(self.upload_part_size)
        # The driver pulls one iterator: parts go to it in order, one at a time.
        self.upload_concurrency = 1

    def _connect(self) -> Any:
        with self._lock:
            driver, self._spare_driver = self._spare_driver, None
        return driver if driver is not None else self._build_driver()

    def _disconnect(self, client: Any) -> None:
        session = getattr(getattr(client.connection, "connection", None), "session", None)
        if session is not None:
            session.close()

    @property
    def driver(self) -> Any:
        """Return this thread's libcloud driver (e.g. ``store.driver.create_container(...)``)."""
        return self.client

    def _container(self) -> Any:
        """Return the container (looked up once per thread's driver)."""
        driver = self.client
        container = getattr(self._local, "container", None)
        if container is None or container.driver is not driver:
            types = require("libcloud.storage.types", "libcloud")
            try:
                container = driver.get_container(self.bucket)
            except types.ContainerDoesNotExistError as exc:
                raise ImproperlyConfigured(
                    f"The container {self.bucket!r} of LIBCLOUD_PROVIDERS[{self.provider_name!r}] "
                    f"does not exist on {driver.name} ({describe(exc)}); create it first, e.g. "
                    f"with storage.driver.create_container({self.bucket!r})."
                ) from exc
            self._local.container = container
        return container

    def _object(self, key: str) -> Any:
        """Return a libcloud ``Object`` for ``key``, without a request where the driver allows."""
        container = self._container()
        if not self._traits.plain_objects:
            return self.client.get_object(self.bucket, key)
        base = require("libcloud.storage.base", "libcloud")
        return base.Object(key, 0, None, {}, {}, container, self.client)

    def _stat_key(self, key: str) -> ObjectInfo:
        self._container()
        types = require("libcloud.storage.types", "libcloud")
        try:
            obj = self.client.get_object(self.bucket, key)
        except types.ObjectDoesNotExistError:
            raise
        except types.ObjectError as exc:
            # LOCAL's answer for a directory: like every object store, no file by that name.
            raise NotFound(f"{self._name(key)}: not a file ({describe(exc)})") from exc
        return self._object_info(obj)

    @staticmethod
    def _object_info(obj: Any) -> ObjectInfo:
        """Return the record of a fetched or listed libcloud ``Object``."""
        extra = obj.extra or {}
        return ObjectInfo(
            size=int(obj.size or 0),
            modified=modified_time(extra),
            etag=obj.hash,
            content_type=extra.get("content_type"),
            version=obj.hash,
            raw=obj,
        )

    def _read_key(self, key: str, info: ObjectInfo, start: int) -> Any:
        if start >= info.size:
            return io.BytesIO(b"")  # nothing to fetch (services refuse a range past the end)
        if start and info.version is not None and self._stat_key(key).version != info.version:
            # Libcloud sends no If-Match: compare versions before reading on from an offset.
            raise StorageError(f"{self._name(key)} changed while it was being read.")
        driver, obj = self.client, info.raw
        if self._traits.streams_ranges and start:
            chunks = driver.download_object_range_as_stream(obj, start, chunk_size=READ_CHUNK)
            return ChunkReader(iter(chunks))
        chunks = driver.download_object_as_stream(obj, chunk_size=READ_CHUNK)
        return ChunkReader(iter(chunks), skip=start)

    def _extra(self, target: UploadTarget) -> dict[str, Any]:
        # The content encoding is not sent: the HTTP layer under libcloud would decode such
        # bodies on the way back, so a file would not read back as it was stored.
        return {**target.params, "content_type": target.content_type}

    def _stat_or_none(self, key: str) -> ObjectInfo | None:
        types = require("libcloud.storage.types", "libcloud")
        try:
            return self._stat_key(key)
        except (types.ObjectDoesNotExistError, FileNotFoundError):
            return None

    def _put_key(self, target: UploadTarget, data: bytes) -> None:
        container = self._container()
        if not target.overwrite and self._stat_or_none(target.key) is not None:
            raise AlreadyExists(f"{target.name}: a file with this name exists already.")
        self.client.upload_object_via_stream(
            iter((data,)), container, target.key, extra=self._extra(target)
        )

    def _begin_upload(self, target: UploadTarget) -> Any:
        container = self._container()
        if not target.overwrite and self._stat_or_none(target.key) is not None:
            raise AlreadyExists(f"{target.name}: a file with this name exists already.")
        # The worker has a driver of its own: this thread may use its driver meanwhile.
        driver, extra = self._build_driver(), self._extra(target)
        return StreamedUpload(
            lambda parts: driver.upload_object_via_stream(
                parts, container, target.key, extra=extra
            ),
            target.name,
            cleanup=lambda: self._disconnect_quietly(driver),
        )

    def _upload_part(
        self, target: UploadTarget, state: Any, number: int, data: bytes, last: bool
    ) -> Any:
        if data:  # an empty chunk would end the driver's read of the stream early
            state.send(data)
        return number

    def _complete_upload(self, target: UploadTarget, state: Any, parts: list[Any]) -> None:
        state.finish()

    def _abort_upload(self, target: UploadTarget, state: Any) -> None:
        state.abort()
        if self._traits.writes_in_place:
            # The driver leaves what it had written under the name itself: remove it.
            self._delete_key(target.key)

    def _delete_key(self, key: str) -> None:
        types = require("libcloud.storage.types", "libcloud")
        try:
            deleted = self.client.delete_object(self._object(key))
        except types.ObjectDoesNotExistError:
            return
        # LOCAL answers False both for a missing file and for one it could not remove.
        if not deleted and self._stat_or_none(key) is not None:
            raise StorageError(f"{self._name(key)}: the driver could not delete the file.")

    def _objects(self, prefix: str) -> Iterator[Any]:
        """Yield every object whose name starts with ``prefix``, in one paged listing."""
        # Drivers that cannot filter by prefix warn and filter the full listing themselves:
        # ask them for the full listing and filter here, without the warning.
        wanted = prefix if prefix and self._traits.native_prefix else None
        for obj in self.client.iterate_container_objects(self._container(), prefix=wanted):
            if obj.name.startswith(prefix):
                yield obj

    def _scan_key(self, prefix: str) -> Iterator[tuple[str, ObjectInfo]]:
        # The listing tells what a stat does (size, hash, time): no request per file.
        for obj in self._objects(prefix):
            if obj.name != prefix and not obj.name.endswith("/"):  # "folder" markers
                yield obj.name, self._object_info(obj)

    def _listdir_key(self, prefix: str) -> tuple[list[str], list[str]]:
        dirs: list[str] = []
        files: list[str] = []
        for obj in self._objects(prefix):
            head, slash, _ = obj.name[len(prefix) :].partition("/")
            if slash:
                dirs.append(head)
            elif head:  # the key equal to the prefix is a "folder" marker, not a file
                files.append(head)
        return dirs, files

    def url(self, name: str) -> str:
        """Return the URL of ``name``: under ``base_url``, else the driver's CDN URL."""
        key = self._key(name)
        if self.base_url:
            return f"{str(self.base_url).rstrip('/')}/{quote(key)}"
        with self.translating(name):
            obj = self._object(key)
            try:
                url = str(self.client.get_object_cdn_url(obj))
            except NotImplementedError as exc:
                raise NotImplementedError(
                    f"The libcloud driver {self._driver_class.__name__} cannot make URLs for "
                    "objects; set the storage's 'base_url' option to the address the container "
                    "is served at."
                ) from exc
        if not urlsplit(url).scheme:
            # LOCAL answers the file's path on disk: give it as a file: URL.
            url = Path(url).absolute().as_uri()
        return url
