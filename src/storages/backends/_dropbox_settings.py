"""The settings of the Dropbox backend, how they are checked and normalized, the SDK client
built from them and the calls made through it (the first layer of the storage class)."""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any, ClassVar

from django.core.exceptions import ImproperlyConfigured

from storages.backends._dropbox_transfer import BLOCK_SIZE, retry_delay
from storages.base import BaseStorage
from storages.deps import require
from storages.settings import Setting, Source

__all__ = ["WRITE_MODES", "DropboxSettings", "ca_session"]

MiB = 1024 * 1024
#: ``DROPBOX_WRITE_MODE`` values: Dropbox's WriteMode tags.
WRITE_MODES = ("add", "overwrite", "update")
#: The SDK's own default, which 1.9.1 documented.
DEFAULT_TIMEOUT = 100
#: The largest body of one upload request the service accepts.
MAX_REQUEST_BODY = 150 * MiB
#: Connections a client keeps open per host.
POOL_SIZE = 8
#: Arguments of ``dropbox.Dropbox()`` that have settings of their own.
_OWN_ARGUMENTS = {
    "oauth2_access_token": "oauth2_access_token",
    "oauth2_refresh_token": "oauth2_refresh_token",
    "app_key": "app_key",
    "app_secret": "app_secret",
    "timeout": "timeout",
}
_EXPLICIT = (Source.KEYWORD, Source.CLASS)


@functools.cache
def _client_class() -> type[Any]:
    base: Any = require("dropbox", "dropbox").Dropbox

    class Client(base):
        """The SDK's client, refreshing tokens on its own API host (the SDK uses the default)."""

        def refresh_access_token(self, host: str | None = None, scope: Any = None) -> None:
            super().refresh_access_token(host or self._host_map["api"], scope)

    return Client


@functools.cache
def _session_class() -> type[Any]:
    base: Any = require("requests", "dropbox").Session

    class CASession(base):
        """A session whose own CA file wins over ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE``
        (requests lets those override ``session.verify``)."""

        def merge_environment_settings(
            self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any
        ) -> Any:
            merged = super().merge_environment_settings(url, proxies, stream, verify, cert)
            if verify is None or verify is True:
                merged["verify"] = self.verify
            return merged

    return CASession


def ca_session(ca_certs: str) -> Any:
    """Return a requests session that verifies the service against ``ca_certs`` only."""
    adapters = require("requests.adapters", "dropbox")
    session = _session_class()()
    session.verify = ca_certs
    session.mount("https://", adapters.HTTPAdapter(pool_maxsize=POOL_SIZE))
    return session


class DropboxSettings(BaseStorage):
    """Declares and validates every Dropbox setting; builds the SDK client."""

    oauth2_access_token = Setting(
        "DROPBOX_OAUTH2_TOKEN",
        None,
        env=("DROPBOX_OAUTH2_TOKEN",),
        secret=True,
        doc="Access token (long-lived, or used until it expires with a refresh token).",
    )
    app_key = Setting(
        "DROPBOX_APP_KEY", None, env=("DROPBOX_APP_KEY",), doc="App key (refresh-token flow)."
    )
    app_secret = Setting(
        "DROPBOX_APP_SECRET",
        None,
        env=("DROPBOX_APP_SECRET",),
        secret=True,
        doc="App secret (refresh-token flow; not needed for PKCE apps).",
    )
    oauth2_refresh_token = Setting(
        "DROPBOX_OAUTH2_REFRESH_TOKEN",
        None,
        env=("DROPBOX_OAUTH2_REFRESH_TOKEN",),
        secret=True,
        doc="Refresh token the SDK trades for short-lived access tokens.",
    )
    root_path = Setting("DROPBOX_ROOT_PATH", "/", doc="Folder of the Dropbox that holds the files.")
    timeout = Setting(
        "DROPBOX_TIMEOUT", DEFAULT_TIMEOUT, doc="Seconds to wait for the API (None: forever)."
    )
    write_mode = Setting(
        "DROPBOX_WRITE_MODE", "add", doc="'add' (new names), 'overwrite' or 'update' (guarded)."
    )
    client_options = Setting(
        None, {}, doc="More keyword arguments of dropbox.Dropbox(): session, ca_certs, headers..."
    )
    api_host = Setting(None, None, doc="Host of the API routes (testing or a proxy).")
    content_host = Setting(None, None, doc="Host of the upload and download routes.")

    #: Files up to this size are one ``files/upload``; larger ones go through an upload session
    #: in parts of this size (a multiple of 4 MiB, the block size of Dropbox's content hash).
    CHUNK_SIZE: ClassVar[int] = 4 * MiB

    #: Seconds a call may spend waiting out rate limits (429, too_many_write_operations).
    max_retry_wait: ClassVar[float] = 60.0

    _root: str
    _write_mode: str

    def _configure(self) -> None:
        super()._configure()
        self._root = _checked_root(self.root_path, self.setting_label("root_path"))
        self.timeout = _checked_timeout(self.timeout, self.setting_label("timeout"))
        self._configure_overwrite()
        self.client_options = _checked_options(
            self.client_options, self.setting_label("client_options")
        )
        self.api_host = _checked_host(self.api_host, self.setting_label("api_host"))
        self.content_host = _checked_host(self.content_host, self.setting_label("content_host"))
        chunk = self.CHUNK_SIZE
        if (
            not isinstance(chunk, int)
            or chunk <= 0
            or chunk % BLOCK_SIZE
            or chunk > MAX_REQUEST_BODY
        ):
            raise ImproperlyConfigured(
                f"{type(self).__name__}.CHUNK_SIZE must be a multiple of 4 MiB up to 148 MiB, "
                f"not {chunk!r}."
            )
        self.part_size = self.single_put_size = chunk

    def _configure_overwrite(self) -> None:
        """Map ``DROPBOX_WRITE_MODE`` and the uniform ``file_overwrite`` onto each other."""
        mode = self.write_mode
        if mode not in WRITE_MODES:
            raise ImproperlyConfigured(
                f"{self.setting_label('write_mode')} must be one of 'add', 'overwrite' or "
                f"'update', not {mode!r}."
            )
        if self.setting_source("file_overwrite") not in _EXPLICIT:
            self.file_overwrite = mode != "add"
            self._write_mode = mode
            return
        overwrite = bool(self.file_overwrite)
        if overwrite != (mode != "add") and self.setting_source("write_mode") in _EXPLICIT:
            raise ImproperlyConfigured(
                f"file_overwrite={overwrite} contradicts {self.setting_label('write_mode')}="
                f"{mode!r}: give only one of them."
            )
        self.file_overwrite = overwrite
        if overwrite != (mode != "add"):
            mode = "overwrite" if overwrite else "add"
        self._write_mode = mode

    def _check_credentials(self) -> None:
        if self.oauth2_refresh_token and not self.app_key:
            raise ImproperlyConfigured(
                f"{self.setting_label('oauth2_refresh_token')} needs the app it was issued to: "
                f"set {self.setting_label('app_key')} and, unless the app uses PKCE, "
                f"{self.setting_label('app_secret')}."
            )
        if not (self.oauth2_access_token or self.oauth2_refresh_token):
            raise ImproperlyConfigured(
                f"{type(self).__name__} needs credentials: set "
                f"{self.setting_label('oauth2_access_token')}, or "
                f"{self.setting_label('app_key')}, {self.setting_label('app_secret')} and "
                f"{self.setting_label('oauth2_refresh_token')} for short-lived tokens."
            )

    def make_client(self) -> Any:
        """Return a new SDK client built from the settings."""
        self._check_credentials()
        options = dict(self.client_options)
        ca_certs = options.pop("ca_certs", None)
        if ca_certs is not None:
            options["session"] = ca_session(os.fspath(ca_certs))
        # Rate limits are waited out by the storage, within a bound (the SDK would wait forever).
        options.setdefault("max_retries_on_rate_limit", 0)
        client = _client_class()(
            oauth2_access_token=self.oauth2_access_token or None,
            oauth2_refresh_token=self.oauth2_refresh_token or None,
            app_key=self.app_key or None,
            app_secret=self.app_secret or None,
            timeout=self.timeout,
            **options,
        )
        # The SDK reads its hosts from the environment when it is imported; this is per client.
        if self.api_host:
            client._host_map["api"] = self.api_host
        if self.content_host:
            client._host_map["content"] = self.content_host
        return client

    def _connect(self) -> Any:
        return self.make_client()

    def _disconnect(self, client: Any) -> None:
        if "session" not in self.client_options:  # a session the user passed is theirs to close
            client.close()

    @property
    def _files(self) -> Any:
        return require("dropbox.files", "dropbox")

    def _path(self, key: str) -> str:
        """Return the Dropbox path of ``key`` (the root of the Dropbox is '')."""
        return f"{self._root}/{key}" if key else self._root

    def _api(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Call the client's ``method``, waiting out rate limits for up to ``max_retry_wait``."""
        client = self.client
        waited, attempt = 0.0, 0
        while True:
            try:
                return getattr(client, method)(*args, **kwargs)
            except Exception as exc:
                delay = retry_delay(exc, attempt)
                if delay is None or waited + delay > self.max_retry_wait:
                    raise
            time.sleep(delay)
            waited += delay
            attempt += 1


def _checked_root(value: Any, label: str) -> str:
    """Return the root folder as a Dropbox path: '' (the whole Dropbox) or '/a/b'."""
    if value is None:
        return ""
    if not isinstance(value, (str, PurePath)):
        raise ImproperlyConfigured(
            f"{label} must be a folder path such as '/media', not {value!r}."
        )
    text = str(value).replace("\\", "/")
    if "\x00" in text:
        raise ImproperlyConfigured(f"{label} contains a NUL byte.")
    parts = [part for part in text.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise ImproperlyConfigured(f"{label} cannot contain '..': {text!r}.")
    return "".join(f"/{part}" for part in parts)


def _checked_timeout(value: Any, label: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ImproperlyConfigured(
            f"{label} must be a number of seconds (or None to wait forever), not {value!r}."
        )
    return value


def _checked_options(value: Any, label: str) -> dict[str, Any]:
    if not isinstance(value, (Mapping, type(None))):
        raise ImproperlyConfigured(
            f"{label} must be a dict of dropbox.Dropbox() keyword arguments, not "
            f"{type(value).__name__}."
        )
    options = dict(value or {})
    for key, attr in _OWN_ARGUMENTS.items():
        if key in options:
            raise ImproperlyConfigured(
                f"{label} cannot contain {key!r}: use the {attr!r} option (or its setting)."
            )
    if "session" in options and options.get("ca_certs") is not None:
        raise ImproperlyConfigured(
            f"{label} takes a 'session' or 'ca_certs', not both: the SDK ignores ca_certs when "
            "given a session (set the session's verify instead)."
        )
    ca_certs = options.get("ca_certs")
    if ca_certs is not None and not isinstance(ca_certs, (str, os.PathLike)):
        raise ImproperlyConfigured(f"{label}: 'ca_certs' must be the path of a PEM file.")
    return options


def _checked_host(value: Any, label: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ImproperlyConfigured(f"{label} must be a host name (and port), not {value!r}.")
    host = value.split("://", 1)[-1].rstrip("/")
    if not host or "/" in host:
        raise ImproperlyConfigured(
            f"{label} must be a host name and optional port such as 'api.example.com:8443' "
            f"(the SDK always speaks https), not {value!r}."
        )
    return host
