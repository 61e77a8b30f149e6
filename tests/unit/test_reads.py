"""The read stream of opened files (storages._reads.RangeStream): every way of reading gives the
bytes io.BytesIO gives, over SDK streams that return short pieces or fill buffers themselves;
large reads hand the SDK's bytes over as they came; one request per position reached."""

from __future__ import annotations

import io
import itertools
import os
import shutil

import pytest
from django.core.files.base import ContentFile
from hypothesis import given, settings
from hypothesis import strategies as st

from storages._reads import PieceStream
from storages.files import StorageFile
from tests.servers.reference import DirectoryStorage

DATA = os.urandom(300_000) + b"".join(b"line %d\n" % i for i in range(2000))


class Pieces:
    """An SDK stream that returns at most ``piece`` bytes a read, and records what it returned."""

    def __init__(self, data: bytes, piece: int, returned: list[bytes]) -> None:
        self._data = data
        self._pos = 0
        self._piece = piece
        self._returned = returned

    def read(self, n: int = -1) -> bytes:
        count = self._piece if n is None or n < 0 else min(n, self._piece)
        data = self._data[self._pos : self._pos + count]
        self._pos += len(data)
        self._returned.append(data)
        return data


class Filling(Pieces):
    """An SDK stream that also fills buffers itself, like a socket."""

    def readinto(self, view: memoryview) -> int:
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)


#: The block the files here read ahead (small, so that DATA spans several).
BLOCK = 64 * 1024


class SmallBlockFile(StorageFile):
    read_buffer_size = BLOCK


class PieceStorage(DirectoryStorage):
    file_class = SmallBlockFile
    stream_class: type[Pieces] = Pieces
    piece = 10**9

    def _init_runtime(self):
        super()._init_runtime()
        self.opened: list[int] = []
        self.returned: list[bytes] = []

    def _read_key(self, key, info, start):
        self.opened.append(start)
        return self.stream_class(self.path_of(key).read_bytes()[start:], self.piece, self.returned)


@pytest.fixture
def storage(tmp_path):
    storage = PieceStorage(root=str(tmp_path / "root"))
    storage.save("data.bin", ContentFile(DATA))
    return storage


OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("read"), st.integers(-1, 200_000)),
        st.tuples(st.just("read1"), st.integers(-1, 200_000)),
        st.tuples(st.just("readinto"), st.integers(0, 200_000)),
        st.tuples(st.just("readinto1"), st.integers(0, 200_000)),
        st.tuples(st.just("readline"), st.integers(-1, 100)),
        st.tuples(st.just("peek"), st.integers(0, 10)),
        st.tuples(st.just("seek"), st.integers(0, len(DATA) + 10)),
        st.tuples(st.just("skip"), st.integers(-5000, 5000)),
    ),
    max_size=12,
)


def _apply(handle, operation: str, arg: int):
    if operation == "readinto" or operation == "readinto1":
        buffer = bytearray(arg)
        count = getattr(handle, operation)(buffer)
        return bytes(buffer[:count])
    if operation == "seek":
        return handle.seek(arg)
    if operation == "skip":
        return handle.seek(max(handle.tell() + arg, 0))
    if operation == "peek":
        return None  # what peek shows is the implementation's; it must not move the position
    return getattr(handle, operation)(arg)


@settings(max_examples=60, deadline=None)
@given(OPERATIONS, st.sampled_from([7, 4096, 65_536, 10**9]), st.booleans())
def test_every_read_matches_bytesio(tmp_path_factory, operations, piece, filling):
    storage = PieceStorage(root=str(tmp_path_factory.mktemp("root")))
    storage.piece = piece
    storage.stream_class = Filling if filling else Pieces
    storage.save("data.bin", ContentFile(DATA))
    expected = io.BytesIO(DATA)
    with storage.open("data.bin") as opened:
        handle = opened.file  # the stream itself: Django's File proxies only some methods
        for operation, arg in operations:
            got = _apply(handle, operation, arg)
            if operation == "peek":
                handle.peek(arg)
            else:
                want = _apply(expected, operation, arg)
                if operation in ("read1", "readinto1"):
                    # One read of the stream may return fewer bytes; never other bytes.
                    assert want.startswith(got) and (got or not want)
                    expected.seek(expected.tell() - len(want) + len(got))
                else:
                    assert got == want, operation
            assert handle.tell() == expected.tell()
        assert handle.read() == expected.read()


def test_large_reads_return_the_sdk_bytes_without_copying(storage):
    with storage.open("data.bin") as handle:
        chunk = handle.read(BLOCK)
        assert chunk is storage.returned[-1]
        assert handle.read() is storage.returned[-1]
    assert storage.opened == [0]


class DirectFile(SmallBlockFile):
    direct_read_size = 4096


def test_a_backend_can_send_smaller_reads_straight_to_its_stream(storage):
    storage.file_class = DirectFile
    with storage.open("data.bin") as handle:
        chunk = handle.read(5000)  # below the block, above the backend's bar
        assert chunk == DATA[:5000] and chunk is storage.returned[-1]
        small = handle.read(100)  # below the bar: a block is read ahead for it
        assert small == DATA[5000:5100] and len(storage.returned[-1]) == BLOCK
        assert handle.read(5000) == DATA[5100:10100]  # from the block it holds
        assert len(storage.returned) == 2
    assert storage.opened == [0]


def test_a_short_piece_is_completed_by_further_reads(storage):
    storage.piece = 1000
    with storage.open("data.bin") as handle:
        assert handle.read(BLOCK + 5) == DATA[: BLOCK + 5]


def test_small_reads_come_from_one_block(storage):
    with storage.open("data.bin") as handle:
        pieces = [handle.read(100) for _ in range(50)]
        assert b"".join(pieces) == DATA[:5000]
        assert len(storage.returned) == 1  # one block read ahead served all fifty
        handle.seek(10)  # inside the block: no new request
        assert handle.read(5) == DATA[10:15]
    assert storage.opened == [0]


def test_a_seek_outside_the_block_opens_a_new_request(storage):
    storage.piece = 100_000
    with storage.open("data.bin") as handle:
        handle.read(10)
        handle.seek(len(DATA) - 3)
        assert handle.read() == DATA[-3:]
    assert storage.opened == [0, len(DATA) - 3]


def test_lines(storage):
    with storage.open("data.bin") as opened:
        handle = opened.file
        handle.seek(300_000)
        assert handle.readline() == b"line 0\n"
        assert next(iter(handle)) == b"line 1\n"
        assert handle.readline(3) == b"lin"
        assert handle.readlines()[-1] == b"line 1999\n"


@pytest.mark.parametrize("chunk_size", [1000, 65_536, 1 << 20])
def test_copyfileobj_and_chunks(storage, chunk_size):
    storage.piece = 20_000
    with storage.open("data.bin") as handle:
        out = io.BytesIO()
        shutil.copyfileobj(handle, out)
        assert out.getvalue() == DATA
    with storage.open("data.bin") as handle:
        assert b"".join(handle.chunks(chunk_size)) == DATA


def test_a_stream_that_ends_early_raises(storage):
    class Truncated(Pieces):
        def read(self, n=-1):
            return b"" if self._pos >= 1000 else super().read(n)

    storage.stream_class = Truncated
    storage.piece = 1000
    with storage.open("data.bin") as handle, pytest.raises(OSError, match="ended the download"):
        handle.read()


def test_reads_of_a_closed_file_fail(storage):
    handle = storage.open("data.bin")
    handle.close()
    with pytest.raises(ValueError):
        handle.file.read(1)


@pytest.mark.parametrize("piece", [1, 7, 8192, 300_000])
@pytest.mark.parametrize("skip", [0, 5, 9000])
def test_piece_stream_reads_across_pieces_from_an_offset(piece, skip):
    data = DATA[:50_000]
    pieces = (data[i : i + piece] for i in range(0, len(data), piece))
    stream = PieceStream(pieces, skip=skip)
    got = []
    for size in itertools.cycle([1, 100, 20_000, 0]):
        chunk = stream.read(size)
        if size and not chunk:
            break
        assert len(chunk) == size or not stream.read(1)  # full reads but at the end
        got.append(chunk)
    assert b"".join(got) == data[skip:]


def test_piece_stream_hands_whole_pieces_over_and_closes_its_source():
    pieces = [os.urandom(1000), os.urandom(1000)]
    closed = []
    stream = PieceStream(iter(pieces), close=lambda: closed.append(True))
    assert stream.read(1000) is pieces[0]
    assert stream.read() == pieces[1]
    assert closed == [True]  # the source is released once its pieces run out
    stream.close()
    assert closed == [True]


def test_a_whole_file_read_in_pieces_peaks_at_about_its_size(tmp_path):
    import tracemalloc

    class FromDisk(DirectoryStorage):
        """Streams the stored file from disk, 64 KiB a read (it holds none of it)."""

        def _read_key(self, key, info, start):
            handle = self.path_of(key).open("rb", buffering=0)
            handle.seek(start)
            return _Capped(handle, 64 * 1024)

    storage = FromDisk(root=str(tmp_path / "root"))
    size = 8 * 1024 * 1024
    storage.save("big.bin", ContentFile(os.urandom(size)))
    handle = storage.open("big.bin")
    tracemalloc.start()
    try:
        everything = handle.read()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        handle.close()
    assert len(everything) == size
    # Gathered as the pieces come, not kept and joined (which needs twice the size).
    assert peak < 1.5 * size


class _Capped:
    def __init__(self, handle, piece):
        self._handle, self._piece = handle, piece

    def read(self, n=-1):
        return self._handle.read(self._piece if n is None or n < 0 else min(n, self._piece))

    def close(self):
        self._handle.close()
