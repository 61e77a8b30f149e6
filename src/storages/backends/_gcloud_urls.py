"""Google Cloud Storage URLs: plain public URLs and V4 signed URLs.

``Blob.generate_signed_url`` resolves the client, endpoint and credentials and rebuilds every
piece of the canonical request on each call. A page that renders a few hundred file URLs pays
that every time, so signing is done here from the V4 rules directly: string work, one SHA-256
and one RSA signature (by the credentials' own signer, or by the IAM ``signBlob`` API when there
is no private key). The output equals the library's for the same inputs and clock; the tests
prove it on a generated service-account key.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote, urlsplit

from django.core.exceptions import ImproperlyConfigured

from storages.backends._gcloud_settings import GoogleCloudSettings, predefined_acl
from storages.deps import require

__all__ = [
    "GoogleCloudUrls",
    "IamBlobSigner",
    "V4Signer",
    "expiration_seconds",
    "quote_name",
]

MAX_EXPIRATION = 7 * 24 * 3600
_ALGORITHM = "GOOG4-RSA-SHA256"
_IAM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
# url() parameters the fast V4 signer understands; anything else goes to the library.
_FAST_URL_PARAMETERS = frozenset(
    {
        "content_md5",
        "content_type",
        "expiration",
        "generation",
        "headers",
        "method",
        "query_parameters",
        "response_disposition",
        "response_type",
        "version",
    }
)


@functools.lru_cache(maxsize=4096)
def quote_name(name: str) -> str:
    """Return an object name percent-encoded for a URL path (``/`` and ``~`` stay)."""
    return quote(name, safe="/~")


def _quote_param(value: object) -> str:
    return quote(str(value), safe="~")


def _now() -> datetime:
    """Return the current UTC time (a module function so tests can pin the clock)."""
    return datetime.now(timezone.utc)


def expiration_seconds(expiration: int | timedelta | datetime, now: datetime) -> int:
    """Return a URL lifetime in seconds from a duration, a number of seconds or a deadline."""
    if isinstance(expiration, datetime):
        if expiration.tzinfo is None:
            expiration = expiration.replace(tzinfo=timezone.utc)  # naive means UTC, as Google's
        expiration = expiration - now
    if isinstance(expiration, timedelta):
        seconds = int(expiration.total_seconds())
    elif isinstance(expiration, int) and not isinstance(expiration, bool):
        seconds = expiration
    else:
        raise TypeError(
            f"a URL lifetime must be seconds, a timedelta or a datetime, not {expiration!r}"
        )
    if not 0 < seconds <= MAX_EXPIRATION:
        raise ValueError(
            f"signed URLs must expire within 1 second to 7 days from now, not in {seconds} seconds"
        )
    return seconds


class V4Signer:
    """Build V4 signed URLs for objects under one endpoint, signed by one identity."""

    def __init__(self, endpoint: str, email: str, sign: Callable[[bytes], bytes]) -> None:
        self.endpoint = endpoint
        self.email = email
        self.sign = sign
        self.host = urlsplit(endpoint).netloc
        self._credential_prefix = _quote_param(f"{email}/")

    def signed_url(
        self,
        resource: str,
        expires: int,
        *,
        method: str = "GET",
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        query: Mapping[str, Any] | None = None,
        now: datetime | None = None,
    ) -> str:
        """Return the URL of ``resource`` (an encoded path) valid for ``expires`` seconds."""
        moment = (now or _now()).astimezone(timezone.utc)
        timestamp = moment.strftime("%Y%m%dT%H%M%SZ")
        scope = f"{timestamp[:8]}/auto/storage/goog4_request"
        method = method.upper()
        header_map = self._canonical_headers(headers, method)
        signed_headers = ";".join(header_map)
        pairs = [
            (_quote_param(k), _quote_param("" if v is None else v))
            for k, v in (query or {}).items()
        ]
        pairs += [
            ("X-Goog-Algorithm", _ALGORITHM),
            ("X-Goog-Credential", self._credential_prefix + _quote_param(scope)),
            ("X-Goog-Date", timestamp),
            ("X-Goog-Expires", str(expires)),
            ("X-Goog-SignedHeaders", _quote_param(signed_headers)),
        ]
        canonical_query = "&".join(f"{k}={v}" for k, v in sorted(pairs))
        canonical_request = "\n".join(
            (
                "POST" if method == "RESUMABLE" else method,
                resource,
                canonical_query,
                "".join(f"{k}:{v}\n" for k, v in header_map.items()),
                signed_headers,
                header_map.get("x-goog-content-sha256", "UNSIGNED-PAYLOAD"),
            )
        )
        digest = hashlib.sha256(canonical_request.encode("ascii")).hexdigest()
        to_sign = f"{_ALGORITHM}\n{timestamp}\n{scope}\n{digest}".encode("ascii")
        signature = self.sign(to_sign).hex()
        return f"{self.endpoint}{resource}?{canonical_query}&X-Goog-Signature={signature}"

    def _canonical_headers(
        self, headers: Mapping[str, str] | Iterable[tuple[str, str]] | None, method: str
    ) -> dict[str, str]:
        items = list(headers.items() if isinstance(headers, Mapping) else headers or ())
        if method == "RESUMABLE":
            items.append(("x-goog-resumable", "start"))
        merged: dict[str, list[str]] = {}
        for key, value in items:
            # Names are lowercased and values have their whitespace runs folded, per the spec.
            merged.setdefault(key.lower().strip(), []).append(" ".join(str(value).split()))
        merged.setdefault("host", [self.host])
        return {k: ",".join(merged[k]) for k in sorted(merged)}


class IamBlobSigner:
    """Sign bytes with the IAM Credentials ``signBlob`` API (no private key needed locally).

    ``session`` is an authorized HTTP session (``requests``-like ``post``); it is the seam the
    tests replace, since the IAM service cannot run locally.
    """

    def __init__(self, session: Any, email: str, universe_domain: str = "googleapis.com") -> None:
        self.session = session
        self.email = email
        self.url = (
            f"https://iamcredentials.{universe_domain}/v1/projects/-/serviceAccounts/"
            f"{email}:signBlob"
        )

    def __call__(self, message: bytes) -> bytes:
        """Return the service account's RSA-SHA256 signature of ``message``."""
        payload = {"payload": base64.b64encode(message).decode("ascii")}
        response = self.session.post(self.url, json=payload, timeout=(30, 60))
        if response.status_code != 200:
            from storages.backends._gcloud_transfer import raise_for_response

            raise_for_response(response)
        return base64.b64decode(response.json()["signedBlob"])


class GoogleCloudUrls(GoogleCloudSettings):
    """The URL half of the Google Cloud storage: public and signed URLs, the API endpoint."""

    _endpoint: str | None = None

    def _api_endpoint(self) -> str:
        """Return the client's API endpoint (``https://storage.googleapis.com`` by default)."""
        endpoint = self._endpoint
        if endpoint is None:
            endpoint = self._endpoint = str(self.client.api_endpoint).rstrip("/")
        return endpoint

    def _reset_clients(self) -> None:
        super()._reset_clients()
        self._endpoint = None

    def url(self, name: str, parameters: dict[str, Any] | None = None) -> str:
        """Return a URL for ``name``: public, or V4-signed for ``GS_EXPIRATION``, per settings."""
        key = self._key(name)
        params = dict(parameters or {})
        acl = self.get_object_parameters(self._name(key)).get("acl")
        acl = predefined_acl(acl, "the 'acl' object parameter") or self.default_acl
        if acl == "publicRead" or not self.querystring_auth:
            return self._public_url(key)
        if set(params) <= _FAST_URL_PARAMETERS and params.get("version", "v4") == "v4":
            now = _now()
            # A bad lifetime is the caller's ValueError, not a service failure.
            expires = expiration_seconds(params.get("expiration", self.expiration), now)
            with self.translating(name):
                return self._fast_signed_url(key, params, expires, now)
        with self.translating(name):
            return self._library_signed_url(key, params)

    def _public_url(self, key: str) -> str:
        if self.custom_endpoint:
            return f"{self.custom_endpoint}/{quote_name(key)}"
        return f"{self._api_endpoint()}/{self.bucket_name}/{quote_name(key)}"

    def _fast_signed_url(
        self, key: str, params: dict[str, Any], expires: int, now: datetime
    ) -> str:
        signer: V4Signer = self._signer()
        headers = dict(params.get("headers") or {})
        if params.get("content_type") is not None:
            headers["Content-Type"] = params["content_type"]
        if params.get("content_md5") is not None:
            headers["Content-MD5"] = params["content_md5"]
        query = dict(params.get("query_parameters") or {})
        for option, field in (
            ("response_type", "response-content-type"),
            ("response_disposition", "response-content-disposition"),
            ("generation", "generation"),
        ):
            if params.get(option) is not None:
                query[field] = params[option]
        quoted = quote_name(key)
        resource = f"/{quoted}" if self.custom_endpoint else f"/{self.bucket_name}/{quoted}"
        return signer.signed_url(
            resource,
            expires,
            method=params.get("method", "GET"),
            headers=headers,
            query=query,
            now=now,
        )

    def _signing_credentials(self) -> Any:
        return self.credentials or self.client._credentials

    def _signer(self) -> V4Signer:
        # Cached per thread (the IAM signer holds an HTTP session); reset with the clients.
        signer: V4Signer | None = getattr(self._local, "signer", None)
        if signer is not None:
            return signer
        endpoint = self.custom_endpoint or self._api_endpoint()
        if self.iam_sign_blob:
            email = self._service_account_email()
            iam = IamBlobSigner(self._iam_session(), email, self.client.universe_domain)
            signer = V4Signer(endpoint, email, iam)
        else:
            credentials = self._signing_credentials()
            auth = require("google.auth.credentials", "google")
            if not isinstance(credentials, auth.Signing):
                raise ImproperlyConfigured(
                    "Signed URLs need credentials with a private key (a service-account key in "
                    "GS_CREDENTIALS or GOOGLE_APPLICATION_CREDENTIALS). Without one, set "
                    "GS_IAM_SIGN_BLOB = True to sign through the IAM API, or "
                    "GS_QUERYSTRING_AUTH = False for plain public URLs."
                )
            signer = V4Signer(endpoint, credentials.signer_email, credentials.sign_bytes)
        self._local.signer = signer
        return signer

    def _service_account_email(self) -> str:
        if self.sa_email:
            return str(self.sa_email)
        credentials = self._signing_credentials()
        email = getattr(credentials, "service_account_email", None)
        if email == "default":
            # Compute Engine credentials learn their real e-mail when they first refresh.
            transport = require("google.auth.transport.requests", "google")
            credentials.refresh(transport.Request())
            email = getattr(credentials, "service_account_email", None)
        if not email or email == "default":
            raise ImproperlyConfigured(
                "GS_IAM_SIGN_BLOB needs the e-mail of the signing service account: set "
                "GS_SA_EMAIL (option 'sa_email')."
            )
        return str(email)

    def _iam_session(self) -> Any:
        """Return the authorized HTTP session that calls the IAM signBlob API."""
        auth = require("google.auth.credentials", "google")
        transport = require("google.auth.transport.requests", "google")
        credentials = auth.with_scopes_if_required(self._signing_credentials(), [_IAM_SCOPE])
        return transport.AuthorizedSession(credentials)

    def _library_signed_url(self, key: str, params: dict[str, Any]) -> str:
        options: dict[str, Any] = {"version": "v4", "expiration": self.expiration, **params}
        routing = ("api_access_endpoint", "bucket_bound_hostname", "virtual_hosted_style")
        if self.custom_endpoint and not any(k in options for k in routing):
            options["bucket_bound_hostname"] = self.custom_endpoint
        options.setdefault("credentials", self._signing_credentials())
        if self.iam_sign_blob and "access_token" not in options:
            credentials = options["credentials"]
            if not credentials.valid:
                transport = require("google.auth.transport.requests", "google")
                credentials.refresh(transport.Request())
            options.setdefault("service_account_email", self._service_account_email())
            options["access_token"] = credentials.token
        return str(self._blob(key).generate_signed_url(**options))
