"""Google Cloud Storage (``storages.backends.gcloud.GoogleCloudStorage``).

Settings are declared in :mod:`storages.backends._gcloud_settings`, streaming transfers live in
:mod:`storages.backends._gcloud_transfer` and URL signing in :mod:`storages.backends._gcloud_urls`.
This module maps the storage hooks onto google-cloud-storage calls.
"""

from __future__ import annotations

import mimetypes
from datetime import datetime
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from storages.backends._gcloud_settings import BLOB_PROPERTIES, GoogleCloudSettings, predefined_acl
from storages.backends._gcloud_transfer import (
    Checksum,
    ResumableUpload,
    media_url,
    open_download,
)
from storages.backends._gcloud_urls import GoogleCloudUrls
from storages.base import BaseStorage
from storages.compress import GzipCompressingReader, gunzip_reader, should_gzip
from storages.deps import require
from storages.errors import AccessDenied, AlreadyExists, NotFound, StorageError
from storages.files import StorageFile, UploadBody, read_full
from storages.names import normalize_name

__all__ = ["GoogleCloudFile", "GoogleCloudStorage"]

MiB = 1024 * 1024
#: Largest request of an upload read straight from a file (google-cloud-storage's default
#: chunk size; a multiple of 256 KiB).
STREAM_REQUEST_SIZE = 100 * MiB


def http_status(exc: BaseException) -> int | None:
    """Return the HTTP status a google-api-core exception carries, if any."""
    if not type(exc).__module__.startswith("google."):
        return None
    code = getattr(exc, "code", None)
    return code if isinstance(code, int) else None


def _status_in(*codes: int) -> Any:
    return lambda exc: http_status(exc) in codes


def _named(*names: str) -> Any:
    return lambda exc: type(exc).__name__ in names


class GoogleCloudFile(StorageFile):
    """A file in a bucket: ranged streaming reads, chunked resumable writes."""

    _storage: GoogleCloudStorage

    def __init__(self, name: str, mode: str, storage: GoogleCloudStorage) -> None:
        self._meta: Any = None
        super().__init__(
            storage, storage._key(name), normalize_name(name), mode, part_size=storage.chunk_size
        )

    @property
    def blob(self) -> Any:
        """Return the google-cloud-storage ``Blob`` of this file (as django-storages offered)."""
        if self._meta is None:
            self._meta = self._storage._blob(self._key)
        return self._meta

    def _stat(self) -> int:
        self._meta = self._storage._get_blob(self._key)
        return int(self._meta.size or 0)

    def _read_stream(self, start: int) -> Any:
        meta = self._meta
        expected = None
        if meta.crc32c:
            expected = ("crc32c", meta.crc32c)
        elif meta.md5_hash:
            expected = ("md5", meta.md5_hash)
        storage = self._storage
        # Pinned to the generation _stat() saw: a later range never mixes two versions.
        url = media_url(storage._api_endpoint(), storage.bucket_name, self._key, meta.generation)
        try:
            return open_download(
                storage.client._http, url, self.name, start, int(meta.size or 0), expected
            )
        except Exception as exc:
            if http_status(exc) == 404:
                raise StorageError(
                    f"{self.name} was replaced or deleted while it was being read."
                ) from exc
            raise

    def _wrap_read_stream(self, stream: Any) -> Any:
        meta = self._meta
        if self._storage._decompresses(meta.content_encoding, meta.content_type):
            return gunzip_reader(stream)
        return stream

    def _put(self, data: bytes) -> None:
        upload = self._storage._prepare_upload(self._key, self.name, None)
        self._storage._upload_bytes(upload, data, overwrite=True)

    def _begin_upload(self) -> Any:
        upload = self._storage._prepare_upload(self._key, self.name, None)
        return self._storage._start_session(upload, overwrite=True)

    def _upload_part(self, state: Any, number: int, data: bytes) -> Any:
        # Only the last part is shorter than the chunk size, so a short part ends the upload.
        self._storage._send_chunk(state, data, final=len(data) < self._part_size)
        return len(data)

    def _complete_upload(self, state: Any, parts: list[Any]) -> None:
        if not state.finished:  # the last part was full-sized: tell the service it was the end
            self._storage._send_chunk(state, b"", final=True)

    def _abort_upload(self, state: Any) -> None:
        state.abort()


class _Upload:
    """What one upload needs: the prepared blob, its content type, ACL and gzip decision."""

    __slots__ = ("acl", "blob", "content_type", "gzip", "name")

    def __init__(self, blob: Any, name: str, content_type: str, acl: str | None, gzip: bool):
        self.blob = blob
        self.name = name
        self.content_type = content_type
        self.acl = acl
        self.gzip = gzip


class GoogleCloudStorage(GoogleCloudSettings, GoogleCloudUrls, BaseStorage):
    """Store files in a Google Cloud Storage bucket."""

    file_class = GoogleCloudFile
    # The SDK's HTTP session (requests) is not documented as thread-safe: one client per thread.
    client_per_thread = True
    #: Objects per list request (None: the service's default of 1000).
    list_page_size: int | None = None
    #: The service's limit on object names, in UTF-8 bytes.
    max_key_bytes = 1024
    derived_attrs = frozenset({"chunk_size", "_endpoint"})
    error_rules = (
        (_status_in(404), NotFound),
        (_status_in(412), AlreadyExists),
        (_status_in(401, 403), AccessDenied),
        (_named("RefreshError"), AccessDenied),
    )

    def _configure(self) -> None:
        super()._configure()
        self._configure_gcloud()
        self._endpoint: str | None = None

    # -- clients ---------------------------------------------------------------------------

    def _connect(self) -> Any:
        if not self.bucket_name:
            raise ImproperlyConfigured(
                "GoogleCloudStorage needs a bucket: set GS_BUCKET_NAME, or the 'bucket_name' "
                "option in STORAGES."
            )
        auth_exceptions = require("google.auth.exceptions", "google")
        try:
            client = self.make_client()
        except auth_exceptions.DefaultCredentialsError as exc:
            raise ImproperlyConfigured(
                "No Google Cloud credentials were found: set GS_CREDENTIALS (option "
                "'credentials'), or point GOOGLE_APPLICATION_CREDENTIALS at a key file."
            ) from exc
        if self.auto_create_bucket:
            self._create_bucket(client)
        return client

    def make_client(self) -> Any:
        """Return a new ``google.cloud.storage.Client``; override to customize the transport."""
        gcs = require("google.cloud.storage", "google")
        return gcs.Client(
            project=self.project_id,
            credentials=self.credentials,
            client_options=self.client_options,
        )

    def _disconnect(self, client: Any) -> None:
        client.close()

    def _create_bucket(self, client: Any) -> None:
        bucket = client.bucket(self.bucket_name)
        if bucket.exists():
            return
        try:
            bucket.create(predefined_acl=self.auto_create_acl)
        except Exception as exc:
            if http_status(exc) != 409:  # another thread or process created it first
                raise

    @property
    def bucket(self) -> Any:
        """Return this thread's google-cloud-storage ``Bucket``."""
        client = self.client
        cached = getattr(self._local, "bucket", None)
        if cached is None or cached.client is not client:
            cached = client.bucket(self.bucket_name)
            self._local.bucket = cached
        return cached

    def _blob(self, key: str) -> Any:
        return self.bucket.blob(key)

    def _get_blob(self, key: str) -> Any:
        blob = self.bucket.get_blob(key)
        if blob is None:
            raise NotFound(f"{self._name(key)}: no such object in bucket {self.bucket_name!r}.")
        return blob

    def _api_endpoint(self) -> str:
        endpoint = self._endpoint
        if endpoint is None:
            endpoint = self._endpoint = str(self.client.api_endpoint).rstrip("/")
        return endpoint

    def _reset_clients(self) -> None:
        super()._reset_clients()
        self._endpoint = None

    # -- uploads ---------------------------------------------------------------------------

    def get_object_parameters(self, name: str) -> dict[str, Any]:
        """Return the blob properties (and ``acl``) for ``name``; override to vary them."""
        return dict(self.object_parameters)

    def _prepare_upload(
        self, key: str, name: str, content_type: str | None, compress: bool = False
    ) -> _Upload:
        self._check_key_length(key)  # files opened for writing do not pass through save()
        params = self.get_object_parameters(name)
        unknown = set(params) - BLOB_PROPERTIES - {"acl"}
        if unknown:
            raise ImproperlyConfigured(f"Unknown object parameter(s): {', '.join(sorted(unknown))}")
        acl = predefined_acl(params.pop("acl", None), "the 'acl' object parameter")
        guessed = mimetypes.guess_type(name)[0]
        ctype = params.pop("content_type", None) or content_type or guessed
        ctype = ctype or "application/octet-stream"
        blob = self._blob(key)
        for prop, value in params.items():
            setattr(blob, prop, value)
        # In the object resource too, not only in the upload's header: some servers (the
        # emulator) read it only from there on resumable uploads.
        blob.content_type = ctype
        # Only save() compresses: it streams its whole body through the compressor.
        gzip = (
            compress
            and bool(self.gzip)
            and "content_encoding" not in params
            and should_gzip(ctype, self.gzip_content_types)
        )
        if gzip:
            blob.content_encoding = "gzip"
        return _Upload(blob, name, ctype, acl or self.default_acl, gzip)

    def _upload_bytes(self, upload: _Upload, data: bytes, overwrite: bool) -> None:
        # One request; the service refuses it (412) if overwrite is off and the name is taken.
        # The SDK sends our CRC32C along, so the service refuses corrupted bytes too.
        blob = upload.blob
        blob.upload_from_string(
            data,
            content_type=upload.content_type,
            predefined_acl=upload.acl,
            if_generation_match=None if overwrite else 0,
            checksum="crc32c",
            client=self.client,
        )
        checksum = Checksum()
        checksum.update(data)
        if blob.crc32c and blob.crc32c != checksum.b64digest():
            # A service that did not check: never leave bytes that differ from what was sent.
            blob.delete(if_generation_match=blob.generation)
            raise StorageError(
                f"{upload.name}: the stored object does not match what was sent (crc32c "
                f"{blob.crc32c} != {checksum.b64digest()}); the transfer was corrupted."
            )

    def _start_session(self, upload: _Upload, overwrite: bool) -> ResumableUpload:
        url = upload.blob.create_resumable_upload_session(
            content_type=upload.content_type,
            client=self.client,
            checksum=None,
            predefined_acl=upload.acl,
            if_generation_match=None if overwrite else 0,
        )
        return ResumableUpload(self.client._http, url, upload.name)

    def _send_chunk(self, session: ResumableUpload, data: bytes, final: bool) -> None:
        self._guarded(session, session.send, data, final)

    def _guarded(self, session: ResumableUpload, send: Any, *args: Any) -> None:
        try:
            send(*args)
        except StorageError:
            if session.finished and session.resource.get("generation"):
                # The service kept bytes that differ from what was sent: never leave them.
                self._blob(session.resource["name"]).delete(
                    if_generation_match=int(session.resource["generation"])
                )
            raise

    def _write(self, key: str, body: UploadBody, overwrite: bool) -> None:
        upload = self._prepare_upload(key, self._name(key), body.content_type, compress=True)
        if (
            self.blob_chunk_size is None
            and not upload.gzip
            and body.seekable
            and body.size is not None
            and body.size >= self.chunk_size
        ):
            self._write_from_source(upload, body.content, overwrite)
            return
        source: Any = GzipCompressingReader(body) if upload.gzip else body
        chunk = self.chunk_size
        data = read_full(source, chunk)
        if len(data) < chunk:
            self._upload_bytes(upload, data, overwrite)
            return
        session = self._start_session(upload, overwrite)
        try:
            while True:
                final = len(data) < chunk
                self._send_chunk(session, data, final)
                if final:
                    return
                data = read_full(source, chunk)
                if not data:
                    self._send_chunk(session, b"", final=True)
                    return
        except BaseException:
            session.abort()
            raise

    def _write_from_source(self, upload: _Upload, source: Any, overwrite: bool) -> None:
        """Upload a seekable file of known size straight from the file: no chunk buffer.

        Used when the chunk size is left to us: requests of up to 100 MiB (the SDK's own
        default) are read from the file in small blocks as they are sent, so memory stays
        small and the service sees few requests. The CRC32C is computed by a first pass, so the
        last request can carry it and the service refuses a file that changed in between.
        """
        checksum = Checksum()
        total = 0
        source.seek(0)
        while data := source.read(MiB):
            checksum.update(data)
            total += len(data)
        digest = checksum.b64digest()
        session = self._start_session(upload, overwrite)
        try:
            offset = 0
            while True:
                length = min(STREAM_REQUEST_SIZE, total - offset)
                final = offset + length >= total
                self._guarded(session, session.send_window, source, offset, length, final, digest)
                offset += length
                if final:
                    return
        except BaseException:
            session.abort()
            raise

    def _gzip_types(self, content_type: str | None) -> bool:
        return should_gzip(content_type, self.gzip_content_types)

    def _decompresses(self, encoding: str | None, content_type: str | None) -> bool:
        return bool(self.gzip) and encoding == "gzip" and self._gzip_types(content_type)

    # -- other storage hooks ---------------------------------------------------------------

    def _open_key(self, key: str, name: str, mode: str) -> GoogleCloudFile:
        return self.file_class(name, mode, self)

    def _exists_key(self, key: str) -> bool:
        return bool(self._blob(key).exists())

    def _delete_key(self, key: str) -> None:
        self._blob(key).delete()

    def _size_key(self, key: str) -> int:
        return int(self._get_blob(key).size or 0)

    def _modified_key(self, key: str) -> datetime:
        return self._get_blob(key).updated  # type: ignore[no-any-return]

    def _created_key(self, key: str) -> datetime:
        return self._get_blob(key).time_created  # type: ignore[no-any-return]

    def _listdir_key(self, prefix: str) -> tuple[list[str], list[str]]:
        dirs: list[str] = []
        files: list[str] = []
        pages = self.client.list_blobs(
            self.bucket_name,
            prefix=prefix,
            delimiter="/",
            page_size=self.list_page_size,
            fields="items(name),prefixes,nextPageToken",
        ).pages
        for page in pages:
            for blob in page:
                relative = blob.name[len(prefix) :]
                if relative:  # an object named like the directory is a "folder" marker
                    files.append(relative)
            dirs.extend(p[len(prefix) :].rstrip("/") for p in page.prefixes)
        return dirs, files
