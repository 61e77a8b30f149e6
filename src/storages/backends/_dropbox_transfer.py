"""What the Dropbox backend's transfers need besides SDK calls: the content hash, the state of an
upload session, the download stream, and the reading of Dropbox's error unions.

Dropbox's content hash cuts a file into 4 MiB blocks, hashes each with SHA-256 and hashes the
concatenated digests with SHA-256 again. Upload parts are whole blocks (all but the last), so
one pass over a part gives both the hash of that request's body (which the service checks) and
the progress of the whole file's hash (which we check against what the service stored).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from storages.errors import StorageError

__all__ = [
    "BLOCK_SIZE",
    "ContentHash",
    "DownloadStream",
    "UploadSession",
    "error_tags",
    "is_conflict",
    "is_missing",
    "retry_delay",
]

BLOCK_SIZE = 4 * 1024 * 1024
#: Seconds before retrying a rate limit that named no delay (doubling with each attempt).
FIRST_BACKOFF = 0.5
#: How deep error unions nest (``UploadError.path.reason.conflict.file`` is four).
MAX_ERROR_DEPTH = 8
#: The tags under which a route reports a missing path (an upload session's own ``not_found``,
#: under ``lookup_failed``, means the session expired and is no missing file).
_LOOKUP_TAGS = frozenset({"path", "path_lookup"})
_MISSING_TAGS = frozenset({"not_found", "not_folder"})
#: Tags of errors that mean "not allowed" rather than "failed".
DENIED_TAGS = frozenset(
    {"no_write_permission", "access_restricted", "restricted_content", "not_allowed"}
)
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


class ContentHash:
    """Dropbox's content hash of a file, fed one upload part at a time."""

    def __init__(self) -> None:
        self._whole = hashlib.sha256()
        self._aligned = True
        self.size = 0

    def add(self, data: bytes) -> str:
        """Account for the next part and return the content hash of that part alone."""
        if not self._aligned:
            raise ValueError("Only the last part of an upload may end inside a 4 MiB block.")
        view = memoryview(data)
        part = hashlib.sha256()
        for offset in range(0, len(view), BLOCK_SIZE):
            digest = hashlib.sha256(view[offset : offset + BLOCK_SIZE]).digest()
            part.update(digest)
            self._whole.update(digest)
        self._aligned = len(view) % BLOCK_SIZE == 0
        self.size += len(view)
        return part.hexdigest()

    def hexdigest(self) -> str:
        """Return the content hash of everything added so far."""
        return self._whole.hexdigest()


@dataclass
class UploadSession:
    """An upload in progress: the service's session and what was sent to it.

    The session starts with the first part; the last part is kept until the commit, which
    carries it (so the final request both stores the last bytes and commits the file).
    """

    hasher: ContentHash = field(default_factory=ContentHash)
    session_id: str | None = None
    offset: int = 0
    last: bytes = b""
    last_hash: str | None = None


class DownloadStream:
    """The body of a ``files/download`` response, from the byte that was asked for."""

    def __init__(self, response: Any, name: str, start: int) -> None:
        self._response = response
        self._body = response.raw
        if not start:
            return
        if response.status_code == 200:
            self._discard(start, name)  # the whole file came back: drop what was not asked for
            return
        match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", ""))
        if response.status_code != 206 or match is None or int(match.group(1)) != start:
            response.close()
            raise StorageError(
                f"{name}: asked for bytes {start}- and got HTTP {response.status_code} with "
                f"Content-Range {response.headers.get('Content-Range')!r}."
            )

    def _discard(self, count: int, name: str) -> None:
        while count > 0:
            data = self._body.read(min(count, BLOCK_SIZE), decode_content=True)
            if not data:
                self._response.close()
                raise StorageError(f"{name}: the download ended before byte {count}.")
            count -= len(data)

    def read(self, n: int = -1) -> bytes:
        """Return up to ``n`` bytes (all that is left when ``n`` is negative)."""
        amount = None if n is None or n < 0 else n
        return bytes(self._body.read(amount, decode_content=True) or b"")

    def close(self) -> None:
        """Release the connection."""
        self._response.close()


def _is_sdk_error(exc: BaseException, *names: str) -> bool:
    kind = type(exc)
    return kind.__module__.startswith("dropbox") and (not names or kind.__name__ in names)


def error_tags(exc: BaseException) -> list[str]:
    """Return the tags of an SDK error's union, outermost first (``["path", "not_found"]``)."""
    tags: list[str] = []
    if not _is_sdk_error(exc):
        return tags
    value = getattr(exc, "error", None)
    for _ in range(MAX_ERROR_DEPTH):
        tag = getattr(value, "_tag", None)
        if isinstance(tag, str):
            tags.append(tag)
            value = getattr(value, "_value", None)
        elif value is not None and hasattr(value, "reason"):
            value = value.reason  # UploadWriteFailed: the WriteError is its "reason"
        else:
            break
    return tags


def is_missing(exc: BaseException) -> bool:
    """Return whether ``exc`` says the path (or a folder on it) does not exist."""
    tags = error_tags(exc)
    return bool(tags) and tags[0] in _LOOKUP_TAGS and not _MISSING_TAGS.isdisjoint(tags[1:2])


def is_conflict(exc: BaseException) -> bool:
    """Return whether ``exc`` is a write conflict (the name is taken, or the revision moved)."""
    return _is_sdk_error(exc, "ApiError") and "conflict" in error_tags(exc)


def is_denied(exc: BaseException) -> bool:
    """Return whether ``exc`` is a refusal: bad credentials or a lack of permission."""
    return _is_sdk_error(exc, "AuthError") or not DENIED_TAGS.isdisjoint(error_tags(exc))


def retry_delay(exc: BaseException, attempt: int) -> float | None:
    """Return how long to wait before retrying after ``exc``, or None if it is no rate limit."""
    if _is_sdk_error(exc, "RateLimitError"):
        backoff = getattr(exc, "backoff", None)
        if backoff is not None:
            return float(backoff)
    elif "too_many_write_operations" not in error_tags(exc):
        return None
    return float(FIRST_BACKOFF * 2**attempt)
