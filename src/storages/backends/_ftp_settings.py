"""The settings of the FTP backend: the location URL (parsed, checked and shown masked), the
control-channel encoding, TLS and the rest."""

from __future__ import annotations

import codecs
import os
import ssl
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

from storages._remote_fs import RemoteFilesystem, checked_base_url, checked_root
from storages.backends._ftp_connection import Dialer, FTPConnection
from storages.settings import Setting

__all__ = ["LEGACY_ARGUMENTS", "FTPSettings", "Location", "mask_url", "parse_location"]

#: The URL schemes of ``FTP_STORAGE_LOCATION``: whether each uses TLS and passive mode.
SCHEMES = {"ftp": (False, True), "aftp": (False, False), "ftps": (True, True)}
DEFAULT_PORT = 21
#: The control-channel encoding when none is set and the server does not announce UTF8.
DEFAULT_ENCODING = "latin-1"
#: Seconds a connection attempt or a reply may take.
DEFAULT_TIMEOUT = 60.0
#: The constructor arguments of django-storages 1.9.1, in their order (None: the setting).
LEGACY_ARGUMENTS = ("location", "base_url", "encoding")
_MASK = "********"
#: How errors name the location setting (its attribute differs from the documented keyword).
LOCATION_LABEL = "FTP_STORAGE_LOCATION (option 'location')"
_EXAMPLE = "ftp://user:password@host:21/path (or aftp:// for active mode, ftps:// for TLS)"


def mask_url(url: str) -> str:
    """Return ``url`` with the password of its user part replaced by asterisks.

    Everything from the first ``:`` of the user part to the last ``@`` is masked, so a
    password with unencoded ``/``, ``@`` or ``#`` in a malformed URL stays hidden too.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    userinfo, at, host = rest.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    user = userinfo.partition(":")[0]
    return f"{scheme}{sep}{user}:{_MASK}@{host}"


@dataclass(frozen=True)
class Location:
    """A parsed ``FTP_STORAGE_LOCATION``; its repr never shows the password."""

    scheme: str
    host: str
    port: int
    user: str
    password: str = field(repr=False)
    path: str
    raw_password: str = field(repr=False, default="")

    @property
    def tls(self) -> bool:
        """Return whether the control and data channels are protected (``ftps://``)."""
        return SCHEMES[self.scheme][0]

    @property
    def passive(self) -> bool:
        """Return whether data connections are passive (all but ``aftp://``)."""
        return SCHEMES[self.scheme][1]

    def masked(self) -> str:
        """Return the URL with the password masked."""
        user = f"{self.user}:{_MASK}@" if self.password else (f"{self.user}@" if self.user else "")
        return f"{self.scheme}://{user}{self.host}:{self.port}{self.path}"


def parse_location(url: Any, label: str) -> Location:
    """Return the parts of an FTP location URL, or raise ``ImproperlyConfigured``."""
    if not isinstance(url, str):
        raise ImproperlyConfigured(f"{label} must be a URL like {_EXAMPLE}, not {type(url)}.")

    def fail(problem: str) -> ImproperlyConfigured:
        return ImproperlyConfigured(
            f"{label} {problem}: {mask_url(url)!r}. Expected {_EXAMPLE}; percent-encode "
            "special characters of the user name and password (@ as %40, / as %2F)."
        )

    parts = urlsplit(url)
    if parts.scheme.lower() not in SCHEMES:
        raise fail("must use the scheme ftp, aftp or ftps")
    if parts.query or parts.fragment:
        raise fail("has a query or fragment (an unencoded ? or # in the password?)")
    if not parts.hostname:
        raise fail("names no host")
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError:
        raise fail("has an invalid port") from None
    return Location(
        scheme=parts.scheme.lower(),
        host=parts.hostname,
        port=port,
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        path=unquote(parts.path),
        raw_password=parts.password or "",
    )


class FTPSettings(RemoteFilesystem[FTPConnection]):
    """Declares and checks every FTP setting (the first layer of the FTP storage class)."""

    # The location URL holds the password, and the core's ``location`` is a key prefix: the URL
    # gets an attribute of its own, which the documented keyword ``location`` sets.
    ftp_location = Setting(
        "FTP_STORAGE_LOCATION",
        None,
        keywords=("location",),
        secret=True,
        doc="Server URL: [a]ftp[s]://user:password@host:port/path.",
    )
    encoding = Setting(
        "FTP_STORAGE_ENCODING",
        None,
        doc="Control-channel encoding (None: UTF-8 if the server announces it, else latin-1).",
    )
    base_url = Setting(
        "BASE_URL",
        None,
        aliases=("MEDIA_URL",),
        keywords=("custom_domain",),
        doc="URL prefix under which a web server publishes the location's directory.",
    )
    file_overwrite = Setting(
        "FTP_ALLOW_OVERWRITE",
        False,
        keywords=("allow_overwrite",),
        doc="Replace files with the same name instead of picking a free name.",
    )
    # Secret: an SSL context cannot be pickled or written into a migration, and may hold a key.
    ssl_context = Setting(
        "FTP_STORAGE_SSL_CONTEXT",
        None,
        secret=True,
        doc="ssl.SSLContext for ftps:// (default: verify against the system's CAs).",
    )
    ca_file = Setting(
        "FTP_STORAGE_CA_FILE",
        None,
        doc="PEM file of the CA certificates ftps:// servers are verified against.",
    )
    timeout = Setting(
        "FTP_STORAGE_TIMEOUT", DEFAULT_TIMEOUT, doc="Seconds to wait for a connection or reply."
    )

    derived_attrs = RemoteFilesystem.derived_attrs | {"server", "_root", "_dialer"}
    server: Location | None = None
    _dialer: Dialer | None = None

    def _configure(self) -> None:
        super()._configure()
        self.base_url = checked_base_url(self.base_url, self.setting_label("base_url"))
        encoding = self.encoding or None
        if encoding is not None:
            try:
                encoding = codecs.lookup(encoding).name
            except (LookupError, TypeError):
                raise ImproperlyConfigured(
                    f"{self.setting_label('encoding')} must name a text encoding such as "
                    f"'utf-8' or 'latin-1', not {self.encoding!r}."
                ) from None
        self.encoding = encoding
        self.timeout = _checked_timeout(self.timeout, self.setting_label("timeout"))
        if self.ssl_context is not None and not isinstance(self.ssl_context, ssl.SSLContext):
            raise ImproperlyConfigured(
                f"{self.setting_label('ssl_context')} must be an ssl.SSLContext, not "
                f"{type(self.ssl_context).__name__}."
            )
        if self.ca_file is not None:
            self.ca_file = os.fspath(self.ca_file)
            if not os.path.isfile(self.ca_file):
                raise ImproperlyConfigured(
                    f"{self.setting_label('ca_file')} names no file: {self.ca_file!r}."
                )
        self.server = self._dialer = None
        self._root = ""
        if self.ftp_location not in (None, ""):  # unset: reported at first use
            self.server = parse_location(self.ftp_location, LOCATION_LABEL)
            self._root = checked_root(self.server.path, LOCATION_LABEL)
            self._dialer = Dialer(
                host=self.server.host,
                port=self.server.port,
                user=self.server.user,
                password=self.server.password,
                tls=self.server.tls,
                passive=self.server.passive,
                encoding=self.encoding,
                timeout=self.timeout,
                context=self._tls_context() if self.server.tls else None,
            )

    def _tls_context(self) -> ssl.SSLContext:
        """Return the context ftps:// connections verify the server with."""
        if self.ssl_context is not None:
            context: ssl.SSLContext = self.ssl_context
            return context
        # Verifies the certificate and the host name; only the given CAs when a file is set.
        return ssl.create_default_context(cafile=self.ca_file)

    def _extra_secrets(self) -> list[Any]:
        server = self.server
        if server is None:
            return []
        return [s for s in (server.password, server.raw_password) if s]

    @property
    def location_url(self) -> str:
        """Return the location URL with its password masked (for display)."""
        return self.server.masked() if self.server is not None else ""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} location={self.location_url!r}>"


def _checked_timeout(value: Any, label: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ImproperlyConfigured(f"{label} must be a number of seconds > 0, not {value!r}.")
    return float(value)
