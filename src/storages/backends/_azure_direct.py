"""Direct browser uploads to Azure Blob Storage: a SAS for the one blob.

A file up to the threshold is one Put Blob under a SAS with only the *create* permission, so
the service refuses it if a blob of that name exists. A larger file goes in blocks (Put Block,
then Put Block List), which need the *write* permission; the widget sends the block list with
``If-None-Match: *``. A SAS cannot limit the size or content type: the server checks both
when the form comes back (see ``docs/direct-uploads.md``).
"""

from __future__ import annotations

from typing import Any

from storages.backends._azure_urls import AzureUrls, quote_blob_name
from storages.direct.grants import DirectUploadRequest, DirectUploads, parameter_fields

__all__ = ["AzureDirectUploads"]

#: Blocks browsers send (a block may be up to 4000 MiB; this keeps retries cheap).
DIRECT_BLOCK_SIZE = 8 * 1024 * 1024
#: The parameter holding user metadata, its headers' prefix, and the setting of parameters.
_METADATA = ("metadata", "x-ms-meta-")
_SETTING = "AZURE_OBJECT_PARAMETERS"
#: Object parameters and the headers that set them on the new blob.
_HEADERS = {
    "cache_control": "x-ms-blob-cache-control",
    "content_disposition": "x-ms-blob-content-disposition",
    "content_language": "x-ms-blob-content-language",
}


class AzureDirectUploads(AzureUrls, DirectUploads):
    """Direct browser uploads for the Azure storage."""

    direct_protocols = ("azure-blob", "azure-blocks")

    def _direct_container(self) -> str:
        return str(self.azure_container)

    def _direct_grant(self, request: DirectUploadRequest) -> tuple[dict[str, Any], dict[str, Any]]:
        target = self._upload_target(request.key, request.name, request.content_type, False)
        headers = {"x-ms-blob-content-type": request.content_type, "If-None-Match": "*"}
        params = {"cache_control": self.cache_control, **target.params}
        if target.content_encoding:
            headers["x-ms-blob-content-encoding"] = target.content_encoding
        headers.update(parameter_fields(params, _HEADERS, metadata=_METADATA, setting=_SETTING))
        # Create-only for one Put Blob; blocks and their list need write as well.
        mode = "cw" if request.multipart else "c"
        token = self._blob_sas(request.key, request.expires, {}, mode)
        base = self._url_base or self._build_url_base()
        url = f"{base}{quote_blob_name(request.key)}?{token}"
        if request.multipart:
            grant = {
                "protocol": "azure-blocks",
                "method": "PUT",
                "url": url,
                "headers": headers,
                "block_size": DIRECT_BLOCK_SIZE,
            }
        else:
            grant = {
                "protocol": "azure-blob",
                "method": "PUT",
                "url": url,
                "headers": {**headers, "x-ms-blob-type": "BlockBlob"},
            }
        return grant, {}
