"""Copies inside S3 (``S3Storage._copy_key_from``): one ``CopyObject`` up to the service's
single-copy limit, else a multipart upload whose parts are ``UploadPartCopy`` ranges.

Both ends must be one account on one endpoint (the same credential settings): the destination's
client then reads the source. The copy replaces the metadata (``MetadataDirective=REPLACE``) and
tags with what the destination decided, as a streamed upload would, and is pinned to the ETag
the source was listed with (``CopySourceIfMatch``), so a source replaced since is refused rather
than copied half old, half new.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from storages.base import BaseStorage
from storages.errors import StorageError
from storages.objects import ObjectInfo, UploadTarget

if TYPE_CHECKING:
    from storages.backends.s3 import S3Storage

__all__ = ["copy_object", "same_account"]

#: The settings that name the account and endpoint requests go to.
ACCOUNT_SETTINGS = ("endpoint_url", "access_key", "secret_key", "security_token", "session_profile")
#: The codes S3 answers when a ``CopySourceIf*`` condition fails.
_PRECONDITION_FAILED = frozenset({"PreconditionFailed", "412"})

T = TypeVar("T")


def same_account(storage: S3Storage, source: S3Storage) -> bool:
    """Return whether ``storage``'s client can read ``source``'s bucket: the same endpoint and
    credentials, and no customer-provided encryption keys (each end would need its own)."""
    if storage._sse_c_params() or source._sse_c_params():
        return False
    return all(getattr(storage, attr) == getattr(source, attr) for attr in ACCOUNT_SETTINGS)


def _accepted(client: Any, operation: str, params: dict[str, Any]) -> dict[str, Any]:
    """Return the object parameters ``operation`` takes (a copy has no body checksums)."""
    members = client.meta.service_model.operation_model(operation).input_shape.members
    return {key: value for key, value in params.items() if key in members}


def copy_object(
    storage: S3Storage, source: BaseStorage, key: str, info: ObjectInfo, target: UploadTarget
) -> bool:
    """Copy ``source``'s object ``key`` to ``target`` inside S3; False when it cannot."""
    from storages.backends.s3 import S3Storage

    # A create-only copy's refusal would be the same 412 as a changed source's: streamed.
    if not (isinstance(source, S3Storage) and target.overwrite and same_account(storage, source)):
        return False
    client = storage.client
    args: dict[str, Any] = {"CopySource": {"Bucket": source.bucket_name, "Key": key}}
    if info.etag:
        args["CopySourceIfMatch"] = info.etag
    params = storage._create_params(target)
    if info.size <= storage.copy_single_limit:
        _pinned(
            target,
            lambda: client.copy_object(
                **storage._object(target.key),
                **args,
                MetadataDirective="REPLACE",
                TaggingDirective="REPLACE",
                **_accepted(client, "CopyObject", params),
            ),
        )
        return True
    upload = client.create_multipart_upload(**storage._object(target.key), **params)["UploadId"]
    try:
        parts = _copy_parts(storage, target, upload, args, info.size)
        client.complete_multipart_upload(
            **storage._object(target.key), UploadId=upload, MultipartUpload={"Parts": parts}
        )
    except BaseException:
        client.abort_multipart_upload(**storage._object(target.key), UploadId=upload)
        raise
    return True


def _copy_parts(
    storage: S3Storage, target: UploadTarget, upload: str, args: dict[str, Any], size: int
) -> list[dict[str, Any]]:
    """Copy ``size`` bytes in ranges of at least ``copy_part_size`` (more when the object
    would need over ``max_parts`` parts), ``upload_concurrency`` of them at a time."""
    client = storage.client
    part = max(storage.copy_part_size, math.ceil(size / (storage.max_parts or 1)))

    def copy(number: int) -> dict[str, Any]:
        start = (number - 1) * part
        end = min(start + part, size) - 1
        response = _pinned(
            target,
            lambda: client.upload_part_copy(
                **storage._object(target.key),
                **args,
                UploadId=upload,
                PartNumber=number,
                CopySourceRange=f"bytes={start}-{end}",
            ),
        )
        return {"PartNumber": number, "ETag": response["CopyPartResult"]["ETag"]}

    numbers = range(1, math.ceil(size / part) + 1)
    with ThreadPoolExecutor(max(storage.upload_concurrency, 1)) as pool:
        return list(pool.map(copy, numbers))


def _pinned(target: UploadTarget, request: Callable[[], T]) -> T:
    """Run a copy request; a failed ``CopySourceIfMatch`` means the source changed."""
    from storages.backends.s3 import error_code

    try:
        return request()
    except Exception as exc:
        if error_code(exc) in _PRECONDITION_FAILED:
            raise StorageError(
                f"{target.name}: the source changed while it was being copied; run again."
            ) from exc
        raise
