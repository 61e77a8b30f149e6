"""Google Cloud Storage (``storages.backends.gcloud.GoogleCloudStorage``).

Settings are declared in :mod:`storages.backends._gcloud_settings`, URLs are built in
:mod:`storages.backends._gcloud_urls` and the streaming transfers live in
:mod:`storages.backends._gcloud_transfer`. This module maps the core's primitives onto
google-cloud-storage calls: one ``upload_from_string`` for a body that fits in one chunk, else a
resumable upload session fed one chunk per part, the last one marked final. With overwriting off
both carry ``ifGenerationMatch=0``, so the service refuses them when the name is taken. Reads
are streaming GETs pinned to the generation the file was opened with and verified against the
stored checksum.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import mimetypes
from collections.abc import Iterator
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from storages._upload import SourceWindow
from storages.backends._gcloud_copy import rewrite
from storages.backends._gcloud_direct import GoogleCloudDirectUploads
from storages.backends._gcloud_settings import BLOB_PROPERTIES, predefined_acl
from storages.backends._gcloud_transfer import Checksum, ResumableUpload, media_url, open_download
from storages.base import BaseStorage
from storages.deps import require
from storages.errors import AccessDenied, AlreadyExists, NotFound, StorageError
from storages.files import StorageFile
from storages.objects import CHECKSUM_METADATA, ObjectInfo, UploadTarget

__all__ = ["GoogleCloudFile", "GoogleCloudStorage"]

#: The object fields a scan lists (what ``_stat_key`` reads, without the ACLs and owner).
_SCAN_FIELDS = (
    "items(name,size,updated,timeCreated,etag,generation,contentType,contentEncoding,"
    "md5Hash,crc32c,metadata),nextPageToken"
)


def http_status(exc: BaseException) -> int | None:
    """Return the HTTP status a google-api-core (or resumable-media) exception carries."""
    if not type(exc).__module__.startswith("google."):
        return None
    code = getattr(exc, "code", None)
    if not isinstance(code, int):
        code = getattr(getattr(exc, "response", None), "status_code", None)
    return code if isinstance(code, int) else None


def _status_in(*codes: int) -> Any:
    return lambda exc: http_status(exc) in codes


def _named(*names: str) -> Any:
    return lambda exc: type(exc).__name__ in names


def _checksum(blob: Any) -> str | None:
    """Return the hex MD5 of a blob: the service's (not kept for composed objects), else the one
    recorded at upload."""
    if blob.md5_hash:
        try:
            return base64.b64decode(blob.md5_hash).hex()
        except (binascii.Error, ValueError):
            pass
    recorded = (blob.metadata or {}).get(CHECKSUM_METADATA)
    return str(recorded).lower() if recorded else None


class GoogleCloudFile(StorageFile):
    """A file in a bucket: streaming reads pinned to one generation, chunked resumable writes."""

    @property
    def blob(self) -> Any:
        """Return the google-cloud-storage ``Blob`` of this file (as django-storages offered)."""
        if self.info is not None and self.info.raw is not None:
            return self.info.raw  # the blob fetched when the file was opened for reading
        storage = self._storage
        assert isinstance(storage, GoogleCloudStorage)
        return storage._blob(self._key)

    @property
    def mime_type(self) -> str | None:
        """Return the content type guessed from the file's name."""
        return mimetypes.guess_type(self.name)[0]

    @property
    def mime_encoding(self) -> str | None:
        """Return the content encoding guessed from the file's name (``gzip`` for ``.gz``)."""
        return mimetypes.guess_type(self.name)[1]

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        if self.info is not None:
            # The fetched blob holds the client, which refuses to be pickled; reopening stats again.
            state["info"] = dataclasses.replace(self.info, raw=None)
        return state


class GoogleCloudStorage(GoogleCloudDirectUploads):
    """Store files in a Google Cloud Storage bucket."""

    file_class = GoogleCloudFile
    # The SDK's HTTP session (requests) is not documented as thread-safe: one client per thread.
    client_per_thread = True
    # Chunks of a resumable session must arrive in order: one in flight.
    upload_concurrency = 1
    knows_created = True
    #: Objects per list request (None: the service's default of 1000).
    list_page_size: int | None = None
    #: The service's limit on object names, in UTF-8 bytes.
    max_key_bytes = 1024
    content_type_param = "content_type"
    content_encoding_param = "content_encoding"
    sdk_packages = frozenset({"google", "requests", "urllib3"})
    derived_attrs = frozenset({"part_size", "single_put_size", "window_size", "_endpoint"})
    error_rules = (
        (_status_in(404), NotFound),
        (_status_in(412), AlreadyExists),
        (_status_in(401, 403), AccessDenied),
        (_named("RefreshError"), AccessDenied),
    )

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

    def _create_bucket(self, client: Any) -> None:
        bucket = client.bucket(self.bucket_name)
        if bucket.exists():
            return
        try:
            bucket.create(predefined_acl=self.auto_create_acl)
        except Exception as exc:
            if http_status(exc) != 409:  # another thread or process created it first
                raise

    def _disconnect(self, client: Any) -> None:
        client.close()

    def _new_blob(self, target: UploadTarget) -> tuple[Any, str | None]:
        """Return the blob an upload creates, with its properties set, and its predefined ACL."""
        params = dict(target.params)
        unknown = set(params) - BLOB_PROPERTIES - {"acl"}
        if unknown:
            raise ImproperlyConfigured(f"Unknown object parameter(s): {', '.join(sorted(unknown))}")
        acl = predefined_acl(params.pop("acl", None), "the 'acl' object parameter")
        blob = self._blob(target.key)
        for prop, value in params.items():
            setattr(blob, prop, value)
        # In the object resource too, not only in the upload's header: some servers (the
        # emulator) read it only from there on resumable uploads.
        blob.content_type = target.content_type
        if target.content_encoding:
            blob.content_encoding = target.content_encoding
        if target.checksum:
            blob.metadata = {**(blob.metadata or {}), CHECKSUM_METADATA: target.checksum}
        return blob, acl or self.default_acl

    def _stat_key(self, key: str) -> ObjectInfo:
        blob = self.bucket.get_blob(key)
        if blob is None:
            raise NotFound(f"{self._name(key)}: no such object in bucket {self.bucket_name!r}.")
        return self._blob_info(blob)

    @staticmethod
    def _blob_info(blob: Any) -> ObjectInfo:
        """Return the record of a fetched or listed blob."""
        return ObjectInfo(
            size=int(blob.size or 0),
            modified=blob.updated,
            created=blob.time_created,
            etag=blob.etag,
            content_type=blob.content_type,
            content_encoding=blob.content_encoding,
            version=blob.generation,
            raw=blob,
            checksum=_checksum(blob),
        )

    def _scan_key(self, prefix: str) -> Iterator[tuple[str, ObjectInfo]]:
        # One paged listing without a delimiter, with every field a stat reads (metadata too).
        blobs = self.client.list_blobs(
            self.bucket_name,
            prefix=prefix or None,
            page_size=self.list_page_size,
            fields=_SCAN_FIELDS,
        )
        for blob in blobs:
            if blob.name != prefix and not blob.name.endswith("/"):  # "folder" markers
                yield blob.name, self._blob_info(blob)

    def _read_key(self, key: str, info: ObjectInfo, start: int) -> Any:
        blob = info.raw
        expected = None
        if blob.crc32c:
            expected = ("crc32c", blob.crc32c)
        elif blob.md5_hash:
            expected = ("md5", blob.md5_hash)
        # Pinned to the generation _stat_key saw: a later range never mixes two versions.
        url = media_url(self._api_endpoint(), self.bucket_name, key, info.version)
        name = self._name(key)
        try:
            return open_download(self.client._http, url, name, start, info.size, expected)
        except Exception as exc:
            if http_status(exc) == 404:
                raise StorageError(
                    f"{name} was replaced or deleted while it was being read."
                ) from exc
            raise

    def _put_key(self, target: UploadTarget, data: bytes) -> None:
        blob, acl = self._new_blob(target)
        # The SDK sends our CRC32C along, so the service refuses corrupted bytes too.
        blob.upload_from_string(
            data,
            content_type=target.content_type,
            predefined_acl=acl,
            if_generation_match=None if target.overwrite else 0,
            checksum="crc32c",
            client=self.client,
        )
        checksum = Checksum()
        checksum.update(data)
        if blob.crc32c and blob.crc32c != checksum.b64digest():
            # A service that did not check: never leave bytes that differ from what was sent.
            blob.delete(if_generation_match=blob.generation)
            raise StorageError(
                f"{target.name}: the stored object does not match what was sent (crc32c "
                f"{blob.crc32c} != {checksum.b64digest()}); the transfer was corrupted."
            )

    def _begin_upload(self, target: UploadTarget) -> ResumableUpload:
        blob, acl = self._new_blob(target)
        url = blob.create_resumable_upload_session(
            content_type=target.content_type,
            client=self.client,
            checksum=None,  # ResumableUpload keeps its own running CRC32C
            predefined_acl=acl,
            if_generation_match=None if target.overwrite else 0,
        )
        return ResumableUpload(self.client._http, url, target.name)

    def _upload_part(
        self,
        target: UploadTarget,
        state: ResumableUpload,
        number: int,
        data: bytes | SourceWindow,
        last: bool,
    ) -> int:
        try:
            state.send(data, final=last)
        except StorageError:
            if state.finished and state.resource.get("generation"):
                # The service kept bytes that differ from what was sent: never leave them.
                self._blob(target.key).delete(if_generation_match=int(state.resource["generation"]))
            raise
        return len(data)

    def _complete_upload(
        self, target: UploadTarget, state: ResumableUpload, parts: list[Any]
    ) -> None:
        # The final chunk already committed (and verified) the object; check that it did.
        if not state.finished or state.offset != sum(parts):
            raise StorageError(
                f"{target.name}: the upload session ended without storing the object "
                f"({state.offset} of {sum(parts)} bytes)."
            )

    def _abort_upload(self, target: UploadTarget, state: ResumableUpload) -> None:
        state.abort()

    def _copy_key_from(
        self, source: BaseStorage, key: str, info: ObjectInfo, target: UploadTarget
    ) -> bool:
        return rewrite(self, source, key, info, target)

    def _delete_key(self, key: str) -> None:
        self._blob(key).delete()

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
