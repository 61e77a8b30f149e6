"""S3 behaviour beyond the shared contract: request counts, streaming, races, aborts, errors."""

from __future__ import annotations

import gc
import io
import os
import pickle
import threading
import tracemalloc
from pathlib import Path

import pytest
from botocore.awsrequest import AWSResponse
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.test import override_settings

from storages.backends.s3 import S3Storage
from storages.errors import StorageError
from tests.servers import wait_until
from tests.servers.reference import fetch

MiB = 1024 * 1024


class EmptyBody:
    """The raw body of an injected response."""

    def stream(self, **_):
        return iter([b""])


class Calls:
    """Records the S3 operations a storage's client performs (instrumentation, not a mock)."""

    def __init__(self, storage: S3Storage) -> None:
        self.names: list[str] = []
        self.params: list[dict] = []
        storage.client.meta.events.register("before-call.s3", self._record)

    def _record(self, model, params, **_):
        self.names.append(model.name)
        self.params.append(params)

    def clear(self) -> None:
        self.names.clear()
        self.params.clear()


@pytest.fixture
def raw(moto_server):
    return moto_server.client()


def test_metadata_methods_are_one_head_each(s3_storage):
    storage = s3_storage()
    storage.save("h.txt", ContentFile(b"abc"))
    calls = Calls(storage)
    assert storage.exists("h.txt") and not storage.exists("missing.txt")
    assert storage.size("h.txt") == 3
    storage.get_modified_time("h.txt")
    assert calls.names == ["HeadObject"] * 4


def test_small_save_is_one_put_object(s3_storage):
    storage = s3_storage()
    calls = Calls(storage)
    storage.save("small.txt", ContentFile(b"x" * 1000))
    assert calls.names == ["PutObject"]


def test_create_only_small_save_sends_if_none_match(s3_storage):
    storage = s3_storage(file_overwrite=False)
    calls = Calls(storage)
    storage.save("c.txt", ContentFile(b"x"))
    assert calls.names == ["HeadObject", "PutObject"]
    assert calls.params[1]["headers"].get("If-None-Match") == "*"


def test_listdir_reads_every_page(moto_server, s3_bucket, raw):
    class SmallPages(S3Storage):
        list_page_size = 10

    storage = SmallPages(**moto_server.options(s3_bucket))
    for i in range(35):
        raw.put_object(Bucket=s3_bucket, Key=f"many/f{i:02d}.txt", Body=b"")
    for i in range(12):
        raw.put_object(Bucket=s3_bucket, Key=f"many/d{i:02d}/x.txt", Body=b"")
    raw.put_object(Bucket=s3_bucket, Key="many/", Body=b"")  # a console-made folder marker
    calls = Calls(storage)
    dirs, files = storage.listdir("many")
    assert files == [f"f{i:02d}.txt" for i in range(35)]
    assert dirs == [f"d{i:02d}" for i in range(12)]
    assert calls.names.count("ListObjectsV2") == 5


def test_racing_large_saves_keep_both(moto_server, raw, s3_bucket):
    """Both writers find the name free, then both write: the second completion must not win.

    moto checks If-None-Match and then stores without a lock, so two completions arriving in
    the same instant can both pass there (real S3 decides atomically). The test therefore lets
    both writers pass the availability check together and then completes them one after the
    other, which is exactly the window a check-then-write implementation loses a file in.
    """
    both_checked = threading.Barrier(2)
    first_done = threading.Event()

    class Racing(S3Storage):
        def is_name_available(self, name, max_length=None):
            free = super().is_name_available(name, max_length)
            if name == "race/big.bin":
                both_checked.wait(timeout=30)
            return free

    storage = Racing(**moto_server.options(s3_bucket, file_overwrite=False))

    arrivals: list[str] = []
    arrivals_lock = threading.Lock()

    def hold_second_completion(params, **_):
        # Completions run in transfer-manager worker threads: order them by arrival.
        with arrivals_lock:
            arrivals.append(params["UploadId"])
            later = len(arrivals) > 1 and params["UploadId"] != arrivals[0]
        if later:
            first_done.wait(timeout=30)

    storage.client.meta.events.register(
        "before-parameter-build.s3.CompleteMultipartUpload", hold_second_completion
    )
    payloads = [os.urandom(9 * MiB), os.urandom(9 * MiB)]
    names: dict[int, str] = {}

    def save(i: int) -> None:
        names[i] = storage.save("race/big.bin", ContentFile(payloads[i]))
        first_done.set()

    threads = [threading.Thread(target=save, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(names.values())[0] == "race/big.bin" and len(set(names.values())) == 2
    for i, name in names.items():
        assert raw.get_object(Bucket=s3_bucket, Key=name)["Body"].read() == payloads[i]
    assert raw.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []


def test_multipart_create_only_conflict_takes_the_next_name(moto_server, s3_bucket, raw):
    class LateWriter(S3Storage):
        """Another process stores the name after our availability check."""

        def is_name_available(self, name, max_length=None):
            if name == "late.bin" and not super().exists(name):
                raw.put_object(Bucket=s3_bucket, Key="late.bin", Body=b"theirs")
                return True
            return super().is_name_available(name, max_length)

    class Pipe(io.RawIOBase):
        """A non-seekable source, so the retry must replay what the first attempt read."""

        def __init__(self, data: bytes) -> None:
            self._data = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer) -> int:
            chunk = self._data.read(len(buffer))
            buffer[: len(chunk)] = chunk
            return len(chunk)

    # max_memory_size: the replay copy spills to disk beyond 1 MiB instead of growing in memory.
    storage = LateWriter(
        **moto_server.options(s3_bucket, file_overwrite=False, max_memory_size=MiB)
    )
    data = os.urandom(10 * MiB)
    name = storage.save("late.bin", File(io.BufferedReader(Pipe(data))))
    assert name != "late.bin"
    assert raw.get_object(Bucket=s3_bucket, Key="late.bin")["Body"].read() == b"theirs"
    assert raw.get_object(Bucket=s3_bucket, Key=name)["Body"].read() == data


def test_failed_streamed_write_leaves_no_parts_and_no_object(s3_storage, raw, s3_bucket):
    storage = s3_storage()
    with pytest.raises(RuntimeError), storage.open("aborted.bin", "wb") as handle:
        handle.write(os.urandom(11 * MiB))  # two parts already uploaded
        raise RuntimeError("the view failed half way")
    assert raw.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []
    assert not storage.exists("aborted.bin")


@pytest.mark.parametrize("mode", ["wb", "w"])
def test_unclosed_writer_is_aborted_by_the_janitor_not_the_collector(
    s3_storage, raw, s3_bucket, mode
):
    storage = s3_storage()
    aborted_in = []
    storage.client.meta.events.register(
        "before-send.s3.AbortMultipartUpload",
        lambda **_: aborted_in.append(threading.current_thread().name),
    )
    files = [storage.open("dropped.bin", mode)]
    data = os.urandom(11 * MiB)  # two parts uploaded before the file is dropped
    files[0].write(data if mode == "wb" else data.hex()[: len(data)])
    assert len(raw.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", [])) == 1
    files.append(files)  # a reference cycle: only the garbage collector frees it
    files.clear()
    del files
    gc.collect()
    # Not inside the collection, which may start while the HTTP client holds a lock it needs.
    wait_until(lambda: aborted_in, timeout=20, what="the abort request")
    assert aborted_in == ["storages-janitor"]
    wait_until(
        lambda: raw.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == [],
        timeout=20,
        what="no multipart uploads left",
    )
    assert not storage.exists("dropped.bin")


def test_failed_multipart_save_is_aborted(s3_storage, raw, s3_bucket):
    storage = s3_storage()
    failures = []

    def fail_second_part(request, **_):
        # Fault injected at the client seam: the service answers part 2 with errors.
        if "partNumber=2" in request.url:
            failures.append(request.url)
            return AWSResponse(request.url, 500, {}, EmptyBody())
        return None

    storage.client.meta.events.register("before-send.s3.UploadPart", fail_second_part)
    with pytest.raises(StorageError):
        storage.save("broken.bin", ContentFile(os.urandom(20 * MiB)))
    assert failures
    assert raw.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []
    assert not storage.exists("broken.bin")


def test_access_denied_is_a_permission_error(s3_storage):
    storage = s3_storage()

    def deny(request, **_):
        # Fault injected at the client seam: moto does not enforce permissions.
        return AWSResponse(request.url, 403, {}, EmptyBody())

    storage.client.meta.events.register("before-send.s3.HeadObject", deny)
    with pytest.raises(PermissionError):
        storage.exists("secret.txt")
    with pytest.raises(PermissionError):
        storage.size("secret.txt")


def test_seek_uses_ranged_gets(s3_storage):
    storage = s3_storage()
    data = os.urandom(4 * MiB)
    storage.save("ranged.bin", ContentFile(data))
    handle = storage.open("ranged.bin")
    calls = Calls(storage)
    handle.seek(3 * MiB)
    assert handle.read(100) == data[3 * MiB : 3 * MiB + 100]
    handle.seek(10)
    assert handle.read(10) == data[10:20]
    gets = [p for n, p in zip(calls.names, calls.params, strict=True) if n == "GetObject"]
    assert [g["headers"].get("Range") for g in gets] == [f"bytes={3 * MiB}-", "bytes=10-"]
    handle.close()


def test_an_object_replaced_during_a_read_is_detected(s3_storage, raw, s3_bucket):
    storage = s3_storage()
    storage.save("moving.bin", ContentFile(os.urandom(3 * MiB)))
    handle = storage.open("moving.bin")
    handle.read(10)
    raw.put_object(Bucket=s3_bucket, Key="moving.bin", Body=b"new version")
    with pytest.raises(StorageError, match="changed while it was being read"):
        handle.seek(2 * MiB)
        handle.read(10)


def test_reading_streams_with_bounded_memory(s3_storage, raw, s3_bucket):
    storage = s3_storage()
    raw.put_object(Bucket=s3_bucket, Key="big.bin", Body=os.urandom(48 * MiB))
    storage.exists("big.bin")  # load botocore's models before measuring
    tracemalloc.start()
    try:
        total = 0
        with storage.open("big.bin") as handle:
            for chunk in handle.chunks(MiB):
                total += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == 48 * MiB
    assert peak < 8 * MiB


def test_writing_streams_with_bounded_memory(s3_storage, raw, s3_bucket):
    storage = s3_storage()
    block = os.urandom(MiB)
    storage.exists("written.bin")  # load botocore's models before measuring
    tracemalloc.start()
    try:
        with storage.open("written.bin", "wb") as handle:
            for _ in range(40):
                handle.write(block)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert raw.head_object(Bucket=s3_bucket, Key="written.bin")["ContentLength"] == 40 * MiB
    # The part being filled, the parts in flight (upload_concurrency) and botocore's request.
    assert peak < (storage.upload_concurrency + 2) * 5 * MiB + 4 * MiB


def test_storage_pickles_without_its_client(s3_storage):
    storage = s3_storage()
    storage.save("p.txt", ContentFile(b"pickled"))
    _ = storage.url("p.txt")
    data = pickle.dumps(storage)
    assert b"testing-secret-key" not in data
    clone = pickle.loads(data)
    assert clone.open("p.txt").read() == b"pickled"
    assert fetch(clone.url("p.txt")) == b"pickled"


def test_deconstruct_omits_secrets(s3_storage):
    path, _args, kwargs = s3_storage().deconstruct()
    assert path == "storages.backends.s3.S3Storage"
    assert "secret_key" not in kwargs and "access_key" not in kwargs
    assert kwargs["bucket_name"].startswith("test-")


def test_s3boto3_aliases_are_the_same_classes():
    from storages.backends import s3, s3boto3

    assert s3boto3.S3Boto3Storage is s3.S3Storage
    assert s3boto3.S3Boto3StorageFile is s3.S3File
    assert s3boto3.S3StaticStorage is s3.S3StaticStorage
    assert s3boto3.S3ManifestStaticStorage is s3.S3ManifestStaticStorage


def test_shared_instance_across_threads(s3_storage):
    from concurrent.futures import ThreadPoolExecutor

    storage = s3_storage(file_overwrite=False)

    def work(i: int) -> bytes:
        name = storage.save(f"t/{i % 3}.txt", ContentFile(b"%d" % i))
        return storage.open(name).read()

    with ThreadPoolExecutor(8) as pool:
        assert sorted(pool.map(work, range(24))) == sorted(b"%d" % i for i in range(24))
    assert len(storage.listdir("t")[1]) == 24


def test_collectstatic_with_the_manifest_storage(moto_server, s3_bucket, tmp_path: Path, raw):
    source = tmp_path / "static"
    (source / "css").mkdir(parents=True)
    (source / "img").mkdir()
    (source / "img" / "logo.png").write_bytes(b"\x89PNG fake logo")
    (source / "css" / "app.css").write_text('body { background: url("../img/logo.png"); }')
    options = moto_server.options(s3_bucket, location="static")
    storages = {
        "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
        "staticfiles": {
            "BACKEND": "storages.backends.s3.S3ManifestStaticStorage",
            "OPTIONS": options,
        },
    }
    with override_settings(STORAGES=storages, STATICFILES_DIRS=[str(source)]):
        call_command("collectstatic", interactive=False, verbosity=0)
        from django.contrib.staticfiles.storage import staticfiles_storage

        url = staticfiles_storage.url("css/app.css")
        keys = {o["Key"] for o in raw.list_objects_v2(Bucket=s3_bucket)["Contents"]}
        assert "static/staticfiles.json" in keys
        hashed_css = next(
            k for k in keys if k.startswith("static/css/app.") and k != "static/css/app.css"
        )
        assert url.endswith(hashed_css.removeprefix("static/"))
        assert "?" not in url
        body = raw.get_object(Bucket=s3_bucket, Key=hashed_css)["Body"].read().decode()
        assert "logo." in body and "logo.png" not in body  # the reference was rewritten
        assert b"logo" in fetch_public(raw, s3_bucket, hashed_css)


def fetch_public(raw, bucket: str, key: str) -> bytes:
    return raw.get_object(Bucket=bucket, Key=key)["Body"].read()


def test_file_obj_is_the_boto3_object_of_the_file(s3_storage):
    storage = s3_storage()
    name = storage.save("obj/a.txt", ContentFile(b"via the resource"))
    with storage.open(name) as handle:
        assert handle.obj.get()["Body"].read() == b"via the resource"
        assert handle.obj.key == storage._key(name)


def test_a_subclass_config_attribute_still_configures_the_client():
    from botocore.config import Config

    from storages.backends.s3 import S3Storage

    class Legacy(S3Storage):
        config = Config(user_agent_extra="stowage-legacy-config")

    with pytest.warns(DeprecationWarning, match="client_config"):
        legacy = Legacy(bucket_name="b")
    assert "stowage-legacy-config" in legacy._botocore_config().user_agent_extra


def _sent_headers(calls: Calls, name: str) -> list[dict]:
    return [p["headers"] for n, p in zip(calls.names, calls.params, strict=True) if n == name]


def test_multipart_save_checks_every_part_as_boto3_does(s3_storage, raw, s3_bucket):
    storage = s3_storage()
    calls = Calls(storage)
    data = os.urandom(20 * MiB)
    storage.save("summed.bin", ContentFile(data))
    assert calls.names[0] == "CreateMultipartUpload"
    assert _sent_headers(calls, "CreateMultipartUpload")[0]["x-amz-checksum-algorithm"] == "CRC32"
    complete = calls.params[calls.names.index("CompleteMultipartUpload")]["body"]
    assert complete.count(b"<ChecksumCRC32>") == calls.names.count("UploadPart") == 3
    assert all("x-amz-checksum-crc32" in h for h in _sent_headers(calls, "UploadPart"))
    head = raw.head_object(Bucket=s3_bucket, Key="summed.bin", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32"]  # the service kept (and so checked) the parts' CRC32
    assert raw.get_object(Bucket=s3_bucket, Key="summed.bin")["Body"].read() == data


def test_multipart_save_uses_the_checksum_algorithm_of_the_object_parameters(
    s3_storage, raw, s3_bucket
):
    storage = s3_storage(object_parameters={"ChecksumAlgorithm": "SHA256"})
    calls = Calls(storage)
    storage.save("sha.bin", ContentFile(os.urandom(9 * MiB)))
    assert _sent_headers(calls, "CreateMultipartUpload")[0]["x-amz-checksum-algorithm"] == "SHA256"
    complete = calls.params[calls.names.index("CompleteMultipartUpload")]["body"]
    assert complete.count(b"<ChecksumSHA256>") == 2
    head = raw.head_object(Bucket=s3_bucket, Key="sha.bin", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"]  # the service kept (and so checked) the parts' SHA-256


def test_multipart_save_sends_no_checksum_when_only_required_ones_are_wanted(
    s3_storage, raw, s3_bucket
):
    storage = s3_storage(request_checksum_calculation="when_required")
    calls = Calls(storage)
    data = os.urandom(9 * MiB)
    storage.save("plain.bin", ContentFile(data))
    assert "x-amz-checksum-algorithm" not in _sent_headers(calls, "CreateMultipartUpload")[0]
    complete = calls.params[calls.names.index("CompleteMultipartUpload")]["body"]
    assert b"Checksum" not in complete
    assert raw.get_object(Bucket=s3_bucket, Key="plain.bin")["Body"].read() == data
