"""A fake of the Dropbox API v2 over HTTPS on a free loopback port, for the Dropbox backend.

No Dropbox server can run locally (SERVERS.md §6), so this module serves the account model of
:mod:`tests.servers._dropbox_api` with the wire protocol the official SDK speaks: every call a
``POST /2/<route>`` with a bearer token; RPC routes take and return JSON on the *api* host;
upload routes take the raw body with the argument JSON in ``Dropbox-API-Arg``, and downloads
return the bytes with the metadata in ``Dropbox-API-Result``, on the *content* host (here
``127.0.0.1`` and ``localhost`` on the same port, and each route is refused on the other host);
route errors are HTTP 409 with ``error_summary`` and the error union; a bad token is 401;
``Range`` downloads answer 206. It also answers ``POST /oauth2/token`` (the refresh-token flow)
and ``GET`` of the temporary links it hands out.

The SDK only speaks HTTPS, so the server has a self-signed certificate for 127.0.0.1 and
localhost, which the SDK must be told to trust (``client_options={"ca_certs": ...}`` on the
storage, or a session with ``trust_env = False``: this machine's ``REQUESTS_CA_BUNDLE`` would
otherwise win). Faults are injected per route: an error answer (``fail``), a 429 with
``Retry-After`` (``throttle``), a delay (``slow``), a corrupted write (``account.corrupt_writes``).

What it does not model: recursive listing, shared folders and namespaces, ``id:`` paths, team
spaces, batch routes, concurrent upload sessions, long polling, thumbnails, file locking.
"""

from __future__ import annotations

import contextlib
import json
import mimetypes
import re
import secrets
import shutil
import socket
import ssl
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.servers import unavailable
from tests.servers._dropbox_api import (
    TOKEN_LIFETIME,
    Account,
    BadInput,
    Revision,
    RouteError,
    error_summary,
)

#: Seconds a client has to finish the TLS handshake, and an idle keep-alive connection lives.
HANDSHAKE_TIMEOUT = 10
IDLE_TIMEOUT = 60
#: Calls remembered for the tests to inspect.
MAX_CALLS = 100_000

#: route -> (host, style) as the API documents them.
ROUTES = {
    "files/upload": ("content", "upload"),
    "files/upload_session/start": ("content", "upload"),
    "files/upload_session/append_v2": ("content", "upload"),
    "files/upload_session/finish": ("content", "upload"),
    "files/download": ("content", "download"),
    "files/get_metadata": ("api", "rpc"),
    "files/list_folder": ("api", "rpc"),
    "files/list_folder/continue": ("api", "rpc"),
    "files/delete_v2": ("api", "rpc"),
    "files/get_temporary_link": ("api", "rpc"),
}
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


@dataclass
class Call:
    """One API request as the fake received it."""

    route: str
    arg: Any
    headers: dict[str, str]
    size: int


@dataclass
class Fault:
    """An answer to give instead of the route's own, ``times`` times."""

    route: str
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1


@dataclass
class Reply:
    """What to send back."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def _json(status: int, value: Any, **headers: str) -> Reply:
    # Exactly "application/json": the SDK asserts the content type, parameters included.
    return Reply(
        status, json.dumps(value).encode(), {"Content-Type": "application/json", **headers}
    )


def _text(status: int, message: str) -> Reply:
    return Reply(status, message.encode(), {"Content-Type": "text/plain; charset=utf-8"})


class Faults:
    """The faults and delays injected into a fake's answers, per route."""

    def __init__(self) -> None:
        self.faults: list[Fault] = []
        self.delays: dict[str, float] = {}
        self._lock = threading.Lock()

    def fail(
        self,
        route: str,
        status: int = 409,
        error: dict[str, Any] | None = None,
        *,
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` calls of ``route`` with ``status`` (and an error union)."""
        error = error or {".tag": "other"}
        body = json.dumps({"error_summary": error_summary(error), "error": error}).encode()
        fault_headers = {"Content-Type": "application/json", **(headers or {})}
        with self._lock:
            self.faults.append(Fault(route, status, body, fault_headers, times))

    def throttle(
        self, route: str, retry_after: int = 1, reason: str = "too_many_requests", times: int = 1
    ) -> None:
        """Answer the next ``times`` calls of ``route`` with 429 and ``Retry-After``."""
        body = {"error_summary": f"{reason}/", "error": {"reason": {".tag": reason}}}
        body["error"]["retry_after"] = retry_after
        with self._lock:
            self.faults.append(
                Fault(
                    route,
                    429,
                    json.dumps(body).encode(),
                    {"Content-Type": "application/json", "Retry-After": str(retry_after)},
                    times,
                )
            )

    def slow(self, route: str, seconds: float) -> None:
        """Hold every answer of ``route`` back for ``seconds`` (0 removes the delay)."""
        self.delays[route] = seconds

    def reset_faults(self) -> None:
        """Forget every injected fault and delay."""
        with self._lock:
            self.faults.clear()
            self.delays.clear()

    def _take_fault(self, route: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.route == route:
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                    return fault
        return None


class FakeDropbox(Faults):
    """The fake service: one account, its tokens and apps, the faults to inject."""

    def __init__(self, cert: Path, key: Path) -> None:
        super().__init__()
        self.cert, self.key = cert, key
        self.account = Account()
        self.token = f"sl.fake-{secrets.token_urlsafe(24)}"
        self.app_key = "fakeappkey"
        self.app_secret = secrets.token_urlsafe(12)
        self.refresh_token = f"fake-refresh-{secrets.token_urlsafe(24)}"
        #: token -> expiry (``time.monotonic()``), None for a long-lived token.
        self.tokens: dict[str, float | None] = {self.token: None}
        self.refreshes = 0
        self.calls: deque[Call] = deque(maxlen=MAX_CALLS)
        self._server: _Server | None = None
        self.port = 0

    @property
    def api_host(self) -> str:
        """Return the host (and port) of the RPC routes."""
        return f"127.0.0.1:{self.port}"

    @property
    def content_host(self) -> str:
        """Return the host (and port) of the upload and download routes."""
        return f"localhost:{self.port}"

    def start(self) -> FakeDropbox:
        """Listen on a free loopback port and serve in a thread."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(self.cert), str(self.key))
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake, self._server.context = self, context
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def options(self, **extra: Any) -> dict[str, Any]:
        """Return storage options that reach this server with the long-lived token; extra
        ``client_options`` are added to the CA file (a ``session`` replaces it)."""
        client_options = dict(extra.pop("client_options", None) or {})
        if "session" not in client_options:
            client_options.setdefault("ca_certs", str(self.cert))
        return {
            "oauth2_access_token": self.token,
            "api_host": self.api_host,
            "content_host": self.content_host,
            "client_options": client_options,
            **extra,
        }

    def reset_faults(self) -> None:
        """Forget every injected fault and delay, and stop corrupting writes."""
        super().reset_faults()
        self.account.corrupt_writes = 0

    def session(self) -> Any:
        """Return a requests session that trusts this server (and ignores the CA env vars)."""
        import requests

        session = requests.Session()
        session.trust_env = False
        session.verify = str(self.cert)
        return session

    def sdk(self, token: str | None = None, **kwargs: Any) -> Any:
        """Return a raw SDK client on this server."""
        import dropbox

        kwargs.setdefault("oauth2_access_token", self.token if token is None else token)
        client = dropbox.Dropbox(session=self.session(), **kwargs)
        client._host_map = {"api": self.api_host, "content": self.content_host, "notify": ""}
        return client

    def fetch(self, url: str) -> bytes:
        """Return the body at ``url`` (a temporary link), trusting this server's certificate."""
        context = ssl.create_default_context(cafile=str(self.cert))
        with urllib.request.urlopen(url, context=context, timeout=30) as response:
            return bytes(response.read())

    def expire_tokens(self) -> None:
        """Expire every token the refresh flow handed out (the long-lived one stays valid)."""
        with self._lock:
            for token, expiry in self.tokens.items():
                if expiry is not None:
                    self.tokens[token] = 0.0

    def routes(self) -> list[str]:
        """Return the routes called so far, in order."""
        return [call.route for call in list(self.calls)]

    def _auth_error(self, header: str) -> str | None:
        token = header[len("Bearer ") :] if header.startswith("Bearer ") else None
        with self._lock:
            if token is None or token not in self.tokens:
                return "invalid_access_token"
            expiry = self.tokens[token]
        if expiry is not None and time.monotonic() >= expiry:
            return "expired_access_token"
        return None

    def oauth_token(self, body: bytes) -> Reply:
        """POST /oauth2/token: a new short-lived token for a refresh token."""
        form = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode()).items()}
        if form.get("grant_type") != "refresh_token":
            return _json(400, {"error": "unsupported_grant_type"})
        if form.get("client_id") != self.app_key or form.get("client_secret") != self.app_secret:
            return _json(400, {"error": "invalid_client", "error_description": "bad app"})
        if form.get("refresh_token") != self.refresh_token:
            return _json(400, {"error": "invalid_grant", "error_description": "refresh token"})
        token = f"sl.fake-short-{secrets.token_urlsafe(24)}"
        with self._lock:
            self.tokens[token] = time.monotonic() + TOKEN_LIFETIME
            self.refreshes += 1
        reply = {"access_token": token, "token_type": "bearer", "expires_in": TOKEN_LIFETIME}
        return _json(200, reply)

    def handle(self, method: str, path: str, headers: Any, body: bytes) -> Reply:
        """Answer one HTTP request."""
        if method == "GET" and path.startswith("/temp/"):
            return self._serve_link(path)
        if method != "POST":
            return _text(405, "method not allowed")
        if path == "/oauth2/token":
            return self.oauth_token(body)
        route = path[len("/2/") :] if path.startswith("/2/") else ""
        if route not in ROUTES:
            return _text(400, f"Unknown API function: {path!r}")
        host, style = ROUTES[route]
        expected = self.api_host if host == "api" else self.content_host
        if headers.get("Host") != expected:
            return _text(400, f"{route} is served on the {host} host ({expected}), not here")
        problem = self._auth_error(headers.get("Authorization", ""))
        if problem is not None:
            return _json(401, {"error_summary": f"{problem}/", "error": {".tag": problem}})
        try:
            arg = self._argument(style, headers, body)
        except (ValueError, BadInput) as exc:
            return _text(400, f"Error in call to API function {route!r}: {exc}")
        self.calls.append(Call(route, arg, _interesting(headers), len(body)))
        fault = self._take_fault(route)
        if self.delays.get(route):
            time.sleep(self.delays[route])
        if fault is not None:
            return Reply(fault.status, fault.body, fault.headers)
        try:
            return self._dispatch(route, style, arg, body, headers)
        except RouteError as exc:
            return _json(409, {"error_summary": str(exc), "error": exc.error})
        except BadInput as exc:
            return _text(400, str(exc))

    @staticmethod
    def _argument(style: str, headers: Any, body: bytes) -> Any:
        if style == "rpc":
            if headers.get("Content-Type") != "application/json":
                raise BadInput("RPC routes take Content-Type: application/json")
            return json.loads(body or b"null")
        if style == "upload" and headers.get("Content-Type") != "application/octet-stream":
            raise BadInput("upload routes take Content-Type: application/octet-stream")
        if style == "download" and body:
            raise BadInput("download routes take no request body")
        return json.loads(headers.get("Dropbox-API-Arg") or "null")

    def _dispatch(self, route: str, style: str, arg: Any, body: bytes, headers: Any) -> Reply:
        account = self.account
        if not isinstance(arg, dict):
            raise BadInput("the argument must be a JSON object")
        if route == "files/download":
            return _download(account.download(arg), headers.get("Range"))
        handlers: dict[str, Callable[[], Any]] = {
            "files/upload": lambda: account.upload(arg, body),
            "files/upload_session/start": lambda: account.session_start(arg, body),
            "files/upload_session/append_v2": lambda: account.session_append(arg, body),
            "files/upload_session/finish": lambda: account.session_finish(arg, body),
            "files/get_metadata": lambda: account.get_metadata(arg),
            "files/list_folder": lambda: account.list_folder(arg),
            "files/list_folder/continue": lambda: account.list_folder_continue(arg),
            "files/delete_v2": lambda: account.delete(arg),
            "files/get_temporary_link": lambda: account.temporary_link(
                arg, f"https://{self.api_host}"
            ),
        }
        return _json(200, handlers[route]())

    def _serve_link(self, path: str) -> Reply:
        token = path[len("/temp/") :].split("/", 1)[0]
        revision = self.account.link_content(token)
        if revision is None:
            return _text(410, "This link has expired or never existed.")
        kind = mimetypes.guess_type(revision.path)[0] or "application/octet-stream"
        return Reply(200, revision.data, {"Content-Type": kind})


def _interesting(headers: Any) -> dict[str, str]:
    return {k: headers[k] for k in ("Range", "Host", "User-Agent") if headers.get(k)}


def _download(revision: Revision, range_header: str | None) -> Reply:
    """Answer files/download: the whole file, or the asked range with 206."""
    data, size = revision.data, len(revision.data)
    result = json.dumps(revision.metadata())  # ASCII only: non-ASCII names are \\u-escaped
    headers = {"Content-Type": "application/octet-stream", "Dropbox-API-Result": result}
    if not range_header:
        return Reply(200, data, headers)
    match = _RANGE.fullmatch(range_header.strip())
    if match is None or match.group(1) == match.group(2) == "":
        return _text(400, f"bad Range header {range_header!r}")
    first, last = match.groups()
    if first == "":
        start, end = max(size - int(last), 0), size - 1
    else:
        start, end = int(first), min(int(last), size - 1) if last else size - 1
    if start >= size or start > end:
        return Reply(416, b"", {"Content-Range": f"bytes */{size}"})
    headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    return Reply(206, data[start : end + 1], headers)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeDropbox
    context: ssl.SSLContext

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The handshake runs in the connection's own thread, so a slow client blocks no other.
        request.settimeout(HANDSHAKE_TIMEOUT)
        # Headers and body go out in separate writes: without this, each answer waits for the
        # client's delayed acknowledgement (about 40 ms).
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError):
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            tls.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-answer (a reader that seeks) is normal here.
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = urllib.parse.urlsplit(self.path).path
        reply = self.server.fake.handle(self.command, path, self.headers, body)
        try:
            self.send_response(reply.status)
            self.send_header("X-Dropbox-Request-Id", secrets.token_hex(16))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)
        except (TimeoutError, ConnectionError, ssl.SSLError):
            self.close_connection = True

    do_GET = do_POST = _answer


@pytest.fixture(scope="session")
def dropbox_server() -> Iterator[FakeDropbox]:
    """The session's fake Dropbox API."""
    try:
        from tests.servers.azure import make_tls_files

        directory = Path(tempfile.mkdtemp(prefix="stowage-dropbox-"))
        make_tls_files(directory)
    except ImportError as exc:
        unavailable(f"the fake Dropbox server needs 'cryptography' for its certificate: {exc}")
    fake = FakeDropbox(directory / "cert.pem", directory / "key.pem").start()
    yield fake
    fake.stop()
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def dropbox_root(dropbox_server: FakeDropbox) -> Iterator[str]:
    """A fresh folder for one test (its path); deleted with its contents afterwards."""
    root = f"/test-{uuid.uuid4().hex[:12]}"
    yield root
    dropbox_server.reset_faults()
    dropbox_server.account.remove_tree(root)


@pytest.fixture
def dropbox_storage(dropbox_server: FakeDropbox, dropbox_root: str) -> Iterator[Any]:
    """Build Dropbox storages on the test's folder: ``dropbox_storage(**options)``."""
    try:
        from storages.backends.dropbox import DropboxStorage
    except ImportError as exc:
        unavailable(f"the Dropbox backend cannot be imported: {exc}")
    made: list[Any] = []

    def make(cls: type = DropboxStorage, **options: Any) -> Any:
        storage = cls(**dropbox_server.options(**{"root_path": dropbox_root, **options}))
        made.append(storage)
        return storage

    yield make
    for storage in made:
        with contextlib.suppress(Exception):
            storage.close()


@pytest.fixture
def backend_dropbox(dropbox_storage: Any, dropbox_server: FakeDropbox) -> Any:
    """The Dropbox backend for the conformance suite (temporary links as URLs)."""
    from tests.conformance.conftest import Backend, Capabilities

    def make(file_overwrite: bool = False, **options: Any) -> Any:
        return dropbox_storage(file_overwrite=file_overwrite, **options)

    def raw_read(storage: Any, name: str) -> bytes:
        _meta, response = dropbox_server.sdk().files_download(storage._path(storage._key(name)))
        return bytes(response.content)

    def count_parts(storage: Any, name: str) -> int:
        revision = dropbox_server.account.current(storage._path(storage._key(name)))
        assert revision is not None, f"{name} is not stored"
        return revision.parts

    return Backend(
        "dropbox",
        make,
        Capabilities(),
        dropbox_server.fetch,
        raw_read,
        small_parts={},  # the default parts (CHUNK_SIZE) are 4 MiB already
        count_parts=count_parts,
    )
