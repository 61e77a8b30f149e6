"""Contract: a file many parts long is stored whole and in order, however it is written.

Each backend is configured with its smallest parts (``Backend.small_parts``), so a 12 MiB file
crosses at least three part boundaries everywhere; what the service holds is compared byte for
byte, read through its own SDK or filesystem, and where the service shows how a file was
uploaded, the test checks it really went in several parts.
"""

from __future__ import annotations

import itertools
import os

import pytest
from django.core.files import File
from django.core.files.base import ContentFile

from tests.conformance.conftest import Backend
from tests.conformance.support import assert_same_bytes, pipe

MiB = 1024 * 1024
#: Larger than two parts of 5 MiB (S3's smallest), and not a multiple of any part size.
SIZE = 12 * MiB + 12_345
#: The fewest parts SIZE takes with parts of at most 5 MiB.
MIN_PARTS = 3
#: Sizes of successive write() calls: tiny, odd, and larger than a small part, so that writes
#: end inside parts, exactly on their boundaries and across several of them.
WRITE_SIZES = (1, 65_535, 7, 1 * MiB + 3, 300_001, 6 * MiB - 1, 65_536)
#: Bytes asked for per read when reading back through the storage.
READ_SIZE = 1 * MiB + 1


@pytest.fixture(scope="module")
def data() -> bytes:
    return os.urandom(SIZE)


def check_stored(backend: Backend, storage, name: str, data: bytes) -> None:
    assert storage.size(name) == len(data)
    assert_same_bytes(backend.raw_read(storage, name), data, f"{name} as the service holds it")
    if backend.count_parts is not None:
        assert backend.count_parts(storage, name) >= MIN_PARTS


def test_large_write_through_open_in_uneven_pieces(backend, data):
    storage = backend.storage(**backend.small_parts)
    offset = 0
    with storage.open("large-written.bin", "wb") as handle:
        for size in itertools.cycle(WRITE_SIZES):
            if offset >= len(data):
                break
            handle.write(data[offset : offset + size])
            offset += size
    check_stored(backend, storage, "large-written.bin", data)


@pytest.mark.parametrize("seekable", [True, False], ids=["seekable", "stream"])
def test_large_save(backend, data, seekable):
    storage = backend.storage(**backend.small_parts)
    content = ContentFile(data) if seekable else File(pipe(data), name="saved.bin")
    name = storage.save("large/saved.bin", content)
    assert name == "large/saved.bin"
    check_stored(backend, storage, name, data)
    if seekable:
        # Read back through the storage too, in pieces that straddle the parts.
        with storage.open(name, "rb") as handle:
            pieces = iter(lambda: handle.read(READ_SIZE), b"")
            assert_same_bytes(b"".join(pieces), data, f"{name} read through the storage")
