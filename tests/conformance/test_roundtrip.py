"""Contract: what save() stores is what open() returns, for every kind of content and name."""

from __future__ import annotations

import io
import os
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

import pytest
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.conformance.conftest import Backend


def read_back(storage, name: str) -> bytes:
    with storage.open(name, "rb") as handle:
        return handle.read()


def test_binary_round_trip(storage):
    data = bytes(range(256)) * 40
    name = storage.save("data/blob.bin", ContentFile(data))
    assert name == "data/blob.bin"
    assert read_back(storage, name) == data


def test_text_content_file_is_stored_as_utf8(storage):
    name = storage.save("notes/hello.txt", ContentFile("héllo wörld ✓"))
    assert read_back(storage, name) == "héllo wörld ✓".encode()


def test_empty_file_is_stored(storage):
    name = storage.save("empty.txt", ContentFile(b""))
    assert storage.exists(name)
    assert storage.size(name) == 0
    assert read_back(storage, name) == b""


def test_five_megabytes_round_trip(storage):
    data = os.urandom(5 * 1024 * 1024 + 17)
    name = storage.save("big/five.bin", ContentFile(data))
    assert storage.size(name) == len(data)
    assert read_back(storage, name) == data


@pytest.mark.parametrize(
    "name",
    [
        "ünïcødé/файл.txt",
        "with space.txt",
        "plus+sign.txt",
        "hash#mark.txt",
        "question?.txt",
        "percent%20.txt",
        "quote'and(paren).txt",
        "emoji-🎉.txt",
    ],
)
def test_odd_names_round_trip(storage, name):
    saved = storage.save(name, ContentFile(name.encode()))
    assert saved == name
    assert storage.exists(name)
    assert read_back(storage, name) == name.encode()


def test_non_seekable_stream_is_saved(storage):
    class Pipe(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self._data = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def seekable(self) -> bool:
            return False

        def readinto(self, buffer) -> int:
            chunk = self._data.read(len(buffer))
            buffer[: len(chunk)] = chunk
            return len(chunk)

    data = os.urandom(300_000)
    name = storage.save("stream.bin", File(io.BufferedReader(Pipe(data)), name="stream.bin"))
    assert read_back(storage, name) == data


def test_uploaded_file_is_saved(storage):
    upload = SimpleUploadedFile("photo.jpg", b"\xff\xd8jpeg-bytes", content_type="image/jpeg")
    name = storage.save("uploads/photo.jpg", upload)
    assert read_back(storage, name) == b"\xff\xd8jpeg-bytes"


def test_plain_file_object_is_wrapped(storage):
    name = storage.save("plain.bin", io.BytesIO(b"plain bytes"))
    assert read_back(storage, name) == b"plain bytes"


def test_name_none_uses_content_name(storage):
    name = storage.save(None, ContentFile(b"named", name="from-content.txt"))
    assert name == "from-content.txt"
    assert read_back(storage, name) == b"named"


def test_content_is_read_from_the_start(storage):
    content = ContentFile(b"0123456789")
    content.seek(5)
    name = storage.save("rewound.txt", content)
    assert read_back(storage, name) == b"0123456789"


def test_path_object_names_are_accepted(storage):
    name = storage.save(PurePosixPath("docs") / "p.txt", ContentFile(b"p"))
    assert name == "docs/p.txt"
    assert read_back(storage, "docs/p.txt") == b"p"


def test_url_serves_the_file(backend: Backend, storage):
    name = storage.save("web/some file+#?.txt", ContentFile(b"served"))
    url = storage.url(name)
    assert "some%20file%2B%23%3F.txt" in url
    assert unquote(urlsplit(url).path).endswith(name)
    if backend.caps.url_fetch:
        assert backend.fetch(url) == b"served"


def test_concurrent_saves_of_different_names(storage):
    from concurrent.futures import ThreadPoolExecutor

    def save(i: int) -> str:
        return storage.save(f"threads/{i}.txt", ContentFile(str(i).encode()))

    with ThreadPoolExecutor(8) as pool:
        names = list(pool.map(save, range(24)))
    assert [read_back(storage, n) for n in names] == [str(i).encode() for i in range(24)]
