"""SFTP behaviour: confinement, streaming, create-only writes, connections (per thread, reused,
re-established after sshd restarts, closed on close() and at exit), times and errors."""

from __future__ import annotations

import gc
import io
import os
import subprocess
import sys
import textwrap
import threading
import tracemalloc
import weakref
from datetime import datetime, timezone
from pathlib import Path

import pytest
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import ContentFile, File
from django.test import override_settings

from storages.backends import sftpstorage
from storages.backends.sftpstorage import TEMP_PREFIX, SFTPStorage
from storages.errors import StorageError
from tests.servers import wait_until

MiB = 1024 * 1024
UNSAFE = ["../escape.txt", "a/../../escape.txt", "/etc/passwd", "/areas/x.txt", "a/b/../../../x"]


@pytest.fixture
def raw(sshd):
    client = sshd.raw()
    yield client
    client.close()
    client.ssh.close()


def everything_under(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


# -- confinement -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", UNSAFE)
def test_unsafe_names_never_reach_the_server(sshd, sftp_storage, sftp_area, name):
    storage = sftp_storage()
    storage.save("inside.txt", ContentFile(b"in"))
    before = everything_under(sshd.chroot)
    calls = [
        lambda: storage.save(name, ContentFile(b"evil")),
        lambda: storage.open(name, "wb"),
        lambda: storage.open(name, "w"),
        lambda: storage.open(name, "rb"),
        lambda: storage.exists(name),
        lambda: storage.size(name),
        lambda: storage.delete(name),
        lambda: storage.get_modified_time(name),
        lambda: storage.get_accessed_time(name),
        lambda: storage.listdir(name),
        lambda: storage.url(name),
    ]
    for call in calls:
        with pytest.raises(SuspiciousFileOperation):
            call()
    assert everything_under(sshd.chroot) == before


def test_the_root_itself_cannot_be_deleted(sftp_storage, sftp_area, raw):
    storage = sftp_storage()
    with pytest.raises(SuspiciousFileOperation):
        storage.delete("")
    assert raw.listdir(sftp_area) == []


def test_writing_through_open_stays_under_the_root(sshd, sftp_storage, sftp_area):
    storage = sftp_storage(location="loc")
    with storage.open("a/b.txt", "wb") as handle:
        handle.write(b"x")
    assert everything_under(sshd.local(sftp_area)) == ["loc", "loc/a", "loc/a/b.txt"]


# -- streaming -------------------------------------------------------------------------------


def test_every_write_call_lands(sftp_storage, sftp_area, raw):
    storage = sftp_storage()
    with storage.open("multi.bin", "wb") as handle:
        for i in range(50):
            handle.write(bytes([i]) * 100_000)  # 5 MB in 50 writes, several parts
    expected = b"".join(bytes([i]) * 100_000 for i in range(50))
    assert raw.open(f"{sftp_area}/multi.bin").read() == expected


def test_text_mode_writes_str(sftp_storage, sftp_area, raw):
    storage = sftp_storage()
    with storage.open("t.txt", "w") as handle:
        handle.write("première ligne\n")
        handle.write("second\n")
    assert raw.open(f"{sftp_area}/t.txt").read() == "première ligne\nsecond\n".encode()
    with storage.open("t.txt", "r") as handle:
        assert list(handle) == ["première ligne\n", "second\n"]


def test_no_partial_file_is_visible_while_writing(sftp_storage, sftp_area, raw):
    storage = sftp_storage()
    handle = storage.open("big.bin", "wb")
    handle.write(os.urandom(3 * MiB))  # past the part size: bytes are on the server already
    assert not storage.exists("big.bin")
    assert storage.listdir("") == ([], [])
    names = raw.listdir(sftp_area)
    assert len(names) == 1 and names[0].startswith(TEMP_PREFIX)
    handle.close()
    assert raw.listdir(sftp_area) == ["big.bin"]
    assert storage.size("big.bin") == 3 * MiB


def test_a_failed_write_leaves_nothing(sftp_storage, sftp_area, raw):
    storage = sftp_storage()
    with pytest.raises(RuntimeError), storage.open("failed.bin", "wb") as handle:
        handle.write(os.urandom(2 * MiB))
        raise RuntimeError("the view crashed")
    assert raw.listdir(sftp_area) == []

    class Exploding(io.RawIOBase):
        def readable(self):
            return True

        def readinto(self, buffer):
            raise OSError("the upload stream broke")

    with pytest.raises(OSError, match="broke"):
        storage.save("broken.bin", File(Exploding()))
    assert raw.listdir(sftp_area) == []


def test_reads_stream_with_bounded_memory(sftp_storage, sftp_area, raw):
    # Bounded by the requests in flight (2 MiB, paramiko's channel window) and the block read
    # ahead for small reads (1 MiB).
    size = 48 * MiB
    with raw.open(f"{sftp_area}/large.bin", "wb") as handle:
        handle.set_pipelined(True)
        for i in range(size // MiB):
            handle.write(bytes([i]) * MiB)
    storage = sftp_storage()
    tracemalloc.start()
    try:
        total = 0
        with storage.open("large.bin", "rb") as handle:
            for chunk in handle.chunks(256 * 1024):
                total += len(chunk)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert total == size
    assert peak < 8 * MiB, f"reading {size} bytes peaked at {peak} bytes"


def test_a_server_answering_less_than_asked_is_read_to_the_end(sftp_storage, monkeypatch):
    # Fault injected at the client seam: every read request leaves with a smaller length, so
    # the server answers fewer bytes than the reader asked for (as servers with a lower read
    # limit than OpenSSH's do).
    from paramiko.sftp import CMD_READ

    from storages.backends._sftp_files import IN_FLIGHT, REQUEST_SIZE

    limit = 40 * 1024
    data = os.urandom(3 * MiB + 5)
    storage = sftp_storage()
    storage.save("short.bin", ContentFile(data))
    sftp = storage.sftp
    send = sftp._async_request
    asked: list[int] = []

    def capped(fileobj, kind, *args):
        if kind == CMD_READ:
            handle, offset, length = args
            asked.append(length)
            args = (handle, offset, min(length, limit))
        return send(fileobj, kind, *args)

    monkeypatch.setattr(sftp, "_async_request", capped)
    with storage.open("short.bin", "rb") as handle:
        assert handle.read() == data
    assert asked[0] == REQUEST_SIZE
    # It learns to ask for what the server answers: only the requests in flight when the first
    # short answer came (and the rests asked for them) are larger.
    assert sum(1 for length in asked if length > limit) <= 3 * IN_FLIGHT
    assert asked[-1] <= limit


def test_saves_stream_with_bounded_memory(sftp_storage, sftp_area, raw):
    size = 24 * MiB

    class Generated(io.RawIOBase):
        """A non-seekable upload that is never in memory as a whole."""

        def __init__(self):
            self.left = size

        def readable(self):
            return True

        def readinto(self, buffer):
            n = min(len(buffer), self.left)
            buffer[:n] = b"z" * n
            self.left -= n
            return n

    storage = sftp_storage(file_overwrite=True)
    tracemalloc.start()
    try:
        storage.save("generated.bin", File(io.BufferedReader(Generated())))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert raw.stat(f"{sftp_area}/generated.bin").st_size == size
    assert peak < 8 * MiB, f"saving {size} bytes peaked at {peak} bytes"


def test_seek_reads_the_right_range(sftp_storage):
    data = os.urandom(3 * MiB)
    storage = sftp_storage()
    storage.save("s.bin", ContentFile(data))
    with storage.open("s.bin", "rb") as handle:
        handle.seek(2 * MiB + 5)
        assert handle.read(100) == data[2 * MiB + 5 : 2 * MiB + 105]
        handle.seek(7)
        assert handle.read(MiB) == data[7 : MiB + 7]


# -- create-only writes ----------------------------------------------------------------------


class Racing(File):
    """Content that runs ``action`` once, when the upload has read ``after`` bytes of it."""

    def __init__(self, data, after, action):
        super().__init__(io.BytesIO(data), "racing.bin")
        self.after, self.action, self.runs = after, action, 0

    def read(self, size=-1):
        if not self.runs and self.file.tell() >= self.after:
            self.runs += 1
            self.action()
        return self.file.read(size)


def _requests(storage, monkeypatch) -> list[str]:
    """Record the names of the SFTP requests ``storage`` sends from now on (client seam)."""
    import paramiko.sftp

    names = {
        v: k for k, v in vars(paramiko.sftp).items() if k.startswith("CMD_") and isinstance(v, int)
    }
    sftp = storage.sftp
    send = sftp._async_request
    sent: list[str] = []

    def recording(fileobj, kind, *args):
        sent.append(names.get(kind, str(kind)))
        return send(fileobj, kind, *args)

    monkeypatch.setattr(sftp, "_async_request", recording)
    return sent


def test_a_small_save_under_a_free_name_is_open_write_close_rename(sftp_storage, monkeypatch):
    storage = sftp_storage()
    storage.save("small/first.txt", ContentFile(b"1"))  # the directory exists from now on
    sent = _requests(storage, monkeypatch)
    assert storage.save("small/second.txt", ContentFile(b"2")) == "small/second.txt"
    # No look-up first: the create-only rename refuses a taken name by itself.
    assert sent == ["CMD_OPEN", "CMD_WRITE", "CMD_CLOSE", "CMD_RENAME"]


def test_a_small_save_under_a_taken_name_gets_a_free_one(sftp_storage, sftp_area, raw):
    storage = sftp_storage()
    storage.save("kept.txt", ContentFile(b"first"))
    name = storage.save("kept.txt", ContentFile(b"second"))
    assert name != "kept.txt" and name.startswith("kept_")
    assert raw.open(f"{sftp_area}/kept.txt").read() == b"first"
    assert raw.open(f"{sftp_area}/{name}").read() == b"second"
    assert sorted(raw.listdir(sftp_area)) == sorted(["kept.txt", name])  # no temporary file
    assert storage.get_available_name("kept.txt") not in ("kept.txt", name)  # still looks


def test_create_only_write_refuses_a_file_stored_meanwhile(sftp_storage, sftp_area, raw):
    def store_it_first():
        with raw.open(f"{sftp_area}/taken.txt", "wb") as handle:
            handle.write(b"original")

    storage = sftp_storage()
    # The name is free when save() checks it; another writer stores it before the rename.
    content = Racing(b"new", 0, store_it_first)
    name = storage.save("taken.txt", content)
    assert content.runs == 1 and name != "taken.txt"
    assert sorted(raw.listdir(sftp_area)) == sorted(["taken.txt", name])  # no temporary file
    assert raw.open(f"{sftp_area}/taken.txt").read() == b"original"
    assert raw.open(f"{sftp_area}/{name}").read() == b"new"


def test_racing_storages_in_separate_connections_keep_both(sftp_storage, sftp_area, raw):
    storages = [sftp_storage() for _ in range(3)]  # as three processes would
    barrier = threading.Barrier(3)
    names: list[str] = []

    def save(i):
        barrier.wait()
        names.append(storages[i].save("race.txt", ContentFile(f"writer {i}".encode())))

    threads = [threading.Thread(target=save, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(names)) == 3
    contents = sorted(raw.open(f"{sftp_area}/{n}").read() for n in names)
    assert contents == [b"writer 0", b"writer 1", b"writer 2"]


# -- connections -----------------------------------------------------------------------------


def sessions_become(sshd, count):
    wait_until(lambda: sshd.sessions() == count, timeout=10, what=f"{count} sshd sessions")


def test_one_connection_per_thread_reused(sshd, sftp_storage):
    storage = sftp_storage()
    mark = sshd.mark()
    for i in range(10):
        storage.save(f"f{i}.txt", ContentFile(b"x"))
        storage.exists(f"f{i}.txt")
    assert sshd.logins(since=mark) == 1
    threads = [
        threading.Thread(target=lambda: [storage.size("f1.txt") for _ in range(5)])
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sshd.logins(since=mark) == 4
    assert storage.sftp is storage.sftp  # the public paramiko client of this thread


def test_close_ends_every_connection(sshd, sftp_storage):
    sessions_become(sshd, 0)
    storage = sftp_storage()
    storage.exists("a")
    thread = threading.Thread(target=storage.exists, args=("a",))
    thread.start()
    thread.join()
    sessions_become(sshd, 2)
    storage.close()
    sessions_become(sshd, 0)
    assert storage.exists("a") is False  # usable again: it reconnects
    sessions_become(sshd, 1)


def test_connections_of_finished_threads_are_closed(sshd, sftp_storage):
    sessions_become(sshd, 0)
    storage = sftp_storage()
    for _ in range(3):
        thread = threading.Thread(target=storage.exists, args=("a",))
        thread.start()
        thread.join()
    storage.exists("a")  # a new connection closes those of threads that ended
    sessions_become(sshd, 1)


def test_a_with_block_closes_its_connections(sshd, sftp_area):
    sessions_become(sshd, 0)
    with SFTPStorage(**sshd.options(sftp_area)) as storage:
        storage.save("with.txt", ContentFile(b"inside"))
        transport = storage.sftp.get_channel().get_transport()
        worker = threading.Thread(target=storage.exists, args=("with.txt",))
        worker.start()
        worker.join()
        sessions_become(sshd, 2)  # this thread's and the worker's
    assert not transport.is_active()
    sessions_become(sshd, 0)
    assert (sshd.chroot / sftp_area.lstrip("/") / "with.txt").read_bytes() == b"inside"


def test_a_with_block_left_by_an_exception_closes_its_connections(sshd, sftp_area):
    sessions_become(sshd, 0)
    with pytest.raises(LookupError), SFTPStorage(**sshd.options(sftp_area)) as storage:
        storage.exists("a")
        transport = storage.sftp.get_channel().get_transport()
        raise LookupError("leaves the block")
    assert not transport.is_active()
    sessions_become(sshd, 0)


def test_garbage_collected_storage_closes_its_connections(sshd, sftp_area):
    sessions_become(sshd, 0)
    storage = SFTPStorage(**sshd.options(sftp_area))
    storage.exists("a")
    sessions_become(sshd, 1)
    del storage
    gc.collect()
    sessions_become(sshd, 0)


def collect_inside_the_session_lock(storage, forget) -> None:
    """Drop the last references to unclosed files and run the garbage collector while this
    thread holds the session's lock, as when a collection starts inside paramiko's request code.
    Fails (instead of hanging) if a finalizer waits for the lock."""
    lock = storage.sftp._lock

    def body():
        with lock:
            forget()
            gc.collect()

    thread = threading.Thread(target=body, daemon=True)
    # The connection belongs to this thread; the lock is what matters, so take it from another.
    thread.start()
    thread.join(timeout=20)
    assert not thread.is_alive(), "a finalizer waited for the session lock"


def test_unclosed_reader_collected_inside_a_request_does_not_hang(sftp_storage):
    storage = sftp_storage()
    storage.save("a.txt", ContentFile(b"0123456789"))
    files = [storage.open("a.txt")]
    assert files[0].read(3) == b"012"
    handle = weakref.ref(files[0]._reader._stream._stream._handle)  # the reader's paramiko file
    collect_inside_the_session_lock(storage, files.clear)
    # Put off, not freed: freeing it would make paramiko send a close request of its own.
    assert handle() is not None and not handle()._closed
    assert storage.exists("a.txt")  # the connection's next use closes and frees it
    assert handle() is None


def test_unclosed_writer_collected_inside_a_request_leaves_no_temp_file(
    sftp_storage, sftp_area, raw
):
    storage = sftp_storage()
    files = [storage.open("big.bin", "wb")]
    files[0].write(os.urandom(3 * MiB))  # past the part size: a temporary file exists
    assert raw.listdir(sftp_area)[0].startswith(TEMP_PREFIX)
    collect_inside_the_session_lock(storage, files.clear)
    storage.exists("big.bin")  # the connection's next use removes it
    assert raw.listdir(sftp_area) == []


def test_connections_close_at_interpreter_exit(sshd, sftp_area):
    script = textwrap.dedent(
        f"""
        import atexit, sys
        sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
        transports = []
        # Registered before the storage module: runs after its exit handler.
        atexit.register(lambda: print("alive" if any(t.is_active() for t in transports)
                                      else "closed", flush=True))
        import tests.conftest
        from storages.backends.sftpstorage import SFTPStorage
        storage = SFTPStorage(**{sshd.options(sftp_area)!r})
        storage.exists("a")
        transports.append(storage.sftp.get_channel().get_transport())
        print("connected", len(transports), flush=True)
        """
    )
    mark = sshd.mark()
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.stdout.split() == ["connected", "1", "closed"], result.stderr
    assert sshd.logins(since=mark) == 1
    sessions_become(sshd, 0)


def test_reconnects_after_sshd_restarts(sshd, sftp_storage):
    storage = sftp_storage()
    storage.save("before.txt", ContentFile(b"before"))
    sshd.restart()  # drops every connection, as a server restart does
    assert storage.open("before.txt").read() == b"before"
    storage.save("after.txt", ContentFile(b"after"))
    assert storage.listdir("")[1] == ["after.txt", "before.txt"]
    assert sshd.logins() == 1


def test_a_read_survives_a_restart(sshd, sftp_storage):
    data = os.urandom(5 * MiB)
    storage = sftp_storage()
    storage.save("long.bin", ContentFile(data))
    with storage.open("long.bin", "rb") as handle:
        first = handle.read(MiB + 17)
        sshd.restart()
        rest = handle.read()
    assert first + rest == data


def test_a_save_whose_connection_dropped_is_sent_again(sshd, sftp_storage, sftp_area, raw):
    storage = sftp_storage()
    data = os.urandom(2 * MiB)

    def network_goes_away():
        assert len(raw.listdir(sftp_area)) == 1  # the first part is in the temporary file
        storage.sftp.get_channel().get_transport().sock.close()

    # Read after the first part was sent; the last one then fails on the dead connection.
    content = Racing(data, 2 * MiB, network_goes_away)
    mark = sshd.mark()
    assert storage.save("resent.bin", content) == "resent.bin"
    assert content.runs == 1
    assert sshd.logins(since=mark) == 2
    assert raw.open(f"{sftp_area}/resent.bin").read() == data
    assert raw.listdir(sftp_area) == ["resent.bin"]  # the first attempt's temp file is gone


def test_unreachable_server_is_reported_and_recovered_from(sshd, sftp_storage):
    storage = sftp_storage()
    storage.save("a.txt", ContentFile(b"a"))
    sshd.stop()
    try:
        with pytest.raises(StorageError, match=rf"127\.0\.0\.1:{sshd.port}"):
            storage.exists("a.txt")
    finally:
        sshd.start()
    assert storage.exists("a.txt")


# -- times, listing, errors ------------------------------------------------------------------


def test_times_come_from_the_server(sftp_storage, sftp_area, raw):
    storage = sftp_storage()
    storage.save("t.txt", ContentFile(b"t"))
    raw.utime(f"{sftp_area}/t.txt", (1_000_000_000, 1_200_000_000))
    assert storage.get_accessed_time("t.txt") == datetime(
        2001, 9, 9, 1, 46, 40, tzinfo=timezone.utc
    )
    assert storage.get_modified_time("t.txt") == datetime(2008, 1, 10, 21, 20, tzinfo=timezone.utc)
    with override_settings(USE_TZ=False):
        assert storage.get_modified_time("t.txt").tzinfo is None
    with pytest.raises(NotImplementedError):
        storage.get_created_time("t.txt")
    with pytest.raises(FileNotFoundError):
        storage.get_accessed_time("missing.txt")


def test_listdir_reads_the_server_directory(sftp_storage, sftp_area, raw):
    raw.mkdir(f"{sftp_area}/made-outside")
    with raw.open(f"{sftp_area}/outside.txt", "w") as handle:
        handle.write(b"o")
    with raw.open(f"{sftp_area}/{TEMP_PREFIX}upload.part", "w") as handle:
        handle.write(b"partial")
    storage = sftp_storage()
    assert storage.listdir("") == (["made-outside"], ["outside.txt"])
    assert storage.listdir("made-outside") == ([], [])
    assert storage.listdir("no-such-dir") == ([], [])


def test_opening_a_directory_is_an_error(sftp_storage, raw, sftp_area):
    raw.mkdir(f"{sftp_area}/folder")
    with pytest.raises(OSError, match="directory"):
        sftp_storage().open("folder", "rb")


def test_missing_files(sftp_storage):
    storage = sftp_storage()
    for call in (storage.size, storage.open, storage.get_modified_time):
        with pytest.raises(FileNotFoundError):
            call("nothing.txt")
    storage.delete("nothing.txt")


# -- django-storages 1.9.1 compatibility -----------------------------------------------------


def test_positional_arguments_of_1_9_1(sshd, sftp_area, raw):
    options = sshd.options(sftp_area)
    storage = SFTPStorage(
        options["host"],
        options["params"],
        False,
        0o640,
        None,  # dir_mode: None means "use the setting"
        None,
        None,
        options["known_host_file"],
        sftp_area,
        "https://files.example.com/",
    )
    try:
        with override_settings(SFTP_STORAGE_DIR_MODE=0o711):
            storage.save("d/p.txt", ContentFile(b"p"))
        assert raw.stat(f"{sftp_area}/d").st_mode & 0o777 == 0o711
        assert raw.stat(f"{sftp_area}/d/p.txt").st_mode & 0o777 == 0o640
        assert storage.url("d/p.txt") == "https://files.example.com/d/p.txt"
        path, args, kwargs = storage.deconstruct()
        assert path == "storages.backends.sftpstorage.SFTPStorage"
        assert args == () and "params" not in kwargs and kwargs["root_path"] == sftp_area
    finally:
        storage.close()


def test_legacy_names_are_exported():
    assert sftpstorage.SFTPStorageFile is SFTPStorage.file_class
    assert set(sftpstorage.__all__) == {
        "HostKeyError",
        "SFTPStorage",
        "SFTPStorageFile",
        "UnknownHostKeyWarning",
    }
