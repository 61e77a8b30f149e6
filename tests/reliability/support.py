"""What the reliability tests check after every fault, read back from the server itself."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.files.base import ContentFile

from storages.errors import StorageError
from tests.reliability.rigs import KiB, Rig, lasting_leftovers

#: Bytes per write() of a file opened for writing.
WRITE_CHUNK = 256 * KiB


def payload(size: int, seed: int = 0) -> bytes:
    """Return ``size`` reproducible random bytes (different for each seed)."""
    return random.Random(seed).randbytes(size)


@dataclass
class Attempt:
    """How one operation under a fault went."""

    result: Any
    error: BaseException | None
    seconds: float

    @property
    def outcome(self) -> str:
        """Return "ok" or the error's class name, for the figures."""
        return "ok" if self.error is None else type(self.error).__name__


def attempt(operation: Callable[[], Any]) -> Attempt:
    """Run ``operation`` and return its result or error, and how long it took."""
    start = time.monotonic()
    try:
        result = operation()
    except Exception as exc:  # every failure is inspected by the caller
        return Attempt(None, exc, time.monotonic() - start)
    return Attempt(result, None, time.monotonic() - start)


def differs(actual: bytes, expected: bytes) -> str:
    """Return how ``actual`` differs from ``expected`` ("" when equal), without a byte diff."""
    if actual == expected:
        return ""
    first = next(
        (i for i, (a, b) in enumerate(zip(actual, expected, strict=False)) if a != b),
        min(len(actual), len(expected)),
    )
    return f"{len(actual)} bytes that differ from the {len(expected)} expected from byte {first}"


def check_clear_error(error: BaseException) -> None:
    """Assert that ``error`` is one of ours: an ``OSError`` translated into our tree."""
    assert isinstance(error, OSError), f"not an OSError: {type(error).__module__}.{error!r}"
    assert isinstance(error, StorageError), f"an untranslated error: {error!r}"


def save(storage: Any, name: str, data: bytes) -> str:
    """Save ``data`` with ``save()`` and return the name used."""
    return str(storage.save(name, ContentFile(data)))


def stream(storage: Any, name: str, data: bytes) -> str:
    """Write ``data`` through a file opened with ``open(name, 'wb')``, in several writes."""
    with storage.open(name, "wb") as handle:
        for offset in range(0, len(data), WRITE_CHUNK):
            handle.write(data[offset : offset + WRITE_CHUNK])
    return name


WRITERS = {"save": save, "stream": stream}


def stored_under(rig: Rig, prefix: str) -> list[str]:
    """Return the names stored under ``prefix`` on the server (temporary files excluded)."""
    return [
        n
        for n in rig.raw_names()
        if n.startswith(prefix) and not n.rsplit("/", 1)[-1].startswith(".~stowage-")
    ]


def check_upload(rig: Rig, prefix: str, data: bytes, run: Attempt) -> list[str]:
    """Assert what an upload under a fault may leave: the whole object (when it succeeded, or
    when the service stored it but the answer was lost), or nothing; never a truncated or mixed
    object; and no leftover of an unfinished upload that the storage could have removed.
    Return the leftovers the service offers no way to remove."""
    names = stored_under(rig, prefix)
    if run.error is None:
        assert run.result in names, f"{run.result} was saved but the server does not have it"
    else:
        check_clear_error(run.error)
    for name in names:
        problem = differs(rig.raw_read(name), data)
        assert not problem, f"{name} holds {problem}"
    removable, lasting = lasting_leftovers(rig)
    assert not removable, f"left behind on the server: {removable}"
    return lasting
