"""The client seam: lazily built SDK clients (shared, or one per thread) and the one boundary
where the SDK's exceptions are translated into :mod:`storages.errors`."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from typing import Any, ClassVar, TypeVar

from storages._configurable import Configurable
from storages.errors import ErrorRule, translate_errors

__all__ = ["ClientPool"]

_Pool = TypeVar("_Pool", bound="ClientPool")


class ClientPool(Configurable):
    """Build SDK clients on first use, forget them when settings change, close them on demand."""

    #: Maps SDK exceptions to our error tree, most specific first (see :mod:`storages.errors`).
    error_rules: ClassVar[Sequence[ErrorRule]] = ()
    #: Top-level packages whose exceptions are the SDK's (translated); any other exception
    #: that is not an ``OSError`` is a bug and propagates unchanged.
    sdk_packages: ClassVar[frozenset[str]] = frozenset()
    #: Whether each thread needs its own client (the SDK's clients are not thread-safe).
    client_per_thread: ClassVar[bool] = False
    runtime_attrs = Configurable.runtime_attrs | {
        "_local",
        "_lock",
        "_clients",
        "_shared_client",
        "_thread_clients",
    }

    def _init_runtime(self) -> None:
        super()._init_runtime()
        self._local = threading.local()
        self._lock = threading.RLock()
        self._clients: list[Any] = []
        self._shared_client: Any = None
        # Per-thread clients with the thread that made each, so those of ended threads can go.
        self._thread_clients: list[tuple[threading.Thread, Any]] = []

    def _connect(self) -> Any:
        """Build a new SDK client; called lazily, once per thread when ``client_per_thread``."""
        raise NotImplementedError(f"{type(self).__name__} must implement _connect()")

    def _disconnect(self, client: Any) -> None:
        """Release ``client``'s connections; the default does nothing."""

    @property
    def client(self) -> Any:
        """Return this thread's SDK client, connecting on first use."""
        if self.client_per_thread:
            client = getattr(self._local, "client", None)
            if client is None:
                client = self._new_client()
                self._local.client = client
                with self._lock:
                    self._thread_clients.append((threading.current_thread(), client))
            return client
        client = self._shared_client
        if client is None:
            with self._lock:
                if self._shared_client is None:
                    self._shared_client = self._new_client()
                client = self._shared_client
        return client

    def _new_client(self) -> Any:
        if self._config_error is not None:
            raise self._config_error
        with self.translating():
            client = self._connect()
        with self._lock:
            self._clients.append(client)
        return client

    def _forget_client(self, client: Any) -> None:
        """Forget ``client`` (so this thread's next operation connects again) and close it."""
        with self._lock:
            if client in self._clients:
                self._clients.remove(client)
            if self._shared_client is client:
                self._shared_client = None
            self._thread_clients = [(t, c) for t, c in self._thread_clients if c is not client]
        if getattr(self._local, "client", None) is client:
            self._local.client = None
        self._disconnect_quietly(client)

    def _close_finished_thread_clients(self) -> None:
        """Close the per-thread clients of threads that have ended (a finished worker pool)."""
        with self._lock:
            ended = [c for thread, c in self._thread_clients if not thread.is_alive()]
            self._thread_clients = [(t, c) for t, c in self._thread_clients if t.is_alive()]
        for client in ended:
            self._forget_client(client)

    def _reset_clients(self) -> None:
        """Forget every client so the next operation connects again with current settings."""
        with self._lock:
            old = list(self._clients)
            self._clients.clear()
            self._thread_clients.clear()
            self._local = threading.local()
            self._shared_client = None
        for client in old:
            self._disconnect_quietly(client)

    def _settings_changed(self) -> None:
        self._reset_clients()

    def _disconnect_quietly(self, client: Any) -> None:
        # Closing is best effort: the client is forgotten either way.
        with contextlib.suppress(Exception):
            self._disconnect(client)

    def close(self) -> None:
        """Close every client this storage opened (in any thread)."""
        self._reset_clients()

    def __enter__(self: _Pool) -> _Pool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        # ``with SFTPStorage() as storage:`` closes its connections (on any backend).
        self.close()

    def translating(self, name: str = "") -> translate_errors:
        """Translate SDK errors raised in the block with this backend's ``error_rules``."""
        return translate_errors(
            self.error_rules, self.sdk_packages, name=name, secrets=self._secret_values
        )
