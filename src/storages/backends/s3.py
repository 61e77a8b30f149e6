"""Amazon S3 and S3-compatible services (DigitalOcean Spaces, Cloudflare R2, Backblaze B2, MinIO).

Settings are declared in :mod:`storages.backends._s3_settings` and URLs are built in
:mod:`storages.backends._s3_urls`. Uploads are
:mod:`storages.backends._s3_upload`'s primitives: one ``PutObject`` for a body that fits in one
part, else a multipart upload (parts in parallel when ``AWS_S3_USE_THREADS``); with overwriting
off, the final request carries ``If-None-Match: *`` so the service refuses it when the name is
taken. This module reads (ranged GETs pinned to the ETag the file was opened with), stats,
lists and deletes.
"""

from __future__ import annotations

import inspect
import re
import warnings
from collections.abc import Iterator
from typing import Any, ClassVar

from django.contrib.staticfiles.storage import ManifestFilesMixin
from django.core.exceptions import ImproperlyConfigured

from storages.backends._s3_copy import copy_object
from storages.backends._s3_direct import S3DirectUploads
from storages.backends._s3_upload import S3Uploads
from storages.base import BaseStorage
from storages.deps import require
from storages.errors import AccessDenied, AlreadyExists, NotFound, StorageError
from storages.files import StorageFile
from storages.objects import CHECKSUM_METADATA, ObjectInfo, UploadTarget

__all__ = ["S3File", "S3ManifestStaticStorage", "S3StaticStorage", "S3Storage"]

MiB = 1024 * 1024
#: Bodies up to this size are one PutObject (boto3's own multipart threshold).
SINGLE_PUT_SIZE = 8 * MiB
#: The part size of save(): boto3's default ``multipart_chunksize``, which django-storages'
#: saves (through boto3's transfer manager) use too.
SAVE_PART_SIZE = 8 * MiB
#: Parts of one upload in flight when threads are on (memory: this many parts). boto3 sends ten;
#: on moto four left a 256 MB save 5% behind `upload_fileobj`, eight kept level with it.
UPLOAD_THREADS = 8
#: The codes S3 (and S3-compatible services) answer for a missing key, bucket or upload.
NOT_FOUND = frozenset({"NoSuchKey", "404", "NotFound", "NoSuchUpload", "NoSuchBucket"})
ACCESS_DENIED = frozenset({"AccessDenied", "403", "Forbidden", "AllAccessDisabled"})
PRECONDITION_FAILED = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict"})
#: An ETag that is the MD5 of the object (a single PutObject without KMS or customer keys).
_MD5_ETAG = re.compile(r'^"?([0-9a-fA-F]{32})"?$')
#: Server-side encryption whose objects' ETags are not their MD5.
_OPAQUE_ETAG_SSE = frozenset({"aws:kms", "aws:kms:dsse"})


def error_code(exc: BaseException) -> str:
    """Return the S3 error code (or HTTP status) of a botocore ``ClientError``."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return ""
    code = response.get("Error", {}).get("Code")
    if code:
        return str(code)
    return str(response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))


def _codes(codes: frozenset[str]) -> Any:
    return lambda exc: error_code(exc) in codes


class S3File(StorageFile):
    """A file in an S3 bucket: ranged streaming reads, multipart streaming writes."""

    def __init__(
        self, name: str, mode: str, storage: S3Storage, buffer_size: int | None = None
    ) -> None:
        # Streamed writes are cut by AWS_S3_FILE_BUFFER_SIZE; save() by its own part size.
        super().__init__(name, mode, storage, part_size=buffer_size or storage.file_buffer_size)

    @property
    def buffer_size(self) -> int:
        """Return the part size of streamed writes (the documented attribute name)."""
        return self._part_size

    @property
    def obj(self) -> Any:
        """Return the boto3 ``Object`` resource of this file."""
        storage = self._storage
        assert isinstance(storage, S3Storage)
        return storage.bucket.Object(self._key)


class S3Storage(S3Uploads, S3DirectUploads):
    """Store files in an S3 bucket (``storages.backends.s3.S3Storage``)."""

    file_class = S3File
    content_type_param = "ContentType"
    content_encoding_param = "ContentEncoding"
    max_key_bytes = 1024
    max_parts = 10_000
    max_part_size = 5 * 1024**3
    #: Keys per ListObjectsV2 page (None: the service's default of 1000).
    list_page_size: int | None = None
    #: Objects up to this size are copied inside S3 with one CopyObject (the service's limit);
    #: larger ones with UploadPartCopy ranges of ``copy_part_size`` bytes.
    copy_single_limit: ClassVar[int] = 5 * 1024**3
    copy_part_size: ClassVar[int] = 512 * MiB
    sdk_packages = frozenset({"botocore", "boto3", "s3transfer", "urllib3"})
    derived_attrs = frozenset({"_url_base", "_presigner", "_credentials", "_frozen", "_cloudfront"})
    error_rules = (
        (_codes(NOT_FOUND), NotFound),
        (_codes(ACCESS_DENIED), AccessDenied),
        (
            lambda exc: type(exc).__name__ in {"NoCredentialsError", "PartialCredentialsError"},
            AccessDenied,
        ),
        (_codes(PRECONDITION_FAILED), AlreadyExists),
    )

    def _configure(self) -> None:
        super()._configure()
        legacy_config = inspect.getattr_static(type(self), "config", None)
        if legacy_config is not None and self.setting_source("client_config") == "default":
            warnings.warn(
                f"{type(self).__name__}.config is deprecated: set client_config (or "
                "AWS_S3_CLIENT_CONFIG) instead.",
                DeprecationWarning,
                stacklevel=4,
            )
            self.client_config = legacy_config
        self._configure_s3()
        self._init_urls()
        transfer = self.transfer_config
        threads = UPLOAD_THREADS if self.use_threads else 1
        if transfer is None:
            # save() cuts parts as boto3's default TransferConfig does (which django-storages'
            # save() uses); file_buffer_size is the part size of files opened for writing.
            self.part_size = SAVE_PART_SIZE
            self.single_put_size = SINGLE_PUT_SIZE
        else:
            # A boto3 TransferConfig still says how saves are cut into parts.
            self.part_size = int(transfer.multipart_chunksize)
            self.single_put_size = int(transfer.multipart_threshold)
            threads = int(transfer.max_concurrency) if transfer.use_threads else 1
        self.upload_concurrency = max(threads, 1)

    def _connect(self) -> Any:
        if not self.bucket_name:
            raise ImproperlyConfigured(
                "S3Storage needs a bucket: set AWS_STORAGE_BUCKET_NAME, or the 'bucket_name' "
                "option in STORAGES."
            )
        session = self._session()
        client = session.client("s3", **self._client_options(self.endpoint_url))
        self._credentials = session.get_credentials()
        if self.auto_create_bucket:
            self._create_bucket(client)
        return client

    def _disconnect(self, client: Any) -> None:
        client.close()

    def _create_bucket(self, client: Any) -> None:
        try:
            client.head_bucket(Bucket=self.bucket_name)
            return
        except Exception as exc:
            if error_code(exc) not in NOT_FOUND:
                raise
        args: dict[str, Any] = {"Bucket": self.bucket_name}
        region = client.meta.region_name
        if region and region != "us-east-1":
            args["CreateBucketConfiguration"] = {"LocationConstraint": region}
        acl = self.bucket_acl or self.default_acl
        if acl:
            args["ACL"] = acl
        client.create_bucket(**args)

    @property
    def connection(self) -> Any:
        """Return a boto3 S3 resource for this thread (as django-storages offered)."""
        resource = getattr(self._local, "resource", None)
        if resource is None:
            resource = self._session().resource("s3", **self._client_options(self.endpoint_url))
            self._local.resource = resource
        return resource

    @property
    def unsigned_connection(self) -> Any:
        """Return a boto3 S3 resource for this thread whose requests are not signed."""
        resource = getattr(self._local, "unsigned_resource", None)
        if resource is None:
            botocore = require("botocore", "s3")
            config_module = require("botocore.config", "s3")
            options = self._client_options(self.endpoint_url)
            options["config"] = options["config"].merge(
                config_module.Config(signature_version=botocore.UNSIGNED)
            )
            resource = self._session().resource("s3", **options)
            self._local.unsigned_resource = resource
        return resource

    @property
    def bucket(self) -> Any:
        """Return the boto3 ``Bucket`` resource of this storage's bucket."""
        return self.connection.Bucket(self.bucket_name)

    def _stat_key(self, key: str) -> ObjectInfo:
        return self._info(self.client.head_object(**self._object(key), **self._sse_c_params()))

    def _info(self, head: dict[str, Any]) -> ObjectInfo:
        """Return what a HeadObject (or GetObject) response tells about the object."""
        return ObjectInfo(
            size=int(head["ContentLength"]),
            modified=head.get("LastModified"),
            etag=head.get("ETag"),
            content_type=head.get("ContentType"),
            content_encoding=head.get("ContentEncoding"),
            version=head.get("ETag"),
            raw=head,
            checksum=self._checksum(head.get("ETag"), head.get("Metadata")),
        )

    def _checksum(self, etag: str | None, metadata: dict[str, str] | None) -> str | None:
        """Return the hex MD5 of an object: recorded at upload, else its ETag when that is one."""
        recorded = (metadata or {}).get(CHECKSUM_METADATA)
        if recorded:
            return recorded.lower()
        params = self.object_parameters
        if params.get("ServerSideEncryption") in _OPAQUE_ETAG_SSE or "SSECustomerKey" in params:
            return None
        match = _MD5_ETAG.match(etag or "")
        return match.group(1).lower() if match else None

    def _scan_key(self, prefix: str) -> Iterator[tuple[str, ObjectInfo]]:
        # One paged listing without a delimiter: size, time and ETag of every key below prefix;
        # user metadata is not listed (partial), so a multipart object's checksum needs a stat.
        paginator = self.client.get_paginator("list_objects_v2")
        pages = paginator.paginate(
            Bucket=self.bucket_name,
            Prefix=prefix,
            PaginationConfig={"PageSize": self.list_page_size} if self.list_page_size else {},
        )
        for page in pages:
            for item in page.get("Contents", ()):
                key = item["Key"]
                if key == prefix or key.endswith("/"):
                    continue  # "folder" markers are not files
                etag = item.get("ETag")
                yield (
                    key,
                    ObjectInfo(
                        size=int(item["Size"]),
                        modified=item.get("LastModified"),
                        etag=etag,
                        version=etag,
                        checksum=self._checksum(etag, None),
                        partial=True,
                    ),
                )

    def _open_key(self, key: str) -> tuple[ObjectInfo, Any]:
        """Open a file with one GetObject: its headers are the metadata of the version it
        streams (a later range is pinned to that version's ETag)."""
        response = self.client.get_object(**self._object(key), **self._sse_c_params())
        body = response.pop("Body")
        return self._info(response), body

    def _read_key(self, key: str, info: ObjectInfo, start: int) -> Any:
        args = {**self._object(key), **self._sse_c_params()}
        if start:
            args["Range"] = f"bytes={start}-"
        if info.etag:
            # A later range must come from the same version of the object, never a mix.
            args["IfMatch"] = info.etag
        try:
            return self.client.get_object(**args)["Body"]
        except Exception as exc:
            if error_code(exc) in PRECONDITION_FAILED:
                raise StorageError(f"{self._name(key)} changed while it was being read.") from exc
            raise

    def _copy_key_from(
        self, source: BaseStorage, key: str, info: ObjectInfo, target: UploadTarget
    ) -> bool:
        return copy_object(self, source, key, info, target)

    def _delete_key(self, key: str) -> None:
        self.client.delete_object(**self._object(key))

    def _listdir_key(self, prefix: str) -> tuple[list[str], list[str]]:
        dirs: list[str] = []
        files: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        pages = paginator.paginate(
            Bucket=self.bucket_name,
            Prefix=prefix,
            Delimiter="/",
            PaginationConfig={"PageSize": self.list_page_size} if self.list_page_size else {},
        )
        for page in pages:
            for common in page.get("CommonPrefixes", ()):
                dirs.append(common["Prefix"][len(prefix) :].rstrip("/"))
            for item in page.get("Contents", ()):
                relative = item["Key"][len(prefix) :]
                if relative:  # the key equal to the prefix is a "folder" marker, not a file
                    files.append(relative)
        return dirs, files


class S3StaticStorage(S3Storage):
    """S3 storage for static files: plain URLs, so pages can be cached."""

    querystring_auth = False


class S3ManifestStaticStorage(ManifestFilesMixin, S3StaticStorage):
    """S3 static storage that serves hashed names from a manifest (cache-busting)."""
