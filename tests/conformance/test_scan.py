"""Contract: scan() lists every file below a directory with its metadata; sync sessions skip
what is stored already. Django's own storages have neither (they are skipped)."""

from __future__ import annotations

import hashlib

import pytest
from django.core.files.base import ContentFile

from storages.base import BaseStorage


@pytest.fixture
def ours(storage):
    if not isinstance(storage, BaseStorage):
        pytest.skip("scan() and sync sessions belong to this package's storages")
    return storage


def fill(storage, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        storage.save(name, ContentFile(data))


FILES = {
    "scan/top.txt": b"top",
    "scan/a/one.txt": b"one!",
    "scan/a/b/two.txt": b"two two",
    "scan/c/three.bin": b"\x00" * 300,
    "scanner.txt": b"not below scan/",
}


def test_scan_yields_every_file_below_the_prefix_recursively(ours):
    fill(ours, FILES)
    found = dict(ours.scan("scan"))
    assert sorted(found) == sorted(n for n in FILES if n.startswith("scan/"))
    for name, info in found.items():
        assert info.size == len(FILES[name])
        assert info.modified is not None


def test_scan_of_the_root_and_trailing_slash(ours):
    fill(ours, FILES)
    everything = {name for name, _ in ours.scan()}
    assert set(FILES) <= everything
    assert {name for name, _ in ours.scan("scan/a/")} == {"scan/a/one.txt", "scan/a/b/two.txt"}


def test_scan_of_a_missing_directory_is_empty(ours):
    assert list(ours.scan("no/such/dir")) == []


def test_scan_checksums_are_the_md5_of_the_stored_bytes(ours):
    fill(ours, FILES)
    for name, info in ours.scan("scan"):
        if info.checksum is not None:
            assert info.checksum == hashlib.md5(FILES[name]).hexdigest()


def test_sync_session_skips_identical_files_and_replaces_changed_ones(ours):
    fill(ours, {"sync/same.txt": b"same", "sync/changed.txt": b"old"})
    knows_checksums = all(info.checksum for _, info in ours.scan("sync"))
    with ours.sync_session("sync") as session:
        assert session.put("sync/same.txt", ContentFile(b"same")) is not knows_checksums
        assert session.put("sync/changed.txt", ContentFile(b"new content")) is True
        assert session.put("sync/new.txt", ContentFile(b"brand new")) is True
    assert session.stats.skipped == int(knows_checksums)
    assert session.stats.copied == 3 - int(knows_checksums)
    with ours.open("sync/changed.txt", "rb") as handle:
        assert handle.read() == b"new content"
    with ours.open("sync/new.txt", "rb") as handle:
        assert handle.read() == b"brand new"
    # Written by a session, compared by the next one (checksums recorded at upload).
    with ours.sync_session("sync") as again:
        for name, data in [("sync/new.txt", b"brand new"), ("sync/changed.txt", b"new content")]:
            again.put(name, ContentFile(data))
    assert again.stats.skipped == (2 if knows_checksums else 0)


def test_sync_session_without_checksums_compares_size_and_time(ours):
    fill(ours, {"times/a.txt": b"aaa"})
    ((_, info),) = ours.scan("times")
    with ours.sync_session("times") as session:
        assert (
            session.put("times/a.txt", ContentFile(b"aaa"), source_modified=info.modified) is False
        )
        assert session.put("times/a.txt", ContentFile(b"bbbb"), source_modified=info.modified)


def test_sync_session_defers_deletes_and_a_save_cancels_them(ours):
    fill(ours, {"defer/kept.txt": b"kept", "defer/gone.txt": b"gone"})
    with ours.sync_session() as session:
        ours.delete("defer/kept.txt")
        ours.delete("defer/gone.txt")
        assert not ours.exists("defer/gone.txt")
        ours.save("defer/kept.txt", ContentFile(b"kept"))
        assert ours.exists("defer/kept.txt")
        assert ours.exists("defer")  # a directory with files below it
    assert ours.exists("defer/kept.txt")
    assert not ours.exists("defer/gone.txt")
    assert session.stats.deleted == 1
