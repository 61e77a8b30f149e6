"""Contract: exists, delete, size and the time methods, including for missing files."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.base import ContentFile
from django.test import override_settings
from django.utils import timezone


def test_exists(storage):
    assert not storage.exists("meta/a.txt")
    storage.save("meta/a.txt", ContentFile(b"a"))
    assert storage.exists("meta/a.txt")


def test_delete_removes_the_file(storage):
    storage.save("meta/gone.txt", ContentFile(b"x"))
    storage.delete("meta/gone.txt")
    assert not storage.exists("meta/gone.txt")
    with pytest.raises(FileNotFoundError):
        storage.open("meta/gone.txt", "rb")


def test_delete_of_a_missing_file_is_not_an_error(storage):
    storage.delete("meta/never-there.txt")
    assert not storage.exists("meta/never-there.txt")


def test_size(storage):
    storage.save("meta/sized.bin", ContentFile(b"x" * 1234))
    assert storage.size("meta/sized.bin") == 1234


@pytest.mark.parametrize("method", ["size", "open", "get_modified_time"])
def test_missing_file_raises_file_not_found(storage, method):
    with pytest.raises(FileNotFoundError):
        getattr(storage, method)("meta/missing.txt")


def test_modified_time_is_aware_utc_with_use_tz(backend, storage):
    before = timezone.now().replace(microsecond=0) - dt.timedelta(seconds=2)
    storage.save("meta/t.txt", ContentFile(b"t"))
    modified = storage.get_modified_time("meta/t.txt")
    assert timezone.is_aware(modified)
    assert modified.utcoffset() == dt.timedelta(0)
    assert before <= modified <= timezone.now() + dt.timedelta(seconds=2)


@override_settings(USE_TZ=False)
def test_modified_time_is_naive_without_use_tz(storage):
    storage.save("meta/naive.txt", ContentFile(b"t"))
    modified = storage.get_modified_time("meta/naive.txt")
    assert timezone.is_naive(modified)
    assert abs(modified - dt.datetime.now()) < dt.timedelta(seconds=60)


def test_modified_time_changes_when_overwritten(backend, storage):
    name = storage.save("meta/changing.txt", ContentFile(b"1"))
    first = storage.get_modified_time(name)
    with storage.open(name, "wb") as handle:
        handle.write(b"2")
    assert storage.get_modified_time(name) >= first
    assert storage.open(name, "rb").read() == b"2"


@pytest.mark.parametrize(
    "method,cap", [("get_created_time", "created_time"), ("get_accessed_time", "accessed_time")]
)
def test_optional_times(backend, storage, method, cap):
    storage.save("meta/times.txt", ContentFile(b"t"))
    if getattr(backend.caps, cap):
        value = getattr(storage, method)("meta/times.txt")
        assert timezone.is_aware(value)
        with pytest.raises(FileNotFoundError):
            getattr(storage, method)("meta/missing.txt")
    else:
        with pytest.raises(NotImplementedError):
            getattr(storage, method)("meta/times.txt")
