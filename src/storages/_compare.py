"""What a sync session compares: the bytes that would be stored, and the object stored already.

:func:`prepare` reads a body as it would be stored (gzip-compressed when the storage compresses
its content type; the compressed bytes depend only on the input) and computes their MD5;
:func:`matches` tells whether a stored object holds exactly that: same size, same encoding and
content type, same checksum, or, when the service knows no checksum, not older than the
source (Django's own rule, to the second).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from storages._upload import UploadBody, read_full
from storages.compress import GzipCompressingReader
from storages.objects import ObjectInfo, UploadTarget

__all__ = ["INLINE_SIZE", "Prepared", "matches", "md5_hex", "needs_stat", "prepare"]

MiB = 1024 * 1024
#: Bodies up to this size are read into memory (and sent from there by the session's threads).
INLINE_SIZE = 8 * MiB
#: Bytes read at a time when hashing a large body.
HASH_BLOCK = MiB


def md5_hex(data: bytes) -> str:
    """Return the hex MD5 of ``data`` (an integrity checksum, not for security)."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


@dataclass
class Prepared:
    """A body as it would be stored: its bytes when they fit in memory (None: stream it from
    the body again), their checksum and size (None when unknown without reading it twice)."""

    data: bytes | None
    checksum: str | None
    size: int | None


def prepare(body: UploadBody, target: UploadTarget, hash_large: bool = True) -> Prepared:
    """Read ``body`` as ``target`` would store it (see the module docstring)."""
    head = read_full(body, INLINE_SIZE + 1)
    if len(head) <= INLINE_SIZE:
        data = GzipCompressingReader(io.BytesIO(head)).read() if target.gzip else head
        return Prepared(data, md5_hex(data), len(data))
    if not body.seekable or not hash_large:
        return Prepared(None, None, None)  # not read twice: sent without a comparison
    body.rewind()
    reader: Any = GzipCompressingReader(body) if target.gzip else body
    digest = hashlib.md5(usedforsecurity=False)
    size = 0
    while block := reader.read(HASH_BLOCK):
        digest.update(block)
        size += len(block)
    return Prepared(None, digest.hexdigest(), size)


def needs_stat(info: ObjectInfo, prepared: Prepared) -> bool:
    """Return whether a stat may tell more than the listing did: the listing left out the
    metadata, and its checksum is missing or differs (an ETag that is not an MD5)."""
    return info.partial and prepared.checksum is not None and info.checksum != prepared.checksum


def _base_type(content_type: str | None) -> str | None:
    return content_type.split(";", 1)[0].strip().lower() if content_type else None


def _aware(value: datetime, naive_is_utc: bool) -> datetime:
    if value.tzinfo is not None:
        return value
    return value.replace(tzinfo=timezone.utc) if naive_is_utc else value.astimezone()


def matches(
    info: ObjectInfo,
    target: UploadTarget,
    prepared: Prepared,
    source_modified: datetime | None = None,
) -> bool:
    """Return whether the stored object ``info`` holds what ``target`` would store."""
    if prepared.size is not None and info.size != prepared.size:
        return False
    if not info.partial and (info.content_encoding or None) != target.content_encoding:
        return False
    stored_type = _base_type(info.content_type)
    if stored_type and stored_type != _base_type(target.content_type):
        return False
    if prepared.checksum is not None and info.checksum is not None:
        return prepared.checksum == info.checksum.lower()
    if source_modified is not None and info.modified is not None:
        # Backends report naive times in UTC; a naive source time is local (the filesystem).
        stored = _aware(info.modified, naive_is_utc=True).replace(microsecond=0)
        return stored >= _aware(source_modified, naive_is_utc=False).replace(microsecond=0)
    return False
