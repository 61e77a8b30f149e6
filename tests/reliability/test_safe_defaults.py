"""Safe by default: with no transport setting at all, every HTTPS backend refuses a server whose
certificate it cannot verify, and sends it nothing.

The server here presents a self-signed certificate for 127.0.0.1 and counts what happens on
each connection: a request that arrives (which must not), or a handshake the client aborted
(which must). The backends' own suites cover the settings that relax this on purpose
(``verify=False``, ``connection_verify``, ``ca_certs``), FTPS (test_ftp_tls.py) and SFTP host
keys (test_sftp_auth.py); the system checks (storages.W006) warn about those settings.
"""

from __future__ import annotations

import http.server
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile

from storages.errors import StorageError
from tests.servers.azure import make_tls_files

#: Secrets of the storages below: the server never sees them, they only have to look real.
ACCESS_KEY = "AKIAEXAMPLEDEFAULTS1"
SECRET_KEY = "safe-defaults-secret-key-0000000000000000"
#: Seconds the server's thread may take to note a refused handshake.
HANDSHAKE_WAIT = 5.0
AZURE_KEY = "c2FmZS1kZWZhdWx0cy1henVyZS1rZXktMDAwMDAwMDAwMA=="


class SelfSignedServer(http.server.ThreadingHTTPServer):
    """An HTTPS server with an untrusted certificate; counts requests and refused handshakes."""

    daemon_threads = True

    def __init__(self, tls_dir: Path) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tls_dir / "cert.pem", tls_dir / "key.pem")
        # The handshake runs in the handler's thread, so a refused one is seen per connection.
        self.socket = context.wrap_socket(
            self.socket, server_side=True, do_handshake_on_connect=False
        )
        self.requests: list[str] = []
        self.refused_handshakes = 0
        self._lock = threading.Lock()

    @property
    def port(self) -> int:
        """Return the port the server listens on."""
        return int(self.server_address[1])

    def finish_request(self, request: Any, client_address: Any) -> None:
        """Run the TLS handshake, then serve the request."""
        try:
            request.do_handshake()
        except (ssl.SSLError, OSError):
            with self._lock:
                self.refused_handshakes += 1
            return
        super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet about clients that hang up."""


class _Handler(http.server.BaseHTTPRequestHandler):
    server: SelfSignedServer

    def _any(self) -> None:
        self.server.requests.append(f"{self.command} {self.path}")
        self.send_response(500)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _any

    def log_message(self, *args: Any) -> None:
        """Keep the test output clean."""


@pytest.fixture(scope="module")
def untrusted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SelfSignedServer]:
    tls_dir = tmp_path_factory.mktemp("untrusted-tls")
    make_tls_files(tls_dir)
    server = SelfSignedServer(tls_dir)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def fresh(untrusted: SelfSignedServer) -> SelfSignedServer:
    untrusted.requests.clear()
    untrusted.refused_handshakes = 0
    return untrusted


def _refused(server: SelfSignedServer, error: BaseException) -> None:
    # The server's thread notes the aborted handshake a moment after the client gave up.
    deadline = time.monotonic() + HANDSHAKE_WAIT
    while server.refused_handshakes == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.requests == []  # not one request (so no credential) reached the server
    assert server.refused_handshakes >= 1  # the client hung up in the handshake
    assert "certificate" in str(error).lower() or "ssl" in str(error).lower()


def test_s3_refuses_an_unverified_endpoint(fresh, monkeypatch):
    from storages.backends.s3 import S3Storage

    monkeypatch.delenv("AWS_CA_BUNDLE", raising=False)
    storage = S3Storage(
        bucket_name="defaults",
        endpoint_url=f"https://127.0.0.1:{fresh.port}",
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        region_name="us-east-1",
    )
    with pytest.raises(StorageError) as info:
        storage.save("a.txt", ContentFile(b"x"))
    _refused(fresh, info.value)


def test_azure_refuses_an_unverified_endpoint(fresh):
    from storages.backends.azure_storage import AzureStorage

    storage = AzureStorage(
        account_name="devstoreaccount1",
        account_key=AZURE_KEY,
        custom_domain=None,
        connection_string=(
            "DefaultEndpointsProtocol=https;AccountName=devstoreaccount1;"
            f"AccountKey={AZURE_KEY};BlobEndpoint=https://127.0.0.1:{fresh.port}/devstoreaccount1;"
        ),
        azure_container="defaults",
        client_options={"retry_total": 0},
    )
    with pytest.raises(StorageError) as info:
        storage.exists("a.txt")
    _refused(fresh, info.value)


def test_gcs_client_refuses_an_unverified_endpoint(fresh):
    """The storage's own client (its authorised session) verifies the endpoint's certificate.

    Through the storage's operations the SDK would retry the TLS failure until its 120 s
    deadline (docs/reliability.md), so the client's transport is asked once directly.
    """
    import requests

    from storages.backends.gcloud import GoogleCloudStorage
    from tests.servers.gcloud import PROJECT, service_account_credentials

    endpoint = f"https://127.0.0.1:{fresh.port}"
    storage = GoogleCloudStorage(
        bucket_name="defaults",
        project_id=PROJECT,
        credentials=service_account_credentials(),
        client_options={"api_endpoint": endpoint},
    )
    with pytest.raises(requests.exceptions.SSLError) as info:
        storage.client._http.get(f"{endpoint}/storage/v1/b/defaults", timeout=10)
    _refused(fresh, info.value)


def test_dropbox_refuses_an_unverified_endpoint(fresh, monkeypatch):
    from storages.backends.dropbox import DropboxStorage

    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    host = f"127.0.0.1:{fresh.port}"
    storage = DropboxStorage(
        oauth2_access_token="sl.safe-defaults-token-000000",
        api_host=host,
        content_host=host,
        timeout=5,
    )
    with pytest.raises(StorageError) as info:
        storage.exists("a.txt")
    _refused(fresh, info.value)


def test_libcloud_s3_refuses_an_unverified_endpoint(fresh):
    from storages.backends.apache_libcloud import LibCloudStorage
    from tests.servers.libcloud_s3 import S3_TYPE

    providers = {
        "untrusted": {
            "type": S3_TYPE,
            "user": ACCESS_KEY,
            "key": SECRET_KEY,
            "bucket": "defaults",
            "host": "127.0.0.1",
            "port": fresh.port,
            "secure": True,
            "region": "us-east-1",
            "timeout": 5,
        }
    }
    storage = LibCloudStorage("untrusted", providers=providers)
    with pytest.raises(StorageError) as info:
        storage.save("a.txt", ContentFile(b"x"))
    _refused(fresh, info.value)
