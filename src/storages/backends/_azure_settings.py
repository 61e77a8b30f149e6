"""The settings of the Azure Blob Storage backend, how they are checked and normalized, and
the SDK clients they describe (the first layer of the Azure storage class)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from storages._object_store import ObjectStore
from storages.deps import require
from storages.settings import Setting

__all__ = [
    "CONTENT_SETTINGS",
    "EMULATOR_ACCOUNT",
    "EMULATOR_HOST",
    "EMULATOR_KEY",
    "AzureSettings",
    "parse_connection_string",
    "unknown_parameters",
]

MiB = 1024 * 1024
#: Chunk size of downloads unless ``AZURE_CLIENT_OPTIONS`` sets ``max_chunk_get_size``.
DEFAULT_CHUNK_SIZE = 4 * MiB

#: Keys of ``AZURE_OBJECT_PARAMETERS`` that become the blob's HTTP headers (``ContentSettings``).
CONTENT_SETTINGS = frozenset(
    {
        "cache_control",
        "content_disposition",
        "content_encoding",
        "content_language",
        "content_md5",
        "content_type",
    }
)

#: The storage emulator's well-known development account (published by Microsoft; not a secret).
EMULATOR_ACCOUNT = "devstoreaccount1"
EMULATOR_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
#: Where the emulator's blob service listens unless ``AZURE_CUSTOM_DOMAIN`` says otherwise.
EMULATOR_HOST = "127.0.0.1:10000"


def unknown_parameters(params: Mapping[str, Any]) -> str | None:
    """Return what is wrong with the keys of blob ``params`` (None: Azure knows them all)."""
    unknown = sorted(set(params) - CONTENT_SETTINGS - {"metadata"})
    if not unknown:
        return None
    allowed = ", ".join(sorted(CONTENT_SETTINGS))
    return f"unknown key(s) {', '.join(unknown)}; allowed: {allowed}, metadata"


def parse_connection_string(text: str) -> dict[str, str]:
    """Return the ``Key=Value`` pairs of an Azure connection string (keys lowercased)."""
    pairs: dict[str, str] = {}
    for part in str(text).split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key:
            pairs[key.strip().lower()] = value.strip()
    return pairs


class AzureSettings(ObjectStore):
    """Declares and validates every Azure setting and builds the SDK clients they describe."""

    _connection: dict[str, str]
    _container: Any

    account_name = Setting("AZURE_ACCOUNT_NAME", None, doc="Storage account name.")
    account_key = Setting(
        "AZURE_ACCOUNT_KEY", None, secret=True, doc="Shared key of the account (signs SAS URLs)."
    )
    azure_container = Setting(
        "AZURE_CONTAINER",
        None,
        keywords=("container", "container_name"),
        doc="Container holding the files (it must exist).",
    )
    azure_ssl = Setting("AZURE_SSL", True, doc="Use https (True) or http (False).")
    upload_max_conn = Setting(
        "AZURE_UPLOAD_MAX_CONN", 2, doc="Blocks of one save() uploaded in parallel."
    )
    timeout = Setting(
        "AZURE_CONNECTION_TIMEOUT_SECS", 20, doc="Socket timeout (connect and read), in seconds."
    )
    max_memory_size = Setting(
        "AZURE_BLOB_MAX_MEMORY_SIZE",
        2 * MiB,
        doc="Bytes of a non-seekable upload kept in memory (for a retry) before disk.",
    )
    expiration_secs = Setting(
        "AZURE_URL_EXPIRATION_SECS", None, doc="Lifetime of SAS URLs; None gives plain URLs."
    )
    file_overwrite = Setting(
        "AZURE_OVERWRITE_FILES",
        False,
        keywords=("overwrite_files",),
        doc="Replace an existing blob saved under the same name.",
    )
    location = Setting("AZURE_LOCATION", "", doc="Blob name prefix of every file.")
    cache_control = Setting("AZURE_CACHE_CONTROL", None, doc="Cache-Control of new blobs.")
    object_parameters = Setting(
        "AZURE_OBJECT_PARAMETERS", {}, doc="Content settings (and metadata) of every new blob."
    )
    endpoint_suffix = Setting(
        "AZURE_ENDPOINT_SUFFIX", "core.windows.net", doc="DNS suffix of the blob endpoint."
    )
    sas_token = Setting("AZURE_SAS_TOKEN", None, secret=True, doc="SAS token to authenticate.")
    custom_domain = Setting("AZURE_CUSTOM_DOMAIN", None, doc="Host of generated URLs (a CDN).")
    connection_string = Setting(
        "AZURE_CONNECTION_STRING", None, secret=True, doc="Connection string (overrides the rest)."
    )
    token_credential = Setting(
        "AZURE_TOKEN_CREDENTIAL",
        None,
        secret=True,
        doc="azure-identity credential (e.g. a managed identity).",
    )
    client_options = Setting(
        "AZURE_CLIENT_OPTIONS", {}, doc="Keyword arguments of the SDK's BlobServiceClient."
    )
    default_content_type = Setting(
        None, "application/octet-stream", doc="Content type when none can be guessed."
    )

    # Settings of the documentation that later releases deprecated or removed: still honoured.
    api_version = Setting(
        "AZURE_API_VERSION",
        None,
        deprecated="use AZURE_CLIENT_OPTIONS = {'api_version': ...} instead.",
    )
    is_emulated = Setting(
        "AZURE_EMULATED_MODE",
        False,
        deprecated="use AZURE_CONNECTION_STRING with the emulator's BlobEndpoint instead.",
    )
    custom_connection_string = Setting(
        "AZURE_CUSTOM_CONNECTION_STRING",
        None,
        secret=True,
        deprecated="use AZURE_CUSTOM_DOMAIN for the host of generated URLs instead.",
    )

    def _configure_azure(self) -> None:
        """Validate the settings; fill the account name and key from a connection string."""
        self._container = None
        for attr in ("upload_max_conn", "timeout"):
            value = getattr(self, attr)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ImproperlyConfigured(
                    f"{self.setting_label(attr)} must be a positive number, not {value!r}."
                )
        self.upload_max_conn = int(self.upload_max_conn)
        self.expiration_secs = self._checked_expiration(self.expiration_secs, "expiration_secs")
        params = dict(self.object_parameters or {})
        problem = unknown_parameters(params)
        if problem:
            raise ImproperlyConfigured(f"{self.setting_label('object_parameters')} has {problem}.")
        self.object_parameters = params
        options = self.client_options
        if options is None:
            options = {}
        if not isinstance(options, dict):
            raise ImproperlyConfigured(
                f"{self.setting_label('client_options')} must be a dict of BlobServiceClient "
                f"keyword arguments, not {type(options).__name__}."
            )
        self.client_options = dict(options)
        domain = self.custom_domain
        if domain is not None and (not isinstance(domain, str) or not domain.strip("/")):
            raise ImproperlyConfigured(
                f"{self.setting_label('custom_domain')} must be a host name such as "
                f"'cdn.example.com', not {domain!r}."
            )
        if domain:
            # A URL pasted instead of a host: keep only the host (and port).
            self.custom_domain = domain.split("://", 1)[-1].strip("/")
        self._fill_from_connection_string()

    def _checked_expiration(self, value: Any, attr: str) -> int | None:
        if value is None:
            return None
        if isinstance(value, timedelta):
            value = value.total_seconds()
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ImproperlyConfigured(
                f"{self.setting_label(attr)} must be a number of seconds (or a timedelta) above "
                f"0, or None for plain URLs; not {value!r}."
            )
        return int(value)

    def _fill_from_connection_string(self) -> None:
        """Take the account name and key of a connection string when not set on their own."""
        # Start from the configured values, so a changed connection string is followed.
        for attr in ("account_name", "account_key"):
            self._resolve(attr, warn=False)
        self._connection = {}
        if self.connection_string:
            self._connection = parse_connection_string(self.connection_string)
            self.account_name = self.account_name or self._connection.get("accountname")
            self.account_key = self.account_key or self._connection.get("accountkey")
        elif self.is_emulated:
            self.account_name = self.account_name or EMULATOR_ACCOUNT
            if not (self.account_key or self.sas_token or self.token_credential):
                self.account_key = EMULATOR_KEY
        self.__dict__["_secret_cache"] = None  # the key may have changed: redact it too

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
        return f"{self.azure_protocol}://{self.account_name}.blob.{self.endpoint_suffix}"

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
            "max_single_get_size": DEFAULT_CHUNK_SIZE,
            "max_chunk_get_size": DEFAULT_CHUNK_SIZE,
            "max_block_size": self.part_size,
            "max_single_put_size": self.single_put_size,
        }
        if self.api_version:
            kwargs["api_version"] = self.api_version
        for key, value in self.client_options.items():
            kwargs[key] = _unlinked(value)
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

    @property
    def azure_protocol(self) -> str:
        """Return the scheme of the account endpoint and custom-domain URLs (``AZURE_SSL``)."""
        return "https" if self.azure_ssl else "http"

    @property
    def service_client(self) -> Any:
        """Return the SDK's ``BlobServiceClient`` (built on first use, shared by threads)."""
        return super().client

    @property
    def client(self) -> Any:
        """Return the SDK's ``ContainerClient`` of the storage's container.

        The core's client seam holds the ``BlobServiceClient`` (``service_client``); this name
        gives the container client, as django-storages does.
        """
        return self.container_client

    @property
    def container_client(self) -> Any:
        """Return the SDK's ``ContainerClient`` of the storage's container."""
        client = self.service_client
        container = self._container
        if container is None or container._client_ref is not client:
            container = client.get_container_client(self._container_name())
            container._client_ref = client
            self._container = container
        return container

    def _reset_clients(self) -> None:
        super()._reset_clients()
        self._container = None


def _unlinked(value: Any) -> Any:
    """Return ``value`` with each pipeline policy in it replaced by a copy.

    The SDK links every policy object it is given into the client's pipeline (``policy.next``),
    the shared-key policy that holds the account key included. Handing it copies keeps the
    storage's own ``client_options`` free of that chain, so pickles of the storage never carry
    the key, and two clients never share one linked policy.
    """
    policies = require("azure.core.pipeline.policies", "azure")
    if isinstance(value, (policies.HTTPPolicy, policies.SansIOHTTPPolicy)):
        return copy.copy(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_unlinked(item) for item in value)
    return value
