"""Direct browser uploads to S3: a presigned POST with a policy, or presigned multipart parts.

A file up to the threshold is one browser POST to the bucket with a SigV4-signed policy that
pins the exact key, the content type, a ``content-length-range`` and an expiry; S3 refuses any
form that breaks it. A larger file is a multipart upload created here (so its content type and
parameters are fixed server-side) with one presigned ``UploadPart`` URL per part; the browser
sends the parts and the server completes the upload when the form comes back, after checking
that the parts add up to no more than the limit, so an oversized object never exists.
"""

from __future__ import annotations

import base64
import json
import math
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured

from storages._signing import HmacSha256
from storages.backends._s3_signing import _signing_key
from storages.backends._s3_urls import S3Urls
from storages.direct.grants import (
    DirectUploadError,
    DirectUploadRequest,
    DirectUploads,
    parameter_fields,
)
from storages.objects import UploadTarget

__all__ = ["S3DirectUploads"]

MiB = 1024 * 1024
#: S3's smallest part (every part but the last) and its most parts per upload.
MIN_PART_SIZE = 5 * MiB
MAX_PARTS = 10_000
#: The part size browsers use unless the file needs larger parts to fit in MAX_PARTS.
DIRECT_PART_SIZE = 8 * MiB
#: Object parameters and the POST form fields that carry them.
_POST_FIELDS = {
    "ACL": "acl",
    "CacheControl": "Cache-Control",
    "ContentDisposition": "Content-Disposition",
    "ContentEncoding": "Content-Encoding",
    "ContentLanguage": "Content-Language",
    "Expires": "Expires",
    "ServerSideEncryption": "x-amz-server-side-encryption",
    "SSEKMSKeyId": "x-amz-server-side-encryption-aws-kms-key-id",
    "StorageClass": "x-amz-storage-class",
    "Tagging": "tagging",
    "WebsiteRedirectLocation": "x-amz-website-redirect-location",
}
#: Completion failures that mean the browser sent bad parts (the upload is abandoned).
_BAD_PARTS = frozenset({"EntityTooSmall", "InvalidPart", "InvalidPartOrder", "EntityTooLarge"})


class S3DirectUploads(S3Urls, DirectUploads):
    """Direct browser uploads for the S3 storage."""

    direct_protocols = ("s3-post", "s3-multipart")

    if TYPE_CHECKING:  # S3Storage defines it

        def _create_params(self, target: UploadTarget) -> dict[str, Any]: ...

    def _direct_container(self) -> str:
        return str(self.bucket_name)

    def _direct_target(self, request: DirectUploadRequest) -> UploadTarget:
        if "SSECustomerKey" in (self.object_parameters or {}):
            raise ImproperlyConfigured(
                "Direct uploads cannot use customer-provided encryption keys (SSECustomerKey "
                "in AWS_S3_OBJECT_PARAMETERS): the browser would need the key."
            )
        target = self._upload_target(request.key, request.name, request.content_type, False)
        target.content_type = request.content_type  # the type the grant was made for
        return target

    def _direct_grant(self, request: DirectUploadRequest) -> tuple[dict[str, Any], dict[str, Any]]:
        target = self._direct_target(request)
        if request.multipart:
            return self._multipart_grant(request, target)
        return self._post_grant(request, target), {}

    def _signing_credentials(self) -> Any:
        self._url_base_for_signing()
        creds = self._frozen or self._current_credentials()
        if not (creds and creds.access_key and creds.secret_key):
            raise ImproperlyConfigured(
                "Direct uploads are signed with the access key: set AWS_S3_ACCESS_KEY_ID and "
                "AWS_S3_SECRET_ACCESS_KEY (or a profile or role that provides keys)."
            )
        return creds

    def _post_grant(self, request: DirectUploadRequest, target: UploadTarget) -> dict[str, Any]:
        """Return a presigned POST whose policy allows exactly this upload."""
        creds = self._signing_credentials()
        base = self._url_base_for_signing()
        now = datetime.now(timezone.utc)
        datestamp = now.strftime("%Y%m%d")
        scope = f"{datestamp}/{base.region or 'us-east-1'}/{base.service}/aws4_request"
        fields: dict[str, str] = {"key": request.key, "Content-Type": request.content_type}
        fields.update(self._post_param_fields(target))
        fields.update(
            {
                "x-amz-algorithm": "AWS4-HMAC-SHA256",
                "x-amz-credential": f"{creds.access_key}/{scope}",
                "x-amz-date": now.strftime("%Y%m%dT%H%M%SZ"),
            }
        )
        if creds.token:
            fields["x-amz-security-token"] = creds.token
        conditions: list[Any] = [{"bucket": self.bucket_name}]
        conditions += [["eq", f"${field}", value] for field, value in fields.items()]
        conditions.append(["content-length-range", 0, request.max_size])
        expiration = now + timedelta(seconds=request.expires)
        policy = {
            "expiration": expiration.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "conditions": conditions,
        }
        encoded = base64.b64encode(json.dumps(policy).encode("utf-8")).decode("ascii")
        key = _signing_key(creds.secret_key, datestamp, base.region or "us-east-1", base.service)
        fields["policy"] = encoded
        fields["x-amz-signature"] = HmacSha256(key).hexdigest(encoded.encode("ascii"))
        return {"protocol": "s3-post", "method": "POST", "url": base.prefix, "fields": fields}

    def _post_param_fields(self, target: UploadTarget) -> dict[str, str]:
        params = self._create_params(target)
        params.pop("ContentType", None)
        return parameter_fields(
            params,
            _POST_FIELDS,
            metadata=("Metadata", "x-amz-meta-"),
            setting="AWS_S3_OBJECT_PARAMETERS",
        )

    def _multipart_grant(
        self, request: DirectUploadRequest, target: UploadTarget
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Create a multipart upload and presign one ``UploadPart`` URL per part."""
        size = int(request.size or 0)
        part_size = max(DIRECT_PART_SIZE, MIN_PART_SIZE, math.ceil(size / MAX_PARTS))
        part_size = math.ceil(part_size / MiB) * MiB
        count = max(1, math.ceil(size / part_size))
        creds = self._signing_credentials()
        response = self.client.create_multipart_upload(
            Bucket=self.bucket_name, Key=request.key, **self._create_params(target)
        )
        upload_id = str(response["UploadId"])
        presigner = self._presigner
        assert presigner is not None  # made with the URL base above
        parts = [
            {
                "number": number,
                "url": presigner.presign(
                    request.key,
                    creds.access_key,
                    creds.secret_key,
                    creds.token,
                    request.expires,
                    "PUT",
                    [("partNumber", str(number)), ("uploadId", upload_id)],
                ),
            }
            for number in range(1, count + 1)
        ]
        grant = {"protocol": "s3-multipart", "part_size": part_size, "parts": parts}
        return grant, {"u": upload_id}

    def _finish_direct_upload(self, key: str, payload: dict[str, Any]) -> None:
        upload_id = payload.get("u")
        if not upload_id:
            return
        from storages.backends.s3 import NOT_FOUND, error_code

        client = self.client
        try:
            parts = self._listed_parts(key, str(upload_id))
        except Exception as exc:
            if error_code(exc) in NOT_FOUND:
                return  # completed by an earlier submission of the form (or never started)
            raise
        total = sum(part["Size"] for part in parts)
        problem = None
        if not parts:
            problem = DirectUploadError("No part of the file was uploaded.", "missing")
        elif total > int(payload["m"]):
            problem = DirectUploadError(
                f"The file is {total} bytes; at most {payload['m']} bytes are allowed.",
                "too_large",
            )
        if problem is None:
            try:
                client.complete_multipart_upload(
                    Bucket=self.bucket_name,
                    Key=key,
                    UploadId=upload_id,
                    MultipartUpload={
                        "Parts": [{"PartNumber": p["PartNumber"], "ETag": p["ETag"]} for p in parts]
                    },
                    IfNoneMatch="*",
                )
                return
            except Exception as exc:
                if error_code(exc) not in _BAD_PARTS:
                    raise
                problem = DirectUploadError(
                    f"The parts the browser sent cannot form a file ({error_code(exc)}).",
                    "bad_parts",
                )
        client.abort_multipart_upload(Bucket=self.bucket_name, Key=key, UploadId=upload_id)
        raise problem

    def _listed_parts(self, key: str, upload_id: str) -> list[dict[str, Any]]:
        paginator = self.client.get_paginator("list_parts")
        parts: list[dict[str, Any]] = []
        for page in paginator.paginate(Bucket=self.bucket_name, Key=key, UploadId=upload_id):
            parts.extend(page.get("Parts", ()))
        return sorted(parts, key=lambda part: int(part["PartNumber"]))
