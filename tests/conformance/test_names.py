"""Contract: names are normalized, and nothing can reach outside the storage."""

from __future__ import annotations

import pytest
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import ContentFile

UNSAFE = ["../escape.txt", "a/../../escape.txt", "/etc/passwd", "a/b/../../../x"]


@pytest.mark.parametrize("name", UNSAFE)
def test_unsafe_names_are_refused_on_save(storage, name):
    with pytest.raises(SuspiciousFileOperation):
        storage.save(name, ContentFile(b"evil"))


@pytest.mark.parametrize("name", UNSAFE)
@pytest.mark.parametrize("method", ["open", "exists", "size", "delete"])
def test_unsafe_names_are_refused_everywhere(storage, name, method):
    with pytest.raises(SuspiciousFileOperation):
        getattr(storage, method)(name)


def test_nul_bytes_are_refused(backend, storage):
    if not backend.caps.strict_names:
        pytest.skip("Django's reference storages do not check names for NUL bytes")
    with pytest.raises(SuspiciousFileOperation):
        storage.save("nul\x00.txt", ContentFile(b"x"))
    with pytest.raises(SuspiciousFileOperation):
        storage.exists("nul\x00.txt")


def test_backslashes_become_slashes(backend, storage):
    name = storage.save("win\\style\\file.txt", ContentFile(b"w"))
    assert name == "win/style/file.txt"
    assert storage.exists("win/style/file.txt")
    assert storage.listdir("win/style")[1] == ["file.txt"]


def test_repeated_slashes_collapse(backend, storage):
    if not backend.caps.strict_names:
        pytest.skip("Django's reference storages keep repeated slashes in returned names")
    name = storage.save("double//slash///file.txt", ContentFile(b"d"))
    assert name == "double/slash/file.txt"
    assert storage.open("double/slash/file.txt").read() == b"d"


def test_generate_filename_sanitizes_the_basename(storage):
    assert storage.generate_filename("uploads/my file?.txt") == "uploads/my_file.txt"


def test_max_length_truncates_the_stem(storage):
    storage.save("len/" + "a" * 20 + ".txt", ContentFile(b"1"))
    name = storage.save("len/" + "a" * 20 + ".txt", ContentFile(b"2"), max_length=26)
    assert len(name) <= 26
    assert name.startswith("len/") and name.endswith(".txt")
    assert storage.open(name).read() == b"2"


def test_max_length_too_small_is_refused(storage):
    storage.save("len2/abcdef.txt", ContentFile(b"1"))
    with pytest.raises(SuspiciousFileOperation):
        storage.save("len2/abcdef.txt", ContentFile(b"2"), max_length=10)


def test_names_longer_than_the_service_allows_are_refused_before_upload(storage):
    limit = getattr(storage, "max_key_bytes", None)
    if limit is None:
        pytest.skip("this storage sets no limit on name length")
    # Several directories keep each segment under filesystem limits (255 bytes).
    name = "/".join(["d" * 200] * (limit // 200)) + "/" + "é" * 60 + ".txt"
    assert len(name.encode("utf-8")) > limit
    with pytest.raises(SuspiciousFileOperation, match=f"allows {limit}"):
        storage.save(name, ContentFile(b"too long"))
    with pytest.raises(SuspiciousFileOperation, match=f"allows {limit}"):
        storage.open(name, "wb")
    assert storage.listdir("")[0] == []
