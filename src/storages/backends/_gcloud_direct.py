"""Direct browser uploads to Google Cloud Storage: a V4-signed resumable-upload start.

The browser POSTs to the signed URL with the signed headers (``x-goog-resumable: start``, the
content type, ``x-goog-content-length-range`` and ``x-goog-if-generation-match: 0``), so the
service opens a session only for this object, this type, at most this size, and only if no
object has that name yet. The session URI it answers with (``Location``) then takes the file
in one PUT, or in chunks with ``Content-Range`` for a large file. The session is bound to the
page's origin (the ``Origin`` header of the start request) for CORS.
"""

from __future__ import annotations

import re
from typing import Any

from storages.backends._gcloud_settings import predefined_acl
from storages.backends._gcloud_urls import GoogleCloudUrls, V4Signer, quote_name
from storages.direct.grants import DirectUploadRequest, DirectUploads, parameter_fields

__all__ = ["GoogleCloudDirectUploads"]

#: Resumable chunks must be multiples of 256 KiB; browsers send 8 MiB at a time.
CHUNK_QUANTUM = 256 * 1024
DIRECT_CHUNK_SIZE = 32 * CHUNK_QUANTUM
#: The parameter holding user metadata, its headers' prefix, and the setting of parameters.
_METADATA = ("metadata", "x-goog-meta-")
_SETTING = "GS_OBJECT_PARAMETERS"
#: Object parameters and the XML API headers that set them at the start of the session.
_HEADERS = {
    "cache_control": "Cache-Control",
    "content_disposition": "Content-Disposition",
    "content_language": "Content-Language",
}


def _xml_acl(acl: str) -> str:
    # The JSON API's predefined ACL names (publicRead) are kebab-case in the XML API.
    return re.sub(r"(?<!^)(?=[A-Z])", "-", acl).lower()


class GoogleCloudDirectUploads(GoogleCloudUrls, DirectUploads):
    """Direct browser uploads for the Google Cloud storage."""

    direct_protocols = ("gcs-resumable",)

    def _direct_container(self) -> str:
        return str(self.bucket_name)

    def _resumable_start_query(self, key: str) -> dict[str, str]:
        """Return extra query parameters of the signed start URL (none for the service)."""
        return {}

    def _direct_grant(self, request: DirectUploadRequest) -> tuple[dict[str, Any], dict[str, Any]]:
        target = self._upload_target(request.key, request.name, request.content_type, False)
        headers = {
            "Content-Type": request.content_type,
            "x-goog-content-length-range": f"0,{request.max_size}",
            "x-goog-if-generation-match": "0",
        }
        params = dict(target.params)
        acl = predefined_acl(params.pop("acl", None), "the 'acl' object parameter")
        acl = acl or self.default_acl
        if acl:
            headers["x-goog-acl"] = _xml_acl(acl)
        if target.content_encoding:
            headers["Content-Encoding"] = target.content_encoding
        headers.update(parameter_fields(params, _HEADERS, metadata=_METADATA, setting=_SETTING))
        signer = self._signer()
        # Uploads go to the API endpoint even when downloads use a custom domain.
        upload_signer = V4Signer(self._api_endpoint(), signer.email, signer.sign)
        url = upload_signer.signed_url(
            f"/{self.bucket_name}/{quote_name(request.key)}",
            request.expires,
            method="RESUMABLE",
            headers=headers,
            query=self._resumable_start_query(request.key),
        )
        grant = {
            "protocol": "gcs-resumable",
            "method": "POST",
            "url": url,
            "headers": {**headers, "x-goog-resumable": "start"},
            "chunk_size": DIRECT_CHUNK_SIZE if request.multipart else None,
        }
        return grant, {}
