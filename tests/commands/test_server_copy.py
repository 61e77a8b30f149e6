"""``storages copy|sync`` between two buckets of one service: copies inside the service.

Each test counts the HTTP requests both storages send (boto3's ``before-send`` event, a response
hook on the GCS client's session, Azure's ``raw_request_hook``) to prove that no body was
downloaded or uploaded, and reads the copies back through the raw SDK: bytes, content type and
the checksum metadata a streamed copy would have stored.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import uuid
from collections import Counter
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import pytest
from azure.storage.blob import ContentSettings
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.core.management import call_command
from django.test import override_settings

from storages._sync import SyncFailed
from storages._transfer import transfer
from storages.backends.azure_storage import AzureStorage
from storages.backends.gcloud import GoogleCloudStorage
from storages.backends.s3 import S3Storage
from storages.objects import CHECKSUM_METADATA

MiB = 1024 * 1024
FILES = {
    "site.css": b"body { color: red; }\n" * 40,
    "js/app.js": b"console.log('hi');\n" * 30,
    "img/deep/logo.png": bytes(range(256)) * 16,
}


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


class S3Requests(Counter[str]):
    """HTTP requests a boto3 client sends, as "METHOD operation" (``before-send``)."""

    def __init__(self, storage: Any) -> None:
        super().__init__()
        self.bodies = 0  # bytes of request bodies sent
        storage.client.meta.events.register("before-send.s3", self._count)

    def _count(self, request: Any, event_name: str, **_: Any) -> None:
        operation = event_name.rsplit(".", 1)[-1]  # before-send.s3.<operation>
        self[f"{request.method} {operation}"] += 1
        body = request.body
        self.bodies += len(body) if isinstance(body, bytes) else 0


@pytest.fixture
def second_bucket(moto_server):
    name = f"copy-{uuid.uuid4().hex[:12]}"
    moto_server.client().create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3_pair(moto_server, s3_bucket, second_bucket):
    """STORAGES with two S3 buckets of one account, under different locations."""
    entries = {
        "src": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": moto_server.options(s3_bucket, location="from"),
        },
        "dst": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": moto_server.options(
                second_bucket,
                location="to/here",
                object_parameters={"CacheControl": "max-age=60"},
            ),
        },
    }
    with override_settings(STORAGES=entries):
        yield storages["src"], storages["dst"]


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("storages", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_s3_sync_copies_inside_the_service(moto_server, s3_pair):
    source, destination = s3_pair
    raw = moto_server.client()
    for name, data in FILES.items():
        # A content type the destination would not choose: the copy takes the destination's.
        raw.put_object(
            Bucket=source.bucket_name, Key=f"from/{name}", Body=data, ContentType="x/wrong"
        )
    sent, received = S3Requests(source), S3Requests(destination)

    out = run("sync", "src", "dst")

    assert "3 copied (3 inside the service), 0 skipped" in out
    assert sent == {"GET ListObjectsV2": 1}  # listed, never read
    assert received == {"GET ListObjectsV2": 1, "PUT CopyObject": 3}
    assert received.bodies == 0
    types = {
        "site.css": "text/css",
        "js/app.js": "text/javascript",
        "img/deep/logo.png": "image/png",
    }
    for name, data in FILES.items():
        stored = raw.get_object(Bucket=destination.bucket_name, Key=f"to/here/{name}")
        assert stored["Body"].read() == data
        assert stored["ContentType"] == types[name]
        assert stored["CacheControl"] == "max-age=60"
        assert stored["Metadata"] == {CHECKSUM_METADATA: md5(data)}

    assert "0 copied, 3 skipped (identical)" in run("sync", "src", "dst")
    assert received["PUT CopyObject"] == 3


def test_s3_large_objects_are_copied_part_by_part(moto_server, s3_pair, monkeypatch):
    source, destination = s3_pair
    # moto refuses parts under 5 MiB except the last one: 11 MiB make parts of 5, 5 and 1.
    monkeypatch.setattr(S3Storage, "copy_single_limit", MiB)
    monkeypatch.setattr(S3Storage, "copy_part_size", 5 * MiB)
    data = bytes(range(256)) * (11 * MiB // 256)
    # Stored in two parts by an earlier sync: the checksum is only in the metadata.
    raw = moto_server.client()
    key = {"Bucket": source.bucket_name, "Key": "from/big.bin"}
    upload = raw.create_multipart_upload(**key, Metadata={CHECKSUM_METADATA: md5(data)})
    parts = [
        {
            "PartNumber": n,
            "ETag": raw.upload_part(**key, UploadId=upload["UploadId"], PartNumber=n, Body=chunk)[
                "ETag"
            ],
        }
        for n, chunk in ((1, data[: 6 * MiB]), (2, data[6 * MiB :]))
    ]
    raw.complete_multipart_upload(
        **key, UploadId=upload["UploadId"], MultipartUpload={"Parts": parts}
    )
    sent, received = S3Requests(source), S3Requests(destination)

    stats = transfer(source, destination)

    assert (stats.copied, stats.server_side, stats.bytes) == (1, 1, len(data))
    assert sent == {"GET ListObjectsV2": 1, "HEAD HeadObject": 1}
    assert received == {
        "GET ListObjectsV2": 1,
        "POST CreateMultipartUpload": 1,
        "PUT UploadPartCopy": 3,
        "POST CompleteMultipartUpload": 1,
    }
    assert received.bodies < 2000  # the completion's part list, no object bytes
    stored = raw.get_object(Bucket=destination.bucket_name, Key="to/here/big.bin")
    assert stored["Body"].read() == data
    assert stored["ETag"].strip('"').endswith("-3")
    assert stored["Metadata"] == {CHECKSUM_METADATA: md5(data)}
    assert stored["ContentType"] == "application/octet-stream"


def test_s3_copies_are_pinned_to_the_listed_version(moto_server, s3_pair):
    source, destination = s3_pair
    raw = moto_server.client()
    etag = raw.put_object(Bucket=source.bucket_name, Key="from/a.txt", Body=b"listed")["ETag"]
    conditions = []

    def seen(request: Any, **_: Any) -> None:
        conditions.append(request.headers.get("x-amz-copy-source-if-match"))

    def refuse(**_: Any) -> Any:
        # moto ignores x-amz-copy-source-if-match, so its 412 (the source was replaced since
        # the listing) is injected at the client seam: the answer S3 gives.
        error = {"Code": "PreconditionFailed", "Message": "At least one precondition failed"}
        return SimpleNamespace(status_code=412, headers={}), {
            "Error": error,
            "ResponseMetadata": {"HTTPStatusCode": 412},
        }

    events = destination.client.meta.events
    events.register("before-send.s3.CopyObject", seen)
    transfer(source, destination)
    assert [c.encode() if isinstance(c, str) else c for c in conditions] == [etag.encode()]

    raw.put_object(Bucket=source.bucket_name, Key="from/a.txt", Body=b"changed")
    events.register("before-call.s3.CopyObject", refuse)
    with pytest.raises(SyncFailed) as failed:
        transfer(source, destination)

    assert list(failed.value.failures) == ["a.txt"]
    assert "changed while it was being copied" in str(failed.value.failures["a.txt"])
    stored = raw.get_object(Bucket=destination.bucket_name, Key="to/here/a.txt")["Body"].read()
    assert stored == b"listed"


@pytest.mark.parametrize(
    "options",
    [{"access_key": "another-account"}, {"gzip": True}],
    ids=["other-credentials", "destination-compresses"],
)
def test_s3_streams_when_a_copy_inside_would_differ(moto_server, s3_bucket, second_bucket, options):
    source = S3Storage(**moto_server.options(s3_bucket))
    destination = S3Storage(**moto_server.options(second_bucket, **options))
    source.save("site.css", ContentFile(FILES["site.css"]))
    sent, received = S3Requests(source), S3Requests(destination)

    stats = transfer(source, destination)

    assert (stats.copied, stats.server_side) == (1, 0)
    assert sent["GET GetObject"] == 1
    assert received["PUT PutObject"] == 1 and "PUT CopyObject" not in received
    assert destination.open("site.css").read() == FILES["site.css"]


class GcsRequests(Counter[str]):
    """HTTP requests of every client a Google Cloud storage makes, by kind."""

    def hook(self, response: Any, *args: Any, **kwargs: Any) -> None:
        path = urlsplit(response.request.url).path
        if "/rewriteTo/" in path:
            kind = "rewrite"
        elif path.startswith("/download/") or "alt=media" in response.request.url:
            kind = "download"
        elif path.startswith("/upload/"):
            kind = "upload"
        elif path.rstrip("/").rsplit("/", 2)[-2] == "b":
            return  # the SDK's own background look at the bucket's metadata
        else:
            kind = f"{response.request.method} {path.rsplit('/', 1)[-1]}"
        self[kind] += 1


class CountedGoogleCloudStorage(GoogleCloudStorage):
    """A Google Cloud storage whose clients count their requests in ``requests``."""

    def __init__(self, requests: GcsRequests, **options: Any) -> None:
        self.requests = requests
        super().__init__(**options)

    def make_client(self) -> Any:
        client = super().make_client()
        client._http.hooks["response"].append(self.requests.hook)
        return client


@pytest.fixture
def gcs_second_bucket(gcs_server):
    name = f"copy-{uuid.uuid4().hex[:12]}"
    client = gcs_server.client()
    client.create_bucket(name)
    yield name
    with contextlib.suppress(Exception):
        for blob in client.list_blobs(name):
            blob.delete()
        client.bucket(name).delete()


def test_gcs_sync_rewrites_inside_the_service(gcs_server, gcs_bucket, gcs_second_bucket):
    sent, received = GcsRequests(), GcsRequests()
    options = {"file_overwrite": True}
    source = CountedGoogleCloudStorage(sent, **gcs_server.options(gcs_bucket, **options))
    destination = CountedGoogleCloudStorage(
        received,
        **gcs_server.options(
            gcs_second_bucket,
            location="copies",
            object_parameters={"cache_control": "no-cache"},
        ),
    )
    raw = gcs_server.client()
    for name, data in FILES.items():
        raw.bucket(gcs_bucket).blob(name).upload_from_string(data, content_type="x/wrong")
    sent.clear()

    stats = transfer(source, destination)

    assert (stats.copied, stats.server_side) == (3, 3)
    assert sent == {"GET o": 1}  # one listing
    assert received["rewrite"] == 3
    assert not {"download", "upload"} & set(received) and not {"download"} & set(sent)
    types = {
        "site.css": "text/css",
        "js/app.js": "text/javascript",
        "img/deep/logo.png": "image/png",
    }
    for name, data in FILES.items():
        blob = raw.bucket(gcs_second_bucket).get_blob(f"copies/{name}")
        assert blob.download_as_bytes() == data
        assert blob.content_type == types[name]
        assert blob.cache_control == "no-cache"
        assert blob.metadata == {CHECKSUM_METADATA: md5(data)}

    assert transfer(source, destination).skipped == 3
    assert received["rewrite"] == 3


def test_gcs_streams_when_an_acl_is_wanted(gcs_server, gcs_bucket, gcs_second_bucket):
    sent, received = GcsRequests(), GcsRequests()
    source = CountedGoogleCloudStorage(sent, **gcs_server.options(gcs_bucket))
    destination = CountedGoogleCloudStorage(
        received, **gcs_server.options(gcs_second_bucket, default_acl="publicRead")
    )
    source.save("site.css", ContentFile(FILES["site.css"]))

    stats = transfer(source, destination)

    assert (stats.copied, stats.server_side) == (1, 0)
    assert sent["download"] == 1 and received["upload"] == 1 and "rewrite" not in received
    acl = gcs_server.object_json(gcs_second_bucket, "site.css")["acl"]
    assert any(entry["entity"] == "allUsers" for entry in acl)


class AzureRequests(Counter[str]):
    """Requests an Azure storage's client sends: copies, body uploads and downloads, others."""

    def hook(self, request: Any) -> None:
        http = request.http_request
        query = urlsplit(http.url).query
        if "x-ms-copy-source" in http.headers:
            kind = "copy"
        elif http.method == "GET" and "comp=list" not in query:
            kind = "download"
        elif http.method == "PUT" and "comp=properties" in query:
            kind = "properties"
        elif http.method == "PUT":
            kind = "upload"
        else:
            kind = f"{http.method} {'list' if 'comp=list' in query else 'other'}"
        self[kind] += 1


@pytest.fixture
def azure_second_container(azurite):
    name = f"copy-{uuid.uuid4().hex[:12]}"
    client = azurite.client()
    client.create_container(name)
    yield name
    with contextlib.suppress(Exception):
        client.delete_container(name)


def test_azure_sync_copies_inside_the_service(azurite, azure_container, azure_second_container):
    sent, received = AzureRequests(), AzureRequests()
    source = AzureStorage(
        **azurite.options(azure_container, client_options={"raw_request_hook": sent.hook})
    )
    destination = AzureStorage(
        **azurite.options(
            azure_second_container,
            location="copies",
            cache_control="public, max-age=60",
            client_options={"raw_request_hook": received.hook},
        )
    )
    raw = azurite.client()
    for name, data in FILES.items():
        # Azurite stores no Content-MD5 of its own (Azure does, for one-request uploads).
        md5_bytes = bytearray(hashlib.md5(data).digest())
        raw.get_blob_client(azure_container, name).upload_blob(
            data, content_settings=ContentSettings(content_md5=md5_bytes)
        )
    with source.sync_session() as session:  # in blocks: the checksum goes in the metadata
        session.save("big.bin", ContentFile(b"z" * (5 * MiB)))
    sent.clear()

    stats = transfer(source, destination)

    assert (stats.copied, stats.server_side) == (4, 4)
    assert sent == {"GET list": 1}
    assert received == {"GET list": 1, "copy": 4, "properties": 4}
    types = {
        "site.css": "text/css",
        "js/app.js": "text/javascript",
        "img/deep/logo.png": "image/png",
        "big.bin": "application/octet-stream",
    }
    for name, data in {**FILES, "big.bin": b"z" * (5 * MiB)}.items():
        blob = raw.get_blob_client(azure_second_container, f"copies/{name}")
        assert blob.download_blob().readall() == data
        props = blob.get_blob_properties()
        assert props.content_settings.content_type == types[name]
        assert props.content_settings.cache_control == "public, max-age=60"
        assert bytes(props.content_settings.content_md5).hex() == md5(data)
        assert props.metadata == {CHECKSUM_METADATA: md5(data)}

    assert transfer(source, destination).skipped == 4
    assert received["copy"] == 4


def test_azure_streams_between_accounts(azurite, azure_container, azure_second_container):
    sent = AzureRequests()
    source = AzureStorage(
        **azurite.options(azure_container, client_options={"raw_request_hook": sent.hook})
    )
    # The same container seen through another endpoint name: another account as far as the
    # storages can tell, so the file goes through this process.
    other = azurite.connection_string().replace("127.0.0.1", "localhost")
    destination = AzureStorage(connection_string=other, azure_container=azure_second_container)
    source.save("site.css", ContentFile(FILES["site.css"]))

    stats = transfer(source, destination)

    assert (stats.copied, stats.server_side) == (1, 0)
    assert sent["download"] == 1
    assert destination.open("site.css").read() == FILES["site.css"]
