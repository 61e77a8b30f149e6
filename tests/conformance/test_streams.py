"""Contract: files opened from a storage stream in every documented mode."""

from __future__ import annotations

import io
import os

import pytest
from django.core.files.base import ContentFile

from tests.conformance.support import assert_same_bytes, stored_bytes

LINES = b"first line\nsecond line\nthird\n"


def needs_strict_files(backend) -> None:
    if not backend.caps.strict_files:
        pytest.skip("Django's InMemoryStorage files ignore their mode and close state")


@pytest.fixture
def stored(storage):
    data = os.urandom(200_000)
    return storage.save("stream/data.bin", ContentFile(data)), data


def test_read_n_bytes_at_a_time(storage, stored):
    name, data = stored
    with storage.open(name, "rb") as handle:
        pieces = []
        while chunk := handle.read(7_001):
            assert len(chunk) <= 7_001
            pieces.append(chunk)
    assert b"".join(pieces) == data


def test_chunks_yield_everything(storage, stored):
    name, data = stored
    with storage.open(name, "rb") as handle:
        chunks = list(handle.chunks(chunk_size=16_384))
    assert all(len(c) <= 16_384 for c in chunks)
    assert b"".join(chunks) == data


def test_seek_and_tell(storage, stored):
    name, data = stored
    with storage.open(name, "rb") as handle:
        handle.seek(150_000)
        assert handle.tell() == 150_000
        assert handle.read(10) == data[150_000:150_010]
        handle.seek(10)
        assert handle.read(5) == data[10:15]


def test_seek_from_end(storage, stored):
    name, data = stored
    with storage.open(name, "rb") as handle:
        handle.seek(-100, io.SEEK_END)
        assert handle.read() == data[-100:]


def test_opened_file_knows_its_size(storage, stored):
    name, data = stored
    with storage.open(name, "rb") as handle:
        assert handle.size == len(data)


def test_iterate_lines(storage):
    name = storage.save("lines.txt", ContentFile(LINES))
    with storage.open(name, "rb") as handle:
        assert list(handle) == [b"first line\n", b"second line\n", b"third\n"]


def test_text_mode_reads_str(storage):
    name = storage.save("text.txt", ContentFile("ünï\nline two\n".encode()))
    with storage.open(name, "r") as handle:
        assert handle.read() == "ünï\nline two\n"


def test_readline_in_text_mode(storage):
    name = storage.save("text2.txt", ContentFile(LINES))
    with storage.open(name, "r") as handle:
        assert handle.readline() == "first line\n"
        assert handle.readline() == "second line\n"


def test_write_in_several_calls(backend, storage):
    parts = [os.urandom(50_000) for _ in range(5)]
    with storage.open("written-multi.bin", "wb") as handle:
        for part in parts:
            handle.write(part)
    assert_same_bytes(stored_bytes(backend, storage, "written-multi.bin"), b"".join(parts))


def test_text_write_mode(backend, storage):
    with storage.open("written-text.txt", "w") as handle:
        handle.write("ünï ")
        handle.write("côdé\n")
    assert stored_bytes(backend, storage, "written-text.txt") == "ünï côdé\n".encode()


def test_closing_an_unwritten_file_stores_an_empty_file(backend, storage):
    handle = storage.open("written-nothing.txt", "wb")
    handle.close()
    assert storage.exists("written-nothing.txt")
    assert storage.size("written-nothing.txt") == 0
    assert backend.raw_read(storage, "written-nothing.txt") == b""


def test_writing_a_file_opened_for_reading_fails(backend, storage, stored):
    needs_strict_files(backend)
    name, _ = stored
    with storage.open(name, "rb") as handle, pytest.raises((io.UnsupportedOperation, OSError)):
        handle.write(b"nope")


def test_reading_a_file_opened_for_writing_fails(backend, storage):
    needs_strict_files(backend)
    with storage.open("written-wo.bin", "wb") as handle:
        handle.write(b"x")
        with pytest.raises((io.UnsupportedOperation, OSError)):
            handle.read()


def test_append_mode(backend, storage):
    needs_strict_files(backend)
    name = storage.save("append.txt", ContentFile(b"one "))
    if not backend.caps.append:
        with pytest.raises((io.UnsupportedOperation, ValueError)):
            storage.open(name, "ab")
        assert storage.open(name, "rb").read() == b"one "
        return
    with storage.open(name, "ab") as handle:
        handle.write(b"two")
    assert stored_bytes(backend, storage, name) == b"one two"


def test_file_reopens_after_close(backend, storage, stored):
    needs_strict_files(backend)
    name, data = stored
    handle = storage.open(name, "rb")
    handle.close()
    assert handle.closed
    handle.open("rb")
    assert handle.read(10) == data[:10]
    handle.close()
