"""Libcloud's S3 driver against the session's moto server (tests.servers.s3, SERVERS.md §7).

The driver reaches moto through the ``host``/``port``/``secure`` driver keywords of the
provider entry, the way a self-hosted S3-compatible service is configured.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.servers.s3 import MotoServer

S3_TYPE = "libcloud.storage.types.Provider.S3"
#: Part size for the conformance suite's many-part uploads (the driver cuts 5 MiB parts itself).
SMALL_PART = 1024 * 1024


def s3_providers(
    server: MotoServer, bucket: str, alias: str = "moto", **extra: Any
) -> dict[str, Any]:
    """Return ``LIBCLOUD_PROVIDERS`` with one S3 entry for ``bucket`` on ``server``."""
    from tests.servers.s3 import KEY_ID, SECRET

    entry = {
        "type": S3_TYPE,
        "user": KEY_ID,
        "key": SECRET,
        "bucket": bucket,
        "host": "127.0.0.1",
        "port": server.port,
        "secure": False,
        "region": "us-east-1",
    }
    return {alias: {**entry, **extra}}


class RawBucket:
    """boto3's view of one bucket (the client is made on first use)."""

    def __init__(self, server: MotoServer, bucket: str) -> None:
        self.server, self.bucket = server, bucket
        self._client: Any = None

    @property
    def client(self) -> Any:
        """Return the raw boto3 client."""
        if self._client is None:
            self._client = self.server.client()
        return self._client

    def read(self, storage: Any, name: str) -> bytes:
        """Return the bytes stored for ``name``, read past the storage."""
        response = self.client.get_object(Bucket=self.bucket, Key=storage._key(name))
        return bytes(response["Body"].read())

    def count_parts(self, storage: Any, name: str) -> int:
        """Return how many parts ``name`` was uploaded in (the driver's parts are 5 MiB)."""
        etag = self.client.head_object(Bucket=self.bucket, Key=storage._key(name))["ETag"]
        count = etag.strip('"').rpartition("-")[2]
        return int(count) if "-" in etag else 1


@pytest.fixture
def libcloud_s3(moto_server: MotoServer, s3_bucket: str) -> Any:
    """Build S3-driver storages on the test's bucket: ``libcloud_s3(**options)``."""
    from storages.backends.apache_libcloud import LibCloudStorage

    def make(cls: type = LibCloudStorage, **options: Any) -> Any:
        return cls("moto", providers=s3_providers(moto_server, s3_bucket), **options)

    return make


@pytest.fixture
def backend_libcloud_s3(libcloud_s3: Any, moto_server: MotoServer, s3_bucket: str) -> Any:
    """The Libcloud backend on the S3 driver, for the conformance suite."""
    from tests.conformance.conftest import Backend, Capabilities
    from tests.servers.reference import fetch

    bucket = RawBucket(moto_server, s3_bucket)

    def make(file_overwrite: bool = False, **options: Any) -> Any:
        return libcloud_s3(file_overwrite=file_overwrite, **options)

    # Libcloud has no conditional write: create-only saves are check-then-write.
    caps = Capabilities(atomic_create=False)
    small_parts = {"upload_part_size": SMALL_PART}
    return Backend("libcloud_s3", make, caps, fetch, bucket.read, small_parts, bucket.count_parts)
