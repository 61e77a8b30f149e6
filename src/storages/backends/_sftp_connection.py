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
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured
from django.core.signals import request_finished, request_started

from storages.deps import require
from storages.errors import AccessDenied, StorageError

if TYPE_CHECKING:
    from storages.backends._sftp_settings import SFTPSettings

__all__ = ["Connection", "HostKeyError", "UnknownHostKeyWarning", "open_connection"]

logger = logging.getLogger("storages.sftp")

#: How long connecting, and waiting for each reply, may take when SFTP_STORAGE_PARAMS gives no
#: ``timeout`` (seconds).
DEFAULT_TIMEOUT = 30.0
REFUSED_PROMPT = " The password typed at the prompt was refused."


class HostKeyError(ImproperlyConfigured):
    """The server's host key is not in the known-hosts file, or differs from the listed one."""


class UnknownHostKeyWarning(UserWarning):
    """A host key was accepted without being checked (``SFTP_HOST_KEY_POLICY = "warn"``)."""


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

    def __init__(self, settings: SFTPSettings, path: str) -> None:
        self.policy = settings.host_key_policy
        self.path = path
        self.file_label = settings.setting_label("known_host_file")
        self.policy_label = settings.setting_label("host_key_policy")

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


class Connection:
    """One SSH connection and its SFTP session."""

    __slots__ = ("sftp", "ssh")

    def __init__(self, ssh: Any, sftp: Any) -> None:
        self.ssh = ssh
        self.sftp = sftp

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


def _connect_arguments(paramiko: Any) -> frozenset[str]:
    return frozenset(inspect.signature(paramiko.SSHClient.connect).parameters) - {"self"}


def _address(settings: SFTPSettings) -> str:
    port = settings.params.get("port", 22)
    return f"{settings.host}:{port}"


def open_connection(
    settings: SFTPSettings, prompted: str | None = None
) -> tuple[Connection, str | None]:
    """Connect to the server ``settings`` name and open an SFTP session.

    ``prompted`` is a password typed at an earlier prompt. Return the connection and the
    password typed for it (``prompted`` again, a new one, or None), for the caller to remember;
    an ``AccessDenied`` means that no remembered password should be tried again.
    """
    paramiko = require("paramiko", "sftp")
    if not settings.host:
        raise ImproperlyConfigured(
            "SFTPStorage needs a server: set SFTP_STORAGE_HOST, or the 'host' option in STORAGES."
        )
    params = settings.params
    unknown = sorted(set(params) - _connect_arguments(paramiko))
    if unknown:
        raise ImproperlyConfigured(
            f"{settings.setting_label('params')} has key(s) paramiko's SSHClient.connect() does "
            f"not take: {', '.join(unknown)}."
        )
    kwargs = dict(params)
    kwargs.setdefault("timeout", DEFAULT_TIMEOUT)
    if "password" in params:
        prompted = None
    elif prompted is not None:
        kwargs["password"] = prompted
    try:
        return _open(paramiko, settings, kwargs), prompted
    except paramiko.AuthenticationException as exc:
        if not settings.interactive or "password" in params:
            raise _auth_failed(settings, exc, "") from exc
        if prompted is not None:
            raise _auth_failed(settings, exc, REFUSED_PROMPT) from exc
        reason = prompt_refusal()
        if reason is not None:
            raise _auth_failed(
                settings,
                exc,
                f" {settings.setting_label('interactive')} is on, but no password was asked for "
                f"because {reason}.",
            ) from exc
    # One prompt at a time, however many storages ask.
    with _prompt_lock:
        user = params.get("username") or getpass.getuser()
        password = getpass.getpass(f"Password for {user}@{_address(settings)}: ")
    kwargs["password"] = password
    try:
        connection = _open(paramiko, settings, kwargs)
    except paramiko.AuthenticationException as exc:
        raise _auth_failed(settings, exc, REFUSED_PROMPT) from exc
    return connection, password


def _auth_failed(settings: SFTPSettings, exc: BaseException, extra: str) -> AccessDenied:
    user = settings.params.get("username") or getpass.getuser()
    return AccessDenied(
        f"The SFTP server {_address(settings)} refused to authenticate {user!r}: {exc}. Check "
        f"the username, key_filename/pkey or password in {settings.setting_label('params')}."
        f"{extra}"
    )


def _no_delay(sock: Any) -> None:
    # Send small requests at once: with Nagle's algorithm, a batch of pipelined read requests
    # waits for the server's delayed ACK (~40 ms on Linux) before its tail goes out.
    with contextlib.suppress(AttributeError, OSError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _unreachable(settings: SFTPSettings, exc: BaseException) -> StorageError:
    return StorageError(
        f"Cannot connect to the SFTP server {_address(settings)} "
        f"({settings.setting_label('host')}, 'port' in {settings.setting_label('params')}): "
        f"{type(exc).__name__}: {exc}"
    )


def _open(paramiko: Any, settings: SFTPSettings, kwargs: dict[str, Any]) -> Connection:
    ssh = paramiko.SSHClient()
    path = settings.known_hosts_path()
    try:
        if os.path.exists(path):
            ssh.load_host_keys(path)
    except (OSError, paramiko.SSHException) as exc:
        raise HostKeyError(
            f"Cannot read the known-hosts file {path} "
            f"({settings.setting_label('known_host_file')}): {exc}"
        ) from exc
    policy = settings.host_key_policy
    ssh.set_missing_host_key_policy(
        _HostKeyPolicy(settings, path) if isinstance(policy, str) else policy
    )
    try:
        ssh.connect(settings.host, **kwargs)
        _no_delay(ssh.get_transport().sock)
        sftp = ssh.open_sftp()
        # Each reply too: without it, a server that stops answering blocks a request forever.
        sftp.get_channel().settimeout(kwargs["timeout"])
    except paramiko.BadHostKeyException as exc:
        ssh.close()
        raise HostKeyError(
            f"The host key of the SFTP server {exc.hostname} changed: it offered "
            f"{_describe(exc.key)}, but {path} ({settings.setting_label('known_host_file')}) "
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
        raise _unreachable(settings, exc) from exc
    except (HostKeyError, ImproperlyConfigured):
        ssh.close()
        raise
    except (OSError, EOFError) as exc:
        ssh.close()
        raise _unreachable(settings, exc) from exc
    except BaseException:
        ssh.close()
        raise
    return Connection(ssh, sftp)
