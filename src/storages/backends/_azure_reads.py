"""Streamed reads of Azure blobs: ranged downloads of one version, the next ranges fetched ahead.

One request per chunk costs the service's per-request latency every few MiB; fetching
``READ_AHEAD`` chunks in parallel hides it while memory stays at ``READ_AHEAD + 1`` chunks.
Every range is pinned to the ETag the file was opened with, so a reader never mixes two versions.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from storages.deps import require
from storages.errors import StorageError

__all__ = ["READ_AHEAD", "pinned_reader", "status_code"]

#: Ranges a streamed read fetches in parallel, ahead of the one being read.
READ_AHEAD = 2
#: The statuses of a pinned range whose blob was deleted, or replaced by another version.
_GONE = (404, 412)


def status_code(exc: BaseException) -> int | None:
    """Return the HTTP status of an Azure SDK exception (None for any other exception)."""
    if not type(exc).__module__.startswith("azure."):
        return None
    code = getattr(exc, "status_code", None)
    return code if isinstance(code, int) else None


class _PrefetchedRanges:
    """The chunks of a blob from ``start`` to ``end``, in order, the next ones fetched ahead."""

    def __init__(
        self, fetch: Callable[[int, int], bytes], start: int, end: int, chunk: int
    ) -> None:
        self._fetch = fetch
        self._next = start
        self._end = end
        self._chunk = chunk
        self._pending: deque[Future[bytes]] = deque()
        self._pool: ThreadPoolExecutor | None = None

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        if self._pool is None:
            if self._next >= self._end:
                raise StopIteration
            if self._end - self._next <= self._chunk:  # one request: no thread needed
                data = self._fetch(self._next, self._end - self._next)
                self._next = self._end
                return data
            self._pool = ThreadPoolExecutor(READ_AHEAD, thread_name_prefix="stowage-azure-read")
        while len(self._pending) < READ_AHEAD and self._next < self._end:
            length = min(self._chunk, self._end - self._next)
            self._pending.append(self._pool.submit(self._fetch, self._next, length))
            self._next += length
        if not self._pending:
            self.close()
            raise StopIteration
        return self._pending.popleft().result()

    def close(self) -> None:
        """Drop the chunks fetched ahead and stop the fetching threads."""
        for future in self._pending:
            future.cancel()
        self._pending.clear()
        self._next = self._end
        if self._pool is not None:
            self._pool.shutdown(wait=False)


class _ChunkReader:
    """``read(n)`` over the chunks of a ranged download (at most one chunk in memory)."""

    def __init__(self, chunks: _PrefetchedRanges) -> None:
        self._chunks = chunks
        self._buffer = memoryview(b"")

    def read(self, n: int = -1) -> bytes:
        """Return up to ``n`` bytes of the current chunk (the next chunk when it is used up)."""
        if not self._buffer:
            chunk = next(self._chunks, b"")
            if not chunk:
                return b""
            self._buffer = memoryview(chunk)
        if n < 0 or n >= len(self._buffer):
            data, self._buffer = bytes(self._buffer), memoryview(b"")
            return data
        data = bytes(self._buffer[:n])
        self._buffer = self._buffer[n:]
        return data

    def close(self) -> None:
        """Drop the buffered chunk and the ranges fetched ahead."""
        self._buffer = memoryview(b"")
        self._chunks.close()


def pinned_reader(
    blob: Any, etag: str | None, start: int, end: int, chunk: int, timeout: Any, name: str
) -> _ChunkReader:
    """Return a reader of ``blob`` from byte ``start`` to ``end``, ``chunk`` bytes a request,
    every request made only if the blob still has ``etag``."""
    sdk_core = require("azure.core", "azure")
    condition: dict[str, Any] = {}
    if etag:
        condition = {"etag": etag, "match_condition": sdk_core.MatchConditions.IfNotModified}

    def fetch(offset: int, length: int) -> bytes:
        try:
            downloader = blob.download_blob(
                offset=offset, length=length, max_concurrency=1, timeout=timeout, **condition
            )
            return bytes(downloader.readall())
        except Exception as exc:
            if status_code(exc) in _GONE:
                raise StorageError(
                    f"{name} was replaced or deleted while it was being read."
                ) from exc
            raise

    return _ChunkReader(_PrefetchedRanges(fetch, start, end, chunk))
