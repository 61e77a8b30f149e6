"""Google Cloud Storage behaviour only this backend has: chunked resumable uploads, checksum
verification of transfers, create-only saves, generation-pinned ranged reads, listing pages.

Faults are injected at the client seam (the SDK's HTTP session, see
``tests.servers.gcloud.RecordingSession``); every request still reaches fake-gcs-server.
"""

from __future__ import annotations

import base64
import io
import json
import os
import tracemalloc
import urllib.parse

import google_crc32c
import pytest
import requests
from django.core.exceptions import SuspiciousFileOperation
from django.core.files import File
from django.core.files.base import ContentFile
from django.test import override_settings

from storages.backends.gcloud import GoogleCloudFile, GoogleCloudStorage
from storages.errors import StorageError
from tests.servers.gcloud import recording

KiB = 1024
MiB = 1024 * KiB
CHUNK = 256 * KiB


@pytest.fixture
def raw(gcs_server, gcs_bucket):
    """The raw SDK view of the test bucket."""
    client = gcs_server.client()
    bucket = client.bucket(gcs_bucket)

    class Raw:
        def blob(self, key):
            return bucket.get_blob(key)

        def get(self, key):
            return bucket.blob(key).download_as_bytes(raw_download=True)

        def put(self, key, data):
            bucket.blob(key).upload_from_string(data)

        def names(self):
            return sorted(b.name for b in client.list_blobs(gcs_bucket))

    return Raw()


@pytest.fixture
def recorded(gcs_storage):
    """Build storages whose requests are recorded: ``recorded(**options)``."""
    return lambda **options: gcs_storage(recording(GoogleCloudStorage), **options)


class Generated(io.RawIOBase):
    """A non-seekable stream of ``size`` deterministic bytes, made as they are read."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.position = 0
        self.checksum = google_crc32c.Checksum()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = min(len(buffer), self.size - self.position)
        block = bytes((self.position + i) % 251 for i in range(min(n, 251)))
        data = (block * (n // len(block) + 1))[:n] if n else b""
        buffer[:n] = data
        self.checksum.update(data)
        self.position += n
        return n

    def crc32c(self) -> str:
        return base64.b64encode(self.checksum.digest()).decode()


def content_ranges(storage) -> list[str]:
    return [
        h["Content-Range"]
        for m, u, h in storage.session.requests
        if m == "PUT" and "upload_id" in u
    ]


# -- chunked, resumable writes -----------------------------------------------------------------


def test_streamed_write_uses_bounded_memory_and_stores_every_byte(recorded, raw):
    storage = recorded(blob_chunk_size=MiB)
    source = Generated(24 * MiB + 5)
    tracemalloc.start()
    try:
        with storage.open("big/streamed.bin", "wb") as handle:
            while data := source.read(64 * KiB):
                handle.write(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5 * MiB, f"peak {peak / MiB:.1f} MiB for a 24 MiB file in 1 MiB chunks"
    stored = raw.blob("big/streamed.bin")
    assert stored.size == 24 * MiB + 5
    assert stored.crc32c == source.crc32c()
    assert len(content_ranges(storage)) == 25


def test_save_of_a_large_non_seekable_stream_uses_bounded_memory(recorded, raw):
    storage = recorded(blob_chunk_size=MiB)
    source = Generated(20 * MiB)
    stream = io.BufferedReader(source)
    tracemalloc.start()
    try:
        name = storage.save("big/saved.bin", File(stream, name="saved.bin"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # A few chunks (the part being sent, the next one filling, the source's own reads),
    # whatever the size of the file.
    assert peak < 6 * MiB, f"peak {peak / MiB:.1f} MiB for a 20 MiB save in 1 MiB chunks"
    assert raw.blob(name).crc32c == source.crc32c()
    # An exact multiple of the chunk size: the last chunk itself says where the object ends.
    assert content_ranges(storage)[-2:] == [
        f"bytes {18 * MiB}-{19 * MiB - 1}/*",
        f"bytes {19 * MiB}-{20 * MiB - 1}/{20 * MiB}",
    ]


def test_seekable_file_goes_up_in_large_requests_read_from_the_file(recorded, raw, tmp_path):
    # GS_BLOB_CHUNK_SIZE unset: requests of 100 MiB streamed from the file (not held in memory),
    # the whole body's CRC32C on the final one.
    path = tmp_path / "disk.bin"
    source = Generated(40 * MiB + 3)
    with path.open("wb") as handle:
        while data := source.read(MiB):
            handle.write(data)
    storage = recorded()
    tracemalloc.start()
    try:
        with path.open("rb") as handle:
            storage.save("disk.bin", File(handle))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    puts = [h for m, u, h in storage.session.requests if m == "PUT"]
    assert [h["Content-Range"] for h in puts] == [f"bytes 0-{40 * MiB + 2}/{40 * MiB + 3}"]
    assert puts[-1]["X-Goog-Hash"] == f"crc32c={source.crc32c()}"
    assert raw.blob("disk.bin").crc32c == source.crc32c()
    assert peak < 8 * MiB  # the 40 MiB body was never in memory


def test_with_a_chunk_size_set_a_seekable_file_goes_up_in_chunks(gcs_storage, raw, tmp_path):
    path = tmp_path / "disk.bin"
    source = Generated(3 * CHUNK + 3)
    with path.open("wb") as handle:
        handle.write(source.read(-1))
    with override_settings(GS_BLOB_CHUNK_SIZE=CHUNK):
        storage = gcs_storage(recording(GoogleCloudStorage))
        with path.open("rb") as handle:
            storage.save("chunked.bin", File(handle))
    assert len(content_ranges(storage)) == 4
    assert raw.blob("chunked.bin").crc32c == source.crc32c()


def test_save_across_many_chunks_reads_back_byte_for_byte(gcs_storage, gcs_server, gcs_bucket):
    data = os.urandom(5 * CHUNK + 12345)
    with override_settings(GS_BLOB_CHUNK_SIZE=CHUNK):
        storage = gcs_storage(recording(GoogleCloudStorage))
        storage.save("many/chunks.bin", ContentFile(data))
    assert len(content_ranges(storage)) == 6
    blob = gcs_server.client().bucket(gcs_bucket).get_blob("many/chunks.bin")
    assert blob.size == len(data)
    assert blob.download_as_bytes(raw_download=True) == data
    assert blob.crc32c == base64.b64encode(google_crc32c.Checksum(data).digest()).decode()


def test_exact_multiple_of_the_chunk_size_written_through_a_file(recorded, raw):
    storage = recorded(blob_chunk_size=CHUNK)
    data = bytes(range(256)) * (2 * CHUNK // 256)
    with storage.open("exact.bin", "wb") as handle:
        handle.write(data)
    assert content_ranges(storage) == ["bytes 0-262143/*", "bytes 262144-524287/524288"]
    assert raw.get("exact.bin") == data


def test_small_writes_are_a_single_request(recorded, raw):
    storage = recorded(blob_chunk_size=CHUNK)
    storage.save("small.txt", ContentFile(b"s" * (CHUNK - 1)))
    with storage.open("small-file.txt", "w") as handle:
        handle.write("ü" * 100)
    posts = [u for m, u, _ in storage.session.requests if m == "POST"]
    assert len(posts) == 2 and all("uploadType=multipart" in u for u in posts)
    assert not content_ranges(storage)
    assert raw.get("small-file.txt") == ("ü" * 100).encode()


def test_text_mode_write_across_chunks(recorded, raw):
    storage = recorded(blob_chunk_size=CHUNK)
    text = "ĉhunked text line\n" * 30_000
    with storage.open("text.txt", "w") as handle:
        handle.write(text)
    assert raw.get("text.txt") == text.encode()
    assert storage.open("text.txt", "r").read() == text


def test_aborted_write_stores_nothing_and_cancels_the_session(recorded, raw):
    raw.put("kept.bin", b"old")
    storage = recorded(blob_chunk_size=CHUNK)
    with pytest.raises(RuntimeError), storage.open("kept.bin", "wb") as handle:
        handle.write(b"n" * (CHUNK + 10))  # one chunk is already on the server
        raise RuntimeError("the view failed half-way")
    assert raw.get("kept.bin") == b"old"
    assert storage.session.count("DELETE", "upload_id") == 1


def test_failed_chunk_aborts_and_keeps_the_previous_version(recorded, raw):
    raw.put("victim.bin", b"previous")
    storage = recorded(blob_chunk_size=CHUNK)
    _ = storage.client
    session = storage.session

    def broken_put(url, data=None, **kwargs):
        if "upload_id" in url and session.count("PUT", "upload_id") >= 1:
            raise ConnectionError("network down")
        return session.request("PUT", url, data=data, **kwargs)

    session.put = broken_put
    with pytest.raises(StorageError, match="network down"):
        storage.save("victim.bin", ContentFile(b"x" * (3 * CHUNK)))
    assert raw.get("victim.bin") == b"previous"
    assert session.count("DELETE", "upload_id") == 1


# -- create-only saves ---------------------------------------------------------------------


class Racing(GoogleCloudStorage):
    """Says a name is free once, as if another process stored it right after our check."""

    lied = False

    def is_name_available(self, name, max_length=None):
        if not self.lied:
            self.lied = True
            return True
        return super().is_name_available(name, max_length)


def test_create_only_save_loses_the_race_atomically_and_takes_the_next_name(gcs_storage, raw):
    # Below the chunk size: one request, where the emulator enforces ifGenerationMatch=0.
    raw.put("race.txt", b"theirs")
    storage = gcs_storage(recording(Racing), file_overwrite=False)
    name = storage.save("race.txt", ContentFile(b"ours"))
    assert name != "race.txt" and name.startswith("race_")
    assert raw.get("race.txt") == b"theirs"
    assert raw.get(name) == b"ours"
    uploads = [u for m, u, _ in storage.session.requests if m == "POST" and "/upload/" in u]
    assert all("ifGenerationMatch=0" in u for u in uploads) and len(uploads) == 2


def test_create_only_chunked_save_asks_for_the_precondition(recorded, raw):
    # fake-gcs-server ignores generation preconditions on resumable uploads, so this checks
    # that the session is opened with one (the next test plays the service's refusal).
    storage = recorded(blob_chunk_size=CHUNK, file_overwrite=False)
    name = storage.save("chunked-new.bin", ContentFile(b"c" * (CHUNK + 1)))
    session_posts = [
        u for m, u, _ in storage.session.requests if m == "POST" and "uploadType=resumable" in u
    ]
    assert len(session_posts) == 1
    assert "ifGenerationMatch=0" in session_posts[0]
    assert raw.get(name) == b"c" * (CHUNK + 1)


def precondition_failed(method: str, url: str) -> requests.Response:
    """Return the answer Google Cloud Storage gives a request whose precondition failed."""
    response = requests.Response()
    response.status_code = 412
    response.headers["Content-Type"] = "application/json"
    message = "At least one of the pre-conditions you specified did not hold."
    response._content = json.dumps({"error": {"code": 412, "message": message}}).encode()
    response.url = url
    response.request = requests.Request(method, url).prepare()
    return response


def refuse_taken_names(session, raw, at: str) -> None:
    """Make the seam refuse a create-only resumable upload of a name that is taken, as Google
    Cloud Storage does (fake-gcs-server does not): when the session is opened (``at="start"``)
    or on its final chunk (``at="final"``, before the server sees it)."""
    forward = session.request
    create_only: dict[str, str] = {}  # session URL -> object name

    def request(method, url, data=None, headers=None, **kwargs):
        if method == "POST" and "uploadType=resumable" in url and "ifGenerationMatch=0" in url:
            key = json.loads(data)["name"]
            if at == "start" and raw.blob(key) is not None:
                return precondition_failed(method, url)
            response = forward(method, url, data=data, headers=headers, **kwargs)
            create_only[response.headers["Location"]] = key
            return response
        final = method == "PUT" and not (headers or {})["Content-Range"].endswith("/*")
        if at == "final" and final and url in create_only and raw.blob(create_only[url]):
            return precondition_failed(method, url)
        return forward(method, url, data=data, headers=headers, **kwargs)

    session.request = request


@pytest.mark.parametrize("at", ["start", "final"])
def test_create_only_chunked_save_is_refused_atomically_when_the_name_is_taken(
    gcs_storage, raw, at
):
    raw.put("taken.bin", b"theirs")
    storage = gcs_storage(recording(Racing), blob_chunk_size=CHUNK, file_overwrite=False)
    _ = storage.client
    refuse_taken_names(storage.session, raw, at)
    data = os.urandom(3 * CHUNK + 1)
    name = storage.save("taken.bin", ContentFile(data))
    assert name != "taken.bin" and name.startswith("taken_")
    assert raw.get("taken.bin") == b"theirs"
    assert raw.get(name) == data
    assert raw.names() == sorted(["taken.bin", name])
    # A refused session that had received chunks is cancelled.
    assert storage.session.count("DELETE", "upload_id") == (1 if at == "final" else 0)


def test_overwriting_saves_send_no_precondition(recorded, raw):
    storage = recorded(blob_chunk_size=CHUNK)
    storage.save("o.bin", ContentFile(b"1"))
    storage.save("o.bin", ContentFile(b"2" * (CHUNK + 1)))
    uploads = [u for m, u, _ in storage.session.requests if m == "POST"]
    assert not any("ifGenerationMatch" in u for u in uploads)
    assert raw.get("o.bin") == b"2" * (CHUNK + 1)


# -- checksums ---------------------------------------------------------------------------------


def test_corrupted_download_raises_instead_of_returning_wrong_bytes(recorded, raw):
    storage = recorded()
    data = bytes(range(256)) * 4096  # 1 MiB
    storage.save("check.bin", ContentFile(data))
    storage.session.corrupt_downloads = True
    with storage.open("check.bin", "rb") as handle, pytest.raises(StorageError, match="crc32c"):
        handle.read()
    with storage.open("check.bin", "rb") as handle, pytest.raises(StorageError, match="corrupt"):
        for _chunk in handle.chunks(64 * KiB):
            pass
    assert raw.get("check.bin") == data  # the stored object itself is fine


def test_clean_downloads_pass_verification(recorded):
    storage = recorded()
    data = bytes(range(256)) * 4096
    storage.save("fine.bin", ContentFile(data))
    with storage.open("fine.bin", "rb") as handle:
        assert b"".join(handle.chunks(100_000)) == data
        handle.seek(12345)  # a ranged read: correct bytes, but nothing to verify it against
        assert handle.read(10) == data[12345:12355]


def test_corrupted_chunked_upload_is_refused_and_not_kept(recorded, raw):
    storage = recorded(blob_chunk_size=CHUNK)
    _ = storage.client
    storage.session.corrupt_uploads = (b"NEEDLE", b"needle")
    data = b"a" * CHUNK + b"NEEDLE" + b"b" * 100
    with pytest.raises(StorageError, match="corrupt"):
        storage.save("bad-chunked.bin", ContentFile(data))
    assert "bad-chunked.bin" not in raw.names()
    final = [h for m, u, h in storage.session.requests if m == "PUT"][-1]
    expected = google_crc32c.Checksum(data).digest()
    assert final["X-Goog-Hash"] == "crc32c=" + base64.b64encode(expected).decode()


def test_corrupted_single_request_upload_is_refused_and_not_kept(recorded, raw):
    storage = recorded()
    _ = storage.client
    storage.session.corrupt_uploads = (b"NEEDLE", b"needle")
    with pytest.raises(StorageError, match="corrupt"):
        storage.save("bad-small.bin", ContentFile(b"xx NEEDLE yy"))
    assert "bad-small.bin" not in raw.names()


# -- reads ---------------------------------------------------------------------------------


def test_reads_stream_in_ranges_pinned_to_one_generation(recorded, raw):
    storage = recorded()
    data = bytes(range(256)) * 8192  # 2 MiB
    storage.save("pinned.bin", ContentFile(data))
    with storage.open("pinned.bin", "rb") as handle:
        assert handle.read(10) == data[:10]
        handle.seek(1_500_000)
        assert handle.read(10) == data[1_500_000:1_500_010]
    gets = [(u, h) for m, u, h in storage.session.requests if m == "GET" and "alt=media" in u]
    generation = raw.blob("pinned.bin").generation
    assert [h.get("Range") for _, h in gets] == [None, "bytes=1500000-"]
    assert all(f"generation={generation}" in u for u, _ in gets)


def test_object_replaced_during_a_read_raises(gcs_storage, raw):
    storage = gcs_storage()
    data = b"1" * (3 * MiB)
    storage.save("moving.bin", ContentFile(data))
    with storage.open("moving.bin", "rb") as handle:
        assert handle.read(5) == b"11111"
        raw.put("moving.bin", b"2" * (3 * MiB))
        handle.seek(2 * MiB)
        with pytest.raises(StorageError, match="replaced or deleted"):
            handle.read(5)


def test_a_server_ignoring_ranges_still_gives_the_right_bytes(recorded):
    storage = recorded()
    data = bytes(range(256)) * 1024
    storage.save("norange.bin", ContentFile(data))
    storage.session.drop_range = True
    with storage.open("norange.bin", "rb") as handle:
        handle.seek(100_000)
        assert handle.read(50) == data[100_000:100_050]


def test_gzip_object_reads_back_compressed_when_gzip_is_off(gcs_storage, raw):
    import gzip

    gcs_storage(gzip=True).save("z.css", ContentFile(b"p { }" * 200))
    plain = gcs_storage()
    with plain.open("z.css", "rb") as handle:
        assert gzip.decompress(handle.read()) == b"p { }" * 200
    assert plain.size("z.css") == raw.blob("z.css").size


def test_file_object_exposes_the_blob(gcs_storage, gcs_bucket):
    storage = gcs_storage(location="loc")
    storage.save("b.txt", ContentFile(b"b"))
    with storage.open("b.txt") as handle:
        assert isinstance(handle, GoogleCloudFile)
        assert handle.blob.name == "loc/b.txt"
        assert handle.blob.bucket.name == gcs_bucket
    assert storage.bucket.name == gcs_bucket


# -- metadata and listing -------------------------------------------------------------------


def test_times_come_from_the_server(gcs_storage, raw):
    storage = gcs_storage()
    storage.save("t.txt", ContentFile(b"t"))
    blob = raw.blob("t.txt")
    assert storage.get_created_time("t.txt") == blob.time_created
    assert storage.get_modified_time("t.txt") == blob.updated


@pytest.mark.parametrize("method", ["size", "get_modified_time", "get_created_time", "open"])
def test_missing_objects_raise_file_not_found(gcs_storage, method):
    with pytest.raises(FileNotFoundError, match=r"missing\.txt"):
        getattr(gcs_storage(), method)("missing.txt")


def test_missing_bucket_is_file_not_found(gcs_server):
    storage = GoogleCloudStorage(**gcs_server.options("no-such-bucket"))
    with pytest.raises(FileNotFoundError):
        storage.save("x.txt", ContentFile(b"x"))
    assert storage.exists("x.txt") is False


def test_listdir_follows_every_page(gcs_storage, raw):
    class SmallPages(GoogleCloudStorage):
        list_page_size = 3

    storage = gcs_storage(recording(SmallPages), location="root")
    for i in range(10):
        raw.put(f"root/dir/f{i}.txt", b"x")
    for sub in ("a", "b", "c", "d"):
        raw.put(f"root/dir/{sub}/inner.txt", b"x")
    raw.put("root/dir/", b"")  # a folder marker made by a console: not a file
    raw.put("root/dirt.txt", b"x")
    dirs, files = storage.listdir("dir")
    assert dirs == ["a", "b", "c", "d"]
    assert files == [f"f{i}.txt" for i in range(10)]
    lists = [u for m, u, _ in storage.session.requests if m == "GET" and "/o?" in u]
    assert len(lists) >= 4  # 11 objects, 3 per page
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(lists[0]).query))
    assert query["prefix"] == "root/dir/" and query["delimiter"] == "/"


def test_overlong_names_are_refused_before_upload(gcs_storage, raw):
    with pytest.raises(SuspiciousFileOperation, match="allows 1024"):
        gcs_storage().save("ü" * 600 + ".txt", ContentFile(b"x"))
    assert raw.names() == []


def test_storage_shared_between_threads_uses_a_client_per_thread(gcs_storage, raw):
    from concurrent.futures import ThreadPoolExecutor

    storage = gcs_storage()

    def work(i: int) -> int:
        storage.save(f"t/{i}.txt", ContentFile(str(i).encode()))
        return id(storage.client)

    with ThreadPoolExecutor(4) as pool:
        clients = set(pool.map(work, range(16)))
    assert 1 < len(clients) <= 4
    assert len(raw.names()) == 16
    storage.close()


def test_file_mime_type_and_encoding_come_from_the_name(gcs_storage):
    storage = gcs_storage()
    name = storage.save("notes/archive.tar.gz", ContentFile(b"not really gzip"))
    with storage.open(name) as handle:
        assert (handle.mime_type, handle.mime_encoding) == ("application/x-tar", "gzip")
