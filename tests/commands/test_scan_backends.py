"""scan() on S3, GCS and Azure: one paged listing, every page, names relative to location,
folder markers left out, checksums from the service or from the upload's metadata."""

from __future__ import annotations

import hashlib

import pytest
from django.core.files.base import ContentFile

NAMES = [f"dir/sub{i % 3}/file{i}.txt" for i in range(7)]


@pytest.fixture(params=["s3", "gcloud", "azure"])
def make(request):
    return request.getfixturevalue(
        {"s3": "s3_storage", "gcloud": "gcs_storage", "azure": "azure_storage"}[request.param]
    )


def test_scan_reads_every_page_relative_to_the_location(make):
    storage = make(location="site")
    storage.list_page_size = 2  # several pages
    for name in NAMES:
        storage.save(name, ContentFile(name.encode()))
    outside = make()
    outside.save("elsewhere.txt", ContentFile(b"not below site/"))
    found = dict(storage.scan())
    assert sorted(found) == sorted(NAMES)
    for name, info in found.items():
        assert info.size == len(name)
        assert info.checksum == hashlib.md5(name.encode()).hexdigest()
    assert sorted(n for n, _ in storage.scan("dir/sub1")) == [
        "dir/sub1/file1.txt",
        "dir/sub1/file4.txt",
    ]


def test_scan_leaves_out_folder_markers(make):
    storage = make()
    storage.save("real/file.txt", ContentFile(b"x"))
    raw = make()
    key = "real/empty/"
    if hasattr(raw, "bucket_name") and hasattr(raw.client, "put_object"):
        raw.client.put_object(Bucket=raw.bucket_name, Key=key, Body=b"")
    elif hasattr(raw, "container_client"):
        raw.container_client.upload_blob(key, b"")
    else:
        raw.bucket.blob(key).upload_from_string(b"")
    assert [name for name, _ in storage.scan("real")] == ["real/file.txt"]
