"""The janitor: a daemon thread that runs the clean-ups finalizers hand over.

When the garbage collector drops a file that was never closed, its upload must be aborted (or
its download stream released). A collection can start inside any allocation, including one made
while an HTTP client holds a lock that this clean-up needs, so the finalizer only queues the work
and this thread does it, one clean-up at a time.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable

__all__ = ["janitor"]

logger = logging.getLogger("storages")


class _Janitor:
    """Runs queued clean-ups in a daemon thread.

    ``submit()`` only puts on a ``SimpleQueue``, which is safe to call from a finalizer; the
    thread is started ahead of time, by ``start()``, from ordinary code.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget the thread and the queue (in a forked child, which has no such thread)."""
        self._queue: queue.SimpleQueue[Callable[[], object]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start the thread if it is not running yet."""
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                thread = threading.Thread(target=self._run, name="storages-janitor", daemon=True)
                thread.start()
                self._thread = thread

    def submit(self, cleanup: Callable[[], object]) -> None:
        """Queue ``cleanup`` (safe inside a finalizer)."""
        self._queue.put(cleanup)

    def _run(self) -> None:
        while True:
            cleanup = self._queue.get()
            try:
                cleanup()
            except Exception:
                logger.warning("Cleaning up after a file dropped unclosed failed.", exc_info=True)


janitor = _Janitor()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=janitor.reset)
