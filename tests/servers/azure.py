"""Azurite: the Azure Blob Storage API on a free loopback port (see SERVERS.md §2).

``scripts/servers/azure.sh`` installs Azurite 3.35.0 from npm into ``.servers/azurite``. The
blob service runs in memory with the emulator's well-known account. Each test gets a fresh
private container, deleted afterwards.

A second Azurite, started only for the tests that need it, serves HTTPS (a certificate made
here) with ``--oauth basic``: it accepts bearer tokens whose issuer, audience and expiry look
right without checking their signature, which is enough to exercise token credentials and
user-delegation keys without Microsoft Entra ID.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import ipaddress
import json
import shutil
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.servers import (
    STATE_DIR,
    ServerProcess,
    free_port,
    start_or_unavailable,
    unavailable,
)

ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
AZURITE_BIN = STATE_DIR / "azurite" / "node_modules" / ".bin" / "azurite-blob"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
OBJECT_ID = "11111111-2222-3333-4444-555555555555"


class Azurite:
    """An ``azurite-blob`` process (HTTP, or HTTPS with basic OAuth when ``tls_dir`` is set)."""

    def __init__(self, tls_dir: Path | None = None) -> None:
        self.port = free_port()
        self.tls_dir = tls_dir
        scheme = "https" if tls_dir else "http"
        self.endpoint = f"{scheme}://127.0.0.1:{self.port}/{ACCOUNT}"
        node = shutil.which("node") or "/usr/bin/node"
        argv = [
            node,
            str(AZURITE_BIN),
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(self.port),
            "--inMemoryPersistence",
            "--skipApiVersionCheck",
            "--disableTelemetry",
            "--silent",
        ]
        if tls_dir:
            argv += [
                "--cert",
                str(tls_dir / "cert.pem"),
                "--key",
                str(tls_dir / "key.pem"),
                "--oauth",
                "basic",
            ]
        self.process = ServerProcess(
            "azurite", argv, self.port, ready=self._ready, env={"TZ": "UTC"}
        )

    @property
    def ca_file(self) -> str | None:
        """Return the certificate to trust for the HTTPS server."""
        return str(self.tls_dir / "cert.pem") if self.tls_dir else None

    def _ready(self) -> bool:
        try:
            self.fetch_status(f"{self.endpoint}?comp=list")
        except OSError:
            return False
        return True

    def fetch_status(self, url: str, headers: dict[str, str] | None = None) -> int:
        """Return the HTTP status of a GET of ``url`` (any answer counts, 403 included)."""
        request = urllib.request.Request(url, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=10, context=self.ssl_context()) as resp:
                return int(resp.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)

    def ssl_context(self) -> Any:
        """Return an SSL context trusting this server (None for plain HTTP)."""
        if not self.tls_dir:
            return None
        import ssl

        return ssl.create_default_context(cafile=self.ca_file)

    def connection_string(self) -> str:
        """Return the connection string of the emulator account on this server."""
        scheme = "https" if self.tls_dir else "http"
        return (
            f"DefaultEndpointsProtocol={scheme};AccountName={ACCOUNT};AccountKey={KEY};"
            f"BlobEndpoint={self.endpoint};"
        )

    def client(self) -> Any:
        """Return a raw ``BlobServiceClient`` (shared key) for this server."""
        from azure.storage.blob import BlobServiceClient

        extra = {"connection_verify": self.ca_file} if self.tls_dir else {}
        return BlobServiceClient.from_connection_string(self.connection_string(), **extra)

    def options(self, container: str, **extra: Any) -> dict[str, Any]:
        """Return storage options that reach ``container`` on this server."""
        return {
            "connection_string": self.connection_string(),
            "azure_container": container,
            **extra,
        }


def make_tls_files(directory: Path) -> None:
    """Write a self-signed certificate for 127.0.0.1 and its key into ``directory``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.DNSName("localhost"),
                    x509.DNSName(f"{ACCOUNT}.blob.localhost"),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    (directory / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )


def bearer_token(lifetime: int = 3600) -> tuple[str, int]:
    """Return an unsigned JWT that Azurite's basic OAuth accepts, and its expiry."""

    def part(data: dict[str, Any]) -> str:
        raw = json.dumps(data).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    now = int(time.time())
    claims = {
        "aud": "https://storage.azure.com",
        "iss": f"https://sts.windows.net/{TENANT}/",
        "iat": now - 60,
        "nbf": now - 60,
        "exp": now + lifetime,
        "oid": OBJECT_ID,
        "tid": TENANT,
    }
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl", now + lifetime


class FakeTokenCredential:
    """A token credential (``get_token``) handing out :func:`bearer_token` tokens.

    It stands in for ``DefaultAzureCredential`` / ``ManagedIdentityCredential``: the SDK asks it
    for a token and sends that as ``Authorization: Bearer``. ``calls`` counts the requests.
    """

    def __init__(self) -> None:
        self.calls = 0

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        """Return a fresh access token."""
        from azure.core.credentials import AccessToken

        self.calls += 1
        token, expires = bearer_token()
        return AccessToken(token, expires)


def _check_installed() -> None:
    if not AZURITE_BIN.exists():
        unavailable(f"Azurite is not installed at {AZURITE_BIN}: run scripts/servers/azure.sh")
    if not (shutil.which("node") or Path("/usr/bin/node").exists()):
        unavailable("Node.js is not installed (Azurite needs it)")


@pytest.fixture
def localhost_subdomains(monkeypatch: pytest.MonkeyPatch) -> None:
    """Resolve ``*.localhost`` to 127.0.0.1, as browsers and systemd-resolved do (RFC 6761).

    Azurite serves production-style URLs (``http://devstoreaccount1.blob.localhost:PORT/...``),
    so account-name endpoints and custom domains can reach it without touching /etc/hosts.
    """
    import socket

    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host.endswith(".localhost"):
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    """The session's Azurite blob service (HTTP, shared key)."""
    _check_installed()
    server = Azurite()
    start_or_unavailable(server.process)
    yield server
    server.process.stop()


@pytest.fixture(scope="session")
def azurite_tls() -> Iterator[Azurite]:
    """A second Azurite on HTTPS with basic OAuth (token credentials, delegation keys)."""
    _check_installed()
    directory = Path(tempfile.mkdtemp(prefix="stowage-azurite-tls-"))
    make_tls_files(directory)
    server = Azurite(tls_dir=directory)
    start_or_unavailable(server.process)
    yield server
    server.process.stop()
    shutil.rmtree(directory, ignore_errors=True)


def _fresh_container(server: Azurite, public: bool = False) -> Iterator[str]:
    name = f"test-{uuid.uuid4().hex[:16]}"
    client = server.client()
    client.create_container(name, public_access="blob" if public else None)
    yield name
    with contextlib.suppress(Exception):
        client.delete_container(name)
    client.close()


@pytest.fixture
def azure_container(azurite: Azurite) -> Iterator[str]:
    """A fresh, empty, private container for one test; deleted afterwards."""
    yield from _fresh_container(azurite)


@pytest.fixture
def azure_storage(azurite: Azurite, azure_container: str) -> Any:
    """Build Azure storages on the test's container: ``azure_storage(**options)``."""
    from storages.backends.azure_storage import AzureStorage

    made: list[Any] = []

    def make(cls: type = AzureStorage, **options: Any) -> Any:
        storage = cls(**azurite.options(azure_container, **options))
        made.append(storage)
        return storage

    yield make
    for storage in made:
        storage.close()


@pytest.fixture
def backend_azure(azurite: Azurite, azure_container: str) -> Iterator[Any]:
    """The Azure Blob backend for the conformance suite (private container, SAS URLs)."""
    from storages.backends.azure_storage import AzureStorage
    from tests.conformance.conftest import Backend, Capabilities
    from tests.servers.reference import fetch

    made: list[Any] = []
    raw = azurite.client().get_container_client(azure_container)

    def make(file_overwrite: bool = False, **options: Any) -> Any:
        options = {"file_overwrite": file_overwrite, "expiration_secs": 300, **options}
        storage = AzureStorage(**azurite.options(azure_container, **options))
        made.append(storage)
        return storage

    def raw_read(storage: Any, name: str) -> bytes:
        return bytes(raw.get_blob_client(storage._key(name)).download_blob().readall())

    def count_parts(storage: Any, name: str) -> int:
        # A blob sent in one Put Blob request has no committed blocks.
        committed, _ = raw.get_blob_client(storage._key(name)).get_block_list("committed")
        return max(len(committed), 1)

    block = 1024 * 1024
    small_parts = {"client_options": {"max_block_size": block, "max_single_put_size": block}}
    yield Backend(
        "azure", make, Capabilities(created_time=True), fetch, raw_read, small_parts, count_parts
    )
    for storage in made:
        storage.close()
    raw.close()


def recorder(delay: float = 0.0, **transport_options: Any) -> Any:
    """Return an HTTP transport (the SDK's own seam: ``client_options={"transport": ...}``)
    that records every request and response and how many were in flight at once; ``delay``
    holds each request open that long so overlaps show. Everything goes to the real server."""
    import threading

    from azure.core.pipeline.transport import RequestsTransport

    class Recorder(RequestsTransport):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(**transport_options)
            self.requests: list[tuple[str, str, dict[str, str]]] = []
            self.responses: list[tuple[int, dict[str, str]]] = []
            self.in_flight = 0
            self.most_in_flight = 0
            self._lock = threading.Lock()

        def send(self, request: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.requests.append((request.method, request.url, dict(request.headers)))
                self.in_flight += 1
                self.most_in_flight = max(self.most_in_flight, self.in_flight)
            try:
                if delay:
                    time.sleep(delay)
                response = super().send(request, **kwargs)
            finally:
                with self._lock:
                    self.in_flight -= 1
            headers = {k.lower(): v for k, v in response.headers.items()}
            with self._lock:
                self.responses.append((response.status_code, headers))
            return response

        def count(self, method: str, fragment: str = "") -> int:
            """Return how many ``method`` requests went to a URL containing ``fragment``."""
            return sum(1 for m, url, _ in self.requests if m == method and fragment in url)

    return Recorder()
