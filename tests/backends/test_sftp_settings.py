"""Each SFTP setting, shown by its effect on the files sshd stores (read back with paramiko)."""

from __future__ import annotations

import stat
import subprocess
import uuid

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile
from django.test import override_settings

from storages.backends.sftpstorage import SFTPStorage
from storages.errors import AccessDenied, StorageError
from tests.servers.reference import fetch


@pytest.fixture
def raw(sshd):
    """A raw paramiko SFTP client logged in as root, to look at what the storage did."""
    client = sshd.raw()
    yield client
    client.close()
    client.ssh.close()


def mode_of(raw, path):
    return stat.S_IMODE(raw.stat(path).st_mode)


def settings_for(sshd, area, **extra):
    """The storage options as Django settings (the 1.9.1 way of configuring it)."""
    options = sshd.options(area)
    return {
        "SFTP_STORAGE_HOST": options["host"],
        "SFTP_STORAGE_PARAMS": options["params"],
        "SFTP_KNOWN_HOST_FILE": options["known_host_file"],
        "SFTP_STORAGE_ROOT": options["root_path"],
        **extra,
    }


# -- where files go: host, root, params, location -------------------------------------------


def test_every_setting_read_from_django_settings(sshd, sftp_area, raw):
    with override_settings(**settings_for(sshd, sftp_area, SFTP_STORAGE_FILE_MODE=0o600)):
        storage = SFTPStorage()
        try:
            assert storage.save("from-settings.txt", ContentFile(b"s")) == "from-settings.txt"
        finally:
            storage.close()
    assert raw.listdir(sftp_area) == ["from-settings.txt"]
    assert mode_of(raw, f"{sftp_area}/from-settings.txt") == 0o600


def test_missing_host_is_reported_at_first_use(sshd, sftp_area):
    options = sshd.options(sftp_area)
    del options["host"]
    storage = SFTPStorage(**options)
    with pytest.raises(ImproperlyConfigured, match="SFTP_STORAGE_HOST"):
        storage.exists("a.txt")


def test_host_option_wins_over_the_setting(sftp_storage, sftp_area, raw):
    with override_settings(SFTP_STORAGE_HOST="unreachable.invalid"):
        storage = sftp_storage()  # the fixture passes host="127.0.0.1"
        storage.save("a.txt", ContentFile(b"a"))
    assert raw.listdir(sftp_area) == ["a.txt"]


def test_root_path_holds_every_file(sftp_storage, sftp_area, raw):
    storage = sftp_storage(root_path=f"{sftp_area}/media/")  # trailing slash as 1.9.1 wanted
    storage.save("a/b.txt", ContentFile(b"x"))
    assert raw.listdir(sftp_area) == ["media"]
    assert raw.open(f"{sftp_area}/media/a/b.txt").read() == b"x"
    assert storage.listdir("") == (["a"], [])


def test_missing_root_is_created_with_its_parents(sftp_storage, sftp_area, raw):
    storage = sftp_storage(root_path=f"{sftp_area}/new/deeper")
    storage.save("f.txt", ContentFile(b"f"))
    assert stat.S_ISDIR(raw.stat(f"{sftp_area}/new/deeper").st_mode)
    assert raw.open(f"{sftp_area}/new/deeper/f.txt").read() == b"f"


def test_relative_and_empty_root_are_under_the_login_directory(sftp_storage, raw):
    home = raw.normalize(".")  # root's home inside the chroot: /root
    folder = f"rel-{uuid.uuid4().hex[:8]}"
    try:
        sftp_storage(root_path=folder).save("a.txt", ContentFile(b"rel"))
        assert raw.open(f"{home}/{folder}/a.txt").read() == b"rel"
        sftp_storage(root_path="").save(f"{folder}/b.txt", ContentFile(b"home"))
        assert sorted(raw.listdir(f"{home}/{folder}")) == ["a.txt", "b.txt"]
    finally:
        for name in raw.listdir(f"{home}/{folder}"):
            raw.remove(f"{home}/{folder}/{name}")
        raw.rmdir(f"{home}/{folder}")


def test_location_is_a_prefix_under_the_root(sftp_storage, sftp_area, raw):
    storage = sftp_storage(location="uploads/2024")
    assert storage.save("a.txt", ContentFile(b"a")) == "a.txt"
    assert raw.listdir(f"{sftp_area}/uploads/2024") == ["a.txt"]
    assert storage.url("a.txt").endswith("/uploads/2024/a.txt")


def test_params_choose_port_user_and_key(sshd, sftp_storage, sftp_area, raw):
    storage = sftp_storage(params=sshd.params())
    storage.save("who.txt", ContentFile(b"w"))
    assert raw.stat(f"{sftp_area}/who.txt").st_uid == 0  # written by the user of the params
    wrong_port = sftp_storage(params=sshd.params(port=1))
    with pytest.raises(StorageError, match=r"127\.0\.0\.1:1 .*SFTP_STORAGE_HOST"):
        wrong_port.exists("who.txt")


def test_params_with_a_key_the_server_refuses(sshd, sftp_storage, tmp_path):
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", other], check=True)
    storage = sftp_storage(params=sshd.params(key_filename=str(other)))
    mark = sshd.mark()
    with pytest.raises(AccessDenied, match="SFTP_STORAGE_PARAMS") as info:
        storage.exists("a.txt")
    assert isinstance(info.value, PermissionError)
    assert sshd.logins(since=mark) == 0


def test_params_are_checked(sshd, sftp_area):
    with pytest.raises(ImproperlyConfigured, match="hostname"):
        SFTPStorage(**sshd.options(sftp_area, params={"hostname": "x"}))
    with pytest.raises(ImproperlyConfigured, match="dict"):
        SFTPStorage(**sshd.options(sftp_area, params=[("port", 22)]))
    storage = SFTPStorage(**sshd.options(sftp_area, params=sshd.params(colour="blue")))
    with pytest.raises(ImproperlyConfigured, match="colour"):
        storage.exists("a.txt")


# -- modes and owners ------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [0o640, 0o666, 0o600])
def test_file_mode_is_set_on_saved_files(sftp_storage, sftp_area, raw, mode):
    # 0o666 shows the mode is set after creation: sshd's umask (022) would give 0o644.
    storage = sftp_storage(file_mode=mode)
    storage.save("m/a.txt", ContentFile(b"a"))
    assert mode_of(raw, f"{sftp_area}/m/a.txt") == mode


def test_file_mode_is_set_on_files_written_through_open(sftp_storage, sftp_area, raw):
    storage = sftp_storage(file_mode=0o604)
    with storage.open("w/a.txt", "wb") as handle:
        handle.write(b"x" * (3 * 1024 * 1024))  # several parts
    assert mode_of(raw, f"{sftp_area}/w/a.txt") == 0o604


def test_without_file_mode_the_server_default_applies(sftp_storage, sftp_area, raw):
    sftp_storage().save("d.txt", ContentFile(b"d"))
    assert mode_of(raw, f"{sftp_area}/d.txt") == 0o644  # 0o666 less sshd's umask


def test_dir_mode_is_set_on_every_created_directory(sftp_storage, sftp_area, raw):
    raw.mkdir(f"{sftp_area}/existing", 0o755)
    storage = sftp_storage(dir_mode=0o750)
    storage.save("existing/new/deeper/a.txt", ContentFile(b"a"))
    assert mode_of(raw, f"{sftp_area}/existing") == 0o755  # not created by the storage
    assert mode_of(raw, f"{sftp_area}/existing/new") == 0o750
    assert mode_of(raw, f"{sftp_area}/existing/new/deeper") == 0o750


def test_dir_mode_from_the_setting(sshd, sftp_area, raw):
    with override_settings(**settings_for(sshd, sftp_area, SFTP_STORAGE_DIR_MODE=0o700)):
        storage = SFTPStorage()
        storage.save("private/a.txt", ContentFile(b"a"))
        storage.close()
    assert mode_of(raw, f"{sftp_area}/private") == 0o700


def test_uid_and_gid_own_new_files_and_directories(sftp_storage, sftp_area, raw):
    storage = sftp_storage(uid=4321, gid=4322)
    storage.save("owned/a.txt", ContentFile(b"a"))
    for path in (f"{sftp_area}/owned", f"{sftp_area}/owned/a.txt"):
        attrs = raw.stat(path)
        assert (attrs.st_uid, attrs.st_gid) == (4321, 4322)
    with storage.open("owned/b.txt", "wb") as handle:
        handle.write(b"b")
    attrs = raw.stat(f"{sftp_area}/owned/b.txt")
    assert (attrs.st_uid, attrs.st_gid) == (4321, 4322)


def test_uid_alone_keeps_the_group(sftp_storage, sftp_area, raw):
    sftp_storage(uid=4321).save("u.txt", ContentFile(b"u"))
    attrs = raw.stat(f"{sftp_area}/u.txt")
    assert (attrs.st_uid, attrs.st_gid) == (4321, 0)
    sftp_storage(gid=4322).save("g.txt", ContentFile(b"g"))
    attrs = raw.stat(f"{sftp_area}/g.txt")
    assert (attrs.st_uid, attrs.st_gid) == (0, 4322)


def test_uid_and_gid_from_the_settings(sshd, sftp_area, raw):
    extra = {"SFTP_STORAGE_UID": 1234, "SFTP_STORAGE_GID": 5678}
    with override_settings(**settings_for(sshd, sftp_area, **extra)):
        storage = SFTPStorage()
        storage.save("s.txt", ContentFile(b"s"))
        storage.close()
    attrs = raw.stat(f"{sftp_area}/s.txt")
    assert (attrs.st_uid, attrs.st_gid) == (1234, 5678)


@pytest.mark.parametrize(
    "option,value",
    [
        ("file_mode", "644"),
        ("file_mode", 0o17777),
        ("dir_mode", True),
        ("uid", -1),
        ("gid", "staff"),
        ("host_key_policy", "accept"),
        ("known_host_file", 42),
        ("base_url", 3),
    ],
)
def test_bad_values_name_the_setting(sshd, sftp_area, option, value):
    with pytest.raises(ImproperlyConfigured, match=option):
        SFTPStorage(**sshd.options(sftp_area, **{option: value}))


# -- URLs ------------------------------------------------------------------------------------


def test_base_url_serves_the_files(sftp_storage, sftp_http, sftp_area):
    storage = sftp_storage()
    name = storage.save("dir/ü file+#?.txt", ContentFile(b"served"))
    url = storage.url(name)
    assert url == f"{sftp_http}{sftp_area.rsplit('/', 1)[1]}/dir/%C3%BC%20file%2B%23%3F.txt"
    assert fetch(url) == b"served"


def test_base_url_setting_then_media_url(sshd, sftp_area):
    options = sshd.options(sftp_area)
    with override_settings(SFTP_BASE_URL="https://files.example.com/m"):
        assert SFTPStorage(**options).url("a b.txt") == "https://files.example.com/m/a%20b.txt"
    with override_settings(MEDIA_URL="/media/"):
        assert SFTPStorage(**options).url("a.txt") == "/media/a.txt"
    storage = SFTPStorage(**options, base_url="https://cdn.example.com/")
    with override_settings(SFTP_BASE_URL="https://ignored.example.com/"):
        assert storage.url("a.txt") == "https://cdn.example.com/a.txt"


def test_base_url_follows_setting_changes(sshd, sftp_area):
    storage = SFTPStorage(**sshd.options(sftp_area))
    with override_settings(SFTP_BASE_URL="https://one.example.com/"):
        assert storage.url("a") == "https://one.example.com/a"
    with override_settings(SFTP_BASE_URL="https://two.example.com/"):
        assert storage.url("a") == "https://two.example.com/a"


def test_custom_domain_is_an_alias(sshd, sftp_area):
    storage = SFTPStorage(**sshd.options(sftp_area), custom_domain="cdn.example.com")
    assert storage.url("x/y.txt") == "https://cdn.example.com/x/y.txt"


def test_no_base_url_is_a_clear_error(sshd, sftp_area):
    with override_settings(SFTP_BASE_URL=None):
        storage = SFTPStorage(**sshd.options(sftp_area))
        with pytest.raises(ImproperlyConfigured, match="SFTP_BASE_URL"):
            storage.url("a.txt")
    storage = SFTPStorage(**sshd.options(sftp_area), base_url="")
    with pytest.raises(ImproperlyConfigured, match="SFTP_BASE_URL"):
        storage.url("a.txt")


# -- overwriting -----------------------------------------------------------------------------


def test_no_overwrite_by_default(sftp_storage, sftp_area, raw):
    storage = sftp_storage()
    first = storage.save("same.txt", ContentFile(b"1"))
    second = storage.save("same.txt", ContentFile(b"2"))
    assert first == "same.txt" and second != first
    assert raw.open(f"{sftp_area}/same.txt").read() == b"1"
    assert raw.open(f"{sftp_area}/{second}").read() == b"2"


def test_file_overwrite_replaces(sftp_storage, sftp_area, raw):
    storage = sftp_storage(file_overwrite=True, file_mode=0o640)
    storage.save("same.txt", ContentFile(b"1"))
    storage.save("same.txt", ContentFile(b"2"))
    assert raw.listdir(sftp_area) == ["same.txt"]
    assert raw.open(f"{sftp_area}/same.txt").read() == b"2"
    assert mode_of(raw, f"{sftp_area}/same.txt") == 0o640
