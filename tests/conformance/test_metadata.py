"""Contract: exists, delete, size and the time methods, including for missing files."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.core.files.base import ContentFile
from django.test import override_settings
from django.utils import timezone

#: How far the servers' clocks (all on this machine) and their rounding may stray from ours.
CLOCK_SLACK = dt.timedelta(seconds=2)
#: Just over one second: the coarsest modification times a service records.
TIMESTAMP_RESOLUTION = 1.1


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


def test_modified_time_is_aware_utc_and_changes_on_rewrite(backend, storage):
    before = timezone.now() - CLOCK_SLACK
    name = storage.save("meta/t.txt", ContentFile(b"1"))
    first = storage.get_modified_time(name)
    assert timezone.is_aware(first)
    assert first.utcoffset() == dt.timedelta(0)
    assert before <= first <= timezone.now() + CLOCK_SLACK
    # Over the coarsest timestamps a service keeps (whole seconds), once for the suite.
    time.sleep(TIMESTAMP_RESOLUTION)
    with storage.open(name, "wb") as handle:
        handle.write(b"2")
    second = storage.get_modified_time(name)
    assert second - first >= dt.timedelta(seconds=1)
    assert second <= timezone.now() + CLOCK_SLACK
    assert backend.raw_read(storage, name) == b"2"


@override_settings(USE_TZ=False)
def test_modified_time_is_naive_without_use_tz(storage):
    storage.save("meta/naive.txt", ContentFile(b"t"))
    modified = storage.get_modified_time("meta/naive.txt")
    assert timezone.is_naive(modified)
    assert abs(modified - dt.datetime.now()) <= CLOCK_SLACK


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
