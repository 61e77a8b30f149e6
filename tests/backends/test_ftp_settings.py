"""Each FTP setting, shown by its effect on the server: the files in its directory, and the
commands it received (from its log)."""

from __future__ import annotations

import socket
import time
import uuid
from urllib.parse import quote

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile
from django.test import override_settings

from storages.backends.ftp import FTPStorage, FTPStorageException
from tests.servers.ftp import PASSWORD
from tests.servers.reference import fetch


@pytest.fixture
def made():
    """Storages a test builds itself, closed at its end."""
    storages: list[FTPStorage] = []
    yield storages
    for storage in storages:
        storage.close()


def build(made, *args, **options):
    storage = FTPStorage(*args, **options)
    made.append(storage)
    return storage


def test_every_setting_read_from_django_settings(ftp_server, ftp_area, made):
    base = f"{ftp_server.http_url}{ftp_area.lstrip('/')}/"
    with override_settings(
        FTP_STORAGE_LOCATION=ftp_server.url(ftp_area),
        FTP_STORAGE_ENCODING="utf-8",
        BASE_URL=base,
        FTP_ALLOW_OVERWRITE=True,
    ):
        storage = build(made)
        storage.save("from settings.txt", ContentFile(b"first"))
        assert storage.save("from settings.txt", ContentFile(b"second")) == "from settings.txt"
        assert fetch(storage.url("from settings.txt")) == b"second"
    assert [p.name for p in ftp_server.local(ftp_area).iterdir()] == ["from settings.txt"]


def test_files_go_under_the_path_of_the_location(ftp_server, ftp_area, made):
    storage = build(made, location=ftp_server.url(f"{ftp_area}/sub%20dir/deeper"))
    storage.save("a/b.txt", ContentFile(b"b"))
    assert ftp_server.local(f"{ftp_area}/sub dir/deeper/a/b.txt").read_bytes() == b"b"


def test_a_location_without_a_path_is_the_login_directory(ftp_server, made):
    storage = build(made, location=ftp_server.url(""))
    name = f"login-dir-{uuid.uuid4().hex}.txt"
    try:
        storage.save(name, ContentFile(b"home"))
        assert ftp_server.local(name).read_bytes() == b"home"
    finally:
        ftp_server.local(name).unlink(missing_ok=True)


def test_a_changed_location_reaches_a_live_storage(ftp_server, ftp_area, made):
    other = f"{ftp_area}/other"
    with override_settings(FTP_STORAGE_LOCATION=ftp_server.url(ftp_area)):
        storage = build(made)
        storage.save("one.txt", ContentFile(b"1"))
        with override_settings(FTP_STORAGE_LOCATION=ftp_server.url(other)):
            storage.save("two.txt", ContentFile(b"2"))
    assert ftp_server.local(f"{ftp_area}/one.txt").exists()
    assert ftp_server.local(f"{other}/two.txt").exists()


def test_missing_location_is_reported_at_first_use(made):
    storage = build(made)
    with pytest.raises(ImproperlyConfigured, match="FTP_STORAGE_LOCATION"):
        storage.exists("x")


def test_malformed_location_names_the_setting_and_masks_the_password(made):
    with pytest.raises(ImproperlyConfigured) as info:
        build(made, location="sftp://deploy:hunter22@example.com/files")
    assert "FTP_STORAGE_LOCATION (option 'location')" in str(info.value)
    assert "hunter22" not in str(info.value)
    assert "sftp://deploy:********@example.com/files" in str(info.value)


def test_wrong_password_is_a_permission_error_without_the_password(ftp_server, ftp_area, made):
    storage = build(made, location=ftp_server.url(ftp_area, password="Wrong#Pass/word"))
    with pytest.raises(PermissionError) as info:
        storage.exists("x")
    assert isinstance(info.value, FTPStorageException)
    assert "Wrong" not in str(info.value) and "530" in str(info.value)


@pytest.mark.parametrize(
    "scheme,sent,not_sent", [("ftp", "PASV", "PORT"), ("aftp", "PORT", "PASV")]
)
def test_aftp_means_active_mode(ftp_server, ftp_storage, scheme, sent, not_sent):
    storage = ftp_storage(scheme=scheme)
    mark = ftp_server.mark()
    storage.save("mode.txt", ContentFile(b"m"))
    assert storage.open("mode.txt").read() == b"m"
    commands = [c.split()[0] for c in ftp_server.commands(mark, "plain")]
    assert sent in commands and not_sent not in commands


def test_encoding_defaults_to_utf8_when_the_server_announces_it(ftp_server, ftp_storage, ftp_area):
    mark = ftp_server.mark()
    ftp_storage().save("café.txt", ContentFile(b"x"))
    assert "OPTS UTF8 ON" in ftp_server.commands(mark, "plain")
    assert (ftp_server.local(ftp_area) / "café.txt").exists()


def test_encoding_defaults_to_latin1_when_the_server_does_not(ftp_server, ftp_storage, ftp_area):
    mark = ftp_server.mark()
    storage = ftp_storage(listener="legacy")
    storage.save("café.txt", ContentFile(b"x"))
    # The server decodes Latin-1, so the name arrives intact only if Latin-1 was sent.
    assert [p.name for p in ftp_server.local(ftp_area).iterdir()] == ["café.txt"]
    assert "OPTS UTF8 ON" not in ftp_server.commands(mark, "legacy")
    assert storage.listdir("") == ([], ["café.txt"])


def test_encoding_setting_wins_over_the_servers_features(ftp_server, ftp_storage, ftp_area):
    ftp_storage(listener="legacy", encoding="utf-8").save("é.txt", ContentFile(b"x"))
    # UTF-8 bytes read as Latin-1 by the server: the setting was used.
    assert [p.name for p in ftp_server.local(ftp_area).iterdir()] == ["Ã©.txt"]


def test_base_url_defaults_to_media_url(ftp_storage):
    with override_settings(MEDIA_URL="https://cdn.example/media/"):
        storage = ftp_storage(base_url=None)
        assert storage.url("a b/ü.txt") == "https://cdn.example/media/a%20b/%C3%BC.txt"


def test_base_url_and_custom_domain(ftp_storage):
    storage = ftp_storage()
    storage.save("dir/file #1.txt", ContentFile(b"served"))
    assert fetch(storage.url("dir/file #1.txt")) == b"served"
    assert ftp_storage(base_url=None, custom_domain="files.example").url("a.txt") == (
        "https://files.example/a.txt"
    )


@pytest.mark.parametrize("option", ["allow_overwrite", "file_overwrite"])
def test_overwrite_replaces_the_file_on_the_server(ftp_server, ftp_storage, ftp_area, option):
    storage = ftp_storage(**{option: True})
    storage.save("same.txt", ContentFile(b"first"))
    storage.save("same.txt", ContentFile(b"second"))
    assert [p.name for p in ftp_server.local(ftp_area).iterdir()] == ["same.txt"]
    assert ftp_server.local(f"{ftp_area}/same.txt").read_bytes() == b"second"


def test_overwrite_is_off_by_default(ftp_server, ftp_storage, ftp_area):
    storage = ftp_storage()
    storage.save("same.txt", ContentFile(b"first"))
    second = storage.save("same.txt", ContentFile(b"second"))
    assert second != "same.txt"
    assert ftp_server.local(f"{ftp_area}/same.txt").read_bytes() == b"first"
    assert ftp_server.local(f"{ftp_area}/{second}").read_bytes() == b"second"


def test_timeout_bounds_the_wait_for_a_silent_server(made):
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # accepts the connection, never sends a greeting
        port = silent.getsockname()[1]
        storage = build(
            made, location=f"ftp://u:{quote(PASSWORD, safe='')}@127.0.0.1:{port}/", timeout=0.5
        )
        started = time.monotonic()
        with pytest.raises(FTPStorageException, match="timed out"):
            storage.exists("x")
        assert time.monotonic() - started < 5


def test_legacy_positional_arguments(ftp_server, ftp_area, made):
    storage = build(made, ftp_server.url(ftp_area, "legacy"), "https://files.example/", "utf-8")
    storage.save("é.txt", ContentFile(b"x"))
    assert storage.url("é.txt") == "https://files.example/%C3%A9.txt"
    assert [p.name for p in ftp_server.local(ftp_area).iterdir()] == ["Ã©.txt"]
    assert storage.deconstruct() == (
        "storages.backends.ftp.FTPStorage",
        (),
        {"base_url": "https://files.example/", "encoding": "utf-8"},
    )


@pytest.mark.parametrize(
    "options,label",
    [
        ({"encoding": "no-such-codec"}, "FTP_STORAGE_ENCODING"),
        ({"timeout": 0}, "FTP_STORAGE_TIMEOUT"),
        ({"timeout": "soon"}, "FTP_STORAGE_TIMEOUT"),
        ({"ssl_context": "not a context"}, "FTP_STORAGE_SSL_CONTEXT"),
        ({"ca_file": "/no/such/ca.pem"}, "FTP_STORAGE_CA_FILE"),
        ({"hostname": "x"}, "Valid options"),
    ],
)
def test_invalid_settings_are_refused(ftp_server, made, options, label):
    with pytest.raises(ImproperlyConfigured, match=label):
        build(made, location=ftp_server.url("/"), **options)
