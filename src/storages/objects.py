"""The two records backends exchange with the core: what a stored object is, and where an
upload goes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["ObjectInfo", "UploadTarget"]


@dataclass
class ObjectInfo:
    """What one metadata request tells about a stored object (``_stat_key``'s answer).

    ``exists``, ``size``, the time methods and an opened file's size all derive from it.
    ``version`` pins later ranged reads to this version of the object (an ETag, a generation,
    a size and modification time); ``raw`` keeps the SDK's own object for the backend.
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


@dataclass
class UploadTarget:
    """Where an upload goes and how it is stored, decided once before the first byte is sent.

    ``params`` are the backend's own object parameters (already merged with the defaults);
    ``gzip`` says whether the body is compressed on its way (``save()`` only); ``overwrite``
    False makes the final request an atomic create-only write.
    """

    key: str
    name: str
    overwrite: bool
    content_type: str | None = None
    content_encoding: str | None = None
    gzip: bool = False
    params: dict[str, Any] = field(default_factory=dict)
