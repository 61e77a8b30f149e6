"""Contract: what save() stores is what the service holds and what open() returns, for every
kind of content and name (each read back through the service's own SDK or filesystem too)."""

from __future__ import annotations

import io
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

import pytest
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.conformance.conftest import Backend
from tests.conformance.support import assert_same_bytes, pipe, stored_bytes


def test_binary_round_trip(backend, storage):
    data = bytes(range(256)) * 40
    name = storage.save("data/blob.bin", ContentFile(data))
    assert name == "data/blob.bin"
    assert_same_bytes(stored_bytes(backend, storage, name), data)


def test_text_content_file_is_stored_as_utf8(backend, storage):
    name = storage.save("notes/hello.txt", ContentFile("héllo wörld ✓"))
    assert stored_bytes(backend, storage, name) == "héllo wörld ✓".encode()


def test_empty_file_is_stored(backend, storage):
    name = storage.save("empty.txt", ContentFile(b""))
    assert storage.exists(name)
    assert storage.size(name) == 0
    assert stored_bytes(backend, storage, name) == b""


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
def test_odd_names_round_trip(backend, storage, name):
    saved = storage.save(name, ContentFile(name.encode()))
    assert saved == name
    assert storage.exists(name)
    assert stored_bytes(backend, storage, name) == name.encode()


def test_non_seekable_stream_is_saved(backend, storage):
    data = os.urandom(300_000)
    name = storage.save("stream.bin", File(pipe(data), name="stream.bin"))
    assert_same_bytes(stored_bytes(backend, storage, name), data)


def test_uploaded_file_is_saved(backend, storage):
    upload = SimpleUploadedFile("photo.jpg", b"\xff\xd8jpeg-bytes", content_type="image/jpeg")
    name = storage.save("uploads/photo.jpg", upload)
    assert stored_bytes(backend, storage, name) == b"\xff\xd8jpeg-bytes"


def test_plain_file_object_is_wrapped(backend, storage):
    name = storage.save("plain.bin", io.BytesIO(b"plain bytes"))
    assert stored_bytes(backend, storage, name) == b"plain bytes"


def test_name_none_uses_content_name(backend, storage):
    name = storage.save(None, ContentFile(b"named", name="from-content.txt"))
    assert name == "from-content.txt"
    assert stored_bytes(backend, storage, name) == b"named"


def test_content_is_read_from_the_start(backend, storage):
    content = ContentFile(b"0123456789")
    content.seek(5)
    name = storage.save("rewound.txt", content)
    assert stored_bytes(backend, storage, name) == b"0123456789"


def test_path_object_names_are_accepted(backend, storage):
    name = storage.save(PurePosixPath("docs") / "p.txt", ContentFile(b"p"))
    assert name == "docs/p.txt"
    assert stored_bytes(backend, storage, "docs/p.txt") == b"p"


def test_url_serves_the_file(backend: Backend, storage):
    name = storage.save("web/some file+#?.txt", ContentFile(b"served"))
    url = storage.url(name)
    assert "some%20file%2B%23%3F.txt" in url
    assert unquote(urlsplit(url).path).endswith(name)
    if backend.caps.url_fetch:
        assert backend.fetch(url) == b"served"


def test_concurrent_saves_of_different_names(backend, storage):
    def save(i: int) -> str:
        return storage.save(f"threads/{i}.txt", ContentFile(str(i).encode()))

    with ThreadPoolExecutor(8) as pool:
        names = list(pool.map(save, range(24)))
    assert names == [f"threads/{i}.txt" for i in range(24)]
    assert [backend.raw_read(storage, n) for n in names] == [str(i).encode() for i in range(24)]
