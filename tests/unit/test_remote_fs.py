"""The file-server layer (storages._remote_fs) on a local directory: temporary files renamed
into place, create-only renames, directories, per-thread connections that are replaced when
they die, resumed reads, resent saves, and clean-ups put off while a request is in progress.

The "server" is a real directory; a connection is a small object that can be killed, which is
the only fault injected."""

from __future__ import annotations

import gc
import io
import os
import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile, File

from storages._remote_fs import (
    TEMP_PREFIX,
    RemoteFilesystem,
    checked_base_url,
    checked_mode,
    checked_root,
)
from storages.errors import StorageError
from storages.objects import ObjectInfo
from storages.settings import Setting

MiB = 1024 * 1024


class LocalConnection:
    """A "connection" to a local directory that can die."""

    opened: list[LocalConnection] = []

    def __init__(self) -> None:
        self.dead = False
        self.closed = False
        self.busy = False
        LocalConnection.opened.append(self)

    def check(self) -> None:
        if self.dead or self.closed:
            raise ConnectionResetError("the connection is gone")


class LocalFilesystem(RemoteFilesystem[LocalConnection]):
    """RemoteFilesystem's hooks over the local filesystem."""

    root_path = Setting(None, "", doc="The directory that plays the server.")
    base_url = Setting(None, None, doc="URL prefix.")
    dir_mode = Setting(None, None, doc="Mode of new directories.")
    file_mode = Setting(None, None, doc="Mode of new files.")

    def _configure(self) -> None:
        super()._configure()
        self._root = checked_root(self.root_path, "root_path")

    def _open_connection(self) -> LocalConnection:
        return LocalConnection()

    @staticmethod
    def _close_connection(conn: LocalConnection) -> None:
        conn.closed = True

    def _connection_alive(self, conn: LocalConnection) -> bool:
        return not (conn.dead or conn.closed)

    def _ping(self, conn: LocalConnection) -> None:
        conn.check()

    def _can_request_now(self, conn: LocalConnection) -> bool:
        return not conn.busy

    def _stat_path(self, conn: LocalConnection, path: str) -> ObjectInfo:
        conn.check()
        st = os.stat(path)
        modified = datetime.fromtimestamp(st.st_mtime, timezone.utc)
        is_dir = os.path.isdir(path)
        return ObjectInfo(st.st_size, modified, is_dir=is_dir, version=(st.st_size, st.st_mtime))

    def _open_reader(self, conn, path, info, start):
        conn.check()
        handle = open(path, "rb")  # noqa: SIM115 - closed by the core
        handle.seek(start)
        return Checked(conn, handle)

    def _open_write(self, conn, path):
        conn.check()
        return open(path, "wb")

    def _write_handle(self, conn, handle, data):
        conn.check()
        handle.write(data)

    def _close_handle(self, conn, handle):
        conn.check()
        handle.close()

    def _rename_no_replace(self, conn, src, dst):
        conn.check()
        os.link(src, dst)  # FileExistsError if dst exists, like OpenSSH's rename
        os.unlink(src)

    def _rename_replace(self, conn, src, dst):
        conn.check()
        os.replace(src, dst)

    def _remove(self, conn, path):
        conn.check()
        os.remove(path)

    def _mkdir(self, conn, path):
        conn.check()
        os.mkdir(path)

    def _list_entries(self, conn, path):
        conn.check()
        return [(entry.name, entry.is_dir(), None) for entry in os.scandir(path)]

    def _chmod(self, conn, path, mode):
        conn.check()
        os.chmod(path, mode)


class Checked:
    """A local file that fails like a network stream once its connection died."""

    def __init__(self, conn: LocalConnection, handle: io.BufferedReader) -> None:
        self.conn, self.handle = conn, handle

    def read(self, n: int = -1) -> bytes:
        self.conn.check()
        return self.handle.read(n)

    def close(self) -> None:
        self.handle.close()


@pytest.fixture
def make(tmp_path: Path):
    made = []
    LocalConnection.opened = []

    def build(**options):
        storage = LocalFilesystem(root_path=str(tmp_path / "root"), **options)
        made.append(storage)
        return storage

    yield build
    for storage in made:
        storage.close()


def names_in(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def test_saves_go_through_a_temporary_file_into_made_directories(make, tmp_path):
    storage = make(dir_mode=0o750, file_mode=0o640)
    assert storage.save("a/b/c.txt", ContentFile(b"abc")) == "a/b/c.txt"
    root = tmp_path / "root"
    assert names_in(root) == ["a", "a/b", "a/b/c.txt"]
    assert (root / "a" / "b").stat().st_mode & 0o777 == 0o750
    assert (root / "a" / "b" / "c.txt").stat().st_mode & 0o777 == 0o640
    assert storage.open("a/b/c.txt").read() == b"abc"


def test_create_only_saves_pick_a_new_name_and_overwrite_replaces(make, tmp_path):
    storage = make()
    storage.save("x.txt", ContentFile(b"1"))
    second = storage.save("x.txt", ContentFile(b"2"))
    assert second != "x.txt" and storage.open(second).read() == b"2"
    make(file_overwrite=True).save("x.txt", ContentFile(b"3"))
    assert (tmp_path / "root" / "x.txt").read_bytes() == b"3"
    assert not any(n.startswith(TEMP_PREFIX) for n in os.listdir(tmp_path / "root"))


def test_temporary_files_are_hidden_and_removed_on_failure(make, tmp_path):
    storage = make()
    handle = storage.open("big.bin", "wb")
    handle.write(b"x" * (2 * MiB))  # past one part: the temporary file exists
    assert os.listdir(tmp_path / "root")[0].startswith(TEMP_PREFIX)
    assert storage.listdir("") == ([], [])
    handle.discard()
    assert os.listdir(tmp_path / "root") == []


def test_an_operation_on_a_dead_connection_runs_once_more(make):
    storage = make()
    storage.save("a.txt", ContentFile(b"a"))
    first = LocalConnection.opened[-1]
    first.dead = True
    assert storage.size("a.txt") == 1
    assert len(LocalConnection.opened) == 2 and first.closed


def test_each_thread_has_a_connection_closed_when_the_thread_ended(make):
    storage = make()
    thread = threading.Thread(target=storage.exists, args=("a",))
    thread.start()
    thread.join()
    storage.exists("a")  # a new connection closes those of threads that ended
    assert [c.closed for c in LocalConnection.opened] == [True, False]


def test_a_collected_storage_closes_its_connections(make, tmp_path):
    storage = LocalFilesystem(root_path=str(tmp_path))
    storage.exists("a")
    del storage
    gc.collect()
    assert LocalConnection.opened[-1].closed


def test_a_read_resumes_on_a_new_connection_unless_the_file_changed(make, tmp_path):
    storage = make()
    data = os.urandom(3 * MiB)
    storage.save("r.bin", ContentFile(data))
    with storage.open("r.bin") as handle:
        first = handle.read(MiB)
        LocalConnection.opened[-1].dead = True
        assert first + handle.read() == data
    with storage.open("r.bin") as handle:
        handle.read(MiB)
        LocalConnection.opened[-1].dead = True
        (tmp_path / "root" / "r.bin").write_bytes(b"changed")
        with pytest.raises(StorageError, match="changed while it was being read"):
            handle.read()


def test_a_save_whose_connection_died_is_sent_again(make, tmp_path):
    storage = make()
    data = os.urandom(3 * MiB)

    class Dropping(File):
        drops = 0

        def read(self, size=-1):
            if self.file.tell() == 2 * MiB and not self.drops:
                self.drops += 1
                LocalConnection.opened[-1].dead = True  # the first part is on the "server"
            return self.file.read(size)

    content = Dropping(io.BytesIO(data), "s.bin")
    assert storage.save("s.bin", content) == "s.bin"
    assert content.drops == 1 and len(LocalConnection.opened) == 2
    assert os.listdir(tmp_path / "root") == ["s.bin"]  # the abandoned temporary file is gone
    assert (tmp_path / "root" / "s.bin").read_bytes() == data


def test_clean_ups_wait_while_a_request_is_in_progress(make, tmp_path):
    storage = make()
    files = [storage.open("w.bin", "wb")]
    files[0].write(b"x" * (2 * MiB))
    conn = LocalConnection.opened[-1]
    conn.busy = True  # as if the collector ran inside a request on this connection
    files.clear()
    gc.collect()
    assert os.listdir(tmp_path / "root")[0].startswith(TEMP_PREFIX)  # put off
    conn.busy = False
    storage.exists("w.bin")  # the connection's next use removes it
    assert os.listdir(tmp_path / "root") == []


def test_url_needs_a_base_url(make):
    assert make(base_url="https://x.example/m/").url("a b") == "https://x.example/m/a%20b"
    with pytest.raises(ImproperlyConfigured, match="base_url"):
        make().url("a")


def test_setting_checks():
    assert checked_root("/srv/media/", "r") == "/srv/media"
    assert checked_root(".", "r") == "" and checked_root(None, "r") == ""
    assert checked_mode(0o640, "m") == 0o640 and checked_mode(None, "m") is None
    assert checked_base_url("cdn.example.com", "u") == "https://cdn.example.com/"
    assert checked_base_url("/media", "u") == "/media/"
    for bad in (lambda: checked_root(3, "r"), lambda: checked_mode("644", "m")):
        with pytest.raises(ImproperlyConfigured):
            bad()
