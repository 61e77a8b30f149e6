"""SFTP host-key checking (SFTP_KNOWN_HOST_FILE, SFTP_HOST_KEY_POLICY), password logins and the
interactive prompt (SFTP_STORAGE_INTERACTIVE), and keeping the password secret."""

from __future__ import annotations

import io
import pickle
import pwd
import re
import stat
import subprocess
import threading
import warnings

import paramiko
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile
from django.core.signals import request_finished, request_started
from django.test import override_settings

from storages.backends import _sftp_connection
from storages.backends.sftpstorage import HostKeyError, SFTPStorage, UnknownHostKeyWarning
from storages.errors import AccessDenied


def host_fingerprint(sshd) -> str:
    out = subprocess.run(
        ["ssh-keygen", "-l", "-f", f"{sshd.host_key}.pub"], capture_output=True, check=True
    )
    return out.stdout.decode().split()[1]


def primary_group(password_user) -> int:
    return pwd.getpwnam(password_user[0]).pw_gid


def host_name(sshd) -> str:
    return f"[127.0.0.1]:{sshd.port}"


# -- host keys -------------------------------------------------------------------------------


def test_unknown_host_key_is_refused_by_default(sshd, sftp_storage, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    storage = sftp_storage(known_host_file=str(empty))
    mark = sshd.mark()
    with pytest.raises(HostKeyError) as info:
        storage.save("never.txt", ContentFile(b"x"))
    message = str(info.value)
    assert host_name(sshd) in message
    assert host_fingerprint(sshd) in message  # what to check with the server's administrator
    assert "SFTP_KNOWN_HOST_FILE" in message and str(empty) in message
    assert "SFTP_HOST_KEY_POLICY" in message
    assert isinstance(info.value, ImproperlyConfigured)
    assert sshd.logins(since=mark) == 0  # refused before logging in
    assert empty.read_text() == ""


def test_missing_known_hosts_file_refuses_too(sftp_storage, tmp_path):
    storage = sftp_storage(known_host_file=str(tmp_path / "absent"))
    with pytest.raises(HostKeyError, match="absent"):
        storage.exists("a.txt")
    assert not (tmp_path / "absent").exists()


def test_default_known_hosts_file_is_in_the_home_directory(sshd, sftp_area, monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    options = sshd.options(sftp_area)
    del options["known_host_file"]
    storage = SFTPStorage(**options)
    with pytest.raises(HostKeyError, match=str(tmp_path / ".ssh" / "known_hosts")):
        storage.exists("a.txt")
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "known_hosts").write_text(sshd.known_hosts.read_text())
    storage = SFTPStorage(**options)
    try:
        assert storage.exists("a.txt") is False
    finally:
        storage.close()


def test_known_host_file_setting(sshd, sftp_area, tmp_path):
    options = sshd.options(sftp_area)
    del options["known_host_file"]
    with override_settings(SFTP_KNOWN_HOST_FILE=str(sshd.known_hosts)):
        storage = SFTPStorage(**options)
        try:
            storage.save("ok.txt", ContentFile(b"ok"))
        finally:
            storage.close()
    with (
        override_settings(SFTP_KNOWN_HOST_FILE=str(tmp_path / "none")),
        pytest.raises(HostKeyError, match="none"),
    ):
        SFTPStorage(**options).exists("ok.txt")


def test_the_host_name_is_what_is_looked_up(sftp_storage):
    # The known-hosts file lists [127.0.0.1]:port; "localhost" is another name for the server.
    storage = sftp_storage(host="localhost")
    with pytest.raises(HostKeyError, match=r"\[localhost\]:"):
        storage.exists("a.txt")


def test_changed_host_key_is_refused_whatever_the_policy(sshd, sftp_storage, tmp_path):
    impostor = tmp_path / "impostor"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", impostor], check=True)
    kind, data = (impostor.with_suffix(".pub")).read_text().split()[:2]
    known = tmp_path / "known_hosts"
    known.write_text(f"{host_name(sshd)} {kind} {data}\n")
    for policy in ("reject", "add", "warn"):
        storage = sftp_storage(known_host_file=str(known), host_key_policy=policy)
        with pytest.raises(HostKeyError, match="changed") as info:
            storage.exists("a.txt")
        assert host_fingerprint(sshd) in str(info.value)
        assert "SFTP_KNOWN_HOST_FILE" in str(info.value)
    assert known.read_text() == f"{host_name(sshd)} {kind} {data}\n"


def test_add_policy_records_the_key(sshd, sftp_storage, tmp_path):
    known = tmp_path / "ssh" / "known_hosts"  # the folder does not exist yet either
    storage = sftp_storage(known_host_file=str(known), host_key_policy="add")
    storage.save("a.txt", ContentFile(b"a"))
    assert stat.S_IMODE(known.stat().st_mode) == 0o600
    recorded = paramiko.HostKeys(str(known))
    server_key = paramiko.Ed25519Key.from_private_key_file(str(sshd.host_key))
    assert recorded.check(host_name(sshd), server_key)
    # Another thread's connection finds it and does not record it twice.
    thread = threading.Thread(target=storage.exists, args=("a.txt",))
    thread.start()
    thread.join()
    assert len(known.read_text().splitlines()) == 1
    # And a strict storage now trusts the recorded key.
    strict = sftp_storage(known_host_file=str(known))
    assert strict.open("a.txt").read() == b"a"


def test_add_policy_from_the_setting(sftp_storage, tmp_path):
    known = tmp_path / "known_hosts"
    with override_settings(SFTP_HOST_KEY_POLICY="add"):
        storage = sftp_storage(known_host_file=str(known))
        storage.exists("a.txt")
    assert known.read_text().startswith("[127.0.0.1]:")


def test_warn_policy_accepts_with_a_warning(sshd, sftp_storage, tmp_path, caplog):
    known = tmp_path / "known_hosts"
    storage = sftp_storage(known_host_file=str(known), host_key_policy="warn")
    with pytest.warns(UnknownHostKeyWarning, match=re.escape(host_fingerprint(sshd))):
        storage.save("w.txt", ContentFile(b"w"))
    assert storage.exists("w.txt")
    assert not known.exists()  # nothing recorded
    assert any("warn" in r.getMessage() for r in caplog.records if r.name == "storages.sftp")


def test_a_paramiko_policy_object_is_accepted(sftp_storage, tmp_path):
    storage = sftp_storage(
        known_host_file=str(tmp_path / "none"), host_key_policy=paramiko.WarningPolicy()
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        storage.save("p.txt", ContentFile(b"p"))
    assert storage.exists("p.txt")


def test_unreadable_known_hosts_file_is_reported(sftp_storage, tmp_path):
    folder = tmp_path / "a-directory"
    folder.mkdir()
    storage = sftp_storage(known_host_file=str(folder))
    with pytest.raises(HostKeyError, match="known-hosts file"):
        storage.exists("a.txt")


# -- passwords and the interactive prompt ----------------------------------------------------


@pytest.fixture
def user_area(sshd, sftp_area, password_user):
    """The test's directory, owned by the password user."""
    import os

    _name, _password, uid = password_user
    os.chown(sshd.local(sftp_area), uid, primary_group(password_user))
    return sftp_area


@pytest.fixture
def prompt(monkeypatch):
    """Record password prompts and answer them; a terminal is attached (stdin is a tty)."""

    class Prompt:
        answers: list[str] = []
        asked: list[str] = []

    def fake_getpass(text: str = "Password: ", stream=None) -> str:
        Prompt.asked.append(text)
        return Prompt.answers.pop(0)

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("getpass.getpass", fake_getpass)
    monkeypatch.setattr("sys.stdin", Terminal())
    return Prompt


def user_params(sshd, password_user, **extra):
    name, _password, _uid = password_user
    params = sshd.params(username=name, **extra)
    del params["key_filename"]  # the user has no key: only a password can log it in
    return params


def test_password_in_params_logs_in(sshd, sftp_storage, user_area, password_user):
    name, password, uid = password_user
    storage = sftp_storage(
        root_path=user_area, params=user_params(sshd, password_user, password=password)
    )
    mark = sshd.mark()
    storage.save("mine.txt", ContentFile(b"m"))
    assert sshd.local(f"{user_area}/mine.txt").stat().st_uid == uid  # written as that user
    assert sshd.logins(name, since=mark) == 1


def test_interactive_prompts_once_and_reuses_the_password(
    sshd, sftp_storage, user_area, password_user, prompt
):
    name, password, uid = password_user
    prompt.answers = [password]
    storage = sftp_storage(
        root_path=user_area, params=user_params(sshd, password_user), interactive=True
    )
    storage.save("typed.txt", ContentFile(b"t"))
    assert prompt.asked == [f"Password for {name}@127.0.0.1:{sshd.port}: "]
    assert sshd.local(f"{user_area}/typed.txt").stat().st_uid == uid
    # Another thread connects with the password already typed: no second prompt.
    results = []
    thread = threading.Thread(target=lambda: results.append(storage.exists("typed.txt")))
    thread.start()
    thread.join()
    assert results == [True]
    assert len(prompt.asked) == 1
    # The typed password stays out of error messages, repr, deconstruct and pickles.
    assert password not in repr(storage) + repr(storage.deconstruct())
    assert password.encode() not in pickle.dumps(storage)


def test_interactive_from_the_setting(sshd, sftp_storage, user_area, password_user, prompt):
    prompt.answers = [password_user[1]]
    with override_settings(SFTP_STORAGE_INTERACTIVE=True):
        storage = sftp_storage(root_path=user_area, params=user_params(sshd, password_user))
        storage.save("s.txt", ContentFile(b"s"))
    assert len(prompt.asked) == 1


def test_a_wrong_typed_password_is_refused_and_not_shown(
    sshd, sftp_storage, user_area, password_user, prompt
):
    prompt.answers = ["Wrong-Secret-1234"]
    storage = sftp_storage(
        root_path=user_area, params=user_params(sshd, password_user), interactive=True
    )
    with pytest.raises(AccessDenied, match="typed at the prompt was refused") as info:
        storage.exists("a.txt")
    assert "Wrong-Secret-1234" not in str(info.value)
    prompt.answers = [password_user[1]]
    assert storage.exists("a.txt") is False
    assert len(prompt.asked) == 2


def test_no_prompt_without_the_setting(sshd, sftp_storage, user_area, password_user, prompt):
    storage = sftp_storage(root_path=user_area, params=user_params(sshd, password_user))
    with pytest.raises(AccessDenied, match="SFTP_STORAGE_PARAMS"):
        storage.exists("a.txt")
    assert prompt.asked == []


def test_no_prompt_when_params_have_a_password(
    sshd, sftp_storage, user_area, password_user, prompt
):
    params = user_params(sshd, password_user, password="Not-The-Password")
    storage = sftp_storage(root_path=user_area, params=params, interactive=True)
    with pytest.raises(AccessDenied) as info:
        storage.exists("a.txt")
    assert "Not-The-Password" not in str(info.value)
    assert "Not-The-Password" not in repr(storage) + repr(storage.deconstruct())
    assert b"Not-The-Password" not in pickle.dumps(storage)
    assert prompt.asked == []


def test_no_prompt_without_a_terminal(
    sshd, sftp_storage, user_area, password_user, prompt, monkeypatch
):
    monkeypatch.setattr("sys.stdin", io.StringIO())  # not a tty
    storage = sftp_storage(
        root_path=user_area, params=user_params(sshd, password_user), interactive=True
    )
    with pytest.raises(AccessDenied, match=r"SFTP_STORAGE_INTERACTIVE.*no terminal"):
        storage.exists("a.txt")
    assert prompt.asked == []


def test_no_prompt_during_a_web_request(sshd, sftp_storage, user_area, password_user, prompt):
    storage = sftp_storage(
        root_path=user_area, params=user_params(sshd, password_user), interactive=True
    )
    request_started.send(sender=None)
    try:
        with pytest.raises(AccessDenied, match="web request"):
            storage.exists("a.txt")
    finally:
        request_finished.send(sender=None)
    assert prompt.asked == []
    assert _sftp_connection.prompt_refusal() is None  # the request is over: prompting works


def test_no_prompt_outside_the_main_thread(sshd, sftp_storage, user_area, password_user, prompt):
    storage = sftp_storage(
        root_path=user_area, params=user_params(sshd, password_user), interactive=True
    )
    errors = []

    def work():
        try:
            storage.exists("a.txt")
        except AccessDenied as exc:
            errors.append(exc)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert len(errors) == 1 and "main thread" in str(errors[0])
    assert prompt.asked == []


def test_non_root_user_cannot_give_files_away(sshd, sftp_storage, user_area, password_user):
    password = password_user[1]
    params = user_params(sshd, password_user, password=password)
    storage = sftp_storage(root_path=user_area, params=params, uid=0)
    with pytest.raises(AccessDenied, match="SFTP_STORAGE_UID"):
        storage.save("given.txt", ContentFile(b"g"))
    assert list(sshd.local(user_area).iterdir()) == []  # neither the file nor its temp file
    # Its own group is fine.
    group = primary_group(password_user)
    storage = sftp_storage(root_path=user_area, params=params, gid=group)
    storage.save("kept.txt", ContentFile(b"k"))
    assert sshd.local(f"{user_area}/kept.txt").stat().st_gid == group


def test_permission_denied_is_a_permission_error(
    sshd, sftp_storage, sftp_area, user_area, password_user
):
    root_storage = sftp_storage()
    root_storage.save("secret/s.txt", ContentFile(b"s"))
    (sshd.local(sftp_area) / "secret").chmod(0o700)
    password = password_user[1]
    storage = sftp_storage(params=user_params(sshd, password_user, password=password))
    with pytest.raises(PermissionError):
        storage.open("secret/s.txt").read()
    with pytest.raises(PermissionError):
        storage.save("secret/t.txt", ContentFile(b"t"))
