"""The core's file objects and its one part writer: modes, part uploads (from open() and from
save() alike), parallel parts, aborts, bounded memory, ranged reads."""

from __future__ import annotations

import gc
import io
import os
import threading
import tracemalloc

import pytest
from django.core.files import File
from django.core.files.base import ContentFile

from storages._upload import UploadBody, part_size_for
from storages.errors import StorageError
from storages.files import parse_mode
from tests.servers import wait_until
from tests.servers.reference import DirectoryStorage

HOOKS = (
    "_stat_key",
    "_read_key",
    "_put_key",
    "_begin_upload",
    "_upload_part",
    "_complete_upload",
    "_abort_upload",
)


class RecordingStorage(DirectoryStorage):
    """Records the primitive calls (the real directory work still happens)."""

    def _init_runtime(self):
        super()._init_runtime()
        self.calls = []
        self.lasts = []


def _recorder(hook):
    def record(self, *args):
        self.calls.append(hook)
        if hook == "_upload_part":
            self.lasts.append(args[-1])
        return getattr(DirectoryStorage, hook)(self, *args)

    return record


for _hook in HOOKS:
    setattr(RecordingStorage, _hook, _recorder(_hook))


@pytest.fixture
def storage(tmp_path):
    return RecordingStorage(root=str(tmp_path / "root"), part_size=1024)


@pytest.mark.parametrize("mode", ["r", "rb", "w", "wb", "r+", "rb+", "a", "ab", "x", "rt"])
def test_valid_modes_parse(mode):
    info = parse_mode(mode)
    assert info.read == ("r" in mode or "+" in mode)


@pytest.mark.parametrize("mode", ["", "rw", "rr", "q", "rbt", "wa"])
def test_invalid_modes_are_refused(mode):
    with pytest.raises(ValueError):
        parse_mode(mode)


@pytest.mark.parametrize("mode", ["ab", "r+", "xb"])
def test_modes_the_backend_cannot_do_are_unsupported(storage, mode):
    storage.save("m.txt", ContentFile(b"m"))
    with pytest.raises(io.UnsupportedOperation, match="RecordingStorage"):
        storage.open("m.txt", mode)


def test_small_write_is_one_put(storage):
    with storage.open("small.bin", "wb") as handle:
        handle.write(b"x" * 100)
    assert storage.calls == ["_put_key"]
    assert storage.path_of("small.bin").read_bytes() == b"x" * 100


@pytest.mark.parametrize("total", [5000, 4096])
def test_large_write_uploads_parts_and_completes(storage, total):
    data = os.urandom(total)
    with storage.open("large.bin", "wb") as handle:
        for start in range(0, len(data), 300):
            handle.write(data[start : start + 300])
    # Full parts of 1024 and the rest; an exact multiple still ends with a full last part.
    assert storage.calls.count("_upload_part") == -(-total // 1024)
    assert storage.calls[0] == "_begin_upload" and storage.calls[-1] == "_complete_upload"
    assert storage.lasts == [False] * (len(storage.lasts) - 1) + [True]
    assert storage.path_of("large.bin").read_bytes() == data


@pytest.mark.parametrize("seekable", [True, False])
def test_save_goes_through_the_same_parts(storage, seekable):
    data = os.urandom(5000)
    content = ContentFile(data) if seekable else File(OneShot(data))
    assert storage.save("saved.bin", content) == "saved.bin"
    assert storage.calls.count("_upload_part") == 5
    assert storage.calls[-1] == "_complete_upload"
    assert storage.path_of("saved.bin").read_bytes() == data


def test_a_body_up_to_the_single_put_size_is_one_request(tmp_path):
    storage = RecordingStorage(root=str(tmp_path / "root"), part_size=1024)
    storage.single_put_size = 4096
    storage.save("one.bin", ContentFile(os.urandom(4096)))
    assert storage.calls.count("_put_key") == 1 and "_begin_upload" not in storage.calls
    storage.calls.clear()
    data = os.urandom(4097)
    storage.save("two.bin", ContentFile(data))
    assert storage.calls.count("_upload_part") == 5
    assert storage.path_of("two.bin").read_bytes() == data


def test_parts_in_flight_are_bounded_and_stay_in_order(tmp_path):
    storage = RecordingStorage(root=str(tmp_path / "root"), part_size=1024, upload_concurrency=3)
    active, peak, lock = [0], [0], threading.Lock()
    release = threading.Event()

    def slow_part(target, state, number, data, last):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        release.wait(0.05)
        try:
            return DirectoryStorage._upload_part(storage, target, state, number, data, last)
        finally:
            with lock:
                active[0] -= 1

    storage._upload_part = slow_part
    data = os.urandom(20 * 1024 + 7)
    storage.save("parallel.bin", ContentFile(data))
    assert peak[0] == 3  # never more than upload_concurrency parts at once, and really parallel
    assert storage.path_of("parallel.bin").read_bytes() == data


def test_a_failed_part_aborts_the_upload_and_stores_nothing(tmp_path):
    storage = RecordingStorage(root=str(tmp_path / "root"), part_size=1024, upload_concurrency=2)

    def failing_part(target, state, number, data, last):
        if number == 3:
            raise ConnectionResetError("the network broke")
        return DirectoryStorage._upload_part(storage, target, state, number, data, last)

    storage._upload_part = failing_part
    with pytest.raises(StorageError, match="the network broke"):
        storage.save("broken.bin", ContentFile(os.urandom(10_000)))
    assert "_abort_upload" in storage.calls
    assert not storage.exists("broken.bin")
    assert not any(storage.uploads.iterdir())


def test_our_own_bugs_are_not_disguised_as_service_errors(tmp_path):
    storage = RecordingStorage(root=str(tmp_path / "root"), part_size=1024)

    def buggy_part(target, state, number, data, last):
        raise KeyError("a bug of ours")

    storage._upload_part = buggy_part
    with pytest.raises(KeyError):
        storage.save("bug.bin", ContentFile(os.urandom(3000)))
    assert "_abort_upload" in storage.calls


def test_an_exception_in_the_block_aborts_the_upload(storage):
    with pytest.raises(RuntimeError), storage.open("aborted.bin", "wb") as handle:
        handle.write(os.urandom(3000))
        raise RuntimeError("boom")
    assert "_abort_upload" in storage.calls
    assert not storage.exists("aborted.bin")
    assert not any(storage.uploads.iterdir())


def test_a_dropped_unclosed_file_stores_nothing(storage):
    handle = storage.open("dropped.bin", "wb")
    handle.write(os.urandom(3000))
    assert any(storage.uploads.iterdir())  # parts uploaded already
    del handle
    gc.collect()
    # The janitor thread aborts the upload, not the collection itself.
    wait_until(lambda: not any(storage.uploads.iterdir()), timeout=10, what="the abort")
    assert not storage.exists("dropped.bin")


class WatchedStream:
    """A download stream that notes which thread closes it."""

    def __init__(self, raw):
        self.raw = raw
        self.closed_in: list[str] = []

    def read(self, n=-1):
        return self.raw.read(n)

    def close(self):
        self.closed_in.append(threading.current_thread().name)
        self.raw.close()


@pytest.mark.parametrize("drop", [True, False])
def test_a_dropped_reader_releases_its_stream_in_the_janitor(storage, monkeypatch, drop):
    storage.save("r.bin", ContentFile(os.urandom(5000)))
    streams = []

    def watched(self, key, info, start):
        streams.append(WatchedStream(DirectoryStorage._read_key(self, key, info, start)))
        return streams[-1]

    monkeypatch.setattr(RecordingStorage, "_read_key", watched)
    handle = storage.open("r.bin", "rb")
    assert len(handle.read(10)) == 10
    if drop:
        del handle
        gc.collect()
        # Not inside the collection, which may have interrupted a holder of the pool's lock.
        wait_until(lambda: streams[0].closed_in, timeout=10, what="the stream's release")
        assert streams[0].closed_in == ["storages-janitor"]
    else:
        handle.close()  # an explicit close releases the stream at once, in the caller
        assert streams[0].closed_in == [threading.current_thread().name]


def test_text_mode_file_dropped_unclosed_stores_nothing(storage):
    handle = storage.open("dropped.txt", "w")
    handle.write("text")
    del handle
    gc.collect()
    assert not storage.exists("dropped.txt")


def test_write_memory_is_bounded_by_the_part_size(tmp_path):
    storage = DirectoryStorage(root=str(tmp_path / "root"), part_size=256 * 1024)
    block = os.urandom(1024 * 1024)
    tracemalloc.start()
    try:
        with storage.open("bounded.bin", "wb") as handle:
            for _ in range(24):
                handle.write(block)
                # DirectoryFile reads parts back to join them; the writer itself must stay small.
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert storage.size("bounded.bin") == 24 * len(block)
    assert peak < 4 * 1024 * 1024 + 24 * 256 * 1024


def test_part_size_grows_so_the_part_limit_holds_five_terabytes():
    sizes = [part_size_for(i, 5 * 1024**2, 10_000, 5 * 1024**3) for i in range(10_000)]
    assert sizes[0] == 5 * 1024**2
    assert max(sizes) <= 5 * 1024**3
    assert sum(sizes) >= 5 * 1000**4


def test_seek_reopens_the_range_stream(storage):
    data = os.urandom(3 * 1024 * 1024)  # larger than the 1 MiB read buffer
    storage.save("ranged.bin", ContentFile(data))
    handle = storage.open("ranged.bin")
    assert handle.read(10) == data[:10]
    handle.seek(2_500_000)
    assert handle.read(10) == data[2_500_000:2_500_010]
    assert storage.calls[-3:] == ["_stat_key", "_read_key", "_read_key"]
    handle.close()


def test_reading_past_the_end_returns_nothing(storage):
    storage.save("short.bin", ContentFile(b"abc"))
    with storage.open("short.bin") as handle:
        handle.seek(10)
        assert handle.read() == b""


def test_file_size_while_writing(storage):
    with storage.open("sizing.bin", "wb") as handle:
        handle.write(b"12345")
        assert handle.size == 5


class OneShot(io.RawIOBase):
    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, buffer) -> int:
        chunk = self._data.read(min(len(buffer), 100))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def test_upload_body_encodes_text_and_knows_sizes():
    body = UploadBody(ContentFile("héllo"))
    assert body.size is None  # characters are not bytes
    assert body.read() == "héllo".encode()
    assert UploadBody(ContentFile(b"12345")).size == 5


def test_upload_body_replays_a_non_seekable_stream():
    data = os.urandom(5000)
    body = UploadBody(File(OneShot(data)), replayable=True)
    assert body.read(1000) == data[:1000]
    body.rewind()
    assert body.read(-1) == data
    body.release()


def test_upload_body_without_replay_cannot_rewind():
    body = UploadBody(File(OneShot(b"abc")))
    with pytest.raises(io.UnsupportedOperation):
        body.rewind()


def test_create_only_conflict_picks_the_next_name_and_replays(tmp_path):
    class Racing(DirectoryStorage):
        """Another writer takes the name between our availability check and our write."""

        def is_name_available(self, name, max_length=None):
            if name == "r.txt":
                if not self.path_of("r.txt").exists():
                    self.path_of("r.txt").parent.mkdir(parents=True, exist_ok=True)
                    self.path_of("r.txt").write_bytes(b"the other writer")
                return True
            return super().is_name_available(name, max_length)

    storage = Racing(root=str(tmp_path / "root"))
    data = os.urandom(3000)
    name = storage.save("r.txt", File(OneShot(data)))
    assert name != "r.txt" and name.startswith("r_")
    assert storage.path_of(name).read_bytes() == data
    assert storage.path_of("r.txt").read_bytes() == b"the other writer"


def test_listdir_of_only_slashes_lists_the_root(storage):
    storage.save("top.txt", ContentFile(b"t"))
    storage.save("sub/inner.txt", ContentFile(b"i"))
    assert storage.listdir("/") == storage.listdir("") == (["sub"], ["top.txt"])
    assert storage.listdir("//") == (["sub"], ["top.txt"])


def test_a_single_put_limit_below_the_part_size_never_sends_an_empty_last_part(tmp_path):
    storage = RecordingStorage(root=str(tmp_path / "root"), part_size=1024)
    storage.single_put_size = 512
    data = os.urandom(1024)
    storage.save("exact.bin", ContentFile(data))
    assert storage.calls.count("_upload_part") == 1 and storage.lasts == [True]
    assert storage.path_of("exact.bin").read_bytes() == data


def test_a_storage_is_a_context_manager_that_closes_its_clients(tmp_path):
    with RecordingStorage(root=str(tmp_path / "root")) as storage:
        _ = storage.client
        assert storage._clients
    assert not storage._clients  # closed on leaving the block
