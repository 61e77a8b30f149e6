"""Transport settings of the S3 backend: proxies, TLS verification, use_ssl."""

from __future__ import annotations

import sys
import urllib.request
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.test import override_settings

from storages.backends.s3 import S3Storage
from storages.errors import StorageError
from tests.servers import ServerProcess, free_port, start_or_unavailable
from tests.servers._proxy import CountingProxy


def test_proxies_carry_the_requests(s3_storage):
    with CountingProxy() as proxy:
        storage = s3_storage(proxies={"http": proxy.url})
        storage.save("via-proxy.txt", ContentFile(b"proxied"))
        assert storage.open("via-proxy.txt").read() == b"proxied"
    assert any(line.startswith("PUT ") and line.endswith("/via-proxy.txt") for line in proxy.seen)
    assert any(line.startswith("GET ") for line in proxy.seen)


def test_boto2_proxy_host_and_port_settings(moto_server, s3_bucket):
    with CountingProxy() as proxy:
        host, port = proxy.url.removeprefix("http://").split(":")
        with (
            override_settings(AWS_S3_PROXY_HOST=f"http://{host}", AWS_S3_PROXY_PORT=port),
            pytest.warns(DeprecationWarning, match="AWS_S3_PROXIES"),
        ):
            storage = S3Storage(**moto_server.options(s3_bucket))
        storage.save("legacy-proxy.txt", ContentFile(b"x"))
    assert any("legacy-proxy.txt" in line for line in proxy.seen)


@pytest.fixture(scope="module")
def https_moto():
    port = free_port()
    executable = Path(sys.executable).with_name("moto_server")
    server = ServerProcess(
        "moto-s3-https",
        [str(executable), "-H", "127.0.0.1", "-p", str(port), "-s"],
        port,
        env={"TZ": "UTC"},
    )
    start_or_unavailable(server)
    yield f"https://127.0.0.1:{port}"
    server.stop()


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_verify_false_accepts_a_self_signed_endpoint(https_moto):
    import boto3

    options = {
        "bucket_name": "tls-bucket",
        "endpoint_url": https_moto,
        "access_key": "a",
        "secret_key": "b",
        "region_name": "us-east-1",
        "addressing_style": "path",
    }
    boto3.client(
        "s3",
        endpoint_url=https_moto,
        aws_access_key_id="a",
        aws_secret_access_key="b",
        region_name="us-east-1",
        verify=False,
    ).create_bucket(Bucket="tls-bucket")
    with pytest.raises(StorageError, match=r"SSL|certificate"):
        S3Storage(**options).save("tls.txt", ContentFile(b"x"))
    storage = S3Storage(verify=False, **options)
    storage.save("tls.txt", ContentFile(b"over tls"))
    assert storage.open("tls.txt").read() == b"over tls"


def test_use_ssl_false_gives_http_endpoints():
    storage = S3Storage(
        bucket_name="b",
        region_name="eu-west-1",
        use_ssl=False,
        access_key="a",
        secret_key="b",
        addressing_style="path",
    )
    assert storage.url("k").startswith("http://s3.eu-west-1.amazonaws.com/b/k?")


def test_unused_proxy_setting_leaves_direct_connections(s3_storage):
    storage = s3_storage()
    storage.save("direct.txt", ContentFile(b"d"))
    assert urllib.request.urlopen(storage.url("direct.txt")).read() == b"d"
