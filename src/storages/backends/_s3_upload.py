"""S3's upload primitives: one ``PutObject``, or a multipart upload the core's part writer drives.

Multipart uploads carry a checksum algorithm as boto3's own transfer manager sends it: with the
client's ``request_checksum_calculation`` at botocore's default (``when_supported``), the upload
is created with ``ChecksumAlgorithm=CRC32``, every part sends its CRC32 and the completion lists
them, so the service checks each part and keeps a checksum of the whole object. Without it moto
spends a third more time on the same upload; an algorithm named in ``AWS_S3_OBJECT_PARAMETERS``
wins, and ``when_required`` sends none (for S3-compatible services that refuse them).
"""

from __future__ import annotations

from typing import Any

from storages.backends._s3_settings import S3Settings
from storages.objects import CHECKSUM_METADATA, UploadTarget

__all__ = ["S3Uploads"]

_SSE_C = ("SSECustomerAlgorithm", "SSECustomerKey", "SSECustomerKeyMD5")
#: The checksum botocore and boto3's transfer manager choose when the client's configuration
#: leaves the choice to them.
DEFAULT_CHECKSUM_ALGORITHM = "CRC32"


class S3Uploads(S3Settings):
    """The core's upload primitives, mapped onto boto3 calls."""

    def _object(self, key: str) -> dict[str, Any]:
        return {"Bucket": self.bucket_name, "Key": key}

    def _sse_c_params(self) -> dict[str, Any]:
        params = self.object_parameters
        return {k: params[k] for k in _SSE_C if k in params}

    def _create_params(self, target: UploadTarget) -> dict[str, Any]:
        """Return the object's parameters for a put, a copy or a new multipart upload."""
        params = dict(target.params)
        params["ContentType"] = target.content_type
        if target.checksum:
            params["Metadata"] = {**params.get("Metadata", {}), CHECKSUM_METADATA: target.checksum}
        if target.content_encoding:
            params["ContentEncoding"] = target.content_encoding
        if self.default_acl and "ACL" not in params:
            params["ACL"] = self.default_acl
        return params

    @staticmethod
    def _condition(target: UploadTarget) -> dict[str, str]:
        return {} if target.overwrite else {"IfNoneMatch": "*"}

    def _checksum_algorithm(self, target: UploadTarget) -> str | None:
        """Return the checksum algorithm of a multipart upload's parts, or None for none."""
        chosen = target.params.get("ChecksumAlgorithm")
        if chosen:
            return str(chosen).upper()
        calculation = getattr(self.client.meta.config, "request_checksum_calculation", None)
        return DEFAULT_CHECKSUM_ALGORITHM if calculation == "when_supported" else None

    def _put_key(self, target: UploadTarget, data: bytes) -> None:
        self.client.put_object(
            **self._object(target.key),
            Body=data,
            **self._create_params(target),
            **self._condition(target),
        )

    def _begin_upload(self, target: UploadTarget) -> Any:
        params = self._create_params(target)
        algorithm = self._checksum_algorithm(target)
        if algorithm:
            params["ChecksumAlgorithm"] = algorithm
        response = self.client.create_multipart_upload(**self._object(target.key), **params)
        return response["UploadId"], algorithm

    def _upload_part(
        self, target: UploadTarget, state: Any, number: int, data: bytes, last: bool
    ) -> Any:
        upload_id, algorithm = state
        checksum = {"ChecksumAlgorithm": algorithm} if algorithm else {}
        response = self.client.upload_part(
            **self._object(target.key),
            UploadId=upload_id,
            PartNumber=number,
            Body=data,
            **checksum,
            **self._sse_c_params(),
        )
        part = {"PartNumber": number, "ETag": response["ETag"]}
        if algorithm and f"Checksum{algorithm}" in response:
            part[f"Checksum{algorithm}"] = response[f"Checksum{algorithm}"]
        return part

    def _complete_upload(self, target: UploadTarget, state: Any, parts: list[Any]) -> None:
        self.client.complete_multipart_upload(
            **self._object(target.key),
            UploadId=state[0],
            MultipartUpload={"Parts": parts},
            **self._sse_c_params(),
            **self._condition(target),
        )

    def _abort_upload(self, target: UploadTarget, state: Any) -> None:
        self.client.abort_multipart_upload(**self._object(target.key), UploadId=state[0])
