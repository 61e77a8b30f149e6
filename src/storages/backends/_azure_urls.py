"""Azure Blob Storage URLs: plain URLs, and SAS URLs signed with the account key or with a
user-delegation key obtained through a token credential (Microsoft Entra ID).

The blob's URL prefix (scheme, host, account and container) is worked out once per client, so a
plain URL is one ``quote`` and a concatenation. SAS tokens come from the SDK's own
``generate_blob_sas``; a user-delegation key is requested once and reused until it no longer
covers the URLs being signed.
"""

from __future__ import annotations

import base64
import threading
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

from storages._signing import HmacSha256
from storages.backends._azure_settings import AzureSettings, parse_connection_string
from storages.deps import require

__all__ = ["AzureUrls", "quote_blob_name"]

#: A user-delegation key (and so a SAS URL signed with one) is valid for at most 7 days.
MAX_DELEGATION = timedelta(days=7)
#: Keys start this much in the past, so a clock slightly ahead of the service's does no harm.
_CLOCK_SKEW = timedelta(minutes=5)
#: Keys are requested for this much less than 7 days (the most the service grants), so a small
#: clock difference does not make the service refuse them.
_LAST_MINUTE = timedelta(minutes=1)


@lru_cache(maxsize=4096)
def quote_blob_name(name: str) -> str:
    """Return a blob name percent-encoded for a URL path, as the SDK encodes it."""
    return quote(name, safe="/~")


def _now() -> datetime:
    """Return the current UTC time (a module function so tests can pin the clock)."""
    return datetime.now(timezone.utc)


def _seconds(value: Any) -> int:
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValueError(f"a URL lifetime must be a positive number of seconds, not {value!r}")
    return int(value)


class AzureUrls(AzureSettings):
    """The URL half of the Azure storage: plain and SAS-signed URLs."""

    def _init_urls(self) -> None:
        self._url_base: str | None = None
        self._delegation_key: Any = None
        self._delegation_lock = threading.Lock()
        self._sas_template: _SasTemplate | None = None
        self._sas_learnable = True  # False once the SDK was seen to sign differently

    def url(
        self,
        name: str,
        expire: int | timedelta | None = None,
        parameters: dict[str, Any] | None = None,
        mode: str = "r",
    ) -> str:
        """Return a URL for ``name``: SAS-signed when a lifetime is set, else plain.

        ``expire`` (seconds) overrides ``AZURE_URL_EXPIRATION_SECS``; ``parameters`` go to the
        SAS (``content_disposition``, ``content_type``, ``cache_control``, ``start``, ``ip``,
        ...); ``mode`` is the SAS permission (``"r"``, ``"w"``, ``"cw"``, ...).
        """
        key = self._key(name)
        lifetime = self.expiration_secs if expire is None else _seconds(expire)
        base = self._url_base or self._build_url_base()
        url = base + quote_blob_name(key)
        if not lifetime:
            return str(url)
        token = self._blob_sas(key, lifetime, dict(parameters or {}), mode)
        return f"{url}?{token}"

    def _build_url_base(self) -> str:
        """Return ``scheme://host[/account]/container/`` of the URLs this storage generates."""
        container = quote(str(self._container_name()), safe="")
        if self.custom_domain and not self.is_emulated:
            base = f"{self.azure_protocol}://{self.custom_domain}/{container}/"
        elif self.custom_connection_string:
            sdk = require("azure.storage.blob", "azure")
            other = sdk.BlobServiceClient.from_connection_string(self.custom_connection_string)
            base = _without_query(other.get_container_client(self._container_name()).url) + "/"
        else:
            base = _without_query(self.container_client.url) + "/"
        self._url_base = base
        return base

    def _signing_identity(self) -> tuple[str, str | None]:
        """Return the account name and the key that signs SAS tokens (None: no key)."""
        if self.custom_connection_string:
            pairs = parse_connection_string(self.custom_connection_string)
            if pairs.get("accountkey"):
                return pairs.get("accountname") or self.account_name, pairs["accountkey"]
        account = self.account_name or self.container_client.account_name
        return str(account), self.account_key or None

    def _blob_sas(self, key: str, lifetime: int, parameters: dict[str, Any], mode: str) -> str:
        now = _now()
        expiry = now + timedelta(seconds=lifetime)
        account, account_key = self._signing_identity()
        # Tokens differ only by blob name within one expiry second (the SDK drops fractions).
        stamp = (int(expiry.timestamp()), mode, account, account_key, self.azure_container)
        if account_key and not parameters:
            template = self._sas_template
            if template is not None and template.stamp == stamp:
                return str(template.token(key))
        sdk = require("azure.storage.blob", "azure")
        permission = str(sdk.BlobSasPermissions.from_string(mode))
        if not permission:
            raise ValueError(f"{mode!r} grants no SAS permission; use letters such as r, w, c")
        container = self._container_name()
        options: dict[str, Any] = {"permission": permission, "expiry": expiry, **parameters}
        if account_key:
            options["account_key"] = account_key
        elif self.token_credential is not None:
            options["user_delegation_key"] = self.get_user_delegation_key(expiry)
        else:
            raise ImproperlyConfigured(
                "SAS URLs (AZURE_URL_EXPIRATION_SECS or url(expire=...)) are signed with the "
                "account key or a user-delegation key: set AZURE_ACCOUNT_KEY (or a connection "
                "string with AccountKey) or AZURE_TOKEN_CREDENTIAL. A SAS token cannot sign new "
                "URLs. For a public container, set AZURE_URL_EXPIRATION_SECS = None."
            )
        token = str(sdk.generate_blob_sas(account, container, key, **options))
        if account_key and not parameters and self._sas_learnable:
            # Learn this second's token from the SDK; reuse it only if it signs identically.
            template = _SasTemplate.from_token(stamp, token, account, container, account_key)
            if template.token(key) == token:
                self._sas_template = template
            else:
                self._sas_learnable = False
        return token

    def get_user_delegation_key(self, expiry: datetime) -> Any:
        """Return a user-delegation key valid at least until ``expiry`` (a naive time is UTC),
        or None without ``AZURE_TOKEN_CREDENTIAL``.

        A key is requested for 7 days and reused while it covers ``expiry``: once it would
        expire before that, a new one is requested. Override to supply keys another way.
        """
        if self.token_credential is None:
            return None
        now = _now()
        until = _parse_time(expiry)
        longest = now + MAX_DELEGATION - _LAST_MINUTE
        if until > longest:
            raise ValueError(
                "a user-delegation key, and so a SAS URL signed with one, lasts at most 7 days"
            )
        with self._delegation_lock:
            current = self._delegation_key
            if current is None or _parse_time(current.signed_expiry) < until:
                with self.translating():  # the one request: service errors become ours
                    current = self._request_delegation_key(now - _CLOCK_SKEW, longest)
                self._delegation_key = current
            return current

    def _request_delegation_key(self, start: datetime, expiry: datetime) -> Any:
        """Return a new user-delegation key from the service (one request; needs a token)."""
        return self.service_client.get_user_delegation_key(start, expiry, timeout=self.timeout)

    def _reset_clients(self) -> None:
        super()._reset_clients()
        self._init_urls()


#: The fields of a service SAS string-to-sign after the resource (account-key signing).
_SAS_TAIL_FIELDS = (
    "si", "sip", "spr", "sv", "sr", "snapshot", "ses", "rscc", "rscd", "rsce", "rscl", "rsct",
)  # fmt: skip


class _SasTemplate:
    """An account-key SAS of one expiry second: everything but the blob name and signature.

    The SDK builds each token from scratch (about 200 us); this signs a blob name with one
    HMAC. It is learned from a token the SDK made and used only if it reproduces that token.
    """

    __slots__ = ("head", "mac", "query", "stamp", "tail")

    def __init__(
        self, stamp: tuple[Any, ...], query: str, head: str, tail: str, mac: HmacSha256
    ) -> None:
        self.stamp = stamp
        self.query = query
        self.head = head
        self.tail = tail
        self.mac = mac

    @classmethod
    def from_token(
        cls, stamp: tuple[Any, ...], token: str, account: str, container: str, account_key: str
    ) -> _SasTemplate:
        """Return the template of ``token``, a blob SAS the SDK signed with ``account_key``."""
        fields = {
            name: unquote(value) for name, _, value in (p.partition("=") for p in token.split("&"))
        }
        query = token[: token.index("sig=") + 4] if "sig=" in token else token + "&sig="
        head = f"{fields.get('sp', '')}\n{fields.get('st', '')}\n{fields.get('se', '')}\n"
        head += f"/blob/{account}/{container}/"
        tail = "\n" + "\n".join(fields.get(name, "") for name in _SAS_TAIL_FIELDS)
        return cls(stamp, query, head, tail, HmacSha256(base64.b64decode(account_key)))

    def token(self, key: str) -> str:
        """Return the SAS token of blob ``key``."""
        digest = self.mac.digest((self.head + key + self.tail).encode("utf-8"))
        signature = base64.b64encode(digest).decode("ascii")
        return self.query + signature.replace("+", "%2B").replace("=", "%3D")


def _without_query(url: str) -> str:
    # A client authenticated by a SAS token puts it in its URLs: never hand that out.
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}".rstrip("/")


def _parse_time(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    text = str(value).replace("Z", "+00:00")
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
