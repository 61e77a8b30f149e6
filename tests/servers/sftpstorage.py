"""OpenSSH's sshd (Debian's openssh-server) on a free loopback port, for the SFTP backend.

The server runs as root in the foreground with its own configuration, host key and client key,
all in a fresh directory under ``.servers/sftp/`` (nothing from /etc/ssh is used). Sessions are
confined to a chroot of their own (``ChrootDirectory`` + ``ForceCommand internal-sftp``): the
tests log in as root, so that ``SFTP_STORAGE_UID``/``GID`` can really change owners, and the
chroot keeps that root session away from the rest of the machine. Each test gets a fresh
directory under ``/areas`` inside the chroot, served over HTTP for ``url()``.

A throwaway system user with a password (for the interactive-login tests), named uniquely for
the session, is created only when a test asks for it, and deleted at the end of the session.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.servers import STATE_DIR, ServerProcess, free_port, start_or_unavailable, unavailable
from tests.servers.reference import StaticHTTPServer, fetch

SSHD = "/usr/sbin/sshd"
#: Prefix of the throwaway user that may log in with a password (unique per test session, so
#: concurrent sessions on one machine do not share or delete each other's user).
PASSWORD_USER_PREFIX = "stowage-sftp-"


def _children(pid: int) -> list[int]:
    """Return the processes descended from ``pid`` (read from /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _chroot_base(preferred: Path) -> Path:
    """Return ``preferred`` if sshd accepts a chroot under it, else a directory under /run.

    sshd refuses a chroot with a directory on its path that is not root's or that others may
    write to, such as /tmp, where a checkout (CI's fresh clone, say) may well live.
    """
    path = preferred.resolve()
    for folder in (path, *path.parents):
        if not folder.exists():
            continue
        info = folder.stat()
        if info.st_uid != 0 or info.st_mode & 0o022:
            return Path("/run/stowage-sftp")
    return preferred


class SSHServer:
    """An sshd process with its own configuration, keys and chroot."""

    def __init__(self) -> None:
        base = _chroot_base(STATE_DIR / "sftp")
        base.mkdir(parents=True, exist_ok=True)
        self.dir = Path(tempfile.mkdtemp(prefix="sshd-", dir=base))
        self.port = free_port()
        self.chroot = self.dir / "chroot"
        self.areas = self.chroot / "areas"
        self.host_key = self.dir / "host_ed25519"
        self.client_key = self.dir / "client_ed25519"
        self.known_hosts = self.dir / "known_hosts"
        self.config = self.dir / "sshd_config"
        self.process: ServerProcess | None = None
        self.password_user = PASSWORD_USER_PREFIX + secrets.token_hex(4)

    def prepare(self) -> None:
        """Generate the keys, the known-hosts file and the configuration."""
        for key in (self.host_key, self.client_key):
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "stowage-test", "-f", key],
                check=True,
                capture_output=True,
            )
        keys = self.dir / "authorized"
        keys.mkdir(mode=0o755)
        shutil.copy(f"{self.client_key}.pub", keys / "root")
        (keys / "root").chmod(0o644)
        for folder in (self.chroot, self.chroot / "root", self.areas):
            folder.mkdir(mode=0o755)
        public = Path(f"{self.host_key}.pub").read_text().split()
        self.known_hosts.write_text(f"[127.0.0.1]:{self.port} {public[0]} {public[1]}\n")
        self.config.write_text(
            f"Port {self.port}\n"
            "ListenAddress 127.0.0.1\n"
            f"HostKey {self.host_key}\n"
            f"PidFile {self.dir / 'sshd.pid'}\n"
            f"AuthorizedKeysFile {keys}/%u\n"
            "PubkeyAuthentication yes\n"
            "PasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\n"
            "UsePAM no\n"
            "UseDNS no\n"
            "PermitRootLogin prohibit-password\n"
            "StrictModes no\n"
            "MaxStartups 100:30:200\n"
            "Subsystem sftp internal-sftp\n"
            "ForceCommand internal-sftp\n"
            f"ChrootDirectory {self.chroot}\n"
            "LogLevel VERBOSE\n"
            f"Match User {self.password_user}\n"
            "    PasswordAuthentication yes\n"
        )

    def _ready(self) -> bool:
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
            return sock.recv(64).startswith(b"SSH-2.0-")

    def new_process(self) -> ServerProcess:
        """Return the (not yet started) sshd process: foreground, logging to stderr."""
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # its privilege-separation dir
        return ServerProcess(
            "sshd", [SSHD, "-D", "-e", "-f", str(self.config)], self.port, ready=self._ready
        )

    def start(self) -> None:
        """Start sshd and wait for its banner."""
        self.process = self.new_process()
        self.process.start()

    def stop(self) -> None:
        """Stop sshd and every session process it started."""
        process = self.process
        if process is None or process.process is None:
            return
        sessions = _children(process.process.pid)
        process.stop()
        for pid in sessions:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def restart(self) -> None:
        """Stop the server, dropping every connection, and start it again on the same port."""
        self.stop()
        self.start()

    def sessions(self) -> int:
        """Return how many logged-in connections the server is serving (a process each)."""
        assert self.process is not None and self.process.process is not None
        pids = _children(self.process.process.pid)
        return sum(1 for pid in pids if _cmdline(pid).endswith("@notty"))

    def log(self, since: int = 0) -> str:
        """Return what sshd logged since it last started (from offset ``since`` on)."""
        assert self.process is not None
        return self.process.log_path.read_bytes()[since:].decode(errors="replace")

    def mark(self) -> int:
        """Return the current end of the log, for ``logins(since=...)``."""
        assert self.process is not None
        return self.process.log_path.stat().st_size

    def logins(self, user: str = "root", since: int = 0) -> int:
        """Return how many logins of ``user`` sshd accepted (since log offset ``since``)."""
        return sum(
            1
            for line in self.log(since).splitlines()
            if line.startswith("Accepted ") and f" for {user} from " in line
        )

    def local(self, remote: str) -> Path:
        """Return the local path of a path inside the chroot."""
        return self.chroot / remote.lstrip("/")

    def params(self, **extra: Any) -> dict[str, Any]:
        """Return SFTP_STORAGE_PARAMS that log in as root with the client key."""
        return {
            "port": self.port,
            "username": "root",
            "key_filename": str(self.client_key),
            "look_for_keys": False,
            "allow_agent": False,
            **extra,
        }

    def options(self, root: str, **extra: Any) -> dict[str, Any]:
        """Return storage options that reach directory ``root`` on this server."""
        return {
            "host": "127.0.0.1",
            "params": self.params(),
            "known_host_file": str(self.known_hosts),
            "root_path": root,
            **extra,
        }

    def raw(self, **params: Any) -> Any:
        """Return a raw paramiko SFTPClient (and its SSHClient) logged in as root."""
        import paramiko

        ssh = paramiko.SSHClient()
        ssh.load_host_keys(str(self.known_hosts))
        ssh.connect("127.0.0.1", **self.params(**params))
        sftp = ssh.open_sftp()
        sftp.ssh = ssh  # keeps the connection alive as long as the client
        return sftp


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


@pytest.fixture(scope="session")
def sshd() -> Iterator[SSHServer]:
    """The session's sshd."""
    if not os.path.exists(SSHD):
        unavailable(f"{SSHD} is not installed (scripts/servers/sftp.sh installs it)")
    if os.geteuid() != 0:
        unavailable("the SFTP tests run sshd as root (it needs to chroot and chown)")
    try:
        import paramiko  # noqa: F401
    except ImportError as exc:
        unavailable(f"paramiko is not installed: {exc}")
    server = SSHServer()
    try:
        server.prepare()
    except (OSError, subprocess.CalledProcessError) as exc:
        shutil.rmtree(server.dir, ignore_errors=True)
        unavailable(f"cannot prepare sshd: {exc}")
    server.process = server.new_process()
    start_or_unavailable(server.process)
    yield server
    server.stop()
    shutil.rmtree(server.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def sftp_http(sshd: SSHServer) -> Iterator[str]:
    """An HTTP server publishing the chroot's ``/areas``; yields its base URL."""
    server = StaticHTTPServer(sshd.areas).start()
    yield server.base_url
    server.stop()


@pytest.fixture
def sftp_area(sshd: SSHServer) -> Iterator[str]:
    """A fresh directory for one test; yields its path as the SFTP server sees it."""
    name = uuid.uuid4().hex[:12]
    (sshd.areas / name).mkdir(mode=0o755)
    yield f"/areas/{name}"
    shutil.rmtree(sshd.areas / name, ignore_errors=True)


@pytest.fixture
def sftp_storage(sshd: SSHServer, sftp_area: str, sftp_http: str) -> Iterator[Any]:
    """Build SFTP storages on the test's directory: ``sftp_storage(**options)``; all are closed
    at the end of the test."""
    from storages.backends.sftpstorage import SFTPStorage

    made: list[Any] = []
    base_url = f"{sftp_http}{sftp_area.rsplit('/', 1)[1]}/"

    def make(cls: type = SFTPStorage, **options: Any) -> Any:
        options = {**sshd.options(sftp_area), "base_url": base_url, **options}
        storage = cls(**options)
        made.append(storage)
        return storage

    yield make
    for storage in made:
        storage.close()


@pytest.fixture
def backend_sftpstorage(sshd: SSHServer, sftp_area: str, sftp_storage: Any) -> Any:
    """The SFTP backend for the conformance suite."""
    from tests.conformance.conftest import Backend, Capabilities

    def make(file_overwrite: bool = False, **options: Any) -> Any:
        return sftp_storage(file_overwrite=file_overwrite, **options)

    def raw_read(storage: Any, name: str) -> bytes:
        # The server's own filesystem: the file under the root directory the storage uses.
        return sshd.local(f"{sftp_area}/{storage._key(name)}").read_bytes()

    # Parts are 1 MiB already (SFTP has no part-size setting): no options needed.
    return Backend("sftpstorage", make, Capabilities(accessed_time=True), fetch, raw_read)


@pytest.fixture(scope="session")
def password_user(sshd: SSHServer) -> Iterator[tuple[str, str, int]]:
    """A system user that may log in with a password: ``(name, password, uid)``."""
    if not shutil.which("useradd"):
        unavailable("useradd is missing: cannot create the password-login user")
    name = sshd.password_user
    password = secrets.token_urlsafe(16)
    try:
        subprocess.run(
            ["useradd", "-M", "-N", "-d", "/", "-s", "/usr/sbin/nologin", name],
            check=True,
            capture_output=True,
        )
        subprocess.run(["chpasswd"], input=f"{name}:{password}".encode(), check=True)
    except subprocess.CalledProcessError as exc:
        unavailable(f"cannot create the user {name}: {exc.stderr!r}")
    import pwd

    try:
        yield name, password, pwd.getpwnam(name).pw_uid
    finally:
        subprocess.run(["userdel", name], capture_output=True, check=False)
