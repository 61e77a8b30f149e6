"""Copies inside Azure Blob Storage (``AzureStorage._copy_key_from``): Copy Blob from the
source's URL, waited for until the service reports it done, then the destination's content
settings.

Both ends must be one account on one endpoint. The service reads the source through a read-only
SAS the source storage signs (account key or user-delegation key); a source that cannot sign is
copied only when the destination signs its requests with the account key, which authorizes a
source in the same account. Copy Blob carries the metadata (the checksum included) but keeps the
source's content settings, so the destination's (content type, encoding, cache control, the
source's MD5) are set right after it, as a streamed upload would have stored them. The copy is
pinned to the ETag the source was listed with. Put Blob From URL would do both in one request,
but Azurite does not implement it, so it could not be tested.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from storages.backends._azure_reads import status_code
from storages.backends._azure_urls import _without_query
from storages.base import BaseStorage
from storages.deps import require
from storages.errors import StorageError
from storages.objects import ObjectInfo, UploadTarget

if TYPE_CHECKING:
    from storages.backends.azure_storage import AzureStorage

__all__ = ["copy_blob", "same_account"]

#: Seconds between two looks at a copy the service runs in the background, and the longest
#: wait for one before it is aborted.
POLL_INTERVAL = 0.5
COPY_TIMEOUT = 3600
#: Seconds the source's SAS outlives the longest wait (the service reads it until the end).
SAS_MARGIN = 300
#: The HTTP status of a failed source condition.
PRECONDITION_FAILED = 412


def same_account(storage: AzureStorage, source: AzureStorage) -> bool:
    """Return whether both storages reach one account on one endpoint."""
    mine, theirs = storage.service_client, source.service_client
    return bool(
        mine.account_name == theirs.account_name
        and _without_query(mine.url) == _without_query(theirs.url)
    )


def _source_url(storage: AzureStorage, source: AzureStorage, key: str) -> str | None:
    """Return a URL of ``key`` that the service can read for the copy (None: no such URL)."""
    url = _without_query(source._blob(key).url)
    _, account_key = source._signing_identity()
    if account_key or source.token_credential is not None:
        return f"{url}?{source._blob_sas(key, COPY_TIMEOUT + SAS_MARGIN, {}, 'r')}"
    _, own_key = storage._signing_identity()
    return url if own_key else None


def copy_blob(
    storage: AzureStorage, source: BaseStorage, key: str, info: ObjectInfo, target: UploadTarget
) -> bool:
    """Copy ``source``'s blob ``key`` to ``target`` inside the service; False when it cannot."""
    from storages.backends.azure_storage import AzureStorage

    if not isinstance(source, AzureStorage) or not target.overwrite:
        return False
    url = _source_url(storage, source, key) if same_account(storage, source) else None
    if url is None:
        return False
    content = storage._content(target)
    settings = content["content_settings"]
    if info.checksum:
        settings.content_md5 = bytearray.fromhex(info.checksum)
    blob = storage._blob(target.key)
    pinned: dict[str, Any] = {}
    if info.etag:
        pinned["source_etag"] = info.etag
        pinned["source_match_condition"] = require(
            "azure.core", "azure"
        ).MatchConditions.IfNotModified
    try:
        started = blob.start_copy_from_url(
            url, metadata=content["metadata"], timeout=storage.timeout, **pinned
        )
    except Exception as exc:
        if status_code(exc) == PRECONDITION_FAILED:
            raise StorageError(
                f"{target.name}: the source changed while it was being copied; run again."
            ) from exc
        raise
    _wait(storage, blob, started, target)
    blob.set_http_headers(content_settings=settings, timeout=storage.timeout)
    return True


def _wait(storage: AzureStorage, blob: Any, started: dict[str, Any], target: UploadTarget) -> None:
    """Wait until the copy ``started`` is done; raise when it failed or took too long."""
    status, detail = started.get("copy_status"), None
    deadline = time.monotonic() + COPY_TIMEOUT
    while status == "pending":
        if time.monotonic() > deadline:
            blob.abort_copy(started["copy_id"], timeout=storage.timeout)
            raise StorageError(f"{target.name}: the copy took over {COPY_TIMEOUT} s; aborted.")
        time.sleep(POLL_INTERVAL)
        copy = blob.get_blob_properties(timeout=storage.timeout).copy
        status, detail = copy.status, copy.status_description
    if status != "success":
        raise StorageError(f"{target.name}: the service's copy ended {status}: {detail}")
