"""Azure Blob Storage (``storages.backends.azure_storage.AzureStorage``).

Settings are declared in :mod:`storages.backends._azure_settings` and URLs are built in
:mod:`storages.backends._azure_urls`. This module maps the storage hooks onto
``azure-storage-blob`` (v12) calls:

* a body that fits in one block is one ``Put Blob``; a larger one is staged block by block
  (``stage_block``, ``AZURE_UPLOAD_MAX_CONN`` blocks at a time) and committed with
  ``commit_block_list``, so memory stays at a few blocks whatever the size;
* with overwriting off, the final request carries ``If-None-Match: *``: the service refuses it
  when the name is taken, and the core picks the next free name;
* reads are ranged downloads pinned to the ETag seen when the file was opened.
"""

from __future__ import annotations

import base64
import mimetypes
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from django.core.exceptions import ImproperlyConfigured, SuspiciousFileOperation
from django.core.files.storage import Storage

from storages import names
from storages.backends._azure_settings import (
    CONTENT_SETTINGS,
    EMULATOR_HOST,
    AzureSettings,
)
from storages.backends._azure_urls import AzureUrls
from storages.base import BaseStorage
from storages.deps import require
from storages.errors import AccessDenied, AlreadyExists, NotFound, StorageError
from storages.files import StorageFile, UploadBody, read_full

__all__ = ["AzureStorage", "AzureStorageFile", "InvalidBlobName"]

MiB = 1024 * 1024
#: The service's limits on blob names (in characters and path separators).
MAX_NAME_LENGTH = 1024
MAX_SLASHES = 256
#: A block blob has at most 50,000 blocks of at most 4000 MiB each.
MAX_BLOCKS = 50_000
MAX_BLOCK_SIZE = 4000 * MiB
#: Block size of uploads and chunk size of downloads unless ``AZURE_CLIENT_OPTIONS`` sets
#: ``max_block_size`` / ``max_single_put_size`` / ``max_chunk_get_size``.
DEFAULT_BLOCK_SIZE = 4 * MiB
#: Ranges a streamed read fetches in parallel, ahead of the one being read.
READ_AHEAD = 2
#: Characters ``get_alternative_name`` adds to a taken name ("_" and 7 random characters).
ALTERNATIVE_SUFFIX = 8


class InvalidBlobName(SuspiciousFileOperation, ValueError):
    """A name Azure cannot store (too long, too many slashes, or ending with a dot).

    It is also a ``ValueError``, which django-storages raised for these names.
    """


def _status(exc: BaseException) -> int | None:
    if not type(exc).__module__.startswith("azure."):
        return None
    code = getattr(exc, "status_code", None)
    return code if isinstance(code, int) else None


def _named(*class_names: str) -> Any:
    def match(exc: BaseException) -> bool:
        return any(
            k.__name__ in class_names and k.__module__.startswith("azure.")
            for k in type(exc).__mro__
        )

    return match


def block_size_for(index: int, base: int) -> int:
    """Return the size of block ``index`` (from 0): it doubles every 5,000 blocks, so a blob
    of unknown size can grow far beyond ``base`` x 50,000 bytes."""
    return min(base << min(index // (MAX_BLOCKS // 10), 20), MAX_BLOCK_SIZE)


class _PrefetchedRanges:
    """The chunks of a blob from ``start`` to ``end``, in order, the next ones fetched ahead.

    One request per chunk costs the service's per-request latency every few MiB; fetching
    ``READ_AHEAD`` chunks in parallel hides it. Memory stays at ``READ_AHEAD + 1`` chunks.
    """

    def __init__(
        self, fetch: Callable[[int, int], bytes], start: int, end: int, chunk: int
    ) -> None:
        self._fetch = fetch
        self._next = start
        self._end = end
        self._chunk = chunk
        self._pending: deque[Future[bytes]] = deque()
        self._pool: ThreadPoolExecutor | None = None

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        if self._pool is None:
            if self._next >= self._end:
                raise StopIteration
            if self._end - self._next <= self._chunk:  # one request: no thread needed
                data = self._fetch(self._next, self._end - self._next)
                self._next = self._end
                return data
            self._pool = ThreadPoolExecutor(READ_AHEAD, thread_name_prefix="stowage-azure-read")
        while len(self._pending) < READ_AHEAD and self._next < self._end:
            length = min(self._chunk, self._end - self._next)
            self._pending.append(self._pool.submit(self._fetch, self._next, length))
            self._next += length
        if not self._pending:
            self.close()
            raise StopIteration
        return self._pending.popleft().result()

    def close(self) -> None:
        """Drop the chunks fetched ahead and stop the fetching threads."""
        for future in self._pending:
            future.cancel()
        self._pending.clear()
        self._next = self._end
        if self._pool is not None:
            self._pool.shutdown(wait=False)


class _ChunkReader:
    """``read(n)`` over the chunks of a ranged download (at most one chunk in memory)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = memoryview(b"")

    def read(self, n: int = -1) -> bytes:
        if not self._buffer:
            chunk = next(self._chunks, b"")
            if not chunk:
                return b""
            self._buffer = memoryview(chunk)
        if n < 0 or n >= len(self._buffer):
            data, self._buffer = bytes(self._buffer), memoryview(b"")
            return data
        data = bytes(self._buffer[:n])
        self._buffer = self._buffer[n:]
        return data

    def close(self) -> None:
        self._buffer = memoryview(b"")
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()


class _BlockUpload:
    """The blocks of one upload: ids are unique to it, so two uploads of one name never mix."""

    def __init__(self, blob: Any) -> None:
        self.blob = blob
        self._prefix = uuid.uuid4().hex

    def block_id(self, number: int) -> str:
        # Every id of a blob must have the same length: 32 + 6 characters, base64-encoded.
        return base64.b64encode(f"{self._prefix}{number:06d}".encode("ascii")).decode("ascii")


class AzureStorageFile(StorageFile):
    """A blob opened for reading (ranged streaming) or writing (staged blocks)."""

    _storage: AzureStorage
    max_parts = MAX_BLOCKS
    max_part_size = MAX_BLOCK_SIZE

    def __init__(self, name: str, mode: str, storage: AzureStorage) -> None:
        self._properties: Any = None
        super().__init__(
            storage,
            storage._key(name),
            names.normalize_name(name),
            mode,
            part_size=storage.block_size,
        )

    @property
    def blob(self) -> Any:
        """Return the SDK's ``BlobClient`` of this file."""
        return self._storage._blob(self._key)

    def _stat(self) -> int:
        self._properties = self.blob.get_blob_properties(timeout=self._storage.timeout)
        return int(self._properties.size or 0)

    def _read_stream(self, start: int) -> Any:
        sdk_core = require("azure.core", "azure")
        size = int(self._properties.size or 0)
        blob = self.blob
        etag = self._properties.etag
        timeout = self._storage.timeout

        def fetch(offset: int, length: int) -> bytes:
            try:
                # Pinned to the version _stat() saw: a later range never mixes two versions.
                downloader = blob.download_blob(
                    offset=offset,
                    length=length,
                    etag=etag,
                    match_condition=sdk_core.MatchConditions.IfNotModified,
                    max_concurrency=1,
                    timeout=timeout,
                )
                return bytes(downloader.readall())
            except Exception as exc:
                if _status(exc) in (404, 412):
                    raise StorageError(
                        f"{self.name} was replaced or deleted while it was being read."
                    ) from exc
                raise

        return _ChunkReader(_PrefetchedRanges(fetch, start, size, self._storage.read_chunk_size))

    def _put(self, data: bytes) -> None:
        self._storage._put_blob(self._key, data, None, overwrite=True)

    def _begin_upload(self) -> Any:
        self._storage._check_writable(self._key)
        return _BlockUpload(self.blob)

    def _upload_part(self, state: Any, number: int, data: bytes) -> Any:
        block_id = state.block_id(number)
        self._storage._stage(state.blob, block_id, data)
        return block_id

    def _complete_upload(self, state: Any, parts: list[Any]) -> None:
        self._storage._commit(state.blob, self._key, parts, None, overwrite=True)

    def _abort_upload(self, state: Any) -> None:
        """Nothing to do: the service discards uncommitted blocks within a week."""


class AzureStorage(AzureSettings, AzureUrls, BaseStorage):
    """Store files as block blobs in one Azure Storage container."""

    file_class = AzureStorageFile
    # The SDK's clients are thread-safe: one client (and connection pool) per storage.
    client_per_thread = False
    #: Blobs per list request (None: the service's default of 5000).
    list_page_size: int | None = None
    #: The service's limit on blob names; in characters here (see ``_check_key_length``).
    max_key_bytes = MAX_NAME_LENGTH
    derived_attrs = frozenset(
        {
            "_connection",
            "_url_base",
            "_delegation_key",
            "_delegation_lock",
            "_sas_template",
            "_sas_learnable",
            "_container",
            "block_size",
            "single_put_size",
            "read_chunk_size",
        }
    )
    error_rules = (
        (_named("ResourceNotFoundError"), NotFound),
        (_named("ResourceExistsError"), AlreadyExists),
        (_named("ClientAuthenticationError"), AccessDenied),
        (lambda exc: _status(exc) in (401, 403), AccessDenied),
    )

    def _configure(self) -> None:
        super()._configure()
        self._configure_azure()
        self._init_urls()
        self._container: Any = None
        options = self.client_options
        self.block_size = int(options.get("max_block_size") or DEFAULT_BLOCK_SIZE)
        self.single_put_size = int(options.get("max_single_put_size") or self.block_size)
        self.read_chunk_size = int(options.get("max_chunk_get_size") or DEFAULT_BLOCK_SIZE)

    # -- clients ---------------------------------------------------------------------------

    def _container_name(self) -> str:
        if not self.azure_container:
            raise ImproperlyConfigured(
                "AzureStorage needs a container: set AZURE_CONTAINER, or the 'azure_container' "
                "option in STORAGES."
            )
        return str(self.azure_container)

    def account_url(self) -> str:
        """Return the blob service endpoint requests go to (without a connection string)."""
        if self.is_emulated:
            # The emulator serves accounts in the path; AZURE_CUSTOM_DOMAIN moves its host.
            return f"http://{self.custom_domain or EMULATOR_HOST}/{self.account_name}"
        if not self.account_name:
            raise ImproperlyConfigured(
                "AzureStorage needs an account: set AZURE_ACCOUNT_NAME (option 'account_name') "
                "or AZURE_CONNECTION_STRING (option 'connection_string')."
            )
        scheme = "https" if self.azure_ssl else "http"
        return f"{scheme}://{self.account_name}.blob.{self.endpoint_suffix}"

    def _credential(self) -> Any:
        """Return the credential of requests: account key, then SAS token, then token."""
        if self.account_key and self.account_name:
            return {"account_name": self.account_name, "account_key": self.account_key}
        if self.sas_token:
            return str(self.sas_token).lstrip("?")
        return self.token_credential  # None: anonymous (a public container, read-only)

    def client_kwargs(self) -> dict[str, Any]:
        """Return the keyword arguments of ``BlobServiceClient`` (timeouts, sizes, options)."""
        kwargs: dict[str, Any] = {
            "connection_timeout": self.timeout,
            "read_timeout": self.timeout,
            "max_single_get_size": DEFAULT_BLOCK_SIZE,
            "max_chunk_get_size": DEFAULT_BLOCK_SIZE,
            "max_block_size": self.block_size,
            "max_single_put_size": self.single_put_size,
        }
        if self.api_version:
            kwargs["api_version"] = self.api_version
        kwargs.update(self.client_options)
        return kwargs

    def make_client(self) -> Any:
        """Return a new ``BlobServiceClient``; override to customize it."""
        sdk = require("azure.storage.blob", "azure")
        if self.connection_string:
            credential = None
            if self.token_credential is not None and not (
                self._connection.get("accountkey") or self._connection.get("sharedaccesssignature")
            ):
                credential = self.token_credential
            return sdk.BlobServiceClient.from_connection_string(
                self.connection_string, credential=credential, **self.client_kwargs()
            )
        return sdk.BlobServiceClient(
            self.account_url(), credential=self._credential(), **self.client_kwargs()
        )

    def _connect(self) -> Any:
        self._container_name()
        return self.make_client()

    def _disconnect(self, client: Any) -> None:
        client.close()

    def _reset_clients(self) -> None:
        super()._reset_clients()
        self._container = None
        self._init_urls()

    @property
    def container_client(self) -> Any:
        """Return the SDK's ``ContainerClient`` of the storage's container."""
        client = self.client
        container = self._container
        if container is None or container._client_ref is not client:
            container = client.get_container_client(self._container_name())
            container._client_ref = client
            self._container = container
        return container

    def _blob(self, key: str) -> Any:
        return self.container_client.get_blob_client(key)

    # -- names -----------------------------------------------------------------------------

    def _key(self, name: object) -> str:
        key = super()._key(name)
        self._check_key_length(key)
        return key

    def _check_key_length(self, key: str) -> None:
        # Azure counts characters, not bytes: the core's byte check would refuse valid names.
        if len(key) > MAX_NAME_LENGTH or key.count("/") > MAX_SLASHES:
            raise InvalidBlobName(
                f"The name {key[:40]!r}... has {len(key)} characters and {key.count('/')} "
                f"slashes with its location; AzureStorage allows {MAX_NAME_LENGTH} characters "
                f"and {MAX_SLASHES} slashes. Give the file field a max_length (see "
                "get_name_max_len()) so Django shortens names, or use shorter names."
            )

    def _check_writable(self, key: str) -> None:
        if not key or key.endswith("."):
            raise InvalidBlobName(
                f"Azure blob names cannot be empty or end with a dot: {key!r}. "
                "storage.get_valid_name() gives a name Azure accepts."
            )

    def get_valid_name(self, name: str) -> str:
        """Return ``name`` cleaned for Azure: Django's rules per path segment, no final dot."""
        segments = [
            Storage.get_valid_name(self, part) for part in names.normalize_name(name).split("/")
        ]
        cleaned = "/".join(segments).rstrip(".")
        if not cleaned or cleaned.endswith("/"):
            raise SuspiciousFileOperation(f"Could not derive a valid blob name from {name!r}.")
        return cleaned

    def get_name_max_len(self) -> int:
        """Return the longest name a file field may hold: 1024 minus the location prefix (and
        the room a suffix needs when overwriting is off)."""
        longest = MAX_NAME_LENGTH - (len(self.location) + 1 if self.location else 0)
        if not self.file_overwrite:
            longest -= ALTERNATIVE_SUFFIX
        return longest

    # -- uploads ---------------------------------------------------------------------------

    def get_object_parameters(self, name: str) -> dict[str, Any]:
        """Return the content settings (and ``metadata``) of a new blob; override to vary."""
        return dict(self.object_parameters)

    def _content(self, key: str, content_type: str | None) -> tuple[Any, dict[str, str] | None]:
        """Return the ``ContentSettings`` and metadata of a new blob at ``key``."""
        sdk = require("azure.storage.blob", "azure")
        name = self._name(key)
        params = self.get_object_parameters(name)
        metadata = params.pop("metadata", None)
        unknown = set(params) - CONTENT_SETTINGS
        if unknown:
            raise ImproperlyConfigured(f"Unknown object parameter(s): {', '.join(sorted(unknown))}")
        guessed, encoding = mimetypes.guess_type(name)
        settings: dict[str, Any] = {
            "content_type": content_type or guessed or self.default_content_type
        }
        if encoding:
            settings["content_encoding"] = encoding
        if self.cache_control:
            settings["cache_control"] = self.cache_control
        settings.update(params)
        return sdk.ContentSettings(**settings), metadata

    def _put_blob(self, key: str, data: bytes, content_type: str | None, overwrite: bool) -> None:
        self._check_writable(key)
        settings, metadata = self._content(key, content_type)
        with self._create_only(key, overwrite):
            self._blob(key).upload_blob(
                data,
                length=len(data),
                overwrite=overwrite,
                content_settings=settings,
                metadata=metadata,
                max_concurrency=1,
                timeout=self.timeout,
            )

    def _stage(self, blob: Any, block_id: str, data: bytes) -> None:
        blob.stage_block(block_id, data, length=len(data), timeout=self.timeout)

    def _commit(
        self, blob: Any, key: str, block_ids: list[str], content_type: str | None, overwrite: bool
    ) -> None:
        sdk_core = require("azure.core", "azure")
        settings, metadata = self._content(key, content_type)
        condition = {} if overwrite else {"match_condition": sdk_core.MatchConditions.IfMissing}
        with self._create_only(key, overwrite):
            blob.commit_block_list(
                block_ids,
                content_settings=settings,
                metadata=metadata,
                timeout=self.timeout,
                **condition,
            )

    @contextmanager
    def _create_only(self, key: str, overwrite: bool) -> Iterator[None]:
        """Turn the service's "condition not met" (412) into ``AlreadyExists`` for a
        create-only write (the service may answer 412 rather than 409)."""
        try:
            yield
        except Exception as exc:
            if not overwrite and _status(exc) == 412:
                raise AlreadyExists(f"{self._name(key)} already exists.") from exc
            raise

    def _write(self, key: str, body: UploadBody, overwrite: bool) -> None:
        self._check_writable(key)
        first = read_full(body, self.single_put_size)
        following = read_full(body, self.block_size) if len(first) == self.single_put_size else b""
        if not following:
            self._put_blob(key, first, body.content_type, overwrite)
            return
        upload = _BlockUpload(self._blob(key))

        def pieces() -> Iterator[bytes]:
            view = memoryview(first)
            while view:
                yield bytes(view[: self.block_size])
                view = view[self.block_size :]
            yield following
            index = 1
            while data := read_full(body, block_size_for(index, self.block_size)):
                yield data
                index += 1

        block_ids = self._stage_all(upload, pieces())
        self._commit(upload.blob, key, block_ids, body.content_type, overwrite)

    def _stage_all(self, upload: _BlockUpload, pieces: Iterator[bytes]) -> list[str]:
        """Stage every piece as a block, ``upload_max_conn`` at a time; return the ids."""
        block_ids: list[str] = []
        workers = self.upload_max_conn
        if workers <= 1:
            for number, data in enumerate(pieces, 1):
                block_ids.append(upload.block_id(number))
                self._stage(upload.blob, block_ids[-1], data)
            return block_ids
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="azure-upload")
        in_flight: deque[Future[None]] = deque()
        try:
            for number, data in enumerate(pieces, 1):
                block_ids.append(upload.block_id(number))
                in_flight.append(pool.submit(self._stage, upload.blob, block_ids[-1], data))
                del data  # only the pool holds the block now
                # Memory stays at ``workers`` blocks in flight plus the one being read.
                while len(in_flight) >= workers:
                    in_flight.popleft().result()
            while in_flight:
                in_flight.popleft().result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return block_ids

    # -- other storage hooks ---------------------------------------------------------------

    def _open_key(self, key: str, name: str, mode: str) -> AzureStorageFile:
        if any(flag in mode for flag in "wax+"):
            self._check_writable(key)
        return self.file_class(name, mode, self)

    def _exists_key(self, key: str) -> bool:
        if not key:
            return bool(self.container_client.exists(timeout=self.timeout))
        return bool(self._blob(key).exists(timeout=self.timeout))

    def _delete_key(self, key: str) -> None:
        self._blob(key).delete_blob(timeout=self.timeout)

    def _properties(self, key: str) -> Any:
        return self._blob(key).get_blob_properties(timeout=self.timeout)

    def _size_key(self, key: str) -> int:
        return int(self._properties(key).size or 0)

    def _modified_key(self, key: str) -> datetime:
        return self._properties(key).last_modified  # type: ignore[no-any-return]

    def _created_key(self, key: str) -> datetime:
        return self._properties(key).creation_time  # type: ignore[no-any-return]

    def _listdir_key(self, prefix: str) -> tuple[list[str], list[str]]:
        dirs: list[str] = []
        files: list[str] = []
        items = self.container_client.walk_blobs(
            name_starts_with=prefix or None,
            delimiter="/",
            results_per_page=self.list_page_size,
            timeout=self.timeout,
        )
        for item in items:
            relative = item.name[len(prefix) :]
            if type(item).__name__ == "BlobPrefix":
                dirs.append(relative.rstrip("/"))
            elif relative:  # a blob named like the directory is a "folder" marker
                files.append(relative)
        return dirs, files
