"""Contract: the overwrite policy, and what happens when two writers race for one name."""

from __future__ import annotations

import threading

import pytest
from django.core.files.base import ContentFile


def test_second_save_gets_a_new_name_and_both_survive(storage):
    first = storage.save("same/name.txt", ContentFile(b"first"))
    second = storage.save("same/name.txt", ContentFile(b"second"))
    assert first == "same/name.txt"
    assert second != first
    assert second.startswith("same/name_") and second.endswith(".txt")
    assert storage.open(first).read() == b"first"
    assert storage.open(second).read() == b"second"


def test_extension_is_kept_on_the_new_name(backend, storage):
    storage.save("ext/archive.tar.gz", ContentFile(b"1"))
    second = storage.save("ext/archive.tar.gz", ContentFile(b"2"))
    assert second.startswith("ext/archive") and second.endswith(".gz")
    if backend.caps.strict_names:  # Django 4.2's own storages keep only the last suffix
        assert second.endswith(".tar.gz")


def test_overwrite_replaces_the_content(backend):
    storage = backend.storage(file_overwrite=True)
    first = storage.save("over/name.txt", ContentFile(b"first"))
    second = storage.save("over/name.txt", ContentFile(b"second"))
    assert first == second == "over/name.txt"
    assert storage.open("over/name.txt").read() == b"second"
    assert storage.listdir("over")[1] == ["name.txt"]


def test_racing_saves_keep_both_contents(backend, storage):
    if not backend.caps.atomic_create:
        pytest.skip("Django's InMemoryStorage does not make create-only writes atomic")
    barrier = threading.Barrier(4)
    results: list[str] = []
    errors: list[BaseException] = []

    def save(i: int) -> None:
        try:
            barrier.wait()
            results.append(storage.save("race/a.txt", ContentFile(f"writer {i}".encode())))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=save, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(set(results)) == 4
    contents = sorted(storage.open(n).read() for n in results)
    assert contents == sorted(f"writer {i}".encode() for i in range(4))
