"""The FTP backend's pure functions: the location URL, replies, listings and the error table."""

from __future__ import annotations

import ftplib
from datetime import datetime, timezone

import pytest
from django.core.exceptions import ImproperlyConfigured

from storages.backends._ftp_replies import (
    ERROR_RULES,
    FTPNotFound,
    FTPPermissionDenied,
    FTPStorageException,
    is_answer,
    parse_list_line,
    parse_mlsx_line,
    timestamp,
)
from storages.backends._ftp_settings import mask_url, parse_location
from storages.errors import StorageError, raise_translated
from storages.files import StorageFile

LABEL = "FTP_STORAGE_LOCATION"


@pytest.mark.parametrize(
    "url,expected",
    [
        ("ftp://u:p%40ss@host/media", ("ftp", "host", 21, "u", "p@ss", "/media", False, True)),
        ("aftp://u:pw@host:2121/", ("aftp", "host", 2121, "u", "pw", "/", False, False)),
        ("ftps://u:pw@host:990", ("ftps", "host", 990, "u", "pw", "", True, True)),
        ("FTP://user@host/a%20b/", ("ftp", "host", 21, "user", "", "/a b/", False, True)),
        ("ftp://host", ("ftp", "host", 21, "", "", "", False, True)),
        ("ftp://u%3Ax:p%2F%3A%25@h/", ("ftp", "h", 21, "u:x", "p/:%", "/", False, True)),
    ],
)
def test_location_is_parsed_and_percent_decoded(url, expected):
    loc = parse_location(url, LABEL)
    assert (loc.scheme, loc.host, loc.port, loc.user, loc.password, loc.path) == expected[:6]
    assert (loc.tls, loc.passive) == expected[6:]


@pytest.mark.parametrize(
    "url,problem",
    [
        ("http://u:hunter22@host/", "scheme"),
        ("ftp://u:hunter22@:21/", "no host"),
        ("ftp://u:hunter22@host:port/", "invalid port"),
        ("ftp://u:hunter22@host:99999/", "invalid port"),
        ("ftp://u:hun#ter22@host/", "fragment"),
        ("ftp://u:hunter22@host/?x=1", "query"),
        ("u:hunter22@host", "scheme"),
    ],
)
def test_malformed_location_is_refused_with_the_password_masked(url, problem):
    with pytest.raises(ImproperlyConfigured) as info:
        parse_location(url, LABEL)
    message = str(info.value)
    assert problem in message and LABEL in message
    assert "hunter22" not in message and "hun#" not in message


def test_a_location_that_is_not_a_string_is_refused():
    with pytest.raises(ImproperlyConfigured, match="must be a URL"):
        parse_location(21, LABEL)


def test_location_repr_and_masked_url_hide_the_password():
    loc = parse_location("ftps://deploy:s%40crét@files.example:2121/up", LABEL)
    assert "crét" not in repr(loc) and "%40" not in repr(loc)
    assert loc.masked() == "ftps://deploy:********@files.example:2121/up"


@pytest.mark.parametrize(
    "url,masked",
    [
        ("ftp://u:secret@h/p", "ftp://u:********@h/p"),
        ("ftp://u:se@cret@h/p", "ftp://u:********@h/p"),
        ("ftp://u@h/p", "ftp://u@h/p"),
        ("u:secret@host", "u:********@host"),
        ("ftp://u:se/cr@t@h:21/p", "ftp://u:********@h:21/p"),
        ("ftp://h/a@b", "ftp://h/a@b"),
        ("not a url", "not a url"),
    ],
)
def test_mask_url(url, masked):
    assert mask_url(url) == masked


def test_mlsx_line_keeps_spaces_and_semicolons_of_the_name():
    name, facts = parse_mlsx_line("type=file;size=12;modify=20240102030405;  two; spaces .txt")
    assert name == " two; spaces .txt"
    assert facts == {"type": "file", "size": "12", "modify": "20240102030405"}
    # MLST puts a space before the facts.
    assert parse_mlsx_line(" Type=dir;Modify=20240102030405; /a dir")[0] == "/a dir"


@pytest.mark.parametrize(
    "line,entry",
    [
        # pyftpdlib
        ("-rw-r--r--   1 root     root            5 Dec 01 22:14 x.txt", ("x.txt", False)),
        ("drwxr-xr-x   2 root     root         4096 Dec 01 22:14 a dir", ("a dir", True)),
        # older than six months: the year instead of the time
        ("-rw-r--r--   1 owner    group        380 Sep 02  2019 old file", ("old file", False)),
        # vsftpd: numeric owners, a name with leading spaces and non-ASCII characters
        (
            "-rw-------    1 1000     1000            3 Jan 05 09:30   café ünï.txt",
            ("  café ünï.txt", False),
        ),
        # no group column
        ("-rw-r--r-- 1 ftp 42 Mar 10 2021 no group", ("no group", False)),
        ("lrwxrwxrwx   1 root root 7 Jan 01 00:00 link name -> target", ("link name", False)),
        ("-rw-r--r--+  1 root root 7 Jan 01 00:00 acl.txt", ("acl.txt", False)),
        # DOS / IIS
        ("01-02-24  03:04PM       <DIR>          Some Folder", ("Some Folder", True)),
        ("01-02-2024  03:04        1234 report 2024.pdf", ("report 2024.pdf", False)),
        ("total 12", None),
        ("", None),
    ],
)
def test_list_lines(line, entry):
    assert parse_list_line(line) == entry


def test_timestamps_are_aware_utc_with_fractions():
    assert timestamp("20240102030405") == datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    assert timestamp("20240102030405.25").microsecond == 250000
    assert timestamp("not a time") is None


def _translate(exc):
    with pytest.raises(StorageError) as info:
        raise_translated(exc, ERROR_RULES, name="x.txt")
    return info.value


@pytest.mark.parametrize(
    "reply,cls,base",
    [
        ("550 No such file or directory.", FTPNotFound, FileNotFoundError),
        ("550 Could not get file size.", FTPNotFound, FileNotFoundError),
        ("550 Not enough privileges.", FTPPermissionDenied, PermissionError),
        ("550 Permission denied.", FTPPermissionDenied, PermissionError),
        ("530 Login incorrect.", FTPPermissionDenied, PermissionError),
        ("553 Could not create file.", FTPPermissionDenied, PermissionError),
        ("552 Quota exceeded.", FTPStorageException, StorageError),
    ],
)
def test_error_table(reply, cls, base):
    error = _translate(ftplib.error_perm(reply))
    assert type(error) is cls and isinstance(error, (base, FTPStorageException))
    assert isinstance(error.__cause__, ftplib.error_perm)


def test_connection_failures_are_ftp_storage_exceptions():
    assert type(_translate(ConnectionRefusedError(111, "refused"))) is FTPStorageException
    assert type(_translate(ftplib.error_temp("421 Timeout."))) is FTPStorageException


def test_what_counts_as_the_servers_answer():
    assert is_answer(ftplib.error_perm("550 No such file."))
    assert is_answer(ftplib.error_temp("450 Busy."))
    assert not is_answer(ftplib.error_temp("421 Control connection timed out."))
    assert not is_answer(EOFError())
    assert not is_answer(ConnectionResetError())


def test_public_names():
    from storages.backends import ftp

    assert set(ftp.__all__) == {"FTPStorage", "FTPStorageFile", "FTPStorageException"}
    assert issubclass(ftp.FTPStorageException, StorageError)
    assert issubclass(ftp.FTPStorageFile, StorageFile)
