"""Behaviour only the FTP backend has: streamed transfers, listings with and without MLSD,
connections per thread that survive the server dropping them, errors and secrets. What the
backend did is read back from the server's directory and from the commands it logged."""

from __future__ import annotations

import io
import logging
import os
import pickle
import select
import socket
import threading
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from urllib.parse import quote

import pytest
from django.core.exceptions import SuspiciousFileOperation
from django.core.files import File
from django.core.files.base import ContentFile

from storages.backends import _ftp_connection
from storages.backends.ftp import FTPStorage, FTPStorageException, FTPStorageFile
from storages.errors import StorageError
from tests.servers import wait_until
from tests.servers.ftp import PASSWORD

MiB = 1024 * 1024
ODD_NAMES = [
    "with space.txt",
    " leading space.txt",
    "trailing space .txt",
    "ünïcödé.txt",
    "日本語.txt",
    "semi;colon=eq.txt",
    "-dash.txt",
    "x -> y.txt",
]


def files_in(ftp_server, area):
    return sorted(p.name for p in ftp_server.local(area).iterdir())


def command_control(storage):
    """Return this thread's idle control connection (the one commands go through)."""
    return storage.client.conn._idle[-1]


def test_open_for_writing_streams_one_stor_and_never_shows_half_a_file(
    ftp_server, ftp_storage, ftp_area
):
    storage = ftp_storage()
    data = os.urandom(12 * MiB)
    mark = ftp_server.mark()
    with storage.open("big.bin", "wb") as handle:
        assert isinstance(handle, FTPStorageFile)
        handle.write(data[: 6 * MiB])

        def temp_growing():
            temps = [p for p in ftp_server.local(ftp_area).iterdir() if p.name != "big.bin"]
            return bool(temps) and temps[0].stat().st_size > MiB

        wait_until(temp_growing, timeout=10, what="the upload's temporary file")
        assert not ftp_server.local(f"{ftp_area}/big.bin").exists()
        assert storage.listdir("") == ([], [])  # the temporary file is hidden
        handle.write(data[6 * MiB :])
    assert ftp_server.local(f"{ftp_area}/big.bin").read_bytes() == data
    verbs = [c.split()[0] for c in ftp_server.commands(mark, "plain")]
    assert verbs.count("STOR") == 1 and verbs.count("RNTO") == 1


def test_memory_stays_bounded_while_writing(ftp_storage):
    storage = ftp_storage()
    chunk = os.urandom(MiB)
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        with storage.open("bounded.bin", "wb") as handle:
            for _ in range(24):
                handle.write(chunk)
        peak = tracemalloc.get_traced_memory()[1] - baseline
    finally:
        tracemalloc.stop()
    assert storage.size("bounded.bin") == 24 * MiB
    assert peak < 8 * MiB


def test_save_of_a_stream_and_an_aborted_write_leave_no_partial_file(
    ftp_server, ftp_storage, ftp_area
):
    storage = ftp_storage()
    data = os.urandom(3 * MiB + 7)
    assert storage.save("piped.bin", File(io.BufferedReader(io.BytesIO(data)))) == "piped.bin"
    assert storage.open("piped.bin").read() == data
    with pytest.raises(RuntimeError), storage.open("aborted.bin", "wb") as handle:
        handle.write(data)
        raise RuntimeError("the view failed")
    assert files_in(ftp_server, ftp_area) == ["piped.bin"]


def test_text_modes(ftp_storage):
    storage = ftp_storage()
    with storage.open("text.txt", "w") as handle:
        handle.write("héllo\nwörld\n")
    with storage.open("text.txt", "r") as handle:
        assert handle.readlines() == ["héllo\n", "wörld\n"]
    assert storage.open("text.txt", "rb").read() == "héllo\nwörld\n".encode()


def test_seek_reopens_the_download_with_rest(ftp_server, ftp_storage):
    storage = ftp_storage()
    data = os.urandom(3 * MiB)
    storage.save("seek.bin", ContentFile(data))
    mark = ftp_server.mark()
    with storage.open("seek.bin") as handle:
        assert handle.read(10) == data[:10]
        handle.seek(2_000_000)
        assert handle.read() == data[2_000_000:]
    commands = ftp_server.commands(mark, "plain")
    assert "REST 2000000" in commands
    assert sum(1 for c in commands if c.startswith("RETR")) == 2


def test_a_file_replaced_while_open_is_not_read_mixed(ftp_server, ftp_storage, ftp_area):
    storage = ftp_storage()
    storage.save("changing.bin", ContentFile(b"a" * 3 * MiB))
    with storage.open("changing.bin") as handle:
        assert handle.read(1) == b"a"
        # Replaced by another writer (same size, same second: a new file all the same).
        replacement = ftp_server.local(f"{ftp_area}/replacement.bin")
        replacement.write_bytes(b"b" * 3 * MiB)
        replacement.rename(ftp_server.local(f"{ftp_area}/changing.bin"))
        handle.seek(2 * MiB)
        with pytest.raises(StorageError, match="changed"):
            handle.read()


def test_a_partial_read_leaves_the_connection_usable(ftp_server, ftp_storage):
    storage = ftp_storage()
    storage.save("partial.bin", ContentFile(os.urandom(4 * MiB)))
    mark = ftp_server.mark()
    for _ in range(3):
        with storage.open("partial.bin") as handle:
            handle.read(100)
    assert storage.exists("partial.bin")
    assert storage.listdir("") == ([], ["partial.bin"])
    assert ftp_server.logins(mark) == 0


def test_commands_and_a_second_transfer_while_a_file_is_read(ftp_storage):
    storage = ftp_storage()
    data = os.urandom(2 * MiB + 3)
    storage.save("source.bin", ContentFile(data))
    with storage.open("source.bin") as source, storage.open("copy.bin", "wb") as target:
        target.write(source.read(MiB))
        assert storage.exists("source.bin") and storage.size("source.bin") == len(data)
        target.write(source.read())
    assert storage.open("copy.bin").read() == data


def test_size_by_size_in_binary_mode_and_times_by_mdtm_without_mlst(
    ftp_server, ftp_storage, ftp_area
):
    storage = ftp_storage(listener="legacy")
    storage.save("sized.bin", ContentFile(b"x" * 1234))
    os.utime(ftp_server.local(f"{ftp_area}/sized.bin"), (1_700_000_000, 1_700_000_000))
    mark = ftp_server.mark()
    assert storage.size("sized.bin") == 1234
    assert storage.get_modified_time("sized.bin") == datetime.fromtimestamp(
        1_700_000_000, timezone.utc
    )
    commands = ftp_server.commands(mark, "legacy")
    assert any(c.startswith("SIZE ") for c in commands)
    assert any(c.startswith("MDTM ") for c in commands)
    assert "TYPE A" not in ftp_server.commands(0, "legacy")


def test_times_by_mlst(ftp_server, ftp_storage, ftp_area):
    storage = ftp_storage()
    storage.save("timed.txt", ContentFile(b"t"))
    os.utime(ftp_server.local(f"{ftp_area}/timed.txt"), (1_600_000_000, 1_600_000_000))
    mark = ftp_server.mark()
    assert storage.get_modified_time("timed.txt") == datetime.fromtimestamp(
        1_600_000_000, timezone.utc
    )
    assert [c.split()[0] for c in ftp_server.commands(mark, "plain")] == ["MLST"]


@pytest.mark.parametrize("listener,verb", [("plain", "MLSD"), ("legacy", "LIST")])
def test_listdir_keeps_names_with_spaces_and_non_ascii(ftp_server, ftp_storage, listener, verb):
    storage = ftp_storage(listener=listener, encoding="utf-8" if listener == "legacy" else None)
    if listener == "legacy":
        # Through a Latin-1 server only Latin-1 names survive: make them on its disk instead.
        storage = ftp_storage(listener=listener)
    names = [n for n in ODD_NAMES if listener == "plain" or _latin1(n)]
    for name in names:
        storage.save(name, ContentFile(b"x"))
        storage.save(f"dir with space/sub dir {name}/f.txt", ContentFile(b"y"))
    mark = ftp_server.mark()
    dirs, files = storage.listdir("")
    assert files == sorted(names)
    assert dirs == ["dir with space"]
    assert storage.listdir("dir with space")[0] == sorted(f"sub dir {n}" for n in names)
    assert verb in [c.split()[0] for c in ftp_server.commands(mark, listener)]


def _latin1(name):
    try:
        name.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


@pytest.mark.parametrize("listener", ["plain", "legacy"])
def test_listdir_of_a_thousand_names(ftp_server, ftp_storage, ftp_area, listener):
    for i in range(1000):
        (ftp_server.local(ftp_area) / f"file {i:04d}.txt").write_bytes(b"")
    assert storage_files(ftp_storage(listener=listener)) == [
        f"file {i:04d}.txt" for i in range(1000)
    ]


def storage_files(storage):
    return storage.listdir("")[1]


def test_nested_directories_are_made_one_level_at_a_time(ftp_server, ftp_storage, ftp_area):
    mark = ftp_server.mark()
    ftp_storage().save("a/b c/d/e.txt", ContentFile(b"e"))
    assert ftp_server.local(f"{ftp_area}/a/b c/d/e.txt").read_bytes() == b"e"
    made = [c[4:] for c in ftp_server.commands(mark, "plain") if c.startswith("MKD ")]
    for level in ("a", "a/b c", "a/b c/d"):
        assert f"{ftp_area}/{level}" in made


@pytest.mark.parametrize(
    "name", ["/etc/passwd", "../escape.txt", "a/../../escape.txt", "a\\..\\..\\escape.txt"]
)
def test_names_stay_under_the_location(ftp_server, ftp_storage, ftp_area, name):
    storage = ftp_storage()
    before = files_in(ftp_server, "/")
    with pytest.raises(SuspiciousFileOperation):
        storage.save(name, ContentFile(b"x"))
    with pytest.raises(SuspiciousFileOperation):
        storage.open(name, "wb")
    assert files_in(ftp_server, "/") == before
    assert files_in(ftp_server, ftp_area) == []


def test_names_with_line_breaks_are_refused(ftp_storage):
    storage = ftp_storage()
    with pytest.raises(SuspiciousFileOperation, match="line break"):
        storage.save("a\r\nDELE x.txt", ContentFile(b"x"))
    assert not storage.exists("a\nb")


def test_one_connection_per_thread_reused(ftp_server, ftp_storage):
    storage = ftp_storage()
    mark = ftp_server.mark()
    for i in range(10):
        name = storage.save(f"reuse/{i}.txt", ContentFile(b"r"))
        assert storage.open(name).read() == b"r"
        storage.exists(name)
    assert ftp_server.logins(mark) == 1


def test_an_idle_connection_is_checked_with_noop(ftp_server, ftp_storage, monkeypatch):
    monkeypatch.setattr(_ftp_connection, "NOOP_AFTER_IDLE", 0.05)
    storage = ftp_storage()
    storage.exists("a")
    control = command_control(storage)
    wait_until(lambda: _ftp_connection.time.monotonic() - control.last_used > 0.1, timeout=5)
    mark = ftp_server.mark()
    storage.exists("a")
    assert [c.split()[0] for c in ftp_server.commands(mark, "plain")] == ["NOOP", "MLST"]


def test_the_servers_idle_timeout_never_reaches_the_user(ftp_server, ftp_storage):
    storage = ftp_storage(listener="idle")
    storage.save("before.txt", ContentFile(b"1"))
    sock = command_control(storage).ftp.sock
    # The server closes the control connection after a second of silence (its 421 notice).
    wait_until(lambda: bool(select.select([sock], [], [], 0)[0]), timeout=10, what="the kick")
    mark = ftp_server.mark()
    assert storage.save("after.txt", ContentFile(b"2")) == "after.txt"
    assert storage.listdir("") == ([], ["after.txt", "before.txt"])
    assert ftp_server.logins(mark, "idle") == 1


def test_a_connection_that_died_unnoticed_is_replaced_once(ftp_server, ftp_storage, monkeypatch):
    storage = ftp_storage()
    storage.save("kept.txt", ContentFile(b"k"))
    control = command_control(storage)
    # Fault injection: the network drops the connection, and the liveness check misses it.
    monkeypatch.setattr(_ftp_connection.Control, "usable", lambda self: True)
    control.ftp.sock.shutdown(socket.SHUT_RDWR)
    mark = ftp_server.mark()
    assert storage.exists("kept.txt")
    assert storage.open("kept.txt").read() == b"k"
    assert ftp_server.logins(mark) == 1


def open_sessions(ftp_server, since):
    """Return the client addresses of FTP sessions the server opened since log offset
    ``since`` and has not seen closed yet (its own log: the server's side of the story)."""
    text = ftp_server.process.log_path.read_bytes()[since:].decode("utf-8", "replace")
    opened, closed = set(), set()
    for line in text.splitlines():
        fields = line.split()
        address = fields[1].split("-[")[0] if len(fields) > 1 else ""
        if "FTP session opened" in line:
            opened.add(address)
        elif "FTP session closed" in line:
            closed.add(address)
    return opened - closed


def test_disconnect_closes_the_connections_of_every_thread(ftp_server, ftp_storage):
    mark = ftp_server.mark()
    storage = ftp_storage()
    storage.exists("a")
    worker = threading.Thread(target=storage.exists, args=("a",))
    worker.start()
    worker.join()
    control = command_control(storage)
    wait_until(lambda: len(open_sessions(ftp_server, mark)) == 2, timeout=10, what="2 sessions")
    storage.disconnect()
    assert control.ftp.sock is None  # ftplib's side: the control socket is gone
    wait_until(lambda: not open_sessions(ftp_server, mark), timeout=10, what="no session")
    assert storage.save("after.txt", ContentFile(b"again")) == "after.txt"  # reconnects
    assert len(open_sessions(ftp_server, mark)) == 1


def test_a_with_block_closes_its_connections(ftp_server, ftp_storage, ftp_area):
    mark = ftp_server.mark()
    options = {"location": ftp_server.url(ftp_area), "base_url": ftp_server.http_url}
    with FTPStorage(**options) as storage:
        storage.save("with.txt", ContentFile(b"inside"))
        sock = command_control(storage).ftp.sock
        wait_until(lambda: len(open_sessions(ftp_server, mark)) == 1, timeout=10, what="1 session")
    assert sock.fileno() == -1
    wait_until(lambda: not open_sessions(ftp_server, mark), timeout=10, what="no session")
    assert ftp_server.local(f"{ftp_area}/with.txt").read_bytes() == b"inside"
    with pytest.raises(LookupError), FTPStorage(**options) as storage:
        storage.exists("with.txt")
        raise LookupError("leaves the block")
    wait_until(lambda: not open_sessions(ftp_server, mark), timeout=10, what="no session")


def test_eight_threads_share_one_storage(ftp_server, ftp_storage):
    storage = ftp_storage()
    mark = ftp_server.mark()

    def work(worker: int) -> None:
        for i in range(5):
            body = os.urandom(100_000 + worker * 1000 + i)
            name = storage.save(f"t{worker}/f{i}.bin", ContentFile(body))
            assert storage.open(name).read() == body
            assert storage.size(name) == len(body)
        assert storage.listdir(f"t{worker}")[1] == [f"f{i}.bin" for i in range(5)]
        storage.delete(f"t{worker}/f0.bin")
        assert not storage.exists(f"t{worker}/f0.bin")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(work, range(8)))  # re-raises what a thread raised
    assert storage.listdir("")[0] == [f"t{n}" for n in range(8)]
    # A connection per thread (and one more for a file read while another is open).
    assert ftp_server.logins(mark) <= 16


def test_errors(ftp_storage, ftp_server):
    storage = ftp_storage(location=ftp_server.url("/"))
    with pytest.raises(PermissionError) as info:
        storage.save("readonly/new.txt", ContentFile(b"x"))
    assert isinstance(info.value, FTPStorageException)
    with pytest.raises(PermissionError):
        storage.delete("readonly/kept.txt")
    assert ftp_server.local("readonly/kept.txt").exists()
    for call in (storage.open, storage.size, storage.get_modified_time):
        with pytest.raises(FileNotFoundError) as missing:
            call("readonly/missing.txt")
        assert isinstance(missing.value, FTPStorageException)


def test_the_password_never_shows(ftp_server, ftp_storage, caplog):
    caplog.set_level(logging.DEBUG)
    storage = ftp_storage()
    storage.save("secret.txt", ContentFile(b"s"))
    texts = [repr(storage), str(storage), repr(storage.deconstruct()), repr(storage.server)]
    blob = pickle.dumps(storage)
    try:
        storage.size("missing.txt")
    except FileNotFoundError as exc:
        texts.append(str(exc))
    wrong = ftp_storage(location=ftp_server.url("/", password=PASSWORD + "x"))
    with pytest.raises(PermissionError) as info:
        wrong.exists("x")
    texts += [str(info.value), repr(wrong), caplog.text]
    for secret in (PASSWORD, quote(PASSWORD, safe="")):
        assert secret.encode() not in blob
        for text in texts:
            assert secret not in text
    assert "********" in repr(storage)


def test_a_pickled_storage_works_again(ftp_storage):
    storage = ftp_storage()
    storage.save("p.txt", ContentFile(b"p"))
    copy = pickle.loads(pickle.dumps(storage))
    try:
        assert copy.open("p.txt").read() == b"p"
        assert copy.save("p.txt", ContentFile(b"q")) != "p.txt"
    finally:
        copy.close()


def test_overwrite_policy_without_mlst(ftp_server, ftp_storage, ftp_area):
    storage = ftp_storage(listener="legacy")
    assert storage.save("dir/a.txt", ContentFile(b"1")) == "dir/a.txt"
    second = storage.save("dir/a.txt", ContentFile(b"2"))
    assert second != "dir/a.txt" and storage.open(second).read() == b"2"
    ftp_storage(listener="legacy", file_overwrite=True).save("dir/a.txt", ContentFile(b"3"))
    assert ftp_server.local(f"{ftp_area}/dir/a.txt").read_bytes() == b"3"
    assert storage.exists("dir") and not storage.exists("dir/none.txt")
    assert sorted(files_in(ftp_server, f"{ftp_area}/dir")) == sorted(["a.txt", second[4:]])
