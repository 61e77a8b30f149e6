"""The error tree and the translation of SDK errors at the client seam."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured, SuspiciousFileOperation

from storages.errors import (
    AccessDenied,
    AlreadyExists,
    NotFound,
    StorageError,
    is_foreign,
    raise_translated,
    redact,
    translate_errors,
)


class SDKNotFound(Exception):
    pass


class SDKError(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(f"status {code}")
        self.code = code


RULES = [
    (SDKNotFound, NotFound),
    (lambda e: getattr(e, "code", None) == 403, AccessDenied),
    (lambda e: getattr(e, "code", None) == 412, AlreadyExists),
]


def test_tree_matches_what_callers_catch():
    assert issubclass(StorageError, OSError)
    assert issubclass(NotFound, FileNotFoundError) and issubclass(NotFound, StorageError)
    assert issubclass(AlreadyExists, FileExistsError)
    assert issubclass(AccessDenied, PermissionError)


@pytest.mark.parametrize(
    "exc,expected",
    [
        (SDKNotFound("gone"), NotFound),
        (SDKError(403), AccessDenied),
        (SDKError(412), AlreadyExists),
        (SDKError(500), StorageError),
    ],
)
def test_rules_pick_the_class_and_chain_the_cause(exc, expected):
    with pytest.raises(expected) as info, translate_errors(RULES, {"tests"}, name="a.txt"):
        raise exc
    assert type(info.value) is expected
    assert info.value.__cause__ is exc
    assert str(info.value).startswith("a.txt: ")


@pytest.mark.parametrize(
    "exc",
    [
        ImproperlyConfigured("x"),
        SuspiciousFileOperation("x"),
        NotImplementedError("x"),
        TypeError("x"),
        NotFound("x"),
    ],
)
def test_our_errors_and_programming_errors_pass_through(exc):
    with pytest.raises(type(exc)) as info, translate_errors(RULES, {"tests"}):
        raise exc
    assert info.value is exc


@pytest.mark.parametrize("exc", [KeyError("k"), AttributeError("a"), TypeError("t"), ValueError()])
def test_exceptions_of_our_own_code_are_not_translated(exc):
    with pytest.raises(type(exc)) as info, translate_errors(RULES, {"botocore"}):
        raise exc
    assert info.value is exc


@pytest.mark.parametrize("exc", [ConnectionResetError("reset"), TimeoutError(), EOFError()])
def test_network_errors_are_translated(exc):
    with pytest.raises(StorageError) as info, translate_errors(RULES, {"botocore"}):
        raise exc
    assert info.value.__cause__ is exc


def test_only_the_sdk_packages_exceptions_are_translated():
    assert is_foreign(SDKError(500), {"tests"})
    assert not is_foreign(SDKError(500), {"botocore"})


def test_secrets_are_redacted_from_messages():
    with pytest.raises(StorageError) as info:
        raise_translated(SDKError(500).with_traceback(None), [], secrets=["status"])
    assert "status" not in str(info.value)
    assert redact("key=AKIASECRET1 pw=hunter22", ["AKIASECRET1", b"hunter22", None, "ab"]) == (
        "key=******** pw=********"
    )
