"""Connecting to an SFTP server: host-key checks, authentication and the password prompt.

Host keys are checked against an OpenSSH known-hosts file. A key the file does not list is
refused unless ``SFTP_HOST_KEY_POLICY`` says to record it (``"add"``) or to accept it with a
warning (``"warn"``); a key that differs from the listed one is always refused (django-storages
accepted unknown keys silently, its issue #118).

The password prompt of ``SFTP_STORAGE_INTERACTIVE`` only appears in the main thread of a
process with a terminal on its standard input while no Django request is being handled, so a
web request never blocks on a prompt nobody can answer.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import getpass
import hashlib
import inspect
import logging
import os
import socket
import sys
import threading
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured
from django.core.signals import request_finished, request_started

from storages.deps import require
from storages.errors import AccessDenied, StorageError

if TYPE_CHECKING:
    from storages.backends.sftpstorage import SFTPStorage

__all__ = ["Connection", "HostKeyError", "UnknownHostKeyWarning", "open_connection"]

logger = logging.getLogger("storages.sftp")

#: How long connecting may take when SFTP_STORAGE_PARAMS gives no ``timeout`` (seconds).
DEFAULT_TIMEOUT = 30.0
REFUSED_PROMPT = " The password typed at the prompt was refused."


class HostKeyError(ImproperlyConfigured):
    """The server's host key is not in the known-hosts file, or differs from the listed one."""


class UnknownHostKeyWarning(UserWarning):
    """A host key was accepted without being checked (``SFTP_HOST_KEY_POLICY = "warn"``)."""


# -- requests in progress: no password prompt while Django handles one ----------------------

_requests_lock = threading.Lock()
_requests_in_progress = 0


def _request_started(**_: Any) -> None:
    global _requests_in_progress
    with _requests_lock:
        _requests_in_progress += 1


def _request_finished(**_: Any) -> None:
    global _requests_in_progress
    with _requests_lock:
        _requests_in_progress = max(_requests_in_progress - 1, 0)


request_started.connect(_request_started, dispatch_uid="storages.sftp.request_started")
request_finished.connect(_request_finished, dispatch_uid="storages.sftp.request_finished")


def prompt_refusal() -> str | None:
    """Return why a password prompt is not possible right now (None: it is)."""
    if _requests_in_progress:
        return "a web request is being handled"
    if threading.current_thread() is not threading.main_thread():
        return "the connection is made outside the main thread"
    stdin = sys.stdin
    try:
        tty = stdin is not None and stdin.isatty()
    except (ValueError, OSError):  # a closed or detached stdin
        tty = False
    if not tty:
        return "no terminal is attached"
    return None


_prompt_lock = threading.Lock()


# -- host keys -------------------------------------------------------------------------------


def fingerprint(key: Any) -> str:
    """Return the OpenSSH-style SHA256 fingerprint of a paramiko key."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def _describe(key: Any) -> str:
    return f"{key.get_name()} {fingerprint(key)}"


_known_hosts_lock = threading.Lock()


class _HostKeyPolicy:
    """Decides about a host key the known-hosts file does not list (paramiko's policy hook).

    It keeps no reference to the storage: the SSH client holds it for as long as the connection
    lives, and the storage must stay free to be garbage collected (which closes connections).
    """

    def __init__(self, storage: SFTPStorage, path: str) -> None:
        self.policy = storage.host_key_policy
        self.path = path
        self.file_label = storage.setting_label("known_host_file")
        self.policy_label = storage.setting_label("host_key_policy")

    def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
        if self.policy == "add":
            self._record(hostname, key)
            client.get_host_keys().add(hostname, key.get_name(), key)
            logger.info(
                "Recorded the host key of %s (%s) in %s.", hostname, _describe(key), self.path
            )
            return
        if self.policy == "warn":
            message = (
                f"Accepting the unknown host key of the SFTP server {hostname} ({_describe(key)}) "
                f"without checking it, because SFTP_HOST_KEY_POLICY is 'warn'. Add it to "
                f"{self.path} to have it checked."
            )
            logger.warning(message)
            warnings.warn(message, UnknownHostKeyWarning, stacklevel=2)
            return
        raise HostKeyError(
            f"The SFTP server {hostname} offered the host key {_describe(key)}, which the "
            f"known-hosts file {self.path} ({self.file_label}) does not list. Check the "
            f"fingerprint with the server's administrator, then add the key to that file (for "
            f"example with ssh-keyscan), or set {self.policy_label} to 'add' to record it on "
            f"first use."
        )

    def _record(self, hostname: str, key: Any) -> None:
        paramiko = require("paramiko", "sftp")
        line = f"{hostname} {key.get_name()} {key.get_base64()}\n"
        with _known_hosts_lock:
            if os.path.exists(self.path):
                known = paramiko.HostKeys(self.path)
                if known.check(hostname, key):
                    return  # another thread or process recorded it meanwhile
            folder = os.path.dirname(self.path)
            if folder:
                os.makedirs(folder, mode=0o700, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "a", encoding="ascii") as handle:
                handle.write(line)


# -- connections -----------------------------------------------------------------------------


class Connection:
    """One SSH connection and its SFTP session, used by one thread."""

    __slots__ = ("deferred", "files", "sftp", "ssh", "thread")

    def __init__(self, ssh: Any, sftp: Any) -> None:
        self.ssh = ssh
        self.sftp = sftp
        self.thread = threading.current_thread()
        #: Clean-ups that could not run when asked (see ``later()``), run by ``run_deferred()``.
        self.deferred: collections.deque[Callable[[], object]] = collections.deque()
        #: The remote files open on this session. Holding them here means a paramiko file is
        #: never freed by the garbage collector together with an unclosed storage file (its
        #: finalizer would send a request, see ``can_request_now()``): it is freed when closed.
        self.files: set[Any] = set()

    def open(self, path: str, mode: str) -> Any:
        """Open a remote file; it stays referenced here until ``close_file()``."""
        handle = self.sftp.open(path, mode)
        self.files.add(handle)
        return handle

    def close_file(self, handle: Any) -> None:
        """Close a file from ``open()`` now; errors (e.g. of pipelined writes) propagate."""
        try:
            handle.close()
        finally:
            self.files.discard(handle)

    def close_file_later(self, handle: Any) -> None:
        """Close a file from ``open()`` now if a request can be made, else at the next use."""
        self.later(lambda: self.close_file(handle))

    def can_request_now(self) -> bool:
        """Return whether a request may be made on this connection right now.

        Not while the session's lock is taken: a file left unclosed is closed by the garbage
        collector, which can run inside any allocation, including one paramiko makes while it
        holds that lock. A request made then would wait for the lock forever.
        """
        lock = getattr(self.sftp, "_lock", None)
        if lock is None:
            return True
        if not lock.acquire(blocking=False):
            return False
        lock.release()
        return True

    def later(self, cleanup: Callable[[], object]) -> None:
        """Run ``cleanup`` now if a request can be made, else at this connection's next use."""
        if self.can_request_now():
            with contextlib.suppress(Exception):
                cleanup()
        else:
            self.deferred.append(cleanup)

    def run_deferred(self) -> None:
        """Run the clean-ups put off by ``later()`` (called before each use of the connection)."""
        while self.deferred:
            cleanup = self.deferred.popleft()
            with contextlib.suppress(Exception):
                cleanup()

    def alive(self) -> bool:
        """Return whether the connection still works (as far as can be told without a request)."""
        transport = self.ssh.get_transport()
        channel = self.sftp.get_channel()
        return bool(
            transport is not None
            and transport.is_active()
            and not channel.closed
            and not channel.eof_received
        )

    def close(self) -> None:
        """Close the SFTP session and the SSH connection (which frees the server's handles)."""
        with contextlib.suppress(Exception):
            self.sftp.close()
        with contextlib.suppress(Exception):
            self.ssh.close()
        self.deferred.clear()
        self.files.clear()


def _connect_arguments(paramiko: Any) -> frozenset[str]:
    return frozenset(inspect.signature(paramiko.SSHClient.connect).parameters) - {"self"}


def _address(storage: SFTPStorage) -> str:
    port = storage.params.get("port", 22)
    return f"{storage.host}:{port}"


def open_connection(storage: SFTPStorage) -> Connection:
    """Connect ``storage`` to its server and open an SFTP session."""
    paramiko = require("paramiko", "sftp")
    if not storage.host:
        raise ImproperlyConfigured(
            "SFTPStorage needs a server: set SFTP_STORAGE_HOST, or the 'host' option in STORAGES."
        )
    params = storage.params
    unknown = sorted(set(params) - _connect_arguments(paramiko))
    if unknown:
        raise ImproperlyConfigured(
            f"{storage.setting_label('params')} has key(s) paramiko's SSHClient.connect() does "
            f"not take: {', '.join(unknown)}."
        )
    kwargs = dict(params)
    kwargs.setdefault("timeout", DEFAULT_TIMEOUT)
    prompted = storage._prompted_password
    if prompted is not None and "password" not in params:
        kwargs["password"] = prompted
    try:
        return _open(paramiko, storage, kwargs)
    except paramiko.AuthenticationException as exc:
        if not storage.interactive or "password" in params:
            raise _auth_failed(storage, exc, "") from exc
        if prompted is not None:
            storage._forget_password()
            raise _auth_failed(storage, exc, REFUSED_PROMPT) from exc
        reason = prompt_refusal()
        if reason is not None:
            raise _auth_failed(
                storage,
                exc,
                f" {storage.setting_label('interactive')} is on, but no password was asked for "
                f"because {reason}.",
            ) from exc
    # Ask once for all threads; whoever asked first shares the answer.
    with _prompt_lock:
        password = storage._prompted_password
        if password is None:
            user = params.get("username") or getpass.getuser()
            password = getpass.getpass(f"Password for {user}@{_address(storage)}: ")
    kwargs["password"] = password
    try:
        connection = _open(paramiko, storage, kwargs)
    except paramiko.AuthenticationException as exc:
        storage._forget_password()
        raise _auth_failed(storage, exc, REFUSED_PROMPT) from exc
    storage._remember_password(password)
    return connection


def _auth_failed(storage: SFTPStorage, exc: BaseException, extra: str) -> AccessDenied:
    user = storage.params.get("username") or getpass.getuser()
    return AccessDenied(
        f"The SFTP server {_address(storage)} refused to authenticate {user!r}: {exc}. Check "
        f"the username, key_filename/pkey or password in {storage.setting_label('params')}."
        f"{extra}"
    )


def _no_delay(sock: Any) -> None:
    # Send small requests at once: with Nagle's algorithm, a batch of pipelined read requests
    # waits for the server's delayed ACK (~40 ms on Linux) before its tail goes out.
    with contextlib.suppress(AttributeError, OSError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _unreachable(storage: SFTPStorage, exc: BaseException) -> StorageError:
    return StorageError(
        f"Cannot connect to the SFTP server {_address(storage)} "
        f"({storage.setting_label('host')}, 'port' in {storage.setting_label('params')}): "
        f"{type(exc).__name__}: {exc}"
    )


def _open(paramiko: Any, storage: SFTPStorage, kwargs: dict[str, Any]) -> Connection:
    ssh = paramiko.SSHClient()
    path = storage.known_hosts_path()
    try:
        if os.path.exists(path):
            ssh.load_host_keys(path)
    except (OSError, paramiko.SSHException) as exc:
        raise HostKeyError(
            f"Cannot read the known-hosts file {path} "
            f"({storage.setting_label('known_host_file')}): {exc}"
        ) from exc
    policy = storage.host_key_policy
    ssh.set_missing_host_key_policy(
        _HostKeyPolicy(storage, path) if isinstance(policy, str) else policy
    )
    try:
        ssh.connect(storage.host, **kwargs)
        _no_delay(ssh.get_transport().sock)
        sftp = ssh.open_sftp()
    except paramiko.BadHostKeyException as exc:
        ssh.close()
        raise HostKeyError(
            f"The host key of the SFTP server {exc.hostname} changed: it offered "
            f"{_describe(exc.key)}, but {path} ({storage.setting_label('known_host_file')}) "
            f"lists {_describe(exc.expected_key)}. Someone may be intercepting the connection. "
            f"If the server's key really changed, remove its old line from that file (ssh-keygen "
            f"-R HOST -f FILE) and add the new key."
        ) from exc
    except paramiko.AuthenticationException:
        ssh.close()
        raise
    except paramiko.SSHException as exc:
        ssh.close()
        if "no authentication methods" in str(exc).lower():
            # No key and no password to try: an authentication failure like any other.
            raise paramiko.AuthenticationException(str(exc)) from exc
        raise _unreachable(storage, exc) from exc
    except (HostKeyError, ImproperlyConfigured):
        ssh.close()
        raise
    except (OSError, EOFError) as exc:
        ssh.close()
        raise _unreachable(storage, exc) from exc
    except BaseException:
        ssh.close()
        raise
    return Connection(ssh, sftp)
