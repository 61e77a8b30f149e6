"""The documented helpers of ``storages.utils`` and ``storages.deps``."""

from __future__ import annotations

import io

import pytest
from django.core.exceptions import ImproperlyConfigured, SuspiciousFileOperation
from django.test import override_settings

from storages.deps import require
from storages.utils import (
    check_location,
    clean_name,
    get_available_overwrite_name,
    is_seekable,
    lookup_env,
    safe_join,
    setting,
)


@override_settings(SOME_SETTING="x")
def test_setting():
    assert setting("SOME_SETTING") == "x"
    assert setting("MISSING_SETTING", 5) == 5


@pytest.mark.parametrize(
    "name,expected",
    [
        ("a\\b", "a/b"),
        ("a/./b", "a/b"),
        ("a/b/", "a/b/"),
        (".", ""),
        ("a//b", "a/b"),
        ("a/b/../c", "a/c"),
    ],
)
def test_clean_name(name, expected):
    assert clean_name(name) == expected


def test_safe_join():
    assert safe_join("media", "a/b.txt") == "media/a/b.txt"
    assert safe_join("", "/a.txt") == "a.txt"
    assert safe_join("media/", "x", "y.txt") == "media/x/y.txt"
    for bad in ("../x", "a/../../x"):
        with pytest.raises(ValueError):
            safe_join("media", bad)
        with pytest.raises(SuspiciousFileOperation):
            safe_join("", bad)


def test_get_available_overwrite_name():
    assert get_available_overwrite_name("d/abcdef.txt", 10) == "d/abcd.txt"
    assert get_available_overwrite_name("d/a.txt", None) == "d/a.txt"
    with pytest.raises(SuspiciousFileOperation):
        get_available_overwrite_name("../d/a.txt", None)
    with pytest.raises(SuspiciousFileOperation):
        get_available_overwrite_name("d/abcdef.txt", 5)


def test_lookup_env(monkeypatch):
    monkeypatch.setenv("STOWAGE_B", "b")
    monkeypatch.setenv("STOWAGE_A", "")
    assert lookup_env(["STOWAGE_A", "STOWAGE_B"]) == "b"
    assert lookup_env(["STOWAGE_NONE"]) is None


def test_check_location():
    class Holder:
        location = "/abs"

    with pytest.raises(ImproperlyConfigured):
        check_location(Holder())


def test_is_seekable():
    assert is_seekable(io.BytesIO())
    assert not is_seekable(object())


def test_require_names_the_extra():
    assert require("json", "none").dumps([]) == "[]"
    with pytest.raises(ImproperlyConfigured, match=r"pip install 'django-stowage\[s3\]'"):
        require("surely_not_installed_sdk", "s3")


@pytest.mark.parametrize(
    "parts,expected",
    [
        (("base", "a/b/"), "base/a/b/"),
        (("base", ""), "base/"),
        (("base",), "base/"),
        (("base", "a", "b/"), "base/a/b/"),
        (("base", "a/b"), "base/a/b"),
    ],
)
def test_safe_join_keeps_the_trailing_slash_of_the_last_part(parts, expected):
    assert safe_join(*parts) == expected


def test_safe_join_escapes_are_value_errors_and_suspicious():
    from django.core.exceptions import SuspiciousFileOperation

    for error in (ValueError, SuspiciousFileOperation):
        with pytest.raises(error):
            safe_join("base", "../outside.txt")


def test_to_bytes_and_read_bytes_wrapper():
    import io

    from storages.utils import ReadBytesWrapper, to_bytes

    assert to_bytes("héllo") == "héllo".encode()
    assert to_bytes(b"raw") == b"raw"
    text = io.TextIOWrapper(io.BytesIO("é".encode("latin-1")), encoding="latin-1")
    assert ReadBytesWrapper(text).read() == "é".encode("latin-1")  # the file's own encoding
    assert ReadBytesWrapper(io.StringIO("é")).read() == "é".encode()  # no encoding: UTF-8
    assert ReadBytesWrapper(io.StringIO("é"), encoding="utf-16-le").read() == "é".encode(
        "utf-16-le"
    )
    wrapped = ReadBytesWrapper(io.BytesIO(b"0123"))
    assert wrapped.read(2) == b"01" and wrapped.tell() == 2
