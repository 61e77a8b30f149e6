"""Libcloud behaviour on the LOCAL driver and on the S3 driver against moto: streamed uploads fed
part by part to the driver's iterator, ranged reads, listings, URLs, metadata and errors.

Drivers are only replaced at the client seam: the provider entry's ``type`` may be a driver
class, so a test passes a real driver subclass that records calls or injects a fault.
"""

from __future__ import annotations

import io
import os
import threading
import tracemalloc
import urllib.request
import warnings
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import SuspiciousFileOperation
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from libcloud.common.types import InvalidCredsError, LibcloudError
from libcloud.storage.drivers.local import LocalStorageDriver
from libcloud.storage.drivers.s3 import S3StorageDriver

from storages.backends.apache_libcloud import LibCloudStorage
from storages.errors import StorageError
from tests.conformance.support import pipe
from tests.servers.libcloud_local import CONTAINER, local_providers
from tests.servers.libcloud_s3 import s3_providers

KiB = 1024
MiB = 1024 * KiB


class Raw:
    """The service's own view of the storage's container (its files or boto3)."""

    def __init__(self, kind: str, root: Path | None = None, client: Any = None, bucket: str = ""):
        self.kind, self.root, self.client, self.bucket = kind, root, client, bucket

    def get(self, key: str) -> bytes:
        if self.root is not None:
            return (self.root / CONTAINER / key).read_bytes()
        return bytes(self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read())

    def put(self, key: str, data: bytes) -> None:
        if self.root is not None:
            path = self.root / CONTAINER / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        else:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=data)

    def keys(self) -> list[str]:
        if self.root is not None:
            base = self.root / CONTAINER
            return sorted(str(p.relative_to(base)) for p in base.rglob("*") if p.is_file())
        listing = self.client.list_objects_v2(Bucket=self.bucket).get("Contents", [])
        return sorted(item["Key"] for item in listing)

    def uploads_in_progress(self) -> list[Any]:
        if self.root is not None:
            return []
        return list(self.client.list_multipart_uploads(Bucket=self.bucket).get("Uploads", []))


@pytest.fixture(params=["local", "s3"])
def driver_kind(request):
    return request.param


@pytest.fixture
def env(request, driver_kind, tmp_path):
    """``(make, raw)``: ``make(driver_type=None, **options)`` builds a storage on a fresh area."""
    if driver_kind == "local":
        root = request.getfixturevalue("libcloud_root")

        def providers(**extra: Any) -> dict[str, Any]:
            return local_providers(root, **extra)

        raw = Raw("local", root=root)
        alias = "local"
    else:
        server = request.getfixturevalue("moto_server")
        bucket = request.getfixturevalue("s3_bucket")

        def providers(**extra: Any) -> dict[str, Any]:
            return s3_providers(server, bucket, **extra)

        raw = Raw("s3", client=server.client(), bucket=bucket)
        alias = "moto"
    base = LocalStorageDriver if driver_kind == "local" else S3StorageDriver

    def make(driver_type: Any = None, **options: Any) -> LibCloudStorage:
        extra = {"type": driver_type(base)} if driver_type else {}
        return LibCloudStorage(alias, providers=providers(**extra), **options)

    return make, raw


def recording(calls: list[tuple[str, Any]]) -> Any:
    """Return a factory of driver subclasses that record reads, listings and uploads."""

    def wrap(base: type) -> type:
        class Recording(base):  # type: ignore[misc, valid-type]
            def download_object_as_stream(self, obj, chunk_size=None):
                calls.append(("stream", obj.name))
                return super().download_object_as_stream(obj, chunk_size=chunk_size)

            def download_object_range_as_stream(self, obj, start_bytes, *args, **kwargs):
                calls.append(("range", start_bytes))
                return super().download_object_range_as_stream(obj, start_bytes, *args, **kwargs)

            def iterate_container_objects(self, container, prefix=None, ex_prefix=None):
                calls.append(("list", prefix))
                return super().iterate_container_objects(container, prefix=prefix)

            def upload_object_via_stream(self, iterator, *args, **kwargs):
                calls.append(("upload", threading.current_thread().name))
                return super().upload_object_via_stream(iterator, *args, **kwargs)

        return Recording

    return wrap


def failing_after(parts: int) -> Any:
    """Return a factory of drivers whose streamed upload fails after pulling ``parts`` parts."""

    def wrap(base: type) -> type:
        class Failing(base):  # type: ignore[misc, valid-type]
            def upload_object_via_stream(self, iterator, *args, **kwargs):
                def pulled():
                    for number, part in enumerate(iterator, 1):
                        yield part
                        if number == parts:
                            raise LibcloudError("the service went away", driver=self)

                return super().upload_object_via_stream(pulled(), *args, **kwargs)

        return Failing

    return wrap


def test_save_of_a_large_stream_uses_bounded_memory(env, driver_kind):
    make, raw = env
    storage = make(upload_part_size=MiB, file_overwrite=True)
    data = os.urandom(24 * MiB + 5)
    tracemalloc.start()
    try:
        name = storage.save("big/streamed.bin", File(pipe(data), name="streamed.bin"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # A few parts: the one the driver writes, the next one queued, the one filling. The S3
    # driver regroups what it pulls into 5 MiB requests and holds about 17 MiB itself.
    limit = 7 * MiB if driver_kind == "local" else 24 * MiB
    assert peak < limit, f"peak {peak / MiB:.1f} MiB for a 24 MiB save in 1 MiB parts"
    assert raw.get(name) == data


def test_writes_through_open_reach_the_driver_before_close(env, driver_kind):
    make, raw = env
    storage = make(upload_part_size=MiB)
    handle = storage.open("growing.bin", "wb")
    handle.write(os.urandom(12 * MiB))
    handle.flush()
    if driver_kind == "local":
        # LOCAL writes in place: the driver has written the parts it was handed so far.
        assert os.path.getsize(raw.root / CONTAINER / "growing.bin") >= 8 * MiB
    else:
        (upload,) = raw.uploads_in_progress()
        parts = raw.client.list_parts(
            Bucket=raw.bucket, Key="growing.bin", UploadId=upload["UploadId"]
        )
        assert len(parts["Parts"]) >= 1  # the driver's 5 MiB parts went up already
    handle.write(b"end")
    handle.close()
    assert raw.get("growing.bin")[-3:] == b"end"
    assert storage.size("growing.bin") == 12 * MiB + 3
    assert raw.uploads_in_progress() == []


def test_uploads_run_in_a_worker_with_a_driver_of_its_own(env):
    make, _ = env
    calls: list[tuple[str, Any]] = []
    storage = make(recording(calls), upload_part_size=64 * KiB)
    storage.save("small.bin", ContentFile(b"s" * 100))
    storage.save("large.bin", ContentFile(b"l" * 200 * KiB))
    uploads = [thread for what, thread in calls if what == "upload"]
    assert uploads[0] == threading.current_thread().name  # one part: sent from this thread
    assert uploads[1] == "storages-libcloud-upload"
    assert storage.open("large.bin").read() == b"l" * 200 * KiB


def test_a_write_abandoned_with_an_exception_stores_nothing(env):
    make, raw = env
    storage = make(upload_part_size=MiB)
    with pytest.raises(RuntimeError), storage.open("dir/abandoned.bin", "wb") as handle:
        handle.write(os.urandom(7 * MiB))
        raise RuntimeError("the caller gave up")
    assert raw.keys() == []
    assert raw.uploads_in_progress() == []
    assert storage.listdir("") == ([], [])


def test_a_driver_failure_during_an_upload_is_raised_and_leaves_nothing(env):
    make, raw = env
    storage = make(failing_after(2), upload_part_size=MiB)
    with pytest.raises(StorageError, match="the service went away"):
        storage.save("failed.bin", ContentFile(os.urandom(12 * MiB)))
    assert raw.keys() == []
    assert raw.uploads_in_progress() == []


def test_reads_stream_and_seeks_use_ranges_where_the_driver_streams_them(env, driver_kind):
    make, raw = env
    calls: list[tuple[str, Any]] = []
    storage = make(recording(calls))
    data = os.urandom(3 * MiB + 7)
    raw.put("r.bin", data)
    with storage.open("r.bin", "rb") as handle:
        assert handle.read(10) == data[:10]
        handle.seek(2 * MiB)
        assert handle.read() == data[2 * MiB :]
    if driver_kind == "s3":
        assert calls == [("stream", "r.bin"), ("range", 2 * MiB)]
    else:
        # LOCAL's ranged stream reads the whole file into memory: stream and skip instead.
        assert calls == [("stream", "r.bin"), ("stream", "r.bin")]


def test_a_file_replaced_during_a_read_is_not_mixed(env, driver_kind):
    make, raw = env
    storage = make()
    raw.put("v.bin", b"1" * 3 * MiB)
    handle = storage.open("v.bin", "rb")
    assert handle.read(10) == b"1" * 10
    raw.put("v.bin", b"2" * 3 * MiB)
    if driver_kind == "local":
        path = raw.root / CONTAINER / "v.bin"
        os.utime(path, (path.stat().st_atime, path.stat().st_mtime + 10))
    handle.seek(2 * MiB)  # beyond what the first read buffered: a new request
    with pytest.raises(StorageError, match="changed while it was being read"):
        handle.read()
    handle.close()


def test_empty_files_read_back_empty(env):
    make, raw = env
    storage = make()
    raw.put("empty.bin", b"")
    assert storage.size("empty.bin") == 0
    with storage.open("empty.bin") as handle:
        assert handle.read() == b""
    assert storage.open(storage.save("saved-empty.bin", ContentFile(b""))).read() == b""


def test_modified_time_is_the_drivers(env, driver_kind):
    make, raw = env
    storage = make()
    name = storage.save("t.txt", ContentFile(b"t"))
    modified = storage.get_modified_time(name)
    if driver_kind == "local":
        assert modified.timestamp() == pytest.approx((raw.root / CONTAINER / name).stat().st_mtime)
    else:
        assert modified == raw.client.head_object(Bucket=raw.bucket, Key=name)["LastModified"]
    for method in ("get_created_time", "get_accessed_time"):
        with pytest.raises(NotImplementedError):
            getattr(storage, method)(name)


def test_missing_files(env):
    make, _ = env
    storage = make()
    for method in ("size", "open", "get_modified_time"):
        with pytest.raises(FileNotFoundError):
            getattr(storage, method)("nope/missing.txt")
    storage.delete("nope/missing.txt")
    assert not storage.exists("nope/missing.txt")


def test_listdir_gives_real_directories_and_relative_names(env, driver_kind):
    make, raw = env
    calls: list[tuple[str, Any]] = []
    storage = make(recording(calls), location="site")
    for key in ("site/a.txt", "site/d/b.txt", "site/d/e/c.txt", "site/dx.txt", "other/z.txt"):
        raw.put(key, b"x")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # LOCAL warns when asked to filter by prefix
        assert storage.listdir("") == (["d"], ["a.txt", "dx.txt"])
        assert storage.listdir("d") == (["e"], ["b.txt"])
        assert storage.listdir("d/e/") == ([], ["c.txt"])
    # S3 filters by prefix on the service; LOCAL lists everything anyway, filtered here.
    expected = "site/d/" if driver_kind == "s3" else None
    assert calls[1] == ("list", expected)


def test_deleting_the_last_file_of_a_directory_removes_the_directory(env):
    make, raw = env
    storage = make()
    storage.save("d/only.txt", ContentFile(b"x"))
    storage.delete("d/only.txt")
    assert storage.listdir("") == ([], [])
    assert raw.keys() == []


def test_location_confines_every_key(env):
    make, raw = env
    storage = make(location="media/files")
    storage.save("a/b.txt", ContentFile(b"x"))
    assert raw.keys() == ["media/files/a/b.txt"]
    for name in ("../escape.txt", "/etc/passwd", "a/../../x"):
        with pytest.raises(SuspiciousFileOperation):
            storage.save(name, ContentFile(b"evil"))
    assert raw.keys() == ["media/files/a/b.txt"]


def test_a_taken_name_found_at_write_time_moves_the_save_to_a_free_name(env):
    make, raw = env

    class Racing(LibCloudStorage):
        """Another process stores the name between the storage's check and its write."""

        def is_name_available(self, name: str, max_length: int | None = None) -> bool:
            if name.endswith("raced.bin"):
                return True
            return super().is_name_available(name, max_length)

    storage = make(upload_part_size=64 * KiB)
    storage.__class__ = Racing
    for size in (100, 300 * KiB):  # one call from this thread, then a streamed upload
        raw.put("raced.bin", b"first")
        name = storage.save("raced.bin", ContentFile(b"n" * size))
        assert name != "raced.bin"
        assert raw.get("raced.bin") == b"first"
        assert raw.get(name) == b"n" * size


def test_every_thread_has_its_own_driver(env):
    make, _ = env
    storage = make()
    drivers: list[Any] = []
    thread = threading.Thread(target=lambda: drivers.append(storage.driver))
    thread.start()
    thread.join()
    assert storage.driver is storage.driver
    assert drivers[0] is not storage.driver
    storage.close()
    assert storage.exists("") is True  # a new driver after close()


def test_s3_urls_are_presigned_and_serve_the_file(libcloud_s3):
    storage = libcloud_s3()
    name = storage.save("web/a b.txt", ContentFile(b"served"))
    url = storage.url(name)
    assert "/web/a%20b.txt?" in url and "X-Amz-Signature=" in url
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.read() == b"served"


def test_local_urls_are_file_urls(libcloud_local, libcloud_root):
    storage = libcloud_local()
    name = storage.save("web/ü #1.txt", ContentFile(b"local"))
    url = storage.url(name)
    assert url == (libcloud_root / CONTAINER / name).as_uri()
    with urllib.request.urlopen(url) as response:
        assert response.read() == b"local"


def test_base_url_replaces_the_drivers_urls(libcloud_local):
    storage = libcloud_local(base_url="https://cdn.example.com/media/", location="site")
    assert storage.url("a b/c+d.txt") == "https://cdn.example.com/media/site/a%20b/c%2Bd.txt"


class NoUrls(LocalStorageDriver):
    """A driver without CDN URLs."""

    def get_object_cdn_url(self, obj):
        raise NotImplementedError("no CDN here")


def test_a_driver_without_urls_says_what_to_do(libcloud_root):
    storage = LibCloudStorage("local", providers=local_providers(libcloud_root, type=NoUrls))
    with pytest.raises(NotImplementedError, match=r"NoUrls cannot make URLs.*'base_url'"):
        storage.url("a.txt")


def test_content_type_and_object_parameters_reach_s3(libcloud_s3, moto_server, s3_bucket):
    storage = libcloud_s3(object_parameters={"meta_data": {"owner": "tests"}})
    client = moto_server.client()
    storage.save("page.html", ContentFile(b"<p>"))
    storage.save("photo.bin", SimpleUploadedFile("p.jpg", b"\xff\xd8", content_type="image/jpeg"))
    storage.save("large.css", ContentFile(b"a{}" * 4 * MiB))
    head = client.head_object(Bucket=s3_bucket, Key="page.html")
    assert head["ContentType"] == "text/html"
    assert head["Metadata"] == {"owner": "tests"}
    assert client.head_object(Bucket=s3_bucket, Key="photo.bin")["ContentType"] == "image/jpeg"
    assert client.head_object(Bucket=s3_bucket, Key="large.css")["ContentType"] == "text/css"
    typed = libcloud_s3(object_parameters={"content_type": "text/x-custom"})
    typed.save("forced.txt", ContentFile(b"x"))
    assert client.head_object(Bucket=s3_bucket, Key="forced.txt")["ContentType"] == "text/x-custom"


def test_refused_credentials_are_permission_errors(libcloud_root):
    class Refusing(LocalStorageDriver):
        def get_object(self, container_name, object_name):
            raise InvalidCredsError("bad key", driver=self)

    storage = LibCloudStorage("local", providers=local_providers(libcloud_root, type=Refusing))
    with pytest.raises(PermissionError, match="bad key"):
        storage.exists("a.txt")


def test_names_too_long_for_a_local_filesystem_are_refused_before_writing(libcloud_local):
    storage = libcloud_local()
    with pytest.raises(SuspiciousFileOperation, match="allows 255"):
        storage.save("d/" + "x" * 256 + ".txt", ContentFile(b"x"))
    assert not storage.exists("d/" + "x" * 256 + ".txt")


def test_a_directory_is_not_a_file(libcloud_local, libcloud_root):
    storage = libcloud_local()
    storage.save("d/f.txt", ContentFile(b"x"))
    assert not storage.exists("d")
    with pytest.raises(FileNotFoundError):
        storage.open("d")
    assert storage.listdir("") == (["d"], [])


def test_bytes_read_at_odd_sizes(env):
    make, raw = env
    storage = make()
    data = os.urandom(2 * MiB + 3)
    raw.put("odd.bin", data)
    with storage.open("odd.bin") as handle:
        pieces = iter(lambda: handle.read(333_333), b"")
        assert b"".join(pieces) == data
    with storage.open("odd.bin") as handle:
        buffered = io.BufferedReader(handle.file, buffer_size=7)  # type: ignore[arg-type]
        assert buffered.read(5) == data[:5]
