"""The settings of the Google Cloud Storage backend, how they are checked and normalized, and
the client and bucket objects built from them (the first layer of the storage class)."""

from __future__ import annotations

import codecs
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from storages._object_store import ObjectStore
from storages.compress import GZIP_CONTENT_TYPES
from storages.deps import require
from storages.settings import Setting

__all__ = ["BLOB_PROPERTIES", "CHUNK_QUANTUM", "GoogleCloudSettings", "predefined_acl"]

KiB = 1024
MiB = 1024 * KiB
#: Resumable uploads send chunks in multiples of this many bytes (all but the last one).
CHUNK_QUANTUM = 256 * KiB
#: Chunk size of resumable uploads when ``GS_BLOB_CHUNK_SIZE`` is not set.
DEFAULT_CHUNK_SIZE = 16 * MiB
#: Requests of a save() from a seekable file of known size, when ``GS_BLOB_CHUNK_SIZE`` is not
#: set: sent straight from the file (google-cloud-storage's own chunk size; 256 KiB multiple).
WINDOW_SIZE = 100 * MiB
#: A v4 signed URL lives at most a week.
MAX_EXPIRATION = 7 * 24 * 3600

#: Keys of ``GS_OBJECT_PARAMETERS`` that set a blob property (the rest of the allowed keys).
BLOB_PROPERTIES = frozenset(
    {
        "cache_control",
        "content_disposition",
        "content_encoding",
        "content_language",
        "content_type",
        "custom_time",
        "event_based_hold",
        "kms_key_name",
        "metadata",
        "storage_class",
        "temporary_hold",
    }
)

_JSON_ACLS = (
    "authenticatedRead",
    "bucketOwnerFullControl",
    "bucketOwnerRead",
    "private",
    "projectPrivate",
    "publicRead",
    "publicReadWrite",
)
# The XML API spells the same predefined ACLs with dashes; the documentation accepts both.
_XML_ACLS = {
    "authenticated-read": "authenticatedRead",
    "bucket-owner-full-control": "bucketOwnerFullControl",
    "bucket-owner-read": "bucketOwnerRead",
    "private": "private",
    "project-private": "projectPrivate",
    "public-read": "publicRead",
    "public-read-write": "publicReadWrite",
}


def predefined_acl(value: Any, label: str) -> str | None:
    """Return the JSON API name of a predefined ACL (either spelling), or raise."""
    if value is None or value == "":
        return None
    if value in _JSON_ACLS:
        return str(value)
    if value in _XML_ACLS:
        return _XML_ACLS[value]
    raise ImproperlyConfigured(
        f"{label} must be one of the predefined ACLs {', '.join(_JSON_ACLS)}, not {value!r}."
    )


class GoogleCloudSettings(ObjectStore):
    """Declares and validates every Google Cloud Storage setting; builds the client."""

    bucket_name = Setting("GS_BUCKET_NAME", None, doc="Bucket holding the files.")
    project_id = Setting("GS_PROJECT_ID", None, doc="Project; None infers it from the environment.")
    credentials = Setting(
        "GS_CREDENTIALS",
        None,
        secret=True,
        doc="google-auth credentials; None uses Application Default Credentials.",
    )
    location = Setting("GS_LOCATION", "", doc="Key prefix of every file.")
    custom_endpoint = Setting(
        "GS_CUSTOM_ENDPOINT",
        None,
        keywords=("custom_domain",),
        doc="Base URL of generated URLs (a bucket-bound host or CDN).",
    )
    default_acl = Setting(
        "GS_DEFAULT_ACL", None, doc="Predefined ACL of new files; None keeps the bucket's default."
    )
    querystring_auth = Setting(
        "GS_QUERYSTRING_AUTH", True, doc="Sign URLs; False gives plain public URLs."
    )
    expiration = Setting(
        "GS_EXPIRATION",
        timedelta(seconds=86400),
        doc="Lifetime of signed URLs: timedelta, datetime or seconds.",
    )
    file_overwrite = Setting(
        "GS_FILE_OVERWRITE", True, doc="Replace an existing file saved under the same name."
    )
    object_parameters = Setting(
        "GS_OBJECT_PARAMETERS", {}, doc="Blob properties (and 'acl') of every new file."
    )
    max_memory_size = Setting(
        "GS_MAX_MEMORY_SIZE", 0, doc="Bytes of a non-seekable upload kept in memory before disk."
    )
    blob_chunk_size = Setting(
        "GS_BLOB_CHUNK_SIZE", None, doc="Chunk size of resumable uploads (multiple of 256 KiB)."
    )
    gzip = Setting("GS_IS_GZIPPED", False, doc="Compress files whose type is listed.")
    gzip_content_types = Setting(
        "GZIP_CONTENT_TYPES", GZIP_CONTENT_TYPES, doc="Content types compressed when gzip is on."
    )
    iam_sign_blob = Setting(
        "GS_IAM_SIGN_BLOB", False, doc="Sign URLs with the IAM signBlob API instead of a local key."
    )
    sa_email = Setting(
        "GS_SA_EMAIL",
        None,
        doc="Service account that signs through IAM (default: the credentials').",
    )
    client_options = Setting(
        None, None, doc="client_options of google.cloud.storage.Client (option only)."
    )

    # Settings of the 1.9.1 documentation that later releases removed: still honoured.
    auto_create_bucket = Setting(
        "GS_AUTO_CREATE_BUCKET",
        False,
        deprecated="create the bucket outside the application (for now it is created on first "
        "use).",
    )
    auto_create_acl = Setting(
        "GS_AUTO_CREATE_ACL",
        "projectPrivate",
        deprecated="set the bucket's access control outside the application.",
    )
    cache_control = Setting(
        "GS_CACHE_CONTROL",
        None,
        deprecated="use GS_OBJECT_PARAMETERS = {'cache_control': ...}.",
    )
    file_name_charset = Setting(
        "GS_FILE_NAME_CHARSET",
        "utf-8",
        aliases=("GS_FILE_CHARSET",),
        deprecated="object names are always UTF-8 in Google Cloud Storage; remove the setting.",
    )

    def _configure(self) -> None:
        """Validate the settings and fold the legacy ones into their replacements."""
        super()._configure()
        self.part_size = self._checked_chunk_size()
        # A body that fits in one chunk is one request: a resumable session costs two or more.
        self.single_put_size = self.part_size
        # Every request is expensive: large ones, read from the file as they are sent.
        self.window_size = WINDOW_SIZE if self.blob_chunk_size is None else 0
        self.default_acl = predefined_acl(self.default_acl, self.setting_label("default_acl"))
        self.auto_create_acl = predefined_acl(
            self.auto_create_acl, self.setting_label("auto_create_acl")
        )
        params = dict(self.object_parameters or {})
        unknown = sorted(set(params) - BLOB_PROPERTIES - {"acl"})
        if unknown:
            raise ImproperlyConfigured(
                f"{self.setting_label('object_parameters')} has unknown key(s) "
                f"{', '.join(unknown)}; allowed: acl, {', '.join(sorted(BLOB_PROPERTIES))}."
            )
        if "acl" in params:
            params["acl"] = predefined_acl(params["acl"], "GS_OBJECT_PARAMETERS['acl']")
        if self.cache_control is not None:
            params.setdefault("cache_control", self.cache_control)
        self.object_parameters = params
        self._check_expiration()
        endpoint = self.custom_endpoint
        if endpoint is not None:
            if not isinstance(endpoint, str) or not endpoint.strip("/"):
                raise ImproperlyConfigured(
                    f"{self.setting_label('custom_endpoint')} must be a URL such as "
                    f"'https://cdn.example.com', not {endpoint!r}."
                )
            endpoint = endpoint.rstrip("/")
            # A bare host name gets https, like the custom domains of the other backends.
            self.custom_endpoint = endpoint if "://" in endpoint else f"https://{endpoint}"
        try:
            codecs.lookup(str(self.file_name_charset))
        except LookupError:
            raise ImproperlyConfigured(
                f"{self.setting_label('file_name_charset')} names no known character set: "
                f"{self.file_name_charset!r}."
            ) from None
        options = self.client_options
        # A dict, or google-api-core's ClientOptions object, which is accepted as is.
        if (
            options is not None
            and not isinstance(options, dict)
            and not hasattr(options, "api_endpoint")
        ):
            raise ImproperlyConfigured(
                "The 'client_options' option must be a dict or a ClientOptions object."
            )

    def _checked_chunk_size(self) -> int:
        size = self.blob_chunk_size
        if size is None:
            return DEFAULT_CHUNK_SIZE
        if (
            isinstance(size, bool)
            or not isinstance(size, int)
            or size <= 0
            or (size % CHUNK_QUANTUM)
        ):
            raise ImproperlyConfigured(
                f"{self.setting_label('blob_chunk_size')} must be a positive multiple of "
                f"256 KiB (262144 bytes), such as {4 * CHUNK_QUANTUM}, not {size!r}."
            )
        return int(size)

    def _check_expiration(self) -> None:
        value = self.expiration
        label = self.setting_label("expiration")
        if isinstance(value, datetime):
            return  # a point in time: checked when a URL is signed, against the clock
        if isinstance(value, bool) or not isinstance(value, (int, timedelta)):
            raise ImproperlyConfigured(
                f"{label} must be a timedelta, a datetime or a number of seconds, not {value!r}."
            )
        seconds = value.total_seconds() if isinstance(value, timedelta) else value
        if not 0 < seconds <= MAX_EXPIRATION:
            raise ImproperlyConfigured(
                f"{label} must be between 1 second and 7 days (signed URLs live at most a "
                f"week), not {value!r}."
            )

    def make_client(self) -> Any:
        """Return a new ``google.cloud.storage.Client``; override to customize the transport."""
        gcs = require("google.cloud.storage", "google")
        return gcs.Client(
            project=self.project_id,
            credentials=self.credentials,
            client_options=self.client_options,
        )

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
