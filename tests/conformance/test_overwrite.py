"""Contract: the overwrite policy, and what happens when writers race for one name."""

from __future__ import annotations

import threading
from typing import Any

from django.core.files.base import ContentFile

from tests.conformance.support import stored_bytes

#: Writers racing for one name, each with its own storage (its own connections).
RACERS = 4
#: Longest wait at a barrier before the race counts as broken (a writer died or hung).
BARRIER_TIMEOUT = 60


def test_second_save_gets_a_new_name_and_both_survive(backend, storage):
    first = storage.save("same/name.txt", ContentFile(b"first"))
    second = storage.save("same/name.txt", ContentFile(b"second"))
    assert first == "same/name.txt"
    assert second != first
    assert second.startswith("same/name_") and second.endswith(".txt")
    assert stored_bytes(backend, storage, first) == b"first"
    assert stored_bytes(backend, storage, second) == b"second"


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
    assert stored_bytes(backend, storage, "over/name.txt") == b"second"
    assert storage.listdir("over")[1] == ["name.txt"]


def hold_after_choosing_a_name(
    storage: Any, barrier: threading.Barrier, chosen: dict[int, str]
) -> None:
    """Make each thread's first ``get_available_name`` on ``storage`` wait at ``barrier``, so
    every writer has found the name free before any of them writes."""
    choose = storage.get_available_name

    def get_available_name(name: str, max_length: int | None = None) -> str:
        result = choose(name, max_length=max_length)
        me = threading.get_ident()
        if me not in chosen:  # a retry after losing the race must not wait again
            chosen[me] = result
            barrier.wait()
        return result

    storage.get_available_name = get_available_name


def test_racing_saves_of_one_name_keep_every_content(backend):
    storages = [backend.storage() for _ in range(RACERS)]
    start = threading.Barrier(RACERS, timeout=BARRIER_TIMEOUT)
    chose = threading.Barrier(RACERS, timeout=BARRIER_TIMEOUT)
    chosen: dict[int, str] = {}
    for storage in {id(s): s for s in storages}.values():  # Django's InMemoryStorage: one
        hold_after_choosing_a_name(storage, chose, chosen)
    contents = [f"writer {i}".encode() for i in range(RACERS)]
    results: dict[int, str] = {}
    errors: list[BaseException] = []

    def save(i: int) -> None:
        try:
            storages[i].exists("race.txt")  # connect first, so the writers start together
            start.wait()
            results[i] = storages[i].save("race.txt", ContentFile(contents[i]))
        except BaseException as exc:
            errors.append(exc)
            start.abort()
            chose.abort()

    threads = [threading.Thread(target=save, args=(i,)) for i in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    # The race really happened: every writer set out to create the same name.
    assert sorted(chosen.values()) == ["race.txt"] * RACERS
    assert len(results) == RACERS
    if not backend.caps.atomic_create:
        # Writers may replace each other; each must still get a stored file back.
        assert all(storages[0].exists(name) for name in results.values())
        return
    assert len(set(results.values())) == RACERS
    assert "race.txt" in results.values()
    for i, name in results.items():
        assert backend.raw_read(storages[0], name) == contents[i]
