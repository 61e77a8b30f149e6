"""The streaming file base: modes, part uploads, aborts, bounded memory, ranged reads."""

from __future__ import annotations

import gc
import io
import os
import threading
import tracemalloc

import pytest
from django.core.files import File
from django.core.files.base import ContentFile

from storages.files import StorageFile, UploadBody, parse_mode
from tests.servers import wait_until
from tests.servers.reference import DirectoryFile, DirectoryStorage


class RecordingFile(DirectoryFile):
    """Counts the hook calls (the real directory work still happens)."""

    calls: list[str]

    def _call(self, hook, *args):
        self.__dict__.setdefault("calls", []).append(hook)
        return super()._call(hook, *args)


class RecordingStorage(DirectoryStorage):
    def _open_key(self, key, name, mode):
        return RecordingFile(self, key, name, mode, part_size=self.part_size)


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
    assert handle.calls == ["_put"]
    assert storage.open("small.bin").read() == b"x" * 100


def test_large_write_uploads_parts_and_completes(storage):
    data = os.urandom(5000)
    with storage.open("large.bin", "wb") as handle:
        for start in range(0, len(data), 300):
            handle.write(data[start : start + 300])
    assert handle.calls.count("_upload_part") == 5  # 4 full parts of 1024 and the rest
    assert handle.calls[0] == "_begin_upload" and handle.calls[-1] == "_complete_upload"
    assert storage.open("large.bin").read() == data


def test_an_exception_in_the_block_aborts_the_upload(storage):
    with pytest.raises(RuntimeError), storage.open("aborted.bin", "wb") as handle:
        handle.write(os.urandom(3000))
        raise RuntimeError("boom")
    assert "_abort_upload" in handle.calls
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

    def watched(self, start):
        streams.append(WatchedStream(DirectoryFile._read_stream(self, start)))
        return streams[-1]

    monkeypatch.setattr(RecordingFile, "_read_stream", watched)
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
    class S3LikeFile(StorageFile):
        max_parts = 10_000
        max_part_size = 5 * 1024**3

    file = S3LikeFile.__new__(S3LikeFile)
    sizes = [file.part_size_for(i, 5 * 1024**2) for i in range(10_000)]
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
    assert handle.calls == ["_stat", "_read_stream", "_read_stream"]
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
    assert storage.open(name).read() == data
    assert storage.open("r.txt").read() == b"the other writer"
