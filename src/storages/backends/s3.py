"""Amazon S3 and S3-compatible services (DigitalOcean Spaces, Cloudflare R2, Backblaze B2, MinIO).

Settings are declared in :mod:`storages.backends._s3_settings`; URL signing lives in
:mod:`storages.backends._s3_urls`. This module maps the storage hooks onto boto3 calls.
"""

from __future__ import annotations

import collections
import mimetypes
import threading
from datetime import datetime, timedelta, timezone
from typing import Any

from django.contrib.staticfiles.storage import ManifestFilesMixin
from django.core.exceptions import ImproperlyConfigured

from storages.backends._s3_settings import S3Settings
from storages.backends._s3_urls import (
    QUERY_PARAMETERS,
    SigV4Presigner,
    UrlBase,
    cloudfront_signer,
    quote_key,
)
from storages.base import BaseStorage
from storages.compress import GzipCompressingReader, gunzip_reader, should_gzip
from storages.deps import require
from storages.errors import AccessDenied, AlreadyExists, NotFound, StorageError
from storages.files import StorageFile, UploadBody
from storages.names import normalize_name

__all__ = ["S3File", "S3ManifestStaticStorage", "S3StaticStorage", "S3Storage"]

MiB = 1024 * 1024
_SSE_C = ("SSECustomerAlgorithm", "SSECustomerKey", "SSECustomerKeyMD5")


def error_code(exc: BaseException) -> str:
    """Return the S3 error code (or HTTP status) of a botocore ``ClientError``."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return ""
    code = response.get("Error", {}).get("Code")
    if code:
        return str(code)
    return str(response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))


def _codes(*codes: str) -> Any:
    wanted = set(codes)
    return lambda exc: error_code(exc) in wanted


class S3File(StorageFile):
    """A file in an S3 bucket: ranged streaming reads, multipart streaming writes."""

    max_parts = 10_000
    max_part_size = 5 * 1024**3
    _storage: S3Storage

    def __init__(
        self, name: str, mode: str, storage: S3Storage, buffer_size: int | None = None
    ) -> None:
        self._etag: str | None = None
        self._content_encoding: str | None = None
        self._content_type: str | None = None
        super().__init__(
            storage,
            storage._key(name),
            normalize_name(name),
            mode,
            part_size=buffer_size or storage.file_buffer_size,
        )

    @property
    def buffer_size(self) -> int:
        """Return the part size of streamed writes (the documented attribute name)."""
        return self._part_size

    def _object(self) -> dict[str, Any]:
        return {"Bucket": self._storage.bucket_name, "Key": self._key}

    def _stat(self) -> int:
        head = self._storage._head(self._key)
        self._etag = head.get("ETag")
        self._content_encoding = head.get("ContentEncoding")
        self._content_type = head.get("ContentType")
        return int(head["ContentLength"])

    def _read_stream(self, start: int) -> Any:
        args = {**self._object(), **self._storage._sse_c_params()}
        if start:
            args["Range"] = f"bytes={start}-"
        if self._etag:
            # A later range must come from the same version of the object, never a mix.
            args["IfMatch"] = self._etag
        try:
            return self._storage.client.get_object(**args)["Body"]
        except Exception as exc:
            if error_code(exc) in {"PreconditionFailed", "412"}:
                raise StorageError(f"{self.name} changed while it was being read.") from exc
            raise

    def _wrap_read_stream(self, stream: Any) -> Any:
        if self._storage._decompresses(self._content_encoding, self._content_type):
            return gunzip_reader(stream)
        return stream

    def _put(self, data: bytes) -> None:
        params = self._storage._write_params(self.name, None)
        self._storage.client.put_object(**self._object(), Body=data, **params)

    def _begin_upload(self) -> Any:
        params = self._storage._write_params(self.name, None)
        return self._storage.client.create_multipart_upload(**self._object(), **params)["UploadId"]

    def _upload_part(self, state: Any, number: int, data: bytes) -> Any:
        response = self._storage.client.upload_part(
            **self._object(),
            UploadId=state,
            PartNumber=number,
            Body=data,
            **self._storage._sse_c_params(),
        )
        return {"PartNumber": number, "ETag": response["ETag"]}

    def _complete_upload(self, state: Any, parts: list[Any]) -> None:
        self._storage.client.complete_multipart_upload(
            **self._object(),
            UploadId=state,
            MultipartUpload={"Parts": parts},
            **self._storage._sse_c_params(),
        )

    def _abort_upload(self, state: Any) -> None:
        self._storage.client.abort_multipart_upload(**self._object(), UploadId=state)


class _Chain:
    """A read-only stream of ``head`` followed by the rest of ``tail``.

    Reads return exactly what was asked for until the end: the transfer manager turns each
    read into one part, and only the last part of an upload may be smaller than 5 MiB.
    """

    def __init__(self, head: bytes, tail: Any) -> None:
        self._head = memoryview(head)
        self._tail = tail

    def read(self, n: int = -1) -> bytes:
        if not self._head:
            return bytes(self._tail.read(n))
        if n is None or n < 0:
            data = bytes(self._head) + self._tail.read()
            self._head = memoryview(b"")
            return bytes(data)
        data = bytes(self._head[:n])
        self._head = self._head[n:]
        if len(data) < n:
            data += bytes(self._tail.read(n - len(data)))
        return data

    def readable(self) -> bool:
        return True


class S3Storage(S3Settings, BaseStorage):
    """Store files in an S3 bucket (``storages.backends.s3.S3Storage``)."""

    file_class = S3File
    max_key_bytes = 1024
    #: Keys per ListObjectsV2 page (None: the service's default of 1000).
    list_page_size: int | None = None
    derived_attrs = frozenset(
        {
            "_url_base",
            "_presigner",
            "_credentials",
            "_frozen",
            "_create_only",
            "_create_only_lock",
            "_cloudfront",
            "_default_transfer",
        }
    )
    error_rules = (
        (_codes("NoSuchKey", "404", "NotFound", "NoSuchUpload"), NotFound),
        (_codes("AccessDenied", "403", "Forbidden", "AllAccessDisabled"), AccessDenied),
        (
            lambda exc: type(exc).__name__ in {"NoCredentialsError", "PartialCredentialsError"},
            AccessDenied,
        ),
        (_codes("PreconditionFailed", "412", "ConditionalRequestConflict"), AlreadyExists),
    )

    def _configure(self) -> None:
        super()._configure()
        self._configure_s3()
        self._url_base: UrlBase | None = None
        self._presigner: SigV4Presigner | None = None
        self._credentials: Any = None
        self._frozen: Any = None
        self._create_only: collections.Counter[str] = collections.Counter()
        self._create_only_lock = threading.Lock()
        self._default_transfer: Any = None
        if self.setting_source("cloudfront_signer") in ("keyword", "class"):
            self._cloudfront = self.cloudfront_signer
        elif self.cloudfront_key_id:
            self._cloudfront = cloudfront_signer(self.cloudfront_key_id, self.cloudfront_key)
        else:
            self._cloudfront = None

    # -- clients ---------------------------------------------------------------------------

    def _session(self) -> Any:
        boto3 = require("boto3", "s3")
        if self.session_profile:
            return boto3.session.Session(profile_name=self.session_profile)
        return boto3.session.Session(
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            aws_session_token=self.security_token,
        )

    def _botocore_config(self) -> Any:
        config_module = require("botocore.config", "s3")
        options: dict[str, Any] = {"signature_version": self.signature_version or "s3v4"}
        if self.addressing_style:
            options["s3"] = {"addressing_style": self.addressing_style}
        if self.proxies:
            options["proxies"] = self.proxies
        if self.request_checksum_calculation:
            options["request_checksum_calculation"] = self.request_checksum_calculation
        if self.response_checksum_validation:
            options["response_checksum_validation"] = self.response_checksum_validation
        ours = config_module.Config(**options)
        return ours.merge(self.client_config) if self.client_config else ours

    def _client_options(self, endpoint_url: str | None) -> dict[str, Any]:
        return {
            "region_name": self.region_name,
            "use_ssl": self.use_ssl,
            "endpoint_url": endpoint_url,
            "verify": self.verify,
            "config": self._botocore_config(),
        }

    def _connect(self) -> Any:
        if not self.bucket_name:
            raise ImproperlyConfigured(
                "S3Storage needs a bucket: set AWS_STORAGE_BUCKET_NAME, or the 'bucket_name' "
                "option in STORAGES."
            )
        session = self._session()
        client = session.client("s3", **self._client_options(self.endpoint_url))
        for operation in ("PutObject", "CompleteMultipartUpload"):
            client.meta.events.register(
                f"before-parameter-build.s3.{operation}", self._add_create_only_condition
            )
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
            if error_code(exc) not in {"404", "NoSuchBucket", "NotFound"}:
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
    def bucket(self) -> Any:
        """Return the boto3 ``Bucket`` resource of this storage's bucket."""
        return self.connection.Bucket(self.bucket_name)

    def _add_create_only_condition(self, params: dict[str, Any], **_: Any) -> None:
        # The transfer manager cannot pass IfNoneMatch itself, so a create-only save registers
        # its key and this hook adds the condition to the requests that create the object.
        if self._create_only and self._create_only.get(params.get("Key", "")):
            params.setdefault("IfNoneMatch", "*")

    # -- object parameters -----------------------------------------------------------------

    def get_object_parameters(self, name: str) -> dict[str, Any]:
        """Return the PutObject parameters for ``name``; override to vary them per file."""
        return dict(self.object_parameters)

    def _write_params(self, name: str, content_type: str | None) -> dict[str, Any]:
        params = self.get_object_parameters(name)
        guessed, encoding = mimetypes.guess_type(name)
        if "ContentType" not in params:
            params["ContentType"] = content_type or guessed or self.default_content_type
        if encoding and "ContentEncoding" not in params:
            params["ContentEncoding"] = encoding
        if self.default_acl and "ACL" not in params:
            params["ACL"] = self.default_acl
        return params

    def _sse_c_params(self) -> dict[str, Any]:
        params = self.object_parameters
        return {k: params[k] for k in _SSE_C if k in params}

    def _gzips(self, params: dict[str, Any]) -> bool:
        return (
            bool(self.gzip)
            and "ContentEncoding" not in params
            and should_gzip(params.get("ContentType"), self.gzip_content_types)
        )

    def _decompresses(self, encoding: str | None, content_type: str | None) -> bool:
        return (
            bool(self.gzip)
            and encoding == "gzip"
            and should_gzip(content_type, self.gzip_content_types)
        )

    def _transfer_config(self) -> Any:
        if self.transfer_config is not None:
            return self.transfer_config
        if self._default_transfer is None:  # built once: every save asks for it
            self._default_transfer = self._build_transfer_config()
        return self._default_transfer

    def _build_transfer_config(self) -> Any:
        transfer = require("boto3.s3.transfer", "s3")
        # Bounded memory: at most four 8 MiB parts are read ahead and four in flight (boto3's
        # defaults allow ten of each, well over 100 MB of peak RSS for one large save).
        config = transfer.TransferConfig(
            use_threads=self.use_threads, max_concurrency=4, max_io_queue=4
        )
        config.max_in_memory_upload_chunks = 4  # an s3transfer attribute boto3 does not take
        return config

    # -- storage hooks ---------------------------------------------------------------------

    def _write(self, key: str, body: UploadBody, overwrite: bool) -> None:
        params = self._write_params(self._name(key), body.content_type)
        source: Any = body
        if self._gzips(params):
            source = GzipCompressingReader(body)
            params["ContentEncoding"] = "gzip"
        config = self._transfer_config()
        head = source.read(config.multipart_threshold)
        if len(head) < config.multipart_threshold:
            condition = {} if overwrite else {"IfNoneMatch": "*"}
            self.client.put_object(
                Bucket=self.bucket_name, Key=key, Body=head, **params, **condition
            )
            return
        if source is body and body.seekable:
            del head  # read again from the source; not held through a long upload
            body.rewind()
            stream: Any = body.content
        else:
            stream = _Chain(head, source)
        if not overwrite:
            with self._create_only_lock:
                self._create_only[key] += 1
        try:
            self.client.upload_fileobj(
                stream, self.bucket_name, key, ExtraArgs=params, Config=config
            )
        finally:
            if not overwrite:
                with self._create_only_lock:
                    self._create_only[key] -= 1
                    if not self._create_only[key]:
                        del self._create_only[key]

    def _open_key(self, key: str, name: str, mode: str) -> S3File:
        return self.file_class(name, mode, self)

    def _head(self, key: str) -> dict[str, Any]:
        return self.client.head_object(  # type: ignore[no-any-return]
            Bucket=self.bucket_name, Key=key, **self._sse_c_params()
        )

    def _exists_key(self, key: str) -> bool:
        try:
            self._head(key)
        except Exception as exc:
            if error_code(exc) in {"404", "NoSuchKey", "NotFound"}:
                return False
            raise
        return True

    def _delete_key(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket_name, Key=key)

    def _size_key(self, key: str) -> int:
        return int(self._head(key)["ContentLength"])

    def _modified_key(self, key: str) -> datetime:
        return self._head(key)["LastModified"]  # type: ignore[no-any-return]

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

    # -- URLs ------------------------------------------------------------------------------

    def _url_base_for_signing(self) -> UrlBase:
        base = self._url_base
        if base is None:
            with self._lock:
                if self._url_base is None:
                    # Dummy credentials: the URL's shape does not depend on them.
                    probe = self._session().client(
                        "s3",
                        aws_access_key_id="probe",
                        aws_secret_access_key="probe",
                        **self._client_options(self.public_endpoint_url or self.endpoint_url),
                    )
                    url = probe.generate_presigned_url(
                        "get_object",
                        Params={"Bucket": self.bucket_name, "Key": UrlBase.PROBE_KEY},
                        ExpiresIn=60,
                    )
                    probe.close()
                    self._url_base = UrlBase(url)
                    self._presigner = SigV4Presigner(self._url_base)
                base = self._url_base
        return base

    def _reset_clients(self) -> None:
        super()._reset_clients()
        self._url_base = None
        self._presigner = None
        self._credentials = None
        self._frozen = None

    def url(
        self,
        name: str,
        parameters: dict[str, Any] | None = None,
        expire: int | None = None,
        http_method: str | None = None,
    ) -> str:
        """Return a URL for ``name``: signed, plain or on the custom domain, per settings."""
        key = self._key(name)
        expires = self.querystring_expire if expire is None else expire
        if self.custom_domain:
            return self._custom_domain_url(key, parameters or {}, expires)
        base = self._url_base or self._url_base_for_signing()
        if not parameters:
            query: Any = ()
        else:
            query = [(QUERY_PARAMETERS.get(k, k), str(v)) for k, v in parameters.items()]
        if not self.querystring_auth:
            return base.unsigned(key, query)
        presigner = self._presigner
        if presigner is not None and base.sigv4 and self._presignable(parameters):
            creds = self._frozen or self._current_credentials()
            if creds is not None and creds.access_key and creds.secret_key:
                return presigner.presign(
                    key,
                    creds.access_key,
                    creds.secret_key,
                    creds.token,
                    int(expires),
                    http_method.upper() if http_method else "GET",
                    query,
                )
        return self._botocore_url(key, parameters or {}, int(expires), http_method)

    @staticmethod
    def _presignable(parameters: dict[str, Any] | None) -> bool:
        # Only parameters that travel in the query string; others must be signed as headers.
        return not parameters or all(
            k in QUERY_PARAMETERS and isinstance(v, (str, int)) for k, v in parameters.items()
        )

    def _current_credentials(self) -> Any:
        if self._credentials is None:
            _ = self.client  # connecting resolves the credentials
        if self._credentials is None:
            raise ImproperlyConfigured(
                "Signed URLs need credentials: set AWS_S3_ACCESS_KEY_ID and "
                "AWS_S3_SECRET_ACCESS_KEY (or AWS_S3_SESSION_PROFILE), or turn signing off "
                "with AWS_QUERYSTRING_AUTH = False."
            )
        frozen = self._credentials.get_frozen_credentials()
        if not hasattr(self._credentials, "refresh_needed"):
            self._frozen = frozen  # static keys never change: freeze them once
        return frozen

    def _botocore_url(
        self, key: str, params: dict[str, Any], expires: int, http_method: str | None
    ) -> str:
        client = self.client
        if self.public_endpoint_url:
            client = self._session().client("s3", **self._client_options(self.public_endpoint_url))
        with self.translating(key):
            return client.generate_presigned_url(  # type: ignore[no-any-return]
                "get_object",
                Params={"Bucket": self.bucket_name, "Key": key, **params},
                ExpiresIn=expires,
                HttpMethod=http_method,
            )

    def _custom_domain_url(self, key: str, params: dict[str, Any], expires: int) -> str:
        url = f"{self.url_protocol}//{self.custom_domain}/{quote_key(key)}"
        if params:
            from urllib.parse import urlencode

            url += "?" + urlencode(params)
        if self.querystring_auth and self._cloudfront is not None:
            until = datetime.now(timezone.utc) + timedelta(seconds=expires)
            return self._cloudfront.generate_presigned_url(  # type: ignore[no-any-return]
                url, date_less_than=until
            )
        return url


class S3StaticStorage(S3Storage):
    """S3 storage for static files: plain URLs, so pages can be cached."""

    querystring_auth = False


class S3ManifestStaticStorage(ManifestFilesMixin, S3StaticStorage):
    """S3 static storage that serves hashed names from a manifest (cache-busting)."""
