"""Behaviour only the Azure backend has: blob name rules, staged blocks, ranged reads pinned to
one version, listing across pages, create-only commits; checked on Azurite with the SDK."""

from __future__ import annotations

import io
import os
import pickle
import threading
import tracemalloc
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.exceptions import SuspiciousFileOperation
from django.core.files import File
from django.core.files.base import ContentFile

from storages._upload import part_size_for
from storages.backends.azure_storage import AzureStorage, InvalidBlobName
from storages.errors import StorageError
from tests.servers.azure import recorder

MiB = 1024 * 1024


@pytest.fixture
def raw(azurite, azure_container):
    client = azurite.client()
    yield client.get_container_client(azure_container)
    client.close()


# -- names ---------------------------------------------------------------------------------


def test_get_name_max_len(azure_storage):
    assert azure_storage().get_name_max_len() == 1024 - 8
    assert azure_storage(file_overwrite=True).get_name_max_len() == 1024
    assert azure_storage(location="media/site", file_overwrite=True).get_name_max_len() == (
        1024 - len("media/site/")
    )


def test_names_up_to_1024_characters_are_stored(azure_storage, raw):
    storage = azure_storage(location="loc")
    # 1024 characters, far more UTF-8 bytes: Azure counts characters.
    name = "é" * (1024 - len("loc/") - 4) + ".txt"
    assert storage.save(name, ContentFile(b"long")) == name
    assert raw.download_blob(f"loc/{name}").readall() == b"long"
    with pytest.raises(InvalidBlobName, match="allows 1024"):
        storage.save("x" + name, ContentFile(b"too long"))
    with pytest.raises(ValueError):  # also a ValueError, as django-storages raised
        storage.open("x" + name, "wb")
    assert [b.name for b in raw.list_blobs()] == [f"loc/{name}"]


def test_too_long_names_read_as_missing_without_a_request(azure_storage, raw):
    probe = recorder()
    storage = azure_storage(client_options={"transport": probe})
    for name in ("n" * 1025, "/".join(["s"] * 258)):
        assert not storage.exists(name)
        for call in (storage.size, storage.open, storage.get_modified_time):
            with pytest.raises(FileNotFoundError):
                call(name)
        storage.delete(name)
    assert probe.requests == []


def test_max_length_from_get_name_max_len_fits(azure_storage, raw):
    storage = azure_storage(location="loc")
    limit = storage.get_name_max_len()
    name = "d/" + "n" * 2000 + ".txt"
    first = storage.save(name, ContentFile(b"1"), max_length=limit)
    second = storage.save(name, ContentFile(b"2"), max_length=limit)
    assert len(first) <= limit and len(second) <= limit and first != second
    assert raw.download_blob(f"loc/{second}").readall() == b"2"


def test_more_than_256_slashes_are_refused(azure_storage, raw):
    storage = azure_storage()
    assert storage.save("/".join(["s"] * 257), ContentFile(b"ok")) == "/".join(["s"] * 257)
    with pytest.raises(InvalidBlobName, match="256 slashes"):
        storage.save("/".join(["s"] * 258), ContentFile(b"no"))
    assert len(list(raw.list_blobs())) == 1


def test_trailing_dot_is_refused_for_writes(azure_storage, raw):
    storage = azure_storage()
    with pytest.raises(SuspiciousFileOperation, match="dot"):
        storage.save("notes.", ContentFile(b"x"))
    with pytest.raises(SuspiciousFileOperation, match="dot"):
        storage.open("dir/notes.", "wb")
    assert list(raw.list_blobs()) == []
    assert not storage.exists("notes.")
    storage.save("dir./inner.txt", ContentFile(b"a dot inside is fine"))
    assert storage.listdir("dir.") == ([], ["inner.txt"])


def test_get_valid_name(azure_storage):
    storage = azure_storage()
    assert storage.get_valid_name("report.") == "report"
    assert storage.get_valid_name("my file?.txt") == "my_file.txt"
    assert storage.get_valid_name("a\\b c//d e..") == "a/b_c/d_e"
    assert storage.generate_filename("uploads/name...") == "uploads/name"
    with pytest.raises(SuspiciousFileOperation):
        storage.get_valid_name("...")


# -- writes --------------------------------------------------------------------------------


def test_small_save_is_one_put_blob(azure_storage, raw):
    probe = recorder()
    storage = azure_storage(client_options={"transport": probe})
    storage.save("small.txt", ContentFile(b"one request"))
    assert [(m, "comp=" in u) for m, u, _ in probe.requests if m == "PUT"] == [("PUT", False)]
    blocks = raw.get_blob_client("small.txt").get_block_list("all")
    assert blocks == ([], [])


def test_large_save_is_staged_blocks_committed_once(azure_storage, raw):
    probe = recorder()
    storage = azure_storage(client_options={"transport": probe, "max_block_size": MiB})
    data = os.urandom(3 * MiB + 5)
    storage.save("large.bin", ContentFile(data))
    assert probe.count("PUT", "comp=block&") == 4
    assert probe.count("PUT", "comp=blocklist") == 1
    committed = raw.get_blob_client("large.bin").get_block_list("committed")[0]
    assert [b.size for b in committed] == [MiB, MiB, MiB, 5]
    assert raw.download_blob("large.bin").readall() == data


def test_save_exactly_one_block_is_one_request(azure_storage, raw):
    probe = recorder()
    storage = azure_storage(client_options={"transport": probe, "max_block_size": MiB})
    storage.save("exact.bin", ContentFile(b"e" * MiB))
    assert probe.count("PUT") == 1
    assert raw.get_blob_client("exact.bin").get_blob_properties().size == MiB


@pytest.mark.parametrize("size", [5, 2 * MiB + 1], ids=["put-blob", "block-list"])
def test_create_only_write_refuses_a_taken_name(azure_storage, raw, size):
    probe = recorder()
    # One block at a time, so the recorded requests and responses pair up in order.
    storage = azure_storage(
        upload_max_conn=1, client_options={"transport": probe, "max_block_size": MiB}
    )
    raw.upload_blob("taken.bin", b"original")
    # Skip the existence check, so the final request itself meets the taken name.
    storage.is_name_available = lambda name, max_length=None: True
    data = os.urandom(size)
    name = storage.save("taken.bin", ContentFile(data))
    assert name != "taken.bin"
    final = "comp=blocklist" if size > MiB else "/taken.bin"
    refused = [
        (headers.get("If-None-Match"), status)
        for (method, url, headers), (status, _) in zip(probe.requests, probe.responses, strict=True)
        if method == "PUT" and url.split("?")[0].endswith("/taken.bin") and final in url
    ]
    assert len(refused) == 1 and refused[0][0] == "*" and refused[0][1] in (409, 412)
    assert raw.download_blob("taken.bin").readall() == b"original"
    assert raw.download_blob(name).readall() == data


def test_racing_block_uploads_keep_both(azure_storage, raw):
    storage = azure_storage(client_options={"max_block_size": 256 * 1024})
    barrier = threading.Barrier(3)

    def save(i: int) -> str:
        barrier.wait()  # the three saves start together
        return storage.save("race.bin", ContentFile(bytes([i]) * (MiB + 1)))

    with ThreadPoolExecutor(3) as pool:
        names = list(pool.map(save, range(3)))
    assert len(set(names)) == 3
    assert sorted(raw.download_blob(n).readall()[:1] for n in names) == [b"\x00", b"\x01", b"\x02"]


def test_open_for_writing_stages_blocks(azure_storage, raw):
    probe = recorder()
    storage = azure_storage(client_options={"transport": probe, "max_block_size": MiB})
    with storage.open("written.bin", "wb") as handle:
        for _ in range(5):
            handle.write(b"w" * (MiB // 2 + 1))
    assert probe.count("PUT", "comp=block&") == 3
    committed = raw.get_blob_client("written.bin").get_block_list("committed")[0]
    assert [b.size for b in committed] == [MiB, MiB, 5 * (MiB // 2 + 1) - 2 * MiB]
    assert raw.get_blob_client("written.bin").get_blob_properties().content_settings.content_type


def test_failed_write_leaves_the_old_blob(azure_storage, raw):
    storage = azure_storage(client_options={"max_block_size": MiB})
    raw.upload_blob("kept.bin", b"previous")
    with pytest.raises(RuntimeError), storage.open("kept.bin", "wb") as handle:
        handle.write(b"n" * (3 * MiB))
        raise RuntimeError("the view failed")
    assert raw.download_blob("kept.bin").readall() == b"previous"


def test_save_memory_is_bounded_by_blocks(azure_storage, raw, tmp_path):
    path = tmp_path / "big.bin"
    with path.open("wb") as handle:
        for _ in range(24):
            handle.write(os.urandom(MiB))
    storage = azure_storage(upload_max_conn=2, client_options={"max_block_size": MiB})
    tracemalloc.start()
    try:
        with path.open("rb") as handle:
            storage.save("big.bin", File(handle))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 10 * MiB, peak
    assert raw.get_blob_client("big.bin").get_blob_properties().size == 24 * MiB


def test_block_sizes_grow_for_huge_uploads():
    storage = AzureStorage(azure_container="c")
    big = AzureStorage(azure_container="c", client_options={"max_block_size": 1024 * MiB})

    def block(index, of=storage):
        return part_size_for(index, of.part_size, of.max_parts, of.max_part_size)

    assert storage.part_size == 4 * MiB
    assert block(0) == block(4_999) == 4 * MiB
    assert block(5_000) == 8 * MiB
    assert block(49_999) == 2048 * MiB
    assert block(49_999, big) == 4000 * MiB


def test_12_mb_save_stages_blocks_in_parallel(azure_storage, raw):
    probe = recorder(delay=0.05)
    storage = azure_storage(upload_max_conn=3, client_options={"transport": probe})
    data = os.urandom(12 * MiB + 5)
    storage.save("twelve.bin", ContentFile(data))
    assert probe.count("PUT", "comp=block&") == 4
    assert probe.most_in_flight == 3
    blob = raw.get_blob_client("twelve.bin")
    assert [b.size for b in blob.get_block_list("committed")[0]] == [4 * MiB] * 3 + [5]
    assert blob.download_blob().readall() == data


def test_non_seekable_large_stream(azure_storage, raw):
    data = os.urandom(2 * MiB + 3)

    class Pipe(io.RawIOBase):
        def __init__(self):
            self._data = io.BytesIO(data)

        def readable(self):
            return True

        def readinto(self, buffer):
            chunk = self._data.read(min(len(buffer), 10_000))
            buffer[: len(chunk)] = chunk
            return len(chunk)

    storage = azure_storage(client_options={"max_block_size": 512 * 1024})
    storage.save("pipe.bin", File(io.BufferedReader(Pipe()), name="pipe.bin"))
    assert raw.download_blob("pipe.bin").readall() == data


# -- reads ---------------------------------------------------------------------------------


def test_reads_are_ranged_and_stream(azure_storage, raw):
    data = os.urandom(9 * MiB)
    raw.upload_blob("ranged.bin", data)
    probe = recorder()
    storage = azure_storage(client_options={"transport": probe})
    with storage.open("ranged.bin", "rb") as handle:
        handle.seek(8 * MiB)
        assert handle.read(100) == data[8 * MiB : 8 * MiB + 100]
        gets = [h for m, _, h in probe.requests if m == "GET"]
        assert len(gets) == 1
        assert gets[0]["x-ms-range"] == f"bytes={8 * MiB}-{9 * MiB - 1}"
        handle.seek(0)
        first = handle.read(MiB)
    assert first == data[:MiB]
    ranges = [h.get("x-ms-range") for m, _, h in probe.requests if m == "GET"]
    # The second download is one streamed request from 0 to the end, read only as far as the
    # reader went (memory is bounded by the pieces read, see the bounded-memory test).
    assert ranges[1] == f"bytes=0-{9 * MiB - 1}"


def test_read_pinned_to_the_opened_version(azure_storage, raw):
    raw.upload_blob("moving.bin", b"a" * (6 * MiB))
    storage = azure_storage()
    with storage.open("moving.bin", "rb") as handle:
        raw.upload_blob("moving.bin", b"b" * (6 * MiB), overwrite=True)
        with pytest.raises(StorageError, match="replaced or deleted"):
            handle.read()


def test_missing_blob_is_file_not_found(azure_storage):
    storage = azure_storage()
    for call in (
        lambda: storage.open("nope.txt"),
        lambda: storage.size("nope.txt"),
        lambda: storage.get_modified_time("nope.txt"),
        lambda: storage.get_created_time("nope.txt"),
    ):
        with pytest.raises(FileNotFoundError):
            call()
    storage.delete("nope.txt")


def test_created_and_modified_times(azure_storage, raw):
    storage = azure_storage()
    storage.save("t.txt", ContentFile(b"t"))
    props = raw.get_blob_client("t.txt").get_blob_properties()
    assert storage.get_created_time("t.txt") == props.creation_time
    assert storage.get_modified_time("t.txt") == props.last_modified
    with pytest.raises(NotImplementedError):
        storage.get_accessed_time("t.txt")


def test_file_exposes_its_blob_client(azure_storage):
    storage = azure_storage()
    storage.save("b.txt", ContentFile(b"b"))
    with storage.open("b.txt") as handle:
        assert handle.blob.get_blob_properties().size == 1


# -- listing, existence, pickling ----------------------------------------------------------


def test_listdir_follows_every_page(azure_storage, raw):
    storage = azure_storage()
    storage.list_page_size = 3
    for i in range(7):
        raw.upload_blob(f"p/f{i}.txt", b"x")
    for d in ("a", "b", "c", "d"):
        raw.upload_blob(f"p/{d}/inner.txt", b"x")
    raw.upload_blob("p/", b"")  # a "folder" marker
    probe = recorder()
    storage = azure_storage(client_options={"transport": probe})
    storage.list_page_size = 3
    dirs, files = storage.listdir("p")
    assert dirs == ["a", "b", "c", "d"]
    assert files == [f"f{i}.txt" for i in range(7)]
    assert probe.count("GET", "comp=list") >= 4
    assert storage.listdir("p/a") == ([], ["inner.txt"])
    assert storage.listdir("missing") == ([], [])


def test_exists_of_the_root_checks_the_container(azurite, azure_storage):
    assert azure_storage().exists("")
    gone = AzureStorage(**azurite.options("no-such-container"))
    assert not gone.exists("")


def test_pickled_storage_works_without_secrets_in_the_pickle(azure_storage, raw):
    from tests.servers.azure import KEY

    storage = azure_storage(expiration_secs=60)
    storage.save("p.txt", ContentFile(b"pickled"))
    storage.url("p.txt")
    data = pickle.dumps(storage)
    assert KEY.encode() not in data
    copy = pickle.loads(data)
    assert copy.open("p.txt").read() == b"pickled"
    assert "sig=" in copy.url("p.txt")


def test_secrets_stay_out_of_errors(azurite, azure_container):
    from tests.servers.azure import KEY

    storage = AzureStorage(**azurite.options(azure_container))
    with pytest.raises(OSError) as info:
        storage.open("missing.txt")
    assert KEY not in str(info.value)
    assert KEY not in repr(storage)
    assert "connection_string" not in storage.deconstruct()[2]


def test_one_storage_shared_by_threads(azure_storage, raw):
    storage = azure_storage(client_options={"max_block_size": 256 * 1024})

    def work(i: int) -> bytes:
        name = storage.save(f"t/{i}.bin", ContentFile(bytes([i]) * (300_000 + i)))
        with storage.open(name) as handle:
            return handle.read()

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(work, range(16)))
    assert [len(r) for r in results] == [300_000 + i for i in range(16)]
    assert len(storage.listdir("t")[1]) == 16


@pytest.mark.parametrize("method", ["exists", "size", "get_modified_time"])
def test_metadata_calls_are_one_head_request_each(azure_storage, raw, method):
    raw.upload_blob("meta.bin", b"m" * 10)
    probe = recorder()
    storage = azure_storage(client_options={"transport": probe})
    for _ in range(3):
        getattr(storage, method)("meta.bin")
    assert [m for m, _, _ in probe.requests] == ["HEAD"] * 3


def test_a_streamed_read_is_one_pinned_request_with_bounded_memory(azure_storage, raw):
    data = os.urandom(24 * MiB + 3)
    raw.upload_blob("streamed.bin", data)
    probe = recorder()
    storage = azure_storage(client_options={"transport": probe, "max_chunk_get_size": MiB})
    storage.exists("streamed.bin")  # load the SDK's models before measuring
    tracemalloc.start()
    try:
        with storage.open("streamed.bin", "rb") as handle:
            pieces = list(handle.chunks(MiB))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert b"".join(pieces) == data
    gets = [headers for m, _, headers in probe.requests if m == "GET"]
    assert len(gets) == 1  # one request from the first byte to the end, not one per range
    assert gets[0]["x-ms-range"] == f"bytes=0-{len(data) - 1}"
    assert gets[0]["If-Match"]  # pinned to the version that was opened
    assert peak - 24 * MiB < 8 * MiB  # the chunks kept here, and little else


def test_a_gzip_blob_reads_back_as_it_was_saved(azure_storage, raw):
    import gzip

    from azure.storage.blob import ContentSettings

    data = gzip.compress(b"stored compressed " * 1000)
    raw.upload_blob(
        "packed.bin",
        data,
        content_settings=ContentSettings(content_encoding="gzip", content_type="x/y"),
    )
    storage = azure_storage()
    with storage.open("packed.bin", "rb") as handle:
        handle.seek(5)
        assert handle.read() == data[5:]


def test_blob_clients_are_reused_and_their_number_is_bounded(azure_storage, raw):
    from storages.backends.azure_storage import BLOB_CLIENTS_KEPT

    storage = azure_storage()
    storage.save("kept.txt", ContentFile(b"one"))
    kept = storage.container_client._stowage_blobs
    first = kept["kept.txt"]
    assert storage.size("kept.txt") == 3 and kept["kept.txt"] is first
    # A kept client still sees what another client changed on the server.
    raw.get_blob_client("kept.txt").upload_blob(b"changed!", overwrite=True)
    assert storage.size("kept.txt") == 8 and kept["kept.txt"] is first
    for i in range(BLOB_CLIENTS_KEPT + 40):
        assert not storage.exists(f"absent/{i}.txt")
    assert len(kept) == BLOB_CLIENTS_KEPT and "kept.txt" not in kept
