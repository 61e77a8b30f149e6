"""Azure Blob Storage (``storages.backends.azure_storage.AzureStorage``).

Settings and clients are declared in :mod:`storages.backends._azure_settings`, URLs are built in
:mod:`storages.backends._azure_urls` and streamed reads live in
:mod:`storages.backends._azure_reads`. This module maps the core's primitives onto
``azure-storage-blob`` (v12) calls:

* a body that fits in one block is one ``Put Blob``; a larger one is staged block by block
  (``stage_block``, ``AZURE_UPLOAD_MAX_CONN`` blocks at a time, driven by the core's part
  writer) and committed with ``commit_block_list``;
* with overwriting off, the final request carries ``If-None-Match: *``: the service refuses it
  when the name is taken, and the core picks the next free name;
* reads are ranged downloads pinned to the ETag seen when the file was opened.
"""

from __future__ import annotations

import base64
import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

from django.core.exceptions import ImproperlyConfigured, SuspiciousFileOperation
from django.core.files.storage import Storage

from storages import names
from storages.backends._azure_copy import copy_blob
from storages.backends._azure_direct import AzureDirectUploads
from storages.backends._azure_reads import pinned_reader, status_code
from storages.backends._azure_settings import DEFAULT_CHUNK_SIZE, unknown_parameters
from storages.base import BaseStorage
from storages.deps import require
from storages.errors import AccessDenied, AlreadyExists, NotFound
from storages.files import StorageFile
from storages.objects import CHECKSUM_METADATA, ObjectInfo, UploadTarget

__all__ = ["AzureStorage", "AzureStorageFile", "InvalidBlobName"]

MiB = 1024 * 1024
#: The service's limits on blob names (in characters and path separators).
MAX_NAME_LENGTH = 1024
MAX_SLASHES = 256
#: A block blob has at most 50,000 blocks of at most 4000 MiB each.
MAX_BLOCKS = 50_000
MAX_BLOCK_SIZE = 4000 * MiB
#: Block size of uploads unless ``AZURE_CLIENT_OPTIONS`` sets ``max_block_size``.
DEFAULT_BLOCK_SIZE = 4 * MiB
#: Characters ``get_alternative_name`` adds to a taken name ("_" and 7 random characters).
ALTERNATIVE_SUFFIX = 8
#: BlobClients kept for reuse per container client (see AzureStorage._blob).
BLOB_CLIENTS_KEPT = 256


class InvalidBlobName(SuspiciousFileOperation, ValueError):
    """A name Azure cannot store (too long, too many slashes, or ending with a dot).

    It is also a ``ValueError``, which django-storages raised for these names.
    """


def _named(*class_names: str) -> Any:
    return lambda exc: any(k.__name__ in class_names for k in type(exc).__mro__)


def _blob_info(props: Any, raw: Any = None) -> ObjectInfo:
    """Return the record of a blob's properties (from a stat or a listing)."""
    content = props.content_settings
    info = ObjectInfo(int(props.size or 0), props.last_modified, props.creation_time, raw=raw)
    info.etag = info.version = props.etag  # ranged reads are pinned to the ETag
    info.content_type = content.content_type
    info.content_encoding = content.content_encoding
    info.checksum = _checksum(props)
    return info


def _checksum(props: Any) -> str | None:
    """Return the hex MD5 of a blob: its Content-MD5 (set by single-request uploads), else the
    one recorded at upload."""
    md5 = props.content_settings.content_md5
    if md5:
        return bytes(md5).hex()
    recorded = (props.metadata or {}).get(CHECKSUM_METADATA)
    return str(recorded).lower() if recorded else None


class _BlockUpload:
    """The blocks of one upload: ids are unique to it, so two uploads of one name never mix."""

    def __init__(self, blob: Any, content: dict[str, Any]) -> None:
        self.blob = blob
        #: The ``content_settings`` and ``metadata`` of the commit, decided before any block.
        self.content = content
        self._prefix = uuid.uuid4().hex

    def block_id(self, number: int) -> str:
        """Return the id of block ``number`` of this upload."""
        # Every id of a blob must have the same length: 32 + 6 characters, base64-encoded.
        return base64.b64encode(f"{self._prefix}{number:06d}".encode("ascii")).decode("ascii")


class AzureStorageFile(StorageFile):
    """A blob opened for reading (ranged streaming) or writing (staged blocks)."""

    _storage: AzureStorage

    @property
    def blob(self) -> Any:
        """Return the SDK's ``BlobClient`` of this file."""
        return self._storage._blob(self._key)


class AzureStorage(AzureDirectUploads):
    """Store files as block blobs in one Azure Storage container."""

    file_class = AzureStorageFile
    # The SDK's clients are thread-safe: one client (and connection pool) per storage.
    client_per_thread = False
    knows_created = True
    #: Blobs per list request (None: the service's default of 5000).
    list_page_size: int | None = None
    #: The service's limit on blob names, in characters (``_key_problem`` counts characters:
    #: Azure does, so the core's byte count would refuse valid names).
    max_key_bytes = MAX_NAME_LENGTH
    name_error = InvalidBlobName
    max_parts = MAX_BLOCKS
    max_part_size = MAX_BLOCK_SIZE
    sdk_packages = frozenset({"azure"})
    derived_attrs = frozenset(
        {
            "_connection",
            "_url_base",
            "_delegation_key",
            "_delegation_lock",
            "_sas_template",
            "_sas_learnable",
            "_container",
            "read_chunk_size",
        }
    )
    error_rules = (
        (_named("ResourceNotFoundError"), NotFound),
        (_named("ResourceExistsError"), AlreadyExists),
        # Only create-only writes send a condition through this table (a pinned read turns its
        # own 412 into a StorageError), so a failed condition means the name is taken.
        (lambda exc: status_code(exc) == 412, AlreadyExists),
        (_named("ClientAuthenticationError"), AccessDenied),
        (lambda exc: status_code(exc) in (401, 403), AccessDenied),
    )

    def _configure(self) -> None:
        super()._configure()
        self._configure_azure()
        options = self.client_options
        self.part_size = int(options.get("max_block_size") or DEFAULT_BLOCK_SIZE)
        self.single_put_size = int(options.get("max_single_put_size") or self.part_size)
        self.upload_concurrency = self.upload_max_conn
        self.read_chunk_size = int(options.get("max_chunk_get_size") or DEFAULT_CHUNK_SIZE)
        self._init_urls()

    def _connect(self) -> Any:
        self._container_name()
        return self.make_client()

    def _disconnect(self, client: Any) -> None:
        client.close()

    def _blob(self, key: str) -> Any:
        """Return the SDK's ``BlobClient`` of ``key``.

        Building one costs about 100 µs, a tenth of a metadata request to a local server, so the
        last few are kept with the container client they were made from (the SDK's clients are
        safe to share between threads).
        """
        container = self.container_client
        kept: dict[str, Any] | None = getattr(container, "_stowage_blobs", None)
        if kept is None:
            kept = container._stowage_blobs = {}
        blob = kept.get(key)
        if blob is None:
            blob = kept[key] = container.get_blob_client(key)
            if len(kept) > BLOB_CLIENTS_KEPT:
                with contextlib.suppress(StopIteration, KeyError, RuntimeError):
                    del kept[next(iter(kept))]  # the oldest; another thread may be first
        return blob

    def _key_problem(self, key: str, writing: bool) -> str | None:
        # Azure counts characters, not bytes: the core's byte check would refuse valid names.
        if len(key) > MAX_NAME_LENGTH or key.count("/") > MAX_SLASHES:
            return (
                f"has {len(key)} characters and {key.count('/')} slashes with its location; "
                f"AzureStorage allows {MAX_NAME_LENGTH} characters and {MAX_SLASHES} slashes "
                "(see get_name_max_len())"
            )
        if writing and (not key or key.endswith(".")):
            return (
                "is empty or ends with a dot, which Azure blob names cannot "
                "(storage.get_valid_name() gives a name Azure accepts)"
            )
        return None

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

    def _content(self, target: UploadTarget) -> dict[str, Any]:
        """Return the ``content_settings`` and ``metadata`` arguments of a new blob."""
        params = dict(target.params)
        problem = unknown_parameters(params)
        if problem:
            # get_object_parameters() may be overridden: its keys are checked here, not at setup.
            raise ImproperlyConfigured(f"get_object_parameters({target.name!r}) gave {problem}.")
        metadata = params.pop("metadata", None)
        if target.checksum:
            metadata = {**(metadata or {}), CHECKSUM_METADATA: target.checksum}
        sdk = require("azure.storage.blob", "azure")
        settings = sdk.ContentSettings(
            **{"cache_control": self.cache_control, **params},
            content_type=target.content_type,
            content_encoding=target.content_encoding,
        )
        return {"content_settings": settings, "metadata": metadata}

    def _stat_key(self, key: str) -> ObjectInfo:
        props = self._blob(key).get_blob_properties(timeout=self.timeout)
        return _blob_info(props, raw=props)

    def _scan_key(self, prefix: str) -> Iterator[tuple[str, ObjectInfo]]:
        # One paged listing without a delimiter; with metadata, it tells what a stat tells.
        items = self.container_client.list_blobs(
            name_starts_with=prefix or None,
            include=["metadata"],
            results_per_page=self.list_page_size,
            timeout=self.timeout,
        )
        for props in items:
            if props.name != prefix and not props.name.endswith("/"):  # "folder" markers
                yield props.name, _blob_info(props)

    def _read_key(self, key: str, info: ObjectInfo, start: int) -> Any:
        blob = self._blob(key)
        name = self._name(key)
        return pinned_reader(
            blob, info.version, start, info.size, self.read_chunk_size, self.timeout, name
        )

    def _put_key(self, target: UploadTarget, data: bytes) -> None:
        # With overwrite False the SDK sends If-None-Match: * (create-only).
        self._blob(target.key).upload_blob(
            data,
            length=len(data),
            overwrite=target.overwrite,
            max_concurrency=1,
            timeout=self.timeout,
            **self._content(target),
        )

    def _begin_upload(self, target: UploadTarget) -> _BlockUpload:
        return _BlockUpload(self._blob(target.key), self._content(target))

    def _upload_part(
        self, target: UploadTarget, state: Any, number: int, data: bytes, last: bool
    ) -> str:
        block_id = state.block_id(number)
        state.blob.stage_block(block_id, data, length=len(data), timeout=self.timeout)
        return str(block_id)

    def _complete_upload(self, target: UploadTarget, state: Any, parts: list[Any]) -> None:
        condition: dict[str, Any] = {}
        if not target.overwrite:
            sdk_core = require("azure.core", "azure")
            condition["match_condition"] = sdk_core.MatchConditions.IfMissing
        state.blob.commit_block_list(parts, timeout=self.timeout, **state.content, **condition)

    def _abort_upload(self, target: UploadTarget, state: Any) -> None:
        """Nothing to do: the service discards uncommitted blocks within a week."""

    def _copy_key_from(
        self, source: BaseStorage, key: str, info: ObjectInfo, target: UploadTarget
    ) -> bool:
        return copy_blob(self, source, key, info, target)

    def _delete_key(self, key: str) -> None:
        self._blob(key).delete_blob(timeout=self.timeout)

    def _root_exists(self) -> bool:
        return bool(self.container_client.exists(timeout=self.timeout))

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

    def list_all(self, path: str = "") -> list[str]:
        """Return the name of every file under ``path``, recursively, relative to ``location``
        (the names ``open()`` takes), in the service's order (by name), across every page."""
        if isinstance(path, str) and path and not path.strip("/"):
            path = ""  # "/" is the storage's root, as in listdir()
        key = self._key(path)
        prefix = f"{key}/" if key else ""
        with self.translating(path):
            blobs = self.container_client.list_blobs(
                name_starts_with=prefix or None,
                results_per_page=self.list_page_size,
                timeout=self.timeout,
            )
            # Names ending with "/" are "folder" markers, not files (listdir() skips them too).
            return [self._name(blob.name) for blob in blobs if not blob.name.endswith("/")]
