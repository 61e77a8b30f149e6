"""scan() on SFTP, FTP and Libcloud: one listing per directory (SFTP, FTP) or one paged listing
(Libcloud) tells each file's size and time, so no file is stat'ed; the records equal what a
stat tells, so reads pinned to them work. Requests are counted at the SDK's client seam."""

from __future__ import annotations

import ftplib
from collections import Counter
from typing import Any

import pytest
from django.core.files.base import ContentFile

NAMES = ["top.txt", "a/one.txt", "a/two.txt", "a/b/three.txt", "c/four.txt"]
#: The directories a walk lists: the root, a, a/b, c.
DIRECTORIES = 4


def fill(storage: Any) -> None:
    for name in NAMES:
        storage.save(name, ContentFile(name.encode() * 3))


def counting(monkeypatch: pytest.MonkeyPatch, cls: type, names: list[str]) -> Counter[str]:
    """Count calls of ``cls``'s methods ``names`` (the calls still reach the server)."""
    calls: Counter[str] = Counter()
    for name in names:
        original = getattr(cls, name)

        def counted(
            self: Any, *args: Any, _name: str = name, _original: Any = original, **kwargs: Any
        ) -> Any:
            calls[_name] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(cls, name, counted)
    return calls


def check_records(storage: Any, found: dict[str, Any]) -> None:
    assert sorted(found) == sorted(NAMES)
    for name, info in found.items():
        stat = storage._file_info(storage._key(name), name)
        assert (info.size, info.modified, info.version) == (stat.size, stat.modified, stat.version)
        assert storage.open(name).read() == name.encode() * 3


def test_sftp_scan_lists_each_directory_once(sftp_storage, monkeypatch):
    import paramiko

    storage = sftp_storage()
    fill(storage)
    calls = counting(monkeypatch, paramiko.SFTPClient, ["listdir_attr", "stat", "lstat"])

    found = dict(storage.scan())

    assert calls == {"listdir_attr": DIRECTORIES}  # the walk of old made 5 stats more
    check_records(storage, found)


def test_ftp_scan_lists_each_directory_once(ftp_storage, monkeypatch):
    storage = ftp_storage()
    fill(storage)
    commands: Counter[str] = Counter()
    original = ftplib.FTP.putcmd

    def putcmd(self: Any, line: str) -> None:
        commands[line.split(" ", 1)[0].upper()] += 1
        original(self, line)

    monkeypatch.setattr(ftplib.FTP, "putcmd", putcmd)

    found = dict(storage.scan())

    assert commands["MLSD"] == DIRECTORIES
    assert not {"MLST", "SIZE", "MDTM"} & set(commands)
    check_records(storage, found)


def test_libcloud_scan_is_one_listing(libcloud_local, monkeypatch):
    storage = libcloud_local()
    fill(storage)
    driver = type(storage.client)
    calls = counting(monkeypatch, driver, ["iterate_container_objects", "get_object"])

    found = dict(storage.scan())

    assert calls == {"iterate_container_objects": 1}
    assert sorted(found) == sorted(NAMES)
    for name, info in found.items():
        stat = storage._file_info(storage._key(name), name)
        assert (info.size, info.version) == (stat.size, stat.version)
    assert dict(storage.scan("a")).keys() == {"a/one.txt", "a/two.txt", "a/b/three.txt"}


def test_dropbox_scan_is_one_recursive_listing(dropbox_storage, monkeypatch):
    import dropbox

    storage = dropbox_storage()
    storage.list_page_size = 2  # several pages
    fill(storage)
    storage.save("Mixed/Case/Name.TXT", ContentFile(b"cased"))
    calls = counting(
        monkeypatch,
        dropbox.Dropbox,
        ["files_list_folder", "files_list_folder_continue", "files_get_metadata"],
    )

    found = dict(storage.scan())

    assert calls["files_list_folder"] == 1 and "files_get_metadata" not in calls
    assert calls["files_list_folder_continue"] >= 3  # every page was read
    assert sorted(found) == sorted([*NAMES, "Mixed/Case/Name.TXT"])
    for name, info in found.items():
        stat = storage._file_info(storage._key(name), name)
        assert (info.size, info.modified, info.version) == (stat.size, stat.modified, stat.version)
    assert sorted(dict(storage.scan("a"))) == ["a/b/three.txt", "a/one.txt", "a/two.txt"]
    assert dict(storage.scan("missing")) == {}
