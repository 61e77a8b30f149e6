"""moto in server mode: a real S3 HTTP API on a free loopback port (see SERVERS.md).

moto runs as a separate process (so the tests and benchmarks talk to it over real HTTP, from
another core). It checks no signatures; URL signing is proven against botocore instead.
"""

from __future__ import annotations

import shutil
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.servers import ServerProcess, free_port, start_or_unavailable

KEY_ID = "testing-key-id"
SECRET = "testing-secret-key"


class MotoServer:
    """A ``moto_server`` process."""

    def __init__(self) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        executable = Path(sys.executable).with_name("moto_server")
        argv = [str(executable)] if executable.exists() else [shutil.which("moto_server") or ""]
        self.process = ServerProcess(
            "moto-s3",
            [*argv, "-H", "127.0.0.1", "-p", str(self.port)],
            self.port,
            ready=self._ready,
            env={"TZ": "UTC"},
        )

    def _ready(self) -> bool:
        with urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=2) as response:
            return bool(response.status == 200)

    def reset(self) -> None:
        """Forget every bucket and object."""
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        urllib.request.urlopen(request, timeout=30).close()

    def client(self) -> Any:
        """Return a raw boto3 client for this server."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=KEY_ID,
            aws_secret_access_key=SECRET,
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}),
        )

    def options(self, bucket: str, **extra: Any) -> dict[str, Any]:
        """Return storage options that reach ``bucket`` on this server."""
        return {
            "bucket_name": bucket,
            "endpoint_url": self.endpoint,
            "access_key": KEY_ID,
            "secret_key": SECRET,
            "region_name": "us-east-1",
            "addressing_style": "path",
            **extra,
        }


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """The session's moto server."""
    server = MotoServer()
    start_or_unavailable(server.process)
    yield server
    server.process.stop()


@pytest.fixture
def s3_bucket(moto_server: MotoServer) -> Iterator[str]:
    """A fresh, empty bucket for one test; everything is forgotten afterwards."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    moto_server.client().create_bucket(Bucket=name)
    yield name
    moto_server.reset()


@pytest.fixture
def s3_storage(moto_server: MotoServer, s3_bucket: str) -> Any:
    """Build S3 storages on the test's bucket: ``s3_storage(**options)``."""
    from storages.backends.s3 import S3Storage

    def make(cls: type = S3Storage, **options: Any) -> Any:
        return cls(**moto_server.options(s3_bucket, **options))

    return make


@pytest.fixture
def backend_s3(moto_server: MotoServer, s3_bucket: str) -> Any:
    """The S3 backend for the conformance suite."""
    from boto3.s3.transfer import TransferConfig

    from storages.backends.s3 import S3Storage
    from tests.conformance.conftest import Backend, Capabilities
    from tests.servers.reference import fetch

    clients: list[Any] = []  # one raw boto3 client, made when a test first reads through it

    def raw() -> Any:
        if not clients:
            clients.append(moto_server.client())
        return clients[0]

    def make(file_overwrite: bool = False, **options: Any) -> Any:
        return S3Storage(**moto_server.options(s3_bucket, file_overwrite=file_overwrite, **options))

    def raw_read(storage: Any, name: str) -> bytes:
        body = raw().get_object(Bucket=storage.bucket_name, Key=storage._key(name))["Body"]
        return bytes(body.read())

    def count_parts(storage: Any, name: str) -> int:
        # A multipart upload's ETag ends with "-<number of parts>".
        etag = raw().head_object(Bucket=storage.bucket_name, Key=storage._key(name))["ETag"]
        _, dash, parts = etag.strip('"').rpartition("-")
        return int(parts) if dash else 1

    # S3's smallest part, for streamed writes and save() alike (save() follows a TransferConfig).
    part = 5 * 1024 * 1024
    small_parts = {
        "file_buffer_size": part,
        "transfer_config": TransferConfig(
            multipart_threshold=part, multipart_chunksize=part, max_concurrency=3
        ),
    }
    return Backend("s3", make, Capabilities(), fetch, raw_read, small_parts, count_parts)
