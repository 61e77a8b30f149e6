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

__all__ = [
    "IamBlobSigner",
    "V4Signer",
    "expiration_seconds",
    "quote_name",
]

MAX_EXPIRATION = 7 * 24 * 3600
_ALGORITHM = "GOOG4-RSA-SHA256"


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
        pairs = [(_quote_param(k), _quote_param("" if v is None else v))
                 for k, v in (query or {}).items()]
        pairs += [
            ("X-Goog-Algorithm", _ALGORITHM),
            ("X-Goog-Credential", self._credential_prefix + _quote_param(scope)),
            ("X-Goog-Date", timestamp),
            ("X-Goog-Expires", str(expires)),
            ("X-Goog-SignedHeaders", _quote_param(signed_headers)),
        ]
        canonical_query = "&".join(f"{k}={v}" for k, v in sorted(pairs))
        canonical_request = "\n".join((
            "POST" if method == "RESUMABLE" else method,
            resource,
            canonical_query,
            "".join(f"{k}:{v}\n" for k, v in header_map.items()),
            signed_headers,
            header_map.get("x-goog-content-sha256", "UNSIGNED-PAYLOAD"),
        ))
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
