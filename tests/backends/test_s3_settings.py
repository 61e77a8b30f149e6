"""Each S3 setting, shown by its effect on the objects stored in the server."""

from __future__ import annotations

import gzip
import os
import urllib.error

import pytest
from boto3.s3.transfer import TransferConfig
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from storages.backends.s3 import S3StaticStorage, S3Storage
from tests.servers.reference import fetch

MiB = 1024 * 1024


@pytest.fixture
def raw(moto_server, s3_bucket):
    """The raw SDK view of the test bucket: ``raw.head(key)``, ``raw.get(key)``, ``raw.keys()``."""
    client = moto_server.client()

    class Raw:
        def head(self, key, **kw):
            return client.head_object(Bucket=s3_bucket, Key=key, **kw)

        def get(self, key):
            return client.get_object(Bucket=s3_bucket, Key=key)

        def keys(self):
            pages = client.get_paginator("list_objects_v2").paginate(Bucket=s3_bucket)
            return sorted(o["Key"] for p in pages for o in p.get("Contents", ()))

        def acl(self, key):
            return client.get_object_acl(Bucket=s3_bucket, Key=key)["Grants"]

    return Raw()


def test_object_parameters_are_stored(s3_storage, raw):
    storage = s3_storage(
        object_parameters={
            "CacheControl": "max-age=86400",
            "ContentDisposition": "inline",
            "Metadata": {"owner": "team-a"},
            "StorageClass": "STANDARD_IA",
        }
    )
    storage.save("p.txt", ContentFile(b"x"))
    head = raw.head("p.txt")
    assert head["CacheControl"] == "max-age=86400"
    assert head["ContentDisposition"] == "inline"
    assert head["Metadata"] == {"owner": "team-a"}
    assert head["StorageClass"] == "STANDARD_IA"


def test_get_object_parameters_hook_varies_per_file(s3_storage, raw):
    class PerFile(S3Storage):
        def get_object_parameters(self, name):
            return {"CacheControl": "no-cache" if name.endswith(".html") else "max-age=60"}

    storage = s3_storage(PerFile)
    storage.save("a.html", ContentFile(b"<p>"))
    storage.save("a.css", ContentFile(b"p{}"))
    assert raw.head("a.html")["CacheControl"] == "no-cache"
    assert raw.head("a.css")["CacheControl"] == "max-age=60"


def test_content_type_is_guessed_or_taken_from_the_upload(s3_storage, raw):
    storage = s3_storage()
    storage.save("a.json", ContentFile(b"{}"))
    storage.save("upload.bin", SimpleUploadedFile("x", b"\x89PNG", content_type="image/png"))
    storage.save("noext", ContentFile(b"?"))
    assert raw.head("a.json")["ContentType"] == "application/json"
    assert raw.head("upload.bin")["ContentType"] == "image/png"
    assert raw.head("noext")["ContentType"] == "application/octet-stream"
    s3_storage(default_content_type="text/plain").save("noext2", ContentFile(b"?"))
    assert raw.head("noext2")["ContentType"] == "text/plain"


def test_default_acl_is_none_so_objects_stay_private(s3_storage, raw):
    storage = s3_storage(querystring_auth=False)
    name = storage.save("private.txt", ContentFile(b"p"))
    assert [g["Permission"] for g in raw.acl(name)] == ["FULL_CONTROL"]
    with pytest.raises(urllib.error.HTTPError):
        fetch(storage.url(name))


def test_default_acl_public_read(s3_storage, raw):
    storage = s3_storage(default_acl="public-read", querystring_auth=False)
    name = storage.save("public.txt", ContentFile(b"p"))
    grantees = {g["Grantee"].get("URI", "") for g in raw.acl(name)}
    assert "http://acs.amazonaws.com/groups/global/AllUsers" in grantees
    assert fetch(storage.url(name)) == b"p"


def test_acl_in_object_parameters_wins_over_default_acl(s3_storage, raw):
    storage = s3_storage(default_acl="public-read", object_parameters={"ACL": "private"})
    name = storage.save("x.txt", ContentFile(b"p"))
    assert [g["Permission"] for g in raw.acl(name)] == ["FULL_CONTROL"]


def test_location_prefixes_every_key(s3_storage, raw):
    storage = s3_storage(location="media/uploads")
    name = storage.save("a/b.txt", ContentFile(b"x"))
    assert name == "a/b.txt"
    assert raw.keys() == ["media/uploads/a/b.txt"]
    assert storage.listdir("") == (["a"], [])
    assert storage.listdir("a") == ([], ["b.txt"])


@override_settings(AWS_LOCATION="from-settings")
def test_location_from_django_settings(s3_storage, raw):
    s3_storage().save("x.txt", ContentFile(b"x"))
    assert raw.keys() == ["from-settings/x.txt"]


def test_file_overwrite_default_replaces(s3_storage, raw):
    storage = s3_storage()
    storage.save("same.txt", ContentFile(b"one"))
    assert storage.save("same.txt", ContentFile(b"two")) == "same.txt"
    assert raw.keys() == ["same.txt"]
    assert raw.get("same.txt")["Body"].read() == b"two"


@pytest.mark.parametrize("option", ["file_overwrite", "overwrite_files"])
def test_file_overwrite_off_keeps_both(s3_storage, raw, option):
    storage = s3_storage(**{option: False})
    storage.save("same.txt", ContentFile(b"one"))
    second = storage.save("same.txt", ContentFile(b"two"))
    assert second != "same.txt"
    assert raw.keys() == sorted(["same.txt", second])


@override_settings(AWS_S3_FILE_OVERWRITE=False)
def test_file_overwrite_from_settings(s3_storage, raw):
    storage = s3_storage()
    storage.save("s.txt", ContentFile(b"1"))
    storage.save("s.txt", ContentFile(b"2"))
    assert len(raw.keys()) == 2


def test_gzip_compresses_listed_types_and_reads_back(s3_storage, raw):
    storage = s3_storage(gzip=True)
    css = b"body { color: red }\n" * 500
    storage.save("site.css", ContentFile(css))
    storage.save("image.png", ContentFile(b"\x89PNG" * 100))
    stored = raw.get("site.css")
    assert stored["ContentEncoding"] == "gzip"
    body = stored["Body"].read()
    assert gzip.decompress(body) == css and len(body) < len(css)
    assert "ContentEncoding" not in raw.head("image.png")
    assert storage.open("site.css").read() == css


def test_gzip_content_types_setting(s3_storage, raw):
    storage = s3_storage(gzip=True, gzip_content_types=("application/json",))
    storage.save("d.json", ContentFile(b"[1]" * 100))
    storage.save("s.css", ContentFile(b"p{}" * 100))
    assert raw.head("d.json")["ContentEncoding"] == "gzip"
    assert "ContentEncoding" not in raw.head("s.css")


@override_settings(AWS_IS_GZIPPED=True)
def test_gzip_large_file_streams_in_parts(s3_storage, raw):
    storage = s3_storage(
        transfer_config=TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)
    )
    text = b"".join(b"line %d of a very large javascript file\n" % i for i in range(600_000))
    storage.save("big.js", ContentFile(text))
    assert raw.head("big.js")["ContentEncoding"] == "gzip"
    assert gzip.decompress(raw.get("big.js")["Body"].read()) == text
    assert storage.open("big.js").read() == text


def test_gzip_off_leaves_bodies_alone(s3_storage, raw):
    s3_storage().save("plain.css", ContentFile(b"p{}"))
    assert raw.get("plain.css")["Body"].read() == b"p{}"


def test_encoding_of_compressed_names_is_declared(s3_storage, raw):
    payload = gzip.compress(b"tar bytes")
    storage = s3_storage(gzip=True)
    storage.save("backup.tar.gz", ContentFile(payload))
    assert raw.head("backup.tar.gz")["ContentEncoding"] == "gzip"
    assert storage.open("backup.tar.gz").read() == payload  # not decompressed: we did not gzip it


def test_file_buffer_size_sets_the_part_size(s3_storage, raw):
    data = b"x" * (12 * MiB)
    for buffer_size, parts in ((5 * MiB, 3), (7 * MiB, 2)):
        storage = s3_storage(file_buffer_size=buffer_size)
        with storage.open(f"b{parts}.bin", "wb") as handle:
            handle.write(data)
        assert raw.head(f"b{parts}.bin")["ETag"].endswith(f'-{parts}"')
        assert raw.head(f"b{parts}.bin")["ContentLength"] == len(data)


def test_file_buffer_size_below_the_s3_minimum_is_refused():
    with pytest.raises(ImproperlyConfigured, match="AWS_S3_FILE_BUFFER_SIZE"):
        S3Storage(bucket_name="b", file_buffer_size=1024)


def test_transfer_config_controls_multipart_saves(s3_storage, raw):
    data = b"y" * (20 * MiB)
    s3_storage().save("default.bin", ContentFile(data))
    large = TransferConfig(multipart_threshold=8 * MiB, multipart_chunksize=10 * MiB)
    s3_storage(transfer_config=large).save("large-parts.bin", ContentFile(data))
    s3_storage(file_buffer_size=10 * MiB).save("buffer-size.bin", ContentFile(data))
    unthreaded = s3_storage(use_threads=False)
    unthreaded.save("no-threads.bin", ContentFile(data))
    # Saves are cut like boto3's default TransferConfig (8 MiB parts), as django-storages' are;
    # AWS_S3_FILE_BUFFER_SIZE is the part size of files opened for writing only; a
    # TransferConfig, where given, decides.
    assert raw.head("default.bin")["ETag"].endswith('-3"')
    assert raw.head("large-parts.bin")["ETag"].endswith('-2"')
    assert raw.head("buffer-size.bin")["ETag"].endswith('-3"')
    assert raw.head("no-threads.bin")["ETag"].endswith('-3"')
    assert unthreaded.upload_concurrency == 1


def test_small_save_is_a_single_put(s3_storage, raw):
    s3_storage().save("one.bin", ContentFile(b"z" * MiB))
    assert "-" not in raw.head("one.bin")["ETag"]


@pytest.mark.parametrize("mode,stored", [("when_required", False), ("when_supported", True)])
def test_request_checksum_calculation(s3_storage, raw, mode, stored):
    s3_storage(request_checksum_calculation=mode).save("c.txt", ContentFile(b"checksum me"))
    head = raw.head("c.txt", ChecksumMode="ENABLED")
    assert ("ChecksumCRC32" in head) is stored


def test_bad_checksum_policy_is_refused():
    with pytest.raises(ImproperlyConfigured, match="AWS_S3_REQUEST_CHECKSUM_CALCULATION"):
        S3Storage(bucket_name="b", request_checksum_calculation="always")


def test_missing_bucket_name_fails_at_first_use_naming_the_setting():
    storage = S3Storage()
    with pytest.raises(ImproperlyConfigured, match="AWS_STORAGE_BUCKET_NAME"):
        storage.exists("x")


def test_location_with_leading_slash_is_refused():
    with pytest.raises(ImproperlyConfigured, match="AWS_LOCATION"):
        S3Storage(bucket_name="b", location="/media")


def test_endpoint_url_must_be_a_url():
    with pytest.raises(ImproperlyConfigured, match="AWS_S3_ENDPOINT_URL"):
        S3Storage(bucket_name="b", endpoint_url="minio:9000")


def test_static_storage_urls_are_plain(moto_server, s3_bucket):
    storage = S3StaticStorage(**moto_server.options(s3_bucket))
    assert "?" not in storage.url("css/app.css")


@override_settings(AWS_QUERYSTRING_AUTH=False)
def test_querystring_auth_from_settings(s3_storage):
    assert "?" not in s3_storage().url("a.txt")


# -- settings of the 1.9.1 documentation that later releases removed ----------------------


def test_encryption_setting_requests_aes256(s3_storage, raw):
    with pytest.warns(DeprecationWarning, match="ServerSideEncryption"):
        storage = s3_storage(encryption=True)
    storage.save("enc.txt", ContentFile(b"x"))
    assert raw.head("enc.txt")["ServerSideEncryption"] == "AES256"


@override_settings(AWS_REDUCED_REDUNDANCY=True)
def test_reduced_redundancy_sets_the_storage_class(s3_storage, raw):
    with pytest.warns(DeprecationWarning, match="StorageClass"):
        storage = s3_storage()
    storage.save("rr.txt", ContentFile(b"x"))
    assert raw.head("rr.txt")["StorageClass"] == "REDUCED_REDUNDANCY"


def test_auto_create_bucket_with_bucket_acl(moto_server):
    options = moto_server.options("auto-created-bucket")
    with pytest.warns(DeprecationWarning) as records:
        storage = S3Storage(**options, auto_create_bucket=True, bucket_acl="public-read")
    messages = " ".join(str(r.message) for r in records)
    assert "auto_create_bucket is deprecated" in messages
    assert "bucket_acl is deprecated" in messages
    storage.save("x.txt", ContentFile(b"x"))
    client = moto_server.client()
    assert client.get_object(Bucket="auto-created-bucket", Key="x.txt")["Body"].read() == b"x"
    grants = client.get_bucket_acl(Bucket="auto-created-bucket")["Grants"]
    assert any(g["Grantee"].get("URI", "").endswith("AllUsers") for g in grants)
    moto_server.reset()


def test_preload_metadata_warns_and_still_works(s3_storage):
    with pytest.warns(DeprecationWarning, match="no effect"):
        storage = s3_storage(preload_metadata=True)
    storage.save("m.txt", ContentFile(b"x"))
    assert storage.exists("m.txt")


@override_settings(AWS_HEADERS={"Cache-Control": "max-age=5", "x-amz-meta-origin": "legacy"})
def test_boto2_headers_setting_becomes_object_parameters(s3_storage, raw):
    with pytest.warns(DeprecationWarning, match="AWS_HEADERS"):
        storage = s3_storage()
    storage.save("h.txt", ContentFile(b"x"))
    head = raw.head("h.txt")
    assert head["CacheControl"] == "max-age=5"
    assert head["Metadata"] == {"origin": "legacy"}


def test_boto2_host_and_port_become_the_endpoint(moto_server, s3_bucket):
    options = moto_server.options(s3_bucket)
    del options["endpoint_url"], options["region_name"]
    with (
        override_settings(
            AWS_S3_HOST="127.0.0.1", AWS_S3_PORT=moto_server.port, AWS_ORIGIN="us-east-1"
        ),
        pytest.warns(DeprecationWarning),
    ):
        storage = S3Storage(use_ssl=False, **options)
    assert storage.endpoint_url == f"http://127.0.0.1:{moto_server.port}"
    assert storage.region_name == "us-east-1"
    storage.save("legacy.txt", ContentFile(b"via host+port"))
    assert storage.open("legacy.txt").read() == b"via host+port"


@override_settings(AWS_S3_CALLING_FORMAT="boto.s3.connection.OrdinaryCallingFormat")
def test_boto2_calling_format_becomes_the_addressing_style():
    with pytest.warns(DeprecationWarning, match="AWS_S3_ADDRESSING_STYLE"):
        storage = S3Storage(
            bucket_name="my-bucket", region_name="eu-west-1", access_key="AKIA", secret_key="s"
        )
    assert storage.url("k").startswith("https://s3.eu-west-1.amazonaws.com/my-bucket/k?")


def test_signed_url_without_credentials_names_the_settings(monkeypatch, tmp_path):
    for var in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_S3_ACCESS_KEY_ID",
        "AWS_S3_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    storage = S3Storage(bucket_name="b", region_name="eu-west-1")
    with pytest.raises(ImproperlyConfigured, match="AWS_QUERYSTRING_AUTH"):
        storage.url("k")
    assert S3Storage(bucket_name="b", querystring_auth=False, region_name="eu-west-1").url("k")


def test_non_seekable_upload_with_a_low_threshold_keeps_parts_large(s3_storage, raw):
    import io

    from django.core.files import File

    class Pipe(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self._data = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer) -> int:
            chunk = self._data.read(min(len(buffer), 65536))
            buffer[: len(chunk)] = chunk
            return len(chunk)

    data = os.urandom(17 * MiB)
    config = TransferConfig(multipart_threshold=1 * MiB, multipart_chunksize=6 * MiB)
    storage = s3_storage(transfer_config=config)
    storage.save("piped.bin", File(io.BufferedReader(Pipe(data))))
    head = raw.head("piped.bin")
    assert head["ETag"].endswith('-3"')  # 6 + 6 + 5 MiB: no undersized first part
    assert raw.get("piped.bin")["Body"].read() == data


def test_names_longer_than_s3_allows_are_refused_clearly(s3_storage, raw):
    from django.core.exceptions import SuspiciousFileOperation

    storage = s3_storage(location="media")
    with pytest.raises(SuspiciousFileOperation, match="allows 1024"):
        storage.save("ü" * 600 + ".txt", ContentFile(b"x"))
    assert raw.keys() == []
    name = storage.save("d/" + "a" * 2000 + ".txt", ContentFile(b"x"), max_length=200)
    assert len(name) <= 200 and raw.keys() == ["media/" + name]
