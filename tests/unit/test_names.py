"""The name pipeline: property-based proof that no name maps outside ``location``."""

from __future__ import annotations

import posixpath

import pytest
from django.core.exceptions import ImproperlyConfigured, SuspiciousFileOperation
from hypothesis import given
from hypothesis import strategies as st

from storages.names import (
    UnsafeName,
    join_location,
    normalize_name,
    relative_to_location,
    split_name,
    truncate_name,
    validate_location,
)

PIECES = st.sampled_from(["a", "b", "..", ".", "", "/", "\\", "\x00", "ü", " ", "%2e", "c.txt"])
NAMES = st.one_of(st.lists(PIECES, max_size=12).map("".join), st.text(max_size=40))
LOCATIONS = st.sampled_from(["", "media", "media/uploads", "a b/ü"])


@given(name=NAMES, location=LOCATIONS)
def test_no_name_escapes_the_location(name, location):
    try:
        key = join_location(location, normalize_name(name))
    except UnsafeName:
        return
    parts = key.split("/")
    assert ".." not in parts and "." not in parts
    assert not key.startswith("/") and "\\" not in key and "\x00" not in key and "//" not in key
    if location:
        assert key == location or key.startswith(location + "/")
        resolved = posixpath.normpath(posixpath.join("/root", key))
        assert resolved.startswith(posixpath.join("/root", location))
    assert relative_to_location(location, key) == normalize_name(name)


@given(name=NAMES)
def test_normalizing_is_idempotent(name):
    try:
        once = normalize_name(name)
    except UnsafeName:
        return
    assert normalize_name(once) == once


@pytest.mark.parametrize(
    "name,expected",
    [
        ("a/b.txt", "a/b.txt"),
        ("a\\b\\c.txt", "a/b/c.txt"),
        ("a//b///c", "a/b/c"),
        ("./a/./b", "a/b"),
        ("dir/", "dir"),
        ("", ""),
        ("..hidden/x..y", "..hidden/x..y"),
    ],
)
def test_normalize_examples(name, expected):
    assert normalize_name(name) == expected


@pytest.mark.parametrize("name", ["../x", "a/../../x", "/abs", "\\abs", "a\\..\\..\\x", "n\x00"])
def test_unsafe_examples(name):
    with pytest.raises(SuspiciousFileOperation):
        normalize_name(name)


def test_unsafe_name_is_also_a_value_error():
    with pytest.raises(ValueError):
        normalize_name("../x")


def test_non_string_names_are_refused():
    with pytest.raises(TypeError):
        normalize_name(42)


def test_relative_to_location_refuses_foreign_keys():
    with pytest.raises(UnsafeName):
        relative_to_location("media", "other/file")
    assert relative_to_location("media", "media/a/b") == "a/b"


def test_validate_location():
    assert validate_location(None) == ""
    assert validate_location("x/y/") == "x/y"
    with pytest.raises(ImproperlyConfigured, match="AWS_LOCATION"):
        validate_location("/x", "AWS_LOCATION")
    with pytest.raises(ImproperlyConfigured):
        validate_location(5)


def test_split_and_truncate():
    assert split_name("d/archive.tar.gz") == ("d", "archive", ".tar.gz")
    assert truncate_name("d/abcdefgh.txt", 10) == "d/abcd.txt"
    assert truncate_name("d/abc.txt", 100) == "d/abc.txt"
    with pytest.raises(SuspiciousFileOperation, match="max_length"):
        truncate_name("d/abc.txt", 6)
