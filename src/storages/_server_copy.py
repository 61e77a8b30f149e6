"""Copies inside one service for ``storages copy|sync``: S3 ``CopyObject``, GCS rewrite, Azure
Copy Blob, through the storage primitive ``_copy_key_from``.

:func:`copy_inside` asks the destination to copy a file of the source without the bytes
passing through this process when

* both storages implement the primitive the same way (one service family), and the
  destination accepts the source (the backend checks the endpoint and credentials: its client
  must be able to read the source);
* the copy stores exactly what a streamed copy would: the source does not decompress the file
  on reading and the destination would not compress it. Name, content type, encoding and
  object parameters are decided by the destination as for a streamed copy, and the copy
  carries the source's checksum (hex MD5) as :data:`~storages.objects.CHECKSUM_METADATA`.

Otherwise it answers False and the caller streams the file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from storages import names
from storages._object_store import ObjectStore
from storages.base import BaseStorage

if TYPE_CHECKING:
    from storages._sync import SyncSession
    from storages.objects import ObjectInfo

__all__ = ["copy_inside"]


def copy_inside(source: Any, session: SyncSession, name: str, info: ObjectInfo | None) -> bool:
    """Copy ``source``'s file ``name`` (listed as ``info``) to the session's storage inside the
    service; return False when that is not possible (see the module docstring)."""
    destination = session.storage
    primitive = type(destination)._copy_key_from
    if (
        session.dry_run
        or info is None
        or not isinstance(source, BaseStorage)
        or primitive is BaseStorage._copy_key_from
        or type(source)._copy_key_from is not primitive
    ):
        return False
    name = names.normalize_name(name)
    key = destination._key(name)
    destination._check_writable(key)
    target = destination._upload_target(key, name, None, True, True)
    if target.gzip:
        return False  # a streamed copy would store the bytes compressed
    source_key = source._key(name)
    if info.partial and (info.checksum is None or getattr(source, "gzip", False)):
        # The listing left out what decides (encoding, recorded checksum): one stat tells.
        info = source._file_info(source_key, name)
    if isinstance(source, ObjectStore) and source._decompresses(info):
        return False  # a streamed copy would store the decompressed bytes
    target.checksum = info.checksum
    with destination.translating(name):
        copied = destination._copy_key_from(source, source_key, info, target)
    if copied:
        session.record(target, info.size, server_side=True)
    return copied
