"""URLs of S3 files: plain, SigV4-presigned (by :mod:`storages.backends._s3_signing`, without
botocore's per-call pipeline), on a custom domain, or signed for CloudFront."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

from django.core.exceptions import ImproperlyConfigured

from storages.backends._s3_settings import S3Settings
from storages.backends._s3_signing import (
    QUERY_PARAMETERS,
    SigV4Presigner,
    UrlBase,
    cloudfront_signer,
    quote_key,
)

__all__ = ["S3Urls"]

#: Lifetime of the throw-away presigned URL that reveals the endpoint's shape (seconds).
PROBE_EXPIRY = 60


class S3Urls(S3Settings):
    """The URL half of the S3 storage."""

    _credentials: Any
    _cloudfront: Any

    def _init_urls(self) -> None:
        self._url_base: UrlBase | None = None
        self._presigner: SigV4Presigner | None = None
        self._credentials = None
        self._frozen: Any = None
        if self.setting_source("cloudfront_signer") in ("keyword", "class"):
            self._cloudfront = self.cloudfront_signer
        elif self.cloudfront_key_id:
            key_id, key = self.cloudfront_key_id, self.cloudfront_key
            self._cloudfront = self.get_cloudfront_signer(key_id, key)
        else:
            self._cloudfront = None

    def get_cloudfront_signer(self, key_id: str, key: str | bytes) -> Any:
        """Return the signer of CloudFront URLs for ``key_id`` and its PEM private ``key``."""
        return cloudfront_signer(key_id, key)

    def _reset_clients(self) -> None:
        super()._reset_clients()
        self._url_base = None
        self._presigner = None
        self._credentials = None
        self._frozen = None

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
                        ExpiresIn=PROBE_EXPIRY,
                    )
                    probe.close()
                    self._url_base = UrlBase(url)
                    self._presigner = SigV4Presigner(self._url_base)
                base = self._url_base
        assert base is not None
        return base

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
            url += "?" + urlencode(params)
        if self.querystring_auth and self._cloudfront is not None:
            until = datetime.now(timezone.utc) + timedelta(seconds=expires)
            return self._cloudfront.generate_presigned_url(  # type: ignore[no-any-return]
                url, date_less_than=until
            )
        return url
