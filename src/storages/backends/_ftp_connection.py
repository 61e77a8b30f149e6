"""ftplib connections of the FTP backend: logging in, and the commands the storage sends.

One :class:`FTPConnection` belongs to one thread. It holds a logged-in control connection
(:class:`Control`) for commands; a transfer (a download or an upload in progress) keeps a control
connection busy until it ends, so it takes one of its own (the idle one when there is one, else a
new one), and commands sent meanwhile, say ``exists()`` while a file is being read, use another.
"""

from __future__ import annotations

import contextlib
import ftplib
import select
import socket
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from storages.backends._ftp_replies import (
    FTPPermissionDenied,
    info_from_facts,
    is_answer,
    parse_list_line,
    parse_mlsx_line,
    refusals,
    timestamp,
)
from storages.objects import ObjectInfo

__all__ = ["Control", "Dialer", "FTPConnection", "Transfer"]

KiB = 1024
#: The bytes asked of a data connection per read when the whole rest is asked for.
RECV_SIZE = 1024 * KiB
#: A control connection idle for longer than this is checked with NOOP before it is used.
NOOP_AFTER_IDLE = 30.0
#: Seconds to wait for the server's reply after a transfer is abandoned midway.
ABORT_REPLY_TIMEOUT = 5.0
#: Idle control connections a thread keeps for later transfers and commands.
MAX_IDLE = 2


@dataclass
class Dialer:
    """Everything needed to open a logged-in control connection (no secret in its repr)."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)
    tls: bool
    passive: bool
    encoding: str | None
    timeout: float | None
    context: ssl.SSLContext | None = field(default=None, repr=False)

    def open(self) -> Control:
        """Connect, protect (FTPS), log in and switch to binary mode."""
        ftp: ftplib.FTP
        if self.tls:
            ftp = ftplib.FTP_TLS(context=self.context, timeout=self.timeout, encoding="latin-1")
        else:
            ftp = ftplib.FTP(timeout=self.timeout, encoding="latin-1")
        try:
            ftp.connect(self.host, self.port)
            if isinstance(ftp, ftplib.FTP_TLS):
                ftp.auth()
            features = _features(ftp)
            self._choose_encoding(ftp, features)
            ftp.login(self.user, self.password)
            if not features:  # some servers answer FEAT only after the login
                features = _features(ftp)
                self._choose_encoding(ftp, features)
            if ftp.encoding == "utf-8" and "UTF8" in features:
                with contextlib.suppress(ftplib.error_perm, ftplib.error_temp):
                    ftp.sendcmd("OPTS UTF8 ON")
            if isinstance(ftp, ftplib.FTP_TLS):
                ftp.prot_p()
            # Binary once and for all: SIZE is refused in ASCII mode, and reads are bytes.
            ftp.voidcmd("TYPE I")
        except ftplib.error_perm as exc:
            ftp.close()
            # Whatever the code (servers answer 530, 550, 534...), a refusal to let us in.
            raise FTPPermissionDenied(
                f"{self.host}:{self.port} refused the login or session setup: {exc}"
            ) from exc
        except BaseException:
            ftp.close()
            raise
        ftp.set_pasv(self.passive)
        return Control(ftp, features)

    def _choose_encoding(self, ftp: ftplib.FTP, features: frozenset[str]) -> None:
        encoding = self.encoding or ("utf-8" if "UTF8" in features else "latin-1")
        if encoding != ftp.encoding:
            ftp.encoding = encoding
            # ftplib decodes replies through a reader made at connect time: make it again.
            if ftp.sock is not None:
                ftp.file = ftp.sock.makefile("r", encoding=encoding)


def recv(sock: socket.socket, size: int) -> bytes:
    """Return up to ``size`` bytes of a data connection (b'' at its end, TLS or not)."""
    try:
        return sock.recv(size)
    except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
        return b""


def _features(ftp: ftplib.FTP) -> frozenset[str]:
    try:
        reply = ftp.sendcmd("FEAT")
    except (ftplib.error_perm, ftplib.error_temp):
        return frozenset()
    lines = reply.splitlines()[1:-1]
    return frozenset(line.split()[0].upper() for line in lines if line.strip())


class Control:
    """One logged-in control connection, in binary mode, and the commands the storage sends."""

    def __init__(self, ftp: ftplib.FTP, features: frozenset[str]) -> None:
        self.ftp = ftp
        self.features = features
        self.last_used = time.monotonic()
        self._home: str | None = None

    def usable(self) -> bool:
        """Return whether the connection still works (NOOP only after a long silence)."""
        sock = self.ftp.sock
        if sock is None:
            return False
        pending = isinstance(sock, ssl.SSLSocket) and sock.pending() > 0
        try:
            readable = pending or bool(select.select([sock], [], [], 0)[0])
        except (OSError, ValueError):
            return False
        if readable:
            # A server speaks unasked only to hang up (a "421 timeout" notice, or end of file).
            return False
        if time.monotonic() - self.last_used > NOOP_AFTER_IDLE:
            try:
                self.ftp.voidcmd("NOOP")
            except (OSError, EOFError, ftplib.Error):
                return False
            self.last_used = time.monotonic()
        return True

    def close(self) -> None:
        """Close the connection (without QUIT: it may be the dead one)."""
        self.ftp.close()

    def stat(self, path: str) -> ObjectInfo:
        """Return what the server says about ``path`` (MLST, else SIZE and MDTM)."""
        if "MLST" in self.features:
            with refusals(path, frozenset({"501"})):
                reply = self.ftp.sendcmd(f"MLST {path}")
            lines = reply.splitlines()
            entry = next((line for line in lines[1:] if line.startswith(" ")), lines[-1])
            return info_from_facts(parse_mlsx_line(entry)[1])
        try:
            with refusals(path):
                size = int(self.ftp.size(path) or 0)
        except FileNotFoundError:
            if self.is_dir(path):  # SIZE is refused for directories
                return ObjectInfo(0, None, version=(0, None), is_dir=True)
            raise
        modified = None
        with contextlib.suppress(ftplib.error_perm):
            modified = timestamp(self.ftp.sendcmd(f"MDTM {path}")[4:])
        return ObjectInfo(size, modified, version=(size, modified))

    def is_dir(self, path: str) -> bool:
        """Return whether ``path`` is a directory, by entering it (and going back)."""
        if self._home is None:
            self._home = self.ftp.pwd()
        try:
            self.ftp.cwd(path)
        except ftplib.error_perm:
            return False
        self.ftp.cwd(self._home)
        return True

    def list_dir(self, path: str) -> list[tuple[str, bool, ObjectInfo | None]]:
        """Return ``(name, is_dir, info)`` for each entry of directory ``path``: MLSD, whose
        facts tell a file's size and time as MLST does, else LIST (info None: ask MLST/SIZE)."""
        if "MLST" in self.features:
            entries: list[tuple[str, bool, ObjectInfo | None]] = []
            for line in self._lines(f"MLSD {path}", path):
                name, facts = parse_mlsx_line(line)
                kind = facts.get("type", "").lower()
                if kind == "file" and "size" in facts:
                    entries.append((name, False, info_from_facts(facts)))
                elif kind not in {"cdir", "pdir"}:
                    entries.append((name, kind == "dir", None))  # a directory, a link, ...
            return entries
        parsed = (parse_list_line(line) for line in self._lines(f"LIST {path}", path))
        return [(entry[0], entry[1], None) for entry in parsed if entry is not None]

    def _lines(self, command: str, path: str) -> list[str]:
        with refusals(path, frozenset({"501"})):
            sock = self.ftp.transfercmd(command)
        with sock:
            chunks = []
            while data := recv(sock, RECV_SIZE):
                chunks.append(data)
        self.ftp.voidresp()
        text = b"".join(chunks).decode(self.ftp.encoding, "replace")
        return [line for line in text.replace("\r\n", "\n").split("\n") if line]

    def mkdir(self, path: str) -> None:
        """Make one directory (its parent must exist)."""
        with refusals(path):
            self.ftp.mkd(path)

    def remove(self, path: str) -> None:
        """Delete a file."""
        with refusals(path):
            self.ftp.delete(path)

    def rename(self, source: str, target: str) -> None:
        """Rename ``source`` to ``target`` (RNFR, RNTO)."""
        with refusals(target):
            self.ftp.rename(source, target)

    def exists(self, path: str) -> bool:
        """Return whether anything is stored at ``path``."""
        try:
            self.stat(path)
        except FileNotFoundError:
            return False
        return True

    def start(self, command: str, path: str, rest: int | None = None) -> socket.socket:
        """Send a transfer command and return its data connection."""
        with refusals(path):
            sock: socket.socket = self.ftp.transfercmd(f"{command} {path}", rest=rest or None)
        return sock


class FTPConnection:
    """One thread's FTP connection: a control connection for commands, and one more for each
    transfer in progress (see the module docstring)."""

    def __init__(self, dialer: Dialer) -> None:
        self._dialer = dialer
        self._idle: list[Control] = [dialer.open()]
        #: Commands in progress (a finalizer must not send one in the middle of another).
        self.requests = 0
        #: Set when a command failed because its connection died: replace this connection.
        self.failed = False
        self.closed = False

    def _take(self) -> Control:
        while self._idle:
            control = self._idle.pop()
            if control.usable():
                return control
            control.close()
        return self._dialer.open()

    def _put(self, control: Control) -> None:
        control.last_used = time.monotonic()
        if self.closed or len(self._idle) >= MAX_IDLE:
            control.close()
        else:
            self._idle.append(control)

    @contextlib.contextmanager
    def control(self) -> Iterator[Control]:
        """Lend an idle control connection for one command."""
        control = self._take()
        self.requests += 1
        try:
            yield control
        except BaseException as exc:
            if is_answer(exc):
                self._put(control)
            else:
                control.close()
                self.failed = True
            raise
        else:
            self._put(control)
        finally:
            self.requests -= 1

    def transfer(
        self, command: str, path: str, rest: int | None = None, length: int | None = None
    ) -> Transfer:
        """Start a transfer on a control connection of its own (a download of ``length``
        bytes ends, and gives its control connection back, as soon as they are read)."""
        control = self._take()
        try:
            sock = control.start(command, path, rest)
        except BaseException as exc:
            if is_answer(exc):
                self._put(control)
            else:
                control.close()
            raise
        return Transfer(self, control, sock, length)

    def give_back(self, control: Control, reusable: bool) -> None:
        """Take back a control connection a transfer is done with."""
        if reusable:
            self._put(control)
        else:
            control.close()

    def alive(self) -> bool:
        """Return whether commands can go on over this connection."""
        # No look at the socket here: the command that follows takes an idle control
        # connection only after checking it (and dials a new one if the server hung up).
        return not (self.closed or self.failed)

    def close(self) -> None:
        """Close the idle control connections; a transfer's closes when the transfer ends."""
        self.closed = True
        idle, self._idle = self._idle, []
        for control in idle:
            control.close()


class Transfer:
    """A data connection in progress: a download to read, or an upload to write."""

    def __init__(
        self, owner: FTPConnection, control: Control, sock: socket.socket, length: int | None
    ) -> None:
        self._owner = owner
        self._control: Control | None = control
        self._sock: socket.socket | None = sock
        self._left = length
        self._file: BinaryIO | None = None

    def read(self, n: int = -1) -> bytes:
        """Return ``n`` bytes of the download (fewer only at its end; b'' after it)."""
        sock = self._sock
        if sock is None or n == 0:
            return b""
        if n is None or n < 0:
            return b"".join(iter(lambda: self.read(RECV_SIZE), b""))
        if self._left is not None:
            n = min(n, self._left)
        if self._file is None:
            # A buffered file over the socket fills the bytes it returns straight from the
            # socket (recv_into), however many pieces they arrive in: no copy of ours.
            self._file = sock.makefile("rb")
        try:
            data = self._file.read(n)
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            data = b""
        if self._left is not None:
            self._left -= len(data)
        if not data:
            self.finish()
        elif self._left == 0:
            # Everything asked for: free the control connection now, not when (or if) the
            # file object is closed; a reader dropped unclosed would hold it until collected.
            self.close()
        return data

    def _close_file(self) -> None:
        file, self._file = self._file, None
        if file is not None:
            file.close()  # the socket itself closes when the transfer ends

    def write(self, data: bytes) -> None:
        """Send ``data`` to the upload."""
        if self._sock is None:
            raise ValueError("The transfer is over.")
        self._sock.sendall(data)

    def finish(self) -> None:
        """End a complete transfer and check the server's final reply."""
        sock, control = self._sock, self._control
        self._sock = self._control = None
        if sock is None or control is None:
            return
        self._close_file()
        reusable = False
        try:
            if isinstance(sock, ssl.SSLSocket):
                with contextlib.suppress(OSError, ValueError):
                    sock.unwrap()  # the TLS close, so the server knows the data is whole
            sock.close()
            control.ftp.voidresp()
            reusable = True
        except BaseException as exc:
            reusable = is_answer(exc)
            raise
        finally:
            self._owner.give_back(control, reusable)

    def close(self) -> None:
        """Abandon the transfer if it is not over (the server answers 426, or 226)."""
        sock, control = self._sock, self._control
        self._sock = self._control = None
        if sock is None or control is None:
            return
        self._close_file()
        sock.close()
        reusable = False
        ftp = control.ftp
        try:
            if ftp.sock is not None:
                ftp.sock.settimeout(ABORT_REPLY_TIMEOUT)
                # "426 transfer aborted" is the expected answer.
                with contextlib.suppress(ftplib.error_temp, ftplib.error_perm):
                    ftp.getresp()
                ftp.sock.settimeout(ftp.timeout)
                reusable = True
        except (OSError, EOFError, ftplib.Error):
            reusable = False
        finally:
            self._owner.give_back(control, reusable)
