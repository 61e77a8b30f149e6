"""pyftpdlib on free loopback ports, for the FTP backend (see SERVERS.md, section 4).

One server process (so transfers run on another core than the tests) serves one directory
through four listeners, each with its own passive port range:

* ``plain``: FTP with every feature pyftpdlib has (MLSD/MLST, UTF8, SIZE, MDTM, REST);
* ``tls``: explicit FTPS (``AUTH TLS``) with a certificate of a throwaway CA, which refuses
  clients that do not protect both the control and the data channel;
* ``legacy``: no ``MLSD``/``MLST`` (so listings fall back to ``LIST``) and a Latin-1 control
  channel that does not announce ``UTF8``, like many older servers;
* ``idle``: drops a control connection idle for one second, as servers do.

The directory ``readonly/`` of the root is read-only for the test user. Each test gets a fresh
directory under the root, also served over HTTP for ``url()``. The server logs every command it
receives (passwords masked by pyftpdlib), so tests can check what the backend sent. Run as a program
(``python -m tests.servers.ftp CONFIG``) this module is the server itself.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ftplib
import ipaddress
import json
import logging
import os
import shutil
import socket
import ssl
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.servers import STATE_DIR, ServerProcess, start_or_unavailable, unavailable
from tests.servers.reference import StaticHTTPServer, fetch

USER = "tester"
#: Characters that must be percent-encoded in a URL, so the decoding is exercised every time.
PASSWORD = "s3cr@t:pa/ss%w"
LISTENERS = ("plain", "tls", "legacy", "idle")
#: Passive data ports per listener (8 threads with a transfer each fit many times over).
PASSIVE_PORTS = 24
#: Seconds of silence after which the ``idle`` listener drops a control connection.
IDLE_TIMEOUT = 1
READONLY = "readonly"
REPO = Path(__file__).resolve().parents[2]


def free_ports(count: int) -> list[int]:
    """Return ``count`` distinct TCP ports on 127.0.0.1 that nothing listens on right now."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


#: Days the test certificates are valid, before and after now.
CERT_DAYS = 30


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """Write a throwaway CA and a server certificate for 127.0.0.1 signed by it.

    Return ``(ca.pem, server.pem)``; the server file holds the certificate and its key.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.timezone.utc)

    def issue(subject: str, key: Any, issuer: Any, issuer_key: Any, *extensions: Any) -> Any:
        common_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
        builder = x509.CertificateBuilder(
            issuer_name=issuer.subject if issuer is not None else common_name,
            subject_name=common_name,
            public_key=key.public_key(),
            serial_number=x509.random_serial_number(),
            not_valid_before=now - dt.timedelta(days=CERT_DAYS),
            not_valid_after=now + dt.timedelta(days=CERT_DAYS),
        )
        builder = builder.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
        )
        for extension in extensions:
            # Constraints and key usages are critical, the rest informative (as CAs do it).
            critical = isinstance(extension, (x509.BasicConstraints, x509.KeyUsage))
            builder = builder.add_extension(extension, critical=critical)
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    signing_only = dict.fromkeys(
        ["content_commitment", "key_encipherment", "data_encipherment", "key_agreement"], False
    )
    ca = issue(
        "stowage test CA",
        ca_key,
        None,
        ca_key,
        x509.BasicConstraints(ca=True, path_length=0),
        x509.KeyUsage(
            digital_signature=False,
            key_cert_sign=True,
            crl_sign=True,
            encipher_only=False,
            decipher_only=False,
            **signing_only,
        ),
    )
    loopback = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    cert = issue(
        "127.0.0.1",
        key,
        ca,
        ca_key,
        x509.BasicConstraints(ca=False, path_length=None),
        x509.SubjectAlternativeName(loopback),
        x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
        x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
    )
    pem = serialization.Encoding.PEM
    private = key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    ca_path, server_path = folder / "ca.pem", folder / "server.pem"
    ca_path.write_bytes(ca.public_bytes(pem))
    server_path.write_bytes(cert.public_bytes(pem) + private)
    return ca_path, server_path


class FTPServer:
    """The pyftpdlib process and what the tests need to reach it."""

    def __init__(self) -> None:
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        self.dir = Path(tempfile.mkdtemp(prefix="ftp-", dir=STATE_DIR))
        self.root = self.dir / "root"
        self.root.mkdir()
        (self.root / READONLY).mkdir()
        (self.root / READONLY / "kept.txt").write_bytes(b"kept")
        self.ports = dict(zip(LISTENERS, free_ports(len(LISTENERS)), strict=True))
        self.ca_file, self.cert_file = make_certificate(self.dir)
        config = {
            "root": str(self.root),
            "cert": str(self.cert_file),
            "ports": self.ports,
            "passive": free_ports(PASSIVE_PORTS * len(LISTENERS)),
        }
        #: The URL under which an HTTP server publishes the root (set by the fixture).
        self.http_url = ""
        self.config = self.dir / "config.json"
        self.config.write_text(json.dumps(config))
        self.process = ServerProcess(
            "pyftpdlib",
            [sys.executable, "-m", "tests.servers.ftp", str(self.config)],
            self.ports["plain"],
            ready=self._ready,
            cwd=REPO,
        )

    def _ready(self) -> bool:
        for port in self.ports.values():
            with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                if not sock.recv(64).startswith(b"220"):
                    return False
        return True

    def url(
        self, path: str = "", listener: str = "plain", scheme: str = "ftp", password: str = PASSWORD
    ) -> str:
        """Return an ``FTP_STORAGE_LOCATION`` that logs in as the test user on ``listener``."""
        secret = quote(password, safe="")
        return f"{scheme}://{USER}:{secret}@127.0.0.1:{self.ports[listener]}{path}"

    def local(self, path: str) -> Path:
        """Return the local path of a server path."""
        return self.root / path.lstrip("/")

    def raw(self, listener: str = "plain") -> ftplib.FTP:
        """Return a raw ftplib client logged in as the test user, in binary mode."""
        ftp: ftplib.FTP
        if listener == "tls":
            ftp = ftplib.FTP_TLS(context=ssl.create_default_context(cafile=str(self.ca_file)))
        else:
            ftp = ftplib.FTP(encoding="latin-1" if listener == "legacy" else "utf-8")
        ftp.connect("127.0.0.1", self.ports[listener], timeout=30)
        ftp.login(USER, PASSWORD)
        if isinstance(ftp, ftplib.FTP_TLS):
            ftp.prot_p()
        ftp.voidcmd("TYPE I")
        return ftp

    def mark(self) -> int:
        """Return the current end of the server's log, for ``commands(since=...)``."""
        return self.process.log_path.stat().st_size

    def commands(self, since: int = 0, listener: str | None = None) -> list[str]:
        """Return the commands the server received since log offset ``since`` (per listener)."""
        text = self.process.log_path.read_bytes()[since:].decode("utf-8", "replace")
        found = []
        for line in text.splitlines():
            head, sep, command = line.partition(" <- ")
            if sep and (listener is None or head.startswith(f"[{listener}]")):
                found.append(command)
        return found

    def logins(self, since: int = 0, listener: str | None = None) -> int:
        """Return how many logins the server received since log offset ``since``."""
        return sum(1 for c in self.commands(since, listener) if c.startswith("PASS "))

    def stop(self) -> None:
        """Stop the server and remove its files."""
        self.process.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def _serve(config_path: str) -> None:
    """Run the four listeners of ``config_path`` until terminated (the server program)."""
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import FTPHandler, TLS_FTPHandler
    from pyftpdlib.ioloop import IOLoop
    from pyftpdlib.servers import FTPServer as Listener

    config = json.loads(Path(config_path).read_text())
    root = config["root"]
    authorizer = DummyAuthorizer()
    authorizer.add_user(USER, PASSWORD, root, perm="elradfmwMT")
    authorizer.override_perm(USER, str(Path(root, READONLY)), "elr", recursive=True)
    passive = config["passive"]
    legacy_cmds = {k: v for k, v in FTPHandler.proto_cmds.items() if k not in {"MLSD", "MLST"}}
    handlers: dict[str, type[Any]] = {
        "plain": type("Plain", (FTPHandler,), {}),
        "tls": type(
            "TLS",
            (TLS_FTPHandler,),
            {"certfile": config["cert"], "tls_control_required": True, "tls_data_required": True},
        ),
        "legacy": type("Legacy", (FTPHandler,), {"proto_cmds": legacy_cmds, "encoding": "latin-1"}),
        "idle": type("Idle", (FTPHandler,), {"timeout": IDLE_TIMEOUT}),
    }
    # Every command line, at DEBUG; pyftpdlib masks passwords itself.
    logging.basicConfig(level=logging.DEBUG, format="%(message)s", stream=sys.stdout)
    loop = IOLoop.instance()
    listeners = []
    for index, (name, handler) in enumerate(handlers.items()):
        handler.authorizer = authorizer
        handler.passive_ports = passive[index * PASSIVE_PORTS : (index + 1) * PASSIVE_PORTS]
        handler.banner = f"stowage test server ({name})"
        handler.log_prefix = f"[{name}] %(remote_ip)s:%(remote_port)s-[%(username)s]"
        listeners.append(Listener(("127.0.0.1", config["ports"][name]), handler, ioloop=loop))
    listeners[0].serve_forever(timeout=0.5, blocking=True, handle_exit=True)


@pytest.fixture(scope="session")
def ftp_server() -> Iterator[FTPServer]:
    """The session's pyftpdlib server, and an HTTP server publishing its root."""
    try:
        import OpenSSL  # noqa: F401
        import pyftpdlib  # noqa: F401
    except ImportError as exc:
        unavailable(f"pyftpdlib and pyOpenSSL are needed for the FTP tests: {exc}")
    server = FTPServer()
    start_or_unavailable(server.process)
    with contextlib.ExitStack() as stack:
        stack.callback(server.stop)
        http = StaticHTTPServer(server.root).start()
        stack.callback(http.stop)
        server.http_url = http.base_url
        yield server


@pytest.fixture
def ftp_area(ftp_server: FTPServer) -> Iterator[str]:
    """A fresh directory for one test; yields its path as the FTP server sees it."""
    folder = ftp_server.root / uuid.uuid4().hex[:12]
    folder.mkdir()
    yield f"/{folder.name}"
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def ftp_storage(ftp_server: FTPServer, ftp_area: str) -> Iterator[Any]:
    """Build FTP storages on the test's directory: ``ftp_storage(listener=..., **options)``;
    all are closed at the end of the test."""
    from storages.backends.ftp import FTPStorage

    with contextlib.ExitStack() as made:

        def make(
            cls: type = FTPStorage, listener: str = "plain", scheme: str = "", **options: Any
        ) -> Any:
            scheme = scheme or ("ftps" if listener == "tls" else "ftp")
            defaults: dict[str, Any] = {
                "location": ftp_server.url(ftp_area, listener, scheme),
                "base_url": ftp_server.http_url + ftp_area.lstrip("/") + "/",
            }
            if scheme == "ftps":
                defaults["ca_file"] = str(ftp_server.ca_file)
            storage = cls(**{**defaults, **options})
            made.callback(storage.close)
            return storage

        yield make


@pytest.fixture
def backend_ftp(ftp_server: FTPServer, ftp_storage: Any) -> Any:
    """The FTP backend for the conformance suite (two racing create-only saves may collide:
    FTP has no atomic create-only rename). Uploads go in parts of 1 MiB already."""
    from tests.conformance.conftest import Backend, Capabilities

    # STOWAGE_FTP_CONFORMANCE=ftps runs the whole contract over FTPS instead.
    listener = "tls" if os.environ.get("STOWAGE_FTP_CONFORMANCE") == "ftps" else "plain"

    def make(file_overwrite: bool = False) -> Any:
        return ftp_storage(listener=listener, file_overwrite=file_overwrite)

    def raw_read(storage: Any, name: str) -> bytes:
        return ftp_server.local(storage._remote(storage._key(name))).read_bytes()

    return Backend("ftp", make, Capabilities(atomic_create=False), fetch, raw_read)


if __name__ == "__main__":
    _serve(sys.argv[1])
