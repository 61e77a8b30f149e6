"""The settings of the S3 backend, and the translation of settings that older releases used."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from storages._object_store import ObjectStore
from storages.compress import GZIP_CONTENT_TYPES
from storages.deps import require
from storages.settings import Setting

__all__ = ["S3Settings", "legacy_header_name"]

MiB = 1024 * 1024

_KEY_ENV = ("AWS_S3_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID")
_SECRET_ENV = ("AWS_S3_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY")
_TOKEN_ENV = ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


def legacy_header_name(header: str) -> str:
    """Return the boto3 parameter for an HTTP header name (``cache-control`` → ``CacheControl``)."""
    special = {"content-md5": "ContentMD5", "x-amz-acl": "ACL"}
    lowered = header.lower()
    if lowered in special:
        return special[lowered]
    if lowered.startswith("x-amz-meta-"):
        return "Metadata"
    return "".join(part.capitalize() for part in lowered.split("-"))


class S3Settings(ObjectStore):
    """Declares and validates every S3 setting (the first layer of the S3 storage class)."""

    access_key = Setting(
        "AWS_S3_ACCESS_KEY_ID",
        None,
        aliases=("AWS_ACCESS_KEY_ID",),
        env=_KEY_ENV,
        secret=True,
        doc="Access key id.",
    )
    secret_key = Setting(
        "AWS_S3_SECRET_ACCESS_KEY",
        None,
        aliases=("AWS_SECRET_ACCESS_KEY",),
        env=_SECRET_ENV,
        secret=True,
        doc="Secret access key.",
    )
    security_token = Setting(
        "AWS_SESSION_TOKEN",
        None,
        aliases=("AWS_SECURITY_TOKEN",),
        env=_TOKEN_ENV,
        secret=True,
        doc="Temporary (STS) session token.",
    )
    session_profile = Setting(
        "AWS_S3_SESSION_PROFILE",
        None,
        env=("AWS_S3_SESSION_PROFILE",),
        doc="Named profile of the AWS config files.",
    )
    bucket_name = Setting("AWS_STORAGE_BUCKET_NAME", None, doc="Bucket holding the files.")
    object_parameters = Setting(
        "AWS_S3_OBJECT_PARAMETERS", {}, doc="Extra PutObject parameters for every file."
    )
    default_acl = Setting(
        "AWS_DEFAULT_ACL", None, doc="Canned ACL for new files; None keeps the bucket's policy."
    )
    querystring_auth = Setting("AWS_QUERYSTRING_AUTH", True, doc="Sign generated URLs.")
    querystring_expire = Setting("AWS_QUERYSTRING_EXPIRE", 3600, doc="Signed URL lifetime (s).")
    signature_version = Setting(
        "AWS_S3_SIGNATURE_VERSION", None, doc="botocore signature version; None means s3v4."
    )
    location = Setting("AWS_LOCATION", "", doc="Key prefix of every file.")
    custom_domain = Setting("AWS_S3_CUSTOM_DOMAIN", None, doc="Host for URLs (a CDN).")
    cloudfront_key_id = Setting("AWS_CLOUDFRONT_KEY_ID", None, doc="CloudFront key pair id.")
    cloudfront_key = Setting(
        "AWS_CLOUDFRONT_KEY", None, secret=True, doc="CloudFront private key (PEM)."
    )
    cloudfront_signer = Setting(None, None, doc="A ready CloudFrontSigner (option only).")
    addressing_style = Setting("AWS_S3_ADDRESSING_STYLE", None, doc="'virtual' or 'path'.")
    url_protocol = Setting("AWS_S3_URL_PROTOCOL", "https:", doc="Scheme of custom-domain URLs.")
    file_name_charset = Setting("AWS_S3_FILE_NAME_CHARSET", "utf-8", doc="Key encoding.")
    gzip = Setting("AWS_IS_GZIPPED", False, doc="Compress files whose type is listed.")
    gzip_content_types = Setting(
        "GZIP_CONTENT_TYPES", GZIP_CONTENT_TYPES, doc="Content types compressed when gzip is on."
    )
    endpoint_url = Setting("AWS_S3_ENDPOINT_URL", None, doc="Endpoint of an S3-compatible API.")
    public_endpoint_url = Setting(
        "AWS_S3_PUBLIC_ENDPOINT_URL", None, doc="Endpoint shown (and signed for) in generated URLs."
    )
    region_name = Setting("AWS_S3_REGION_NAME", None, doc="Region of the bucket.")
    proxies = Setting("AWS_S3_PROXIES", None, doc="Proxy servers by protocol or endpoint.")
    use_ssl = Setting("AWS_S3_USE_SSL", True, doc="Use TLS to the endpoint.")
    verify = Setting("AWS_S3_VERIFY", None, doc="Verify certificates (or a CA bundle path).")
    max_memory_size = Setting(
        "AWS_S3_MAX_MEMORY_SIZE",
        0,
        doc="Bytes of a non-seekable upload kept in memory for a retry before spilling to "
        "disk (0: 8 MiB).",
    )
    file_overwrite = Setting(
        "AWS_S3_FILE_OVERWRITE",
        True,
        keywords=("overwrite_files",),
        doc="Replace an existing file saved under the same name.",
    )
    file_buffer_size = Setting(
        "AWS_S3_FILE_BUFFER_SIZE",
        5 * MiB,
        keywords=("buffer_size",),
        doc="Part size of streamed writes.",
    )
    transfer_config = Setting(
        "AWS_S3_TRANSFER_CONFIG", None, doc="boto3 TransferConfig for save()."
    )
    client_config = Setting(
        "AWS_S3_CLIENT_CONFIG", None, keywords=("config",), doc="botocore Config merged over ours."
    )
    request_checksum_calculation = Setting(
        "AWS_S3_REQUEST_CHECKSUM_CALCULATION",
        None,
        doc="'when_supported' or 'when_required' (what many S3-compatible services need).",
    )
    response_checksum_validation = Setting(
        "AWS_S3_RESPONSE_CHECKSUM_VALIDATION", None, doc="'when_supported' or 'when_required'."
    )
    default_content_type = Setting(
        None, "application/octet-stream", doc="Content type when none can be guessed."
    )
    use_threads = Setting(
        "AWS_S3_USE_THREADS", True, doc="Threads in the transfer manager (prefer transfer_config)."
    )

    # Settings of the 1.9.1 documentation that later releases removed: still honoured.
    auto_create_bucket = Setting(
        "AWS_AUTO_CREATE_BUCKET",
        False,
        deprecated="create the bucket outside the application (it is created on first use now).",
    )
    bucket_acl = Setting(
        "AWS_BUCKET_ACL", None, deprecated="set the bucket's ACL or policy outside the application."
    )
    encryption = Setting(
        "AWS_S3_ENCRYPTION",
        False,
        deprecated="use AWS_S3_OBJECT_PARAMETERS = {'ServerSideEncryption': 'AES256'}.",
    )
    reduced_redundancy = Setting(
        "AWS_REDUCED_REDUNDANCY",
        False,
        deprecated="use AWS_S3_OBJECT_PARAMETERS = {'StorageClass': 'REDUCED_REDUNDANCY'}.",
    )
    preload_metadata = Setting(
        "AWS_PRELOAD_METADATA",
        False,
        deprecated="it has no effect; metadata requests are cheap now.",
    )
    secure_urls = Setting(
        "AWS_S3_SECURE_URLS", None, deprecated="use AWS_S3_URL_PROTOCOL = 'https:' or 'http:'."
    )
    # boto (v2) names that the 1.9.1 migration guide maps onto the settings above.
    headers = Setting("AWS_HEADERS", None, deprecated="use AWS_S3_OBJECT_PARAMETERS.")
    origin = Setting("AWS_ORIGIN", None, deprecated="use AWS_S3_REGION_NAME.")
    calling_format = Setting(
        "AWS_S3_CALLING_FORMAT", None, deprecated="use AWS_S3_ADDRESSING_STYLE."
    )
    host = Setting("AWS_S3_HOST", None, deprecated="use AWS_S3_ENDPOINT_URL.")
    port = Setting("AWS_S3_PORT", None, deprecated="use AWS_S3_ENDPOINT_URL.")
    proxy_host = Setting("AWS_S3_PROXY_HOST", None, deprecated="use AWS_S3_PROXIES.")
    proxy_port = Setting("AWS_S3_PROXY_PORT", None, deprecated="use AWS_S3_PROXIES.")

    def _configure_s3(self) -> None:
        """Validate S3 settings and fold the legacy ones into their replacements."""
        if self.session_profile and (self.access_key or self.secret_key):
            raise ImproperlyConfigured(
                "AWS_S3_SESSION_PROFILE/session_profile cannot be combined with access keys "
                "(AWS_S3_ACCESS_KEY_ID/AWS_S3_SECRET_ACCESS_KEY): set one or the other."
            )
        if bool(self.cloudfront_key_id) != bool(self.cloudfront_key):
            raise ImproperlyConfigured(
                "AWS_CLOUDFRONT_KEY_ID and AWS_CLOUDFRONT_KEY must be set together."
            )
        if self.secure_urls is not None and self.setting_source("url_protocol") == "default":
            self.url_protocol = "https:" if self.secure_urls else "http:"
        if self.url_protocol is None:
            self.url_protocol = "https:"
        if not str(self.url_protocol).endswith(":"):
            raise ImproperlyConfigured(
                f"{self.setting_label('url_protocol')} must end with ':' (e.g. 'https:'), "
                f"not {self.url_protocol!r}."
            )
        if self.addressing_style not in (None, "auto", "virtual", "path"):
            raise ImproperlyConfigured(
                f"{self.setting_label('addressing_style')} must be 'virtual' or 'path'."
            )
        for attr in ("request_checksum_calculation", "response_checksum_validation"):
            if getattr(self, attr) not in (None, "when_supported", "when_required"):
                raise ImproperlyConfigured(
                    f"{self.setting_label(attr)} must be 'when_supported' or 'when_required'."
                )
        size = self.file_buffer_size
        if not isinstance(size, int) or size < 5 * MiB:
            raise ImproperlyConfigured(
                f"{self.setting_label('file_buffer_size')} must be at least 5 MiB (S3's "
                f"smallest multipart part), not {size!r}."
            )
        self.object_parameters = dict(self.object_parameters or {})
        self._fold_legacy()

    def _fold_legacy(self) -> None:
        params = self.object_parameters
        if self.headers:
            for header, value in dict(self.headers).items():
                name = legacy_header_name(header)
                if name == "Metadata":
                    params.setdefault("Metadata", {})[header.lower()[len("x-amz-meta-") :]] = value
                else:
                    params.setdefault(name, value)
        if self.encryption:
            params.setdefault("ServerSideEncryption", "AES256")
        if self.reduced_redundancy:
            params.setdefault("StorageClass", "REDUCED_REDUNDANCY")
        if self.origin and not self.region_name:
            self.region_name = self.origin
        if self.calling_format and not self.addressing_style:
            fmt = str(self.calling_format)
            self.addressing_style = "virtual" if "VHost" in fmt or "Subdomain" in fmt else "path"
        if self.host and not self.endpoint_url:
            scheme = "https" if self.use_ssl else "http"
            port = f":{self.port}" if self.port else ""
            self.endpoint_url = f"{scheme}://{self.host}{port}"
        if self.proxy_host and not self.proxies:
            port = f":{self.proxy_port}" if self.proxy_port else ""
            self.proxies = {"http": f"{self.proxy_host}{port}", "https": f"{self.proxy_host}{port}"}
        for attr in ("endpoint_url", "public_endpoint_url"):
            value = getattr(self, attr)
            if value and (urlsplit(value).scheme not in ("http", "https") or "//" not in value):
                raise ImproperlyConfigured(
                    f"{self.setting_label(attr)} must be a full URL such as "
                    f"'https://{value}', not {value!r}."
                )

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
