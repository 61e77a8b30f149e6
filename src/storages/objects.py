"""The two records backends exchange with the core: what a stored object is, and where an
upload goes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["CHECKSUM_METADATA", "ObjectInfo", "UploadTarget"]

#: The user-metadata key under which uploads that know their checksum record it (the hex MD5
#: of the bytes stored), so objects whose ETag is not an MD5 (multipart, blocks) compare too.
#: Letters and digits only: Azure metadata names must be identifiers, and some proxies drop
#: headers with underscores.
CHECKSUM_METADATA = "stowagemd5"


@dataclass
class ObjectInfo:
    """What one metadata request tells about a stored object (``_stat_key``'s answer).

    ``exists``, ``size``, the time methods and an opened file's size all derive from it.
    ``version`` pins later ranged reads to this version of the object (an ETag, a generation,
    a size and modification time); ``raw`` keeps the SDK's own object for the backend.
    ``checksum`` is the hex MD5 of the bytes stored (as the service holds them, compressed or
    not), when the service or :data:`CHECKSUM_METADATA` tells it. ``partial`` marks a record
    from a listing that leaves out what a stat of the key would tell (user metadata).
    """

    size: int
    modified: datetime | None = None
    created: datetime | None = None
    accessed: datetime | None = None
    etag: str | None = None
    content_type: str | None = None
    content_encoding: str | None = None
    version: Any = None
    is_dir: bool = False
    raw: Any = None
    checksum: str | None = None
    partial: bool = False


@dataclass
class UploadTarget:
    """Where an upload goes and how it is stored, decided once before the first byte is sent.

    ``params`` are the backend's own object parameters (already merged with the defaults);
    ``gzip`` says whether the body is compressed on its way (``save()`` only); ``overwrite``
    False makes the final request an atomic create-only write. ``checksum``, when known before
    the first byte is sent, is the hex MD5 of the bytes stored; backends keep it as the object's
    :data:`CHECKSUM_METADATA` metadata.
    """

    key: str
    name: str
    overwrite: bool
    content_type: str | None = None
    content_encoding: str | None = None
    gzip: bool = False
    params: dict[str, Any] = field(default_factory=dict)
    checksum: str | None = None
