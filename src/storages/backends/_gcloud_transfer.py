"""Streaming transfers for Google Cloud Storage over the client's authorized HTTP session.

* :class:`ResumableUpload` sends one chunk at a time to a resumable upload session, so memory
  stays bounded by the chunk size, keeps a running CRC32C and checks it against what the service
  stored (and asks the service to check it too, with ``X-Goog-Hash`` on the final request).
* :func:`open_download` starts a (ranged) streaming GET of one object generation; a download from
  the first byte is verified against the stored CRC32C (or MD5) when its last byte arrives, so a
  corrupted transfer raises instead of returning wrong bytes. A download that starts elsewhere
  cannot be verified: the service only knows the checksum of the whole object.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import re
from typing import Any
from urllib.parse import quote

from storages._upload import SourceWindow
from storages.deps import require
from storages.errors import StorageError

__all__ = ["Checksum", "ResumableUpload", "media_url", "open_download", "raise_for_response"]

#: Seconds to wait for the service on one request (connect, read).
TIMEOUT = (30, 120)
_RANGE = re.compile(r"bytes=0-(\d+)")
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


def raise_for_response(response: Any) -> None:
    """Raise the google-api-core exception for a failed HTTP response (so error rules apply)."""
    exceptions = require("google.api_core.exceptions", "google")
    raise exceptions.from_http_response(response)


def media_url(endpoint: str, bucket: str, key: str, generation: int | None) -> str:
    """Return the JSON API download URL of ``key`` (pinned to ``generation`` when known)."""
    url = f"{endpoint}/download/storage/v1/b/{bucket}/o/{quote(key, safe='~')}?alt=media"
    return f"{url}&generation={generation}" if generation else url


class Checksum:
    """A running CRC32C (or MD5 when only that is known) of the bytes seen so far."""

    def __init__(self, kind: str = "crc32c") -> None:
        self.kind = kind
        self._hash: Any
        if kind == "crc32c":
            self._hash = require("google_crc32c", "google").Checksum()
        else:
            self._hash = hashlib.md5(usedforsecurity=False)

    def update(self, data: bytes) -> None:
        """Add ``data`` to the checksum."""
        self._hash.update(data)

    def b64digest(self) -> str:
        """Return the checksum base64-encoded, as the service reports it."""
        return base64.b64encode(self._hash.digest()).decode("ascii")


class ResumableUpload:
    """One resumable upload session, fed chunk by chunk."""

    #: How many times one chunk is re-sent when the service kept only part of it.
    max_resends = 5

    def __init__(self, session: Any, url: str, name: str) -> None:
        self.session = session
        self.url = url
        self.name = name
        self.offset = 0
        self.finished = False
        self.resource: dict[str, Any] = {}
        self._checksum = Checksum()

    def send(self, data: bytes | SourceWindow, final: bool = False) -> None:
        """Upload the next chunk (a multiple of 256 KiB unless ``final``): bytes, or a window
        of the file streamed in the request."""
        if self.finished:
            raise StorageError(f"{self.name}: the upload was already completed.")
        if isinstance(data, SourceWindow):
            # A first pass over the window: the final request must carry the CRC32C up front.
            for block in data.blocks():
                self._checksum.update(block)
        else:
            self._checksum.update(data)
        start = self.offset
        total = start + len(data)
        for _ in range(self.max_resends):
            headers = {"Content-Range": self._content_range(start, total, final)}
            if final:
                # The service refuses to finalize an object whose bytes do not match.
                headers["X-Goog-Hash"] = f"crc32c={self._checksum.b64digest()}"
            body = _remainder(data, start - self.offset)
            response = self.session.put(self.url, data=body, headers=headers, timeout=TIMEOUT)
            if final and response.status_code in (200, 201):
                self.resource = response.json()
                self.offset = total
                self.finished = True
                self._verify()
                return
            if response.status_code != 308:
                raise_for_response(response)
            match = _RANGE.fullmatch(response.headers.get("Range", ""))
            kept = int(match.group(1)) + 1 if match else 0
            if kept < self.offset or kept > total:
                raise StorageError(
                    f"{self.name}: the upload session lost data (it holds {kept} bytes, "
                    f"{self.offset} were sent before)."
                )
            if kept == total and not final:
                self.offset = total
                return
            start = kept  # the service kept only part of the chunk: send the rest again
        raise StorageError(f"{self.name}: the service kept refusing part of a chunk.")

    @staticmethod
    def _content_range(start: int, total: int, final: bool) -> str:
        size = str(total) if final else "*"
        if start == total:
            return f"bytes */{size}"
        return f"bytes {start}-{total - 1}/{size}"

    def _verify(self) -> None:
        stored_size = int(self.resource.get("size", -1))
        stored = self.resource.get("crc32c")
        ours = self._checksum.b64digest()
        if stored_size == self.offset and (stored is None or stored == ours):
            return
        generation = self.resource.get("generation")
        raise StorageError(
            f"{self.name}: the stored object (generation {generation}, {stored_size} bytes, "
            f"crc32c {stored}) does not match what was sent ({self.offset} bytes, crc32c "
            f"{ours}); the transfer was corrupted."
        )

    def abort(self) -> None:
        """Cancel the session so the service drops what it received (best effort)."""
        if self.finished:
            return
        self.finished = True
        # Best effort: an abandoned session also expires on its own after a week.
        with contextlib.suppress(Exception):
            self.session.delete(self.url, timeout=TIMEOUT).close()


def _remainder(data: bytes | SourceWindow, skip: int) -> bytes | SourceWindow:
    """Return what is left of a chunk after the ``skip`` bytes the service already kept."""
    if isinstance(data, SourceWindow):
        rest = data.sub(skip) if skip else data
        rest.seek(0)
        return rest
    return data if not skip else bytes(memoryview(data)[skip:])


class DownloadStream:
    """The body of a streaming GET; verifies the whole-object checksum at the last byte."""

    def __init__(
        self, response: Any, name: str, remaining: int, expected: tuple[str, str] | None
    ) -> None:
        self._response = response
        self._raw = response.raw
        self._name = name
        self._remaining = remaining
        self._expected = expected
        self._checksum = Checksum(expected[0]) if expected else None

    def read(self, n: int = -1) -> bytes:
        """Return up to ``n`` bytes of the object."""
        if n is None or n < 0:
            n = self._remaining
        data: bytes = self._raw.read(min(n, self._remaining), decode_content=False) or b""
        if data and self._checksum is not None:
            self._checksum.update(data)
        self._remaining -= len(data)
        if self._remaining == 0 and self._checksum is not None and self._expected:
            self._check()
        return data

    def _check(self) -> None:
        assert self._checksum is not None and self._expected is not None
        kind, stored = self._expected
        got = self._checksum.b64digest()
        self._checksum = None
        if got != stored:
            raise StorageError(
                f"{self._name}: the downloaded bytes do not match the stored {kind} checksum "
                f"({got} != {stored}); the transfer was corrupted."
            )

    def skip(self, count: int) -> None:
        """Discard ``count`` bytes (when a server ignored the requested range)."""
        while count > 0:
            data = self._raw.read(min(count, 1024 * 1024), decode_content=False)
            if not data:
                raise StorageError(f"{self._name}: the download ended early.")
            count -= len(data)

    def close(self) -> None:
        """Release the connection."""
        self._response.close()


def open_download(
    session: Any,
    url: str,
    name: str,
    start: int,
    size: int,
    expected: tuple[str, str] | None,
) -> DownloadStream:
    """Start a streaming GET of ``url`` from byte ``start``; ``expected`` = (kind, b64 digest)."""
    # Ask for the stored bytes: without this the service may decompress gzip objects on the
    # fly, and neither the sizes nor the checksums would match what it reports.
    headers = {"Accept-Encoding": "gzip"}
    if start:
        headers["Range"] = f"bytes={start}-"
    response = session.get(url, headers=headers, stream=True, timeout=TIMEOUT)
    if response.status_code not in (200, 206):
        try:
            raise_for_response(response)
        finally:
            response.close()
    stream = DownloadStream(response, name, size - start, expected if not start else None)
    if start:
        if response.status_code == 200:
            stream.skip(start)  # the whole object came back: drop what was not asked for
        else:
            match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", ""))
            if not match or int(match.group(1)) != start:
                response.close()
                raise StorageError(
                    f"{name}: the service answered a request for bytes {start}- with "
                    f"{response.headers.get('Content-Range')!r}."
                )
    return stream
