"""Contract: storages and their files pickle (for caches) and keep working afterwards."""

from __future__ import annotations

import pickle

import pytest
from django.core.files.base import ContentFile


def test_storage_pickles_and_works_after(backend, storage):
    storage.save("pickled/a.txt", ContentFile(b"before"))
    clone = pickle.loads(pickle.dumps(storage))
    assert clone.open("pickled/a.txt").read() == b"before"
    name = clone.save("pickled/b.txt", ContentFile(b"after"))
    assert clone.open(name).read() == b"after"
    if backend.caps.shared_state:
        assert storage.open(name).read() == b"after"


def test_open_file_pickles_closed_and_reopens(backend, storage):
    if not backend.caps.reopen_pickled_files:
        pytest.skip("Django's own files reopen a local path, not the storage's file")
    storage.save("pickled/f.txt", ContentFile(b"file body"))
    handle = storage.open("pickled/f.txt", "rb")
    handle.read(2)
    handle.close()
    clone = pickle.loads(pickle.dumps(handle))
    clone.open("rb")
    assert clone.read() == b"file body"
    clone.close()
