"""The connections of a file-server backend: one per thread, checked, replaced, always closed.

:class:`RemoteConnections` is the lower half of :class:`~storages._remote_fs.RemoteFilesystem`
(whose docstring lists every hook). Each thread gets a :class:`Session`: the backend's
connection, the files open on it and the clean-ups put off until it is free. A session whose
connection the server dropped is replaced at its next use; an operation that failed because
its connection died runs once more on a new one (``_run``). Sessions of threads that ended are
closed when a new one is made, and all of them when the storage is closed, garbage collected
or the interpreter exits. A :class:`ResumingReader` carries a download on to a new connection
when its own dies, if the file did not change meanwhile.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import threading
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from django.core.exceptions import SuspiciousFileOperation

from storages.base import BaseStorage
from storages.errors import StorageError
from storages.objects import ObjectInfo

if TYPE_CHECKING:
    from storages._remote_fs import RemoteFilesystem

__all__ = ["RemoteConnections", "ResumingReader", "Session"]

C = TypeVar("C")
T = TypeVar("T")
#: Seconds a read stream may sit unread before its connection is checked at the next read. A
#: stream read without pause needs no check (a connection dying under it fails the read, which
#: resumes), and the check costs a system call on some backends: too much for every 64 KiB.
RECHECK_AFTER = 1.0


class Session(Generic[C]):
    """One thread's connection, the files open on it, and the clean-ups put off until later.

    Holding the open files here means a file of the SDK is never freed by the garbage collector
    together with an unclosed storage file (its own finalizer could make a request at a bad
    time): it is freed when it is closed. A session never refers to its storage, so a storage
    stays free to be collected (which closes its sessions).
    """

    __slots__ = ("_closer", "conn", "deferred", "handles", "thread")

    def __init__(self, conn: C, closer: Callable[[C], object]) -> None:
        self.conn = conn
        self._closer = closer
        self.thread = threading.current_thread()
        self.handles: set[Any] = set()
        self.deferred: collections.deque[Callable[[], object]] = collections.deque()

    def run_deferred(self) -> None:
        """Run the clean-ups that could not run when they were asked for."""
        while self.deferred:
            cleanup = self.deferred.popleft()
            with contextlib.suppress(Exception):
                cleanup()

    def close(self) -> None:
        """Close the connection (best effort) and forget its files and clean-ups."""
        with contextlib.suppress(Exception):
            self._closer(self.conn)
        self.deferred.clear()
        self.handles.clear()


def _close_sessions(sessions: list[Session[Any]]) -> None:
    for session in list(sessions):
        session.close()


# Storages with open connections, closed when the interpreter exits.
_live: weakref.WeakSet[RemoteConnections[Any]] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for storage in list(_live):
        with contextlib.suppress(Exception):
            storage.close()


def _call_if_alive(ref: weakref.ref[Any], cleanup: Callable[[Any], object]) -> None:
    storage = ref()
    if storage is not None:
        cleanup(storage)


class RemoteConnections(BaseStorage, Generic[C]):
    """Per-thread sessions over a backend's connections (``C``), with one transparent retry."""

    # The SDKs' connections serialize their requests (or are not thread-safe at all): one per
    # thread lets threads work in parallel and keeps one thread's dead connection from another.
    client_per_thread = True
    # A connection belongs to its thread: clean-ups of dropped files are put off to its next
    # use (see ``_later``) rather than handed to the janitor thread.
    clean_up_in_background = False
    runtime_attrs = BaseStorage.runtime_attrs | {"_finalizer"}

    def _init_runtime(self) -> None:
        super()._init_runtime()
        # Close this storage's connections when it is garbage collected, and at exit.
        self._finalizer = weakref.finalize(self, _close_sessions, self._clients)
        _live.add(self)

    def _connect(self) -> Session[C]:
        with self._lock:
            # Connections of threads that ended are never used again.
            stale = [s for s in self._clients if not s.thread.is_alive()]
            for session in stale:
                self._clients.remove(session)
        for session in stale:
            session.close()
        return Session(self._open_connection(), type(self)._close_connection)

    def _disconnect(self, client: Session[C]) -> None:
        client.close()

    def _session(self) -> Session[C]:
        """Return this thread's session, replacing its connection if the server dropped it."""
        session: Session[C] = self.client
        if not self._connection_alive(session.conn):
            self._forget_client(session)
            session = self.client
        session.run_deferred()
        return session

    def _connection_broken(self, conn: C, exc: BaseException) -> bool:
        """Return whether ``exc`` came from ``conn`` dying (rather than from the request)."""
        original = exc.__cause__ if isinstance(exc, StorageError) and exc.__cause__ else exc
        if self._server_answered(original):
            return False
        if not self._connection_alive(conn):
            return True
        # The transport may not have noticed yet: ask the server something harmless.
        try:
            self._ping(conn)
        except Exception:
            return True
        return False

    def _server_answered(self, exc: BaseException) -> bool:
        """Return whether ``exc`` is the server's answer to a request (the connection works)."""
        answers = (
            FileNotFoundError,
            FileExistsError,
            PermissionError,
            NotADirectoryError,
            IsADirectoryError,
            SuspiciousFileOperation,
        )
        return isinstance(exc, answers) or (isinstance(exc, StorageError) and not exc.__cause__)

    def _run(self, operation: Callable[[C], T]) -> T:
        """Run ``operation(conn)``, once more on a new connection if this one died."""
        session = self._session()
        try:
            return operation(session.conn)
        except Exception as exc:
            if not self._connection_broken(session.conn, exc):
                raise
            self._forget_client(session)
        return operation(self._session().conn)

    def _later(self, session: Session[C], cleanup: Callable[[Any], object]) -> None:
        """Run ``cleanup(storage)`` now if a request can be made, else at the next use.

        A file left unclosed is closed by the garbage collector, which can run inside any
        allocation, including one the SDK makes in the middle of a request on this very
        connection: a request made then could corrupt it or wait for its lock forever.
        """
        if self._can_request_now(session.conn):
            with contextlib.suppress(Exception):
                cleanup(self)
        else:
            # A weak reference: a queued clean-up must not keep the storage alive.
            ref = weakref.ref(self)
            session.deferred.append(lambda: _call_if_alive(ref, cleanup))

    # The backend's connection hooks (see storages._remote_fs).

    def _open_connection(self) -> C:
        raise NotImplementedError(f"{type(self).__name__} must implement _open_connection()")

    @staticmethod
    def _close_connection(conn: Any) -> None:
        """Close a connection (a static method: it runs in finalizers and at exit)."""

    def _connection_alive(self, conn: C) -> bool:
        raise NotImplementedError(f"{type(self).__name__} must implement _connection_alive()")

    def _ping(self, conn: C) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement _ping()")

    def _can_request_now(self, conn: C) -> bool:
        """Return whether a request may be made on ``conn`` right now (from a finalizer)."""
        return True


class ResumingReader(Generic[C]):
    """A read stream that survives a dropped connection if the file did not change."""

    def __init__(self, storage: RemoteFilesystem[C], path: str, info: ObjectInfo, start: int):
        self._storage = storage
        self._path = path
        self._info = info
        self._pos = start
        self._session: Session[C] | None = None
        self._stream: Any = None
        self._last_read = time.monotonic()

    def _open(self) -> Any:
        storage = self._storage
        session = storage._session()
        stream = storage._open_reader(session.conn, self._path, self._info, self._pos)
        session.handles.add(stream)
        self._session, self._stream = session, stream
        return stream

    def _resume(self) -> None:
        """Forget the dead connection; go on reading only if the file did not change."""
        storage, session = self._storage, self._session
        if session is not None:
            storage._forget_client(session)
        self._session = self._stream = None
        info = storage._run(lambda conn: storage._stat_path(conn, self._path))
        if info.version != self._info.version:
            raise StorageError(
                f"{self._path} changed while it was being read and the connection broke."
            )

    def read(self, n: int = -1) -> bytes:
        """Return up to ``n`` bytes from the current position."""
        storage, session = self._storage, self._session
        now = time.monotonic()
        if (
            session is not None
            and now - self._last_read > RECHECK_AFTER
            and not storage._connection_alive(session.conn)
        ):
            self._resume()  # before the SDK starts anything on a connection that died idle
        self._last_read = now
        stream = self._stream if self._stream is not None else self._open()
        try:
            data = bytes(stream.read(n))
        except Exception as exc:
            assert self._session is not None
            if not storage._connection_broken(self._session.conn, exc):
                raise
            self._resume()
            data = bytes(self._open().read(n))
        self._pos += len(data)
        return data

    def close(self) -> None:
        """Close the server's stream (at the connection's next use, if it cannot be now)."""
        stream, session = self._stream, self._session
        self._stream = self._session = None
        if stream is not None and session is not None:
            self._storage._later(session, lambda _: _close_stream(session, stream))


def _close_stream(session: Session[Any], stream: Any) -> None:
    try:
        stream.close()
    finally:
        session.handles.discard(stream)
