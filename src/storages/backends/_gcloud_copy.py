"""Copies inside Google Cloud Storage (``GoogleCloudStorage._copy_key_from``): ``rewrite``
calls, repeated with the rewrite token until the service reports the object done (large
objects, or a change of location or storage class, take several calls).

Both ends must reach one endpoint with the same credentials, so the destination's client reads
the source. The new object gets the properties the destination decided (content type,
encoding, object parameters, the checksum metadata), as a streamed upload would, and the copy
is pinned to the source generation that was listed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from storages.base import BaseStorage
from storages.errors import StorageError
from storages.objects import ObjectInfo, UploadTarget

if TYPE_CHECKING:
    from storages.backends.gcloud import GoogleCloudStorage

__all__ = ["rewrite", "same_credentials"]

#: The HTTP status of a failed ``ifSourceGenerationMatch``.
PRECONDITION_FAILED = 412


def same_credentials(mine: Any, theirs: Any) -> bool:
    """Return whether two credentials act as one identity: the same object, both the
    environment's default (None), or one service account."""
    if mine is theirs:
        return True
    if mine is None or theirs is None or type(mine) is not type(theirs):
        return False
    email = getattr(mine, "service_account_email", None)
    return bool(email) and email == getattr(theirs, "service_account_email", None)


def rewrite(
    storage: GoogleCloudStorage,
    source: BaseStorage,
    key: str,
    info: ObjectInfo,
    target: UploadTarget,
) -> bool:
    """Copy ``source``'s object ``key`` to ``target`` inside the service; False when it cannot."""
    from storages.backends.gcloud import GoogleCloudStorage, http_status

    if (
        not isinstance(source, GoogleCloudStorage)
        or not target.overwrite
        or storage._api_endpoint() != source._api_endpoint()
        or not same_credentials(storage.credentials, source.credentials)
    ):
        return False
    blob, acl = storage._new_blob(target)
    if acl:
        # The SDK's rewrite sends no predefined ACL, and setting it afterwards would leave the
        # object readable under the bucket's default for a while: a streamed upload sets it.
        return False
    source_blob = source._blob(key)
    token: str | None = None
    try:
        while True:
            token, _, _ = blob.rewrite(
                source_blob,
                token=token,
                client=storage.client,
                if_source_generation_match=info.version,
            )
            if token is None:
                return True
    except Exception as exc:
        if http_status(exc) == PRECONDITION_FAILED:
            raise StorageError(
                f"{target.name}: the source changed while it was being copied; run again."
            ) from exc
        raise
