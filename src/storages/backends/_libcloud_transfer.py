"""Streaming transfers over Libcloud drivers, which only pull uploads from an iterator.

* :class:`StreamedUpload` runs the driver's ``upload_object_via_stream`` in a worker thread that
  pulls parts from a bounded :class:`PartFeed`; the writing thread pushes each part as the core's
  part writer produces it, so memory stays bounded by a couple of parts. Ending the feed lets the
  driver finish; aborting it makes the iterator raise, so the driver abandons the upload.
* :class:`ChunkReader` turns a driver's download iterator into a ``read(n)`` stream (the core's
  :class:`~storages._reads.PieceStream`), optionally skipping to a start offset (for drivers
  without ranged streams).
* :func:`modified_time` reads a modification time out of an object's ``extra``.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

from storages._reads import PieceStream
from storages.errors import StorageError

__all__ = ["ChunkReader", "PartFeed", "StreamedUpload", "UploadAborted", "modified_time"]

#: Parts waiting for the driver, beyond the one it is sending (memory: this many parts).
FEED_DEPTH = 1
#: The keys of ``Object.extra`` drivers report the modification time under (LOCAL: a POSIX
#: timestamp; S3 and the S3-compatible drivers: an HTTP date).
MODIFIED_KEYS = ("modify_time", "last_modified", "mtime", "modified")


class UploadAborted(Exception):
    """Raised inside the driver's upload to make it abandon the upload."""


class PartFeed:
    """The iterator a driver's streamed upload pulls from, fed part by part by another thread."""

    def __init__(self, depth: int = FEED_DEPTH) -> None:
        self._cond = threading.Condition()
        self._parts: deque[bytes] = deque()
        self._depth = depth
        self._ended = False
        self._aborted = False
        self._stopped = False

    def __iter__(self) -> PartFeed:
        return self

    def __next__(self) -> bytes:
        with self._cond:
            while not (self._parts or self._ended or self._aborted):
                self._cond.wait()
            if self._aborted:
                raise UploadAborted("the upload was abandoned")
            if self._parts:
                part = self._parts.popleft()
                self._cond.notify_all()
                return part
            raise StopIteration

    def put(self, part: bytes) -> bool:
        """Queue ``part`` once there is room; return False if the driver stopped pulling."""
        with self._cond:
            while len(self._parts) >= self._depth and not self._stopped:
                self._cond.wait()
            if self._stopped:
                return False
            self._parts.append(part)
            self._cond.notify_all()
            return True

    def end(self) -> None:
        """Tell the driver that no more parts follow."""
        with self._cond:
            self._ended = True
            self._cond.notify_all()

    def abort(self) -> None:
        """Drop the queued parts and make the driver's next pull raise :class:`UploadAborted`."""
        with self._cond:
            self._aborted = True
            self._parts.clear()
            self._cond.notify_all()

    def stop(self) -> None:
        """Record that the driver no longer pulls (it finished or failed)."""
        with self._cond:
            self._stopped = True
            self._parts.clear()
            self._cond.notify_all()


class StreamedUpload:
    """One driver upload running in a worker thread, fed by the thread that writes."""

    def __init__(
        self,
        upload: Callable[[PartFeed], Any],
        name: str,
        cleanup: Callable[[], None] | None = None,
    ) -> None:
        self.feed = PartFeed()
        self.name = name
        self.result: Any = None
        self.error: BaseException | None = None
        self._cleanup = cleanup
        self._thread = threading.Thread(
            target=self._run, args=(upload,), name="storages-libcloud-upload", daemon=True
        )
        self._thread.start()

    def _run(self, upload: Callable[[PartFeed], Any]) -> None:
        try:
            self.result = upload(self.feed)
        except BaseException as exc:  # handed to the writing thread by _raise_error()
            self.error = exc
        finally:
            self.feed.stop()
            if self._cleanup is not None:
                self._cleanup()

    def _raise_error(self) -> None:
        if self.error is not None:
            raise self.error

    def send(self, part: bytes) -> None:
        """Hand ``part`` to the driver (waiting while the feed is full)."""
        if not self.feed.put(part):
            self._thread.join()
            self._raise_error()
            raise StorageError(f"{self.name}: the driver stopped reading the upload early.")

    def finish(self) -> Any:
        """End the feed, wait for the driver and return its result (or raise its error)."""
        self.feed.end()
        self._thread.join()
        self._raise_error()
        return self.result

    def abort(self) -> None:
        """Make the driver abandon the upload and wait until it has."""
        self.feed.abort()
        self._thread.join()


class ChunkReader(PieceStream):
    """A ``read(n)`` stream over a driver's download iterator, from byte ``skip`` of it (for
    drivers without ranged streams); closing it stops the iterator, which releases the
    driver's file or HTTP response."""

    def __init__(self, chunks: Iterator[bytes], skip: int = 0) -> None:
        super().__init__(chunks, skip)


def modified_time(extra: dict[str, Any] | None) -> datetime | None:
    """Return the modification time a driver reported in an object's ``extra``, if any."""
    for key in MODIFIED_KEYS:
        value = (extra or {}).get(key)
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        if isinstance(value, (int, float)):
            return datetime.fromtimestamp(value, tz=timezone.utc)
        if isinstance(value, str) and value:
            try:
                return parsedate_to_datetime(value)
            except (TypeError, ValueError):
                pass
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                continue
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    return None
