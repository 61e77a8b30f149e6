"""Dropbox settings: each one's effect on the fake service, credentials, secrets, the 1.9.1
constructor and names, and the options that point the SDK at a test or proxy server."""

from __future__ import annotations

import pickle
import time

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile
from django.db.migrations.writer import MigrationWriter
from django.test import override_settings

from storages.backends import dropbox as backend
from storages.backends.dropbox import (
    DropboxStorage,
    DropboxStorageException,
)
from storages.errors import AccessDenied, StorageError


@pytest.fixture
def raw(dropbox_server):
    """Read what the service holds, through the raw SDK."""
    client = dropbox_server.sdk()

    def read(path: str) -> bytes:
        return bytes(client.files_download(path)[1].content)

    return read


def dropbox_settings(server, **extra):
    """Django settings equivalent to the fake's storage options."""
    return {"DROPBOX_OAUTH2_TOKEN": server.token, **extra}


def test_public_names():
    assert set(backend.__all__) == {
        "DropBoxFile",
        "DropBoxStorage",
        "DropBoxStorageException",
        "DropboxFile",
        "DropboxStorage",
        "DropboxStorageException",
    }
    assert backend.DropBoxStorage is DropboxStorage
    assert backend.DropBoxFile is backend.DropboxFile
    assert issubclass(DropboxStorageException, StorageError)


def test_sdk_packages_are_where_the_sdk_errors_live():
    import requests
    import urllib3
    from dropbox import exceptions
    from dropbox.stone_validators import ValidationError

    modules = {
        exceptions.ApiError.__module__,
        ValidationError.__module__,
        requests.exceptions.ConnectionError.__module__,
        urllib3.exceptions.ProtocolError.__module__,
    }
    assert {m.split(".")[0] for m in modules} == DropboxStorage.sdk_packages


def test_token_from_the_django_setting(dropbox_server, dropbox_root, raw):
    options = dropbox_server.options(root_path=dropbox_root)
    del options["oauth2_access_token"]
    with override_settings(**dropbox_settings(dropbox_server)):
        storage = DropboxStorage(**options)
        storage.save("a.txt", ContentFile(b"a"))
    assert raw(f"{dropbox_root}/a.txt") == b"a"


def test_token_as_first_positional_argument(dropbox_server, dropbox_root, raw):
    options = dropbox_server.options()
    token = options.pop("oauth2_access_token")
    storage = DropboxStorage(token, dropbox_root, 30, "overwrite", **options)
    assert (storage.root_path, storage.timeout, storage.write_mode) == (
        dropbox_root,
        30,
        "overwrite",
    )
    storage.save("p.txt", ContentFile(b"1"))
    storage.save("p.txt", ContentFile(b"2"))
    assert raw(f"{dropbox_root}/p.txt") == b"2"
    assert token not in str(storage.deconstruct())


def test_none_arguments_mean_the_settings(dropbox_server, dropbox_root):
    options = dropbox_server.options()
    del options["oauth2_access_token"]
    with override_settings(DROPBOX_OAUTH2_TOKEN=dropbox_server.token, DROPBOX_ROOT_PATH="/x"):
        storage = DropboxStorage(None, None, **options)
        assert storage.oauth2_access_token == dropbox_server.token
        assert storage.root_path == "/x"
        assert DropboxStorage(None, None, None, **options).timeout is None  # None: no timeout


def test_bad_positional_arguments():
    with pytest.raises(TypeError, match="at most 4"):
        DropboxStorage("t", "/", 1, "add", "extra")
    with pytest.raises(TypeError, match="twice"):
        DropboxStorage("t", oauth2_access_token="u")


def test_no_credentials_names_the_settings(dropbox_server):
    options = dropbox_server.options()
    del options["oauth2_access_token"]
    storage = DropboxStorage(**options)
    with pytest.raises(ImproperlyConfigured) as caught:
        storage.exists("x")
    message = str(caught.value)
    for name in (
        "DROPBOX_OAUTH2_TOKEN",
        "DROPBOX_APP_KEY",
        "DROPBOX_APP_SECRET",
        "DROPBOX_OAUTH2_REFRESH_TOKEN",
    ):
        assert name in message


def test_a_refresh_token_needs_its_app_key(dropbox_server):
    options = dropbox_server.options(oauth2_refresh_token="r")
    del options["oauth2_access_token"]
    with pytest.raises(ImproperlyConfigured, match="DROPBOX_APP_KEY"):
        DropboxStorage(**options).exists("x")


def refreshing(dropbox_server, dropbox_storage):
    options = {
        "oauth2_access_token": None,
        "app_key": dropbox_server.app_key,
        "app_secret": dropbox_server.app_secret,
        "oauth2_refresh_token": dropbox_server.refresh_token,
    }
    return dropbox_storage(**options)


def test_refresh_token_flow_gets_and_renews_short_lived_tokens(dropbox_server, dropbox_storage):
    before = dropbox_server.refreshes
    storage = refreshing(dropbox_server, dropbox_storage)
    storage.save("r.txt", ContentFile(b"r"))
    assert dropbox_server.refreshes == before + 1
    assert storage.exists("r.txt")
    assert dropbox_server.refreshes == before + 1  # the token is reused until it expires
    dropbox_server.expire_tokens()
    assert storage.open("r.txt").read() == b"r"  # expired: refreshed and retried
    assert dropbox_server.refreshes == before + 2


def test_a_refused_refresh_token_is_access_denied(dropbox_server, dropbox_storage):
    storage = dropbox_storage(
        oauth2_access_token=None,
        app_key=dropbox_server.app_key,
        app_secret=dropbox_server.app_secret,
        oauth2_refresh_token="revoked-refresh-token",
    )
    with pytest.raises(AccessDenied) as caught:
        storage.exists("x")
    assert "revoked-refresh-token" not in str(caught.value)


def test_secrets_stay_out_of_repr_deconstruct_pickles_and_errors(dropbox_server, dropbox_storage):
    storage = dropbox_storage(
        oauth2_access_token="wrong-token-value",
        app_key=dropbox_server.app_key,
        app_secret="the-app-secret",
    )
    secrets = ("wrong-token-value", "the-app-secret")
    text, _imports = MigrationWriter.serialize(storage)
    dumped = pickle.dumps(storage)
    for secret in secrets:
        assert secret not in repr(storage)
        assert secret not in str(storage.deconstruct())
        assert secret not in text
        assert secret.encode() not in dumped
    with pytest.raises(AccessDenied) as caught:
        storage.exists("x")
    assert isinstance(caught.value, DropboxStorageException)
    assert not any(secret in str(caught.value) for secret in secrets)
    assert pickle.loads(dumped).oauth2_access_token == "wrong-token-value"


def test_a_pickled_storage_works(dropbox_storage):
    storage = dropbox_storage()
    storage.save("before.txt", ContentFile(b"b"))
    clone = pickle.loads(pickle.dumps(storage))
    assert clone.open("before.txt").read() == b"b"


@pytest.mark.parametrize(
    "given,expected",
    [("/media", "/media"), ("media/", "/media"), ("\\a\\b", "/a/b"), ("/", ""), ("", "")],
)
def test_root_path_is_normalized(dropbox_server, given, expected):
    assert DropboxStorage(**dropbox_server.options(root_path=given))._root == expected


@pytest.mark.parametrize("value", ["/a/../b", "/a\x00", 5])
def test_bad_root_path_names_the_setting(dropbox_server, value):
    with pytest.raises(ImproperlyConfigured, match="DROPBOX_ROOT_PATH"):
        DropboxStorage(**dropbox_server.options(root_path=value))


def test_root_path_jails_the_files(dropbox_storage, dropbox_root, raw, dropbox_server):
    storage = dropbox_storage(root_path=f"{dropbox_root}/jail")
    storage.save("in.txt", ContentFile(b"in"))
    assert raw(f"{dropbox_root}/jail/in.txt") == b"in"
    assert not dropbox_storage(root_path=f"{dropbox_root}/other").exists("in.txt")
    assert storage.listdir("") == ([], ["in.txt"])


def test_root_path_from_the_setting_and_its_refresh(dropbox_server, dropbox_root, raw):
    options = dropbox_server.options()
    with override_settings(DROPBOX_ROOT_PATH=f"{dropbox_root}/one"):
        storage = DropboxStorage(**options)
        storage.save("f.txt", ContentFile(b"1"))
        with override_settings(DROPBOX_ROOT_PATH=f"{dropbox_root}/two"):
            storage.save("f.txt", ContentFile(b"2"))
    assert raw(f"{dropbox_root}/one/f.txt") == b"1"
    assert raw(f"{dropbox_root}/two/f.txt") == b"2"


def test_whole_dropbox_as_root(dropbox_server, dropbox_root, raw):
    storage = DropboxStorage(**dropbox_server.options(root_path="/"))
    name = storage.save(f"{dropbox_root.lstrip('/')}/top.txt", ContentFile(b"t"))
    assert raw(f"/{name}") == b"t"
    assert storage.exists("")
    assert dropbox_root.lstrip("/") in storage.listdir("")[0]


def test_location_is_a_prefix_under_the_root(dropbox_storage, dropbox_root, raw):
    storage = dropbox_storage(location="media/uploads")
    storage.save("l.txt", ContentFile(b"l"))
    assert raw(f"{dropbox_root}/media/uploads/l.txt") == b"l"


def test_timeout_bounds_each_request(dropbox_server, dropbox_storage):
    storage = dropbox_storage(timeout=0.3, client_options={"max_retries_on_error": 0})
    dropbox_server.slow("files/get_metadata", 1.5)
    started = time.monotonic()
    with pytest.raises(DropboxStorageException, match="timed out"):
        storage.exists("slow.txt")
    assert time.monotonic() - started < 1.4


def test_timeout_from_the_setting_and_default(dropbox_server):
    assert DropboxStorage(**dropbox_server.options()).timeout == 100
    with override_settings(DROPBOX_TIMEOUT=7):
        storage = DropboxStorage(**dropbox_server.options())
        assert storage.timeout == 7
        assert storage.client._timeout == 7


@pytest.mark.parametrize("value", [0, -1, "10", True])
def test_bad_timeout_names_the_setting(dropbox_server, value):
    with pytest.raises(ImproperlyConfigured, match="DROPBOX_TIMEOUT"):
        DropboxStorage(**dropbox_server.options(timeout=value))


def test_write_mode_add_is_the_default_and_keeps_both(dropbox_storage, dropbox_root, raw):
    storage = dropbox_storage()
    assert (storage.write_mode, storage.file_overwrite) == ("add", False)
    first = storage.save("w.txt", ContentFile(b"1"))
    second = storage.save("w.txt", ContentFile(b"2"))
    assert first != second
    assert raw(f"{dropbox_root}/{first}") == b"1" and raw(f"{dropbox_root}/{second}") == b"2"


def test_write_mode_overwrite_replaces(dropbox_storage, dropbox_root, raw):
    storage = dropbox_storage(write_mode="overwrite")
    assert storage.file_overwrite is True
    storage.save("w.txt", ContentFile(b"1"))
    assert storage.save("w.txt", ContentFile(b"2")) == "w.txt"
    assert raw(f"{dropbox_root}/w.txt") == b"2"


def test_write_mode_from_the_setting_follows_changes(dropbox_server, dropbox_root, raw):
    with override_settings(DROPBOX_WRITE_MODE="overwrite"):
        storage = DropboxStorage(**dropbox_server.options(root_path=dropbox_root))
        assert storage.file_overwrite is True
        with override_settings(DROPBOX_WRITE_MODE="add"):
            assert storage.file_overwrite is False
            storage.save("s.txt", ContentFile(b"1"))
            assert storage.save("s.txt", ContentFile(b"2")) != "s.txt"


def test_uniform_file_overwrite_maps_onto_the_write_mode(dropbox_storage, dropbox_root, raw):
    storage = dropbox_storage(file_overwrite=True)
    assert storage._write_mode == "overwrite"
    storage.save("u.txt", ContentFile(b"1"))
    storage.save("u.txt", ContentFile(b"2"))
    assert raw(f"{dropbox_root}/u.txt") == b"2"
    with override_settings(DROPBOX_WRITE_MODE="overwrite"):
        assert dropbox_storage(file_overwrite=False)._write_mode == "add"  # the option wins


def test_contradicting_options_are_refused(dropbox_server):
    with pytest.raises(ImproperlyConfigured, match="contradicts"):
        DropboxStorage(**dropbox_server.options(file_overwrite=False, write_mode="overwrite"))


def test_unknown_write_mode_names_the_setting(dropbox_server):
    with pytest.raises(ImproperlyConfigured, match="DROPBOX_WRITE_MODE"):
        DropboxStorage(**dropbox_server.options(write_mode="replace"))


@pytest.mark.parametrize("key", ["oauth2_access_token", "app_secret", "timeout"])
def test_client_options_cannot_repeat_settings(dropbox_server, key):
    with pytest.raises(ImproperlyConfigured, match=repr(key)):
        DropboxStorage(**dropbox_server.options(client_options={key: 1}))


def test_client_options_are_passed_to_the_sdk(dropbox_server, dropbox_storage):
    storage = dropbox_storage(client_options={"user_agent": "stowage-test"})
    storage.exists("x")
    assert dropbox_server.calls[-1].headers["User-Agent"].startswith("stowage-test/")


def test_a_session_in_the_client_options(dropbox_server, dropbox_storage):
    session = dropbox_server.session()
    storage = dropbox_storage(client_options={"session": session})
    storage.save("s.txt", ContentFile(b"s"))
    assert storage.exists("s.txt")
    storage.close()
    assert session.adapters  # the user's session is left open for them to close


def test_session_and_ca_certs_together_are_refused(dropbox_server):
    options = {"session": dropbox_server.session(), "ca_certs": str(dropbox_server.cert)}
    with pytest.raises(ImproperlyConfigured, match="not both"):
        DropboxStorage(**dropbox_server.options(client_options=options))


def test_ca_certs_wins_over_the_ca_bundle_variables(dropbox_storage, monkeypatch):
    import certifi

    # The bundles requests would take from the environment do not know the fake's certificate.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    monkeypatch.setenv("CURL_CA_BUNDLE", certifi.where())
    storage = dropbox_storage()
    storage.save("ca.txt", ContentFile(b"ok"))
    assert storage.exists("ca.txt")


def test_without_the_ca_file_the_certificate_is_refused(dropbox_storage):
    storage = dropbox_storage(client_options={"ca_certs": None})
    with pytest.raises(DropboxStorageException, match=r"SSL|certificate"):
        storage.exists("x")


@pytest.mark.parametrize("given", ["https://HOST:1/", "HOST:1"])
def test_hosts_are_host_names(dropbox_server, given):
    storage = DropboxStorage(**dropbox_server.options(api_host=given, content_host=given))
    assert storage.api_host == storage.content_host == "HOST:1"
    with pytest.raises(ImproperlyConfigured, match="api_host"):
        DropboxStorage(**dropbox_server.options(api_host="https://host/path"))


def test_chunk_size_must_be_a_multiple_of_4_mib(dropbox_server):
    class Odd(DropboxStorage):
        CHUNK_SIZE = 5 * 1024 * 1024

    with pytest.raises(ImproperlyConfigured, match="CHUNK_SIZE"):
        Odd(**dropbox_server.options())

    class Bigger(DropboxStorage):
        CHUNK_SIZE = 8 * 1024 * 1024

    storage = Bigger(**dropbox_server.options())
    assert storage.part_size == storage.single_put_size == 8 * 1024 * 1024


def test_importing_the_backend_imports_no_sdk_and_a_missing_sdk_names_the_extra():
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['dropbox'] = None\n"
        "from django.conf import settings; settings.configure(); import django; django.setup()\n"
        "from storages.backends.dropbox import DropboxStorage\n"
        "storage = DropboxStorage('token')\n"
        "try:\n"
        "    storage.exists('x')\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("ImproperlyConfigured")
    assert "django-stowage[dropbox]" in out.stdout


def test_the_1_9_1_exception_name_is_the_same_class():
    assert backend.DropBoxStorageException is backend.DropboxStorageException
