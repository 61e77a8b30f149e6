"""A small progress display for the management commands (no dependency).

On a terminal it redraws one line (``\\r``) at most :data:`REDRAW_INTERVAL` times a second: a
bar, files done of the expected total, bytes sent and the rate. Elsewhere (a CI log, a pipe) it
writes a plain line each time another tenth of the total is done, so logs stay short.
"""

from __future__ import annotations

import threading
import time
from typing import Any

__all__ = ["Progress", "format_bytes"]

#: Seconds between two redraws of the terminal line.
REDRAW_INTERVAL = 0.1
#: Characters of the bar on a terminal.
BAR_WIDTH = 24
#: Lines a non-terminal display writes over the whole run (one per tenth).
PLAIN_STEPS = 10
KiB = 1024.0


def format_bytes(size: float) -> str:
    """Return ``size`` bytes for people: ``"512 B"``, ``"1.5 MiB"``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < KiB or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= KiB
    raise AssertionError("unreachable")


class Progress:
    """Count files and bytes from any thread and show them on ``stream`` (Django's wrapper)."""

    def __init__(self, stream: Any, label: str, total: int = 0, enabled: bool = True) -> None:
        self.stream = stream
        self.label = label
        self.total = total
        self.enabled = enabled
        isatty = getattr(stream, "isatty", None)
        self.tty = bool(isatty()) if callable(isatty) else False
        self.done = 0
        self.bytes = 0
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._drawn = 0.0
        self._step = 0
        self._written = 0
        self._dirty = False

    def event(self, kind: str, name: str, size: int = 0) -> None:
        """Count one outcome of a sync session (the ``on_event`` hook)."""
        self.advance(size)

    def advance(self, size: int = 0) -> None:
        """Count one more file done, of ``size`` bytes sent."""
        with self._lock:
            self.done += 1
            self.bytes += size
            self._show(final=False)

    def _show(self, final: bool) -> None:
        if not self.enabled:
            return
        total = max(self.total, self.done)
        if self.tty:
            now = time.monotonic()
            if final or now - self._drawn >= REDRAW_INTERVAL:
                self._drawn = now
                self.stream.write(f"\r{self._line(total)}", ending="")
                self.stream.flush()
                self._dirty = True
            return
        step = self.done * PLAIN_STEPS // total if total else 0
        if step > self._step or (final and self._written != self.done):
            self._step = step
            self._written = self.done
            self.stream.write(self._line(total))

    def _line(self, total: int) -> str:
        elapsed = max(time.monotonic() - self._started, 1e-6)
        rate = f"{format_bytes(self.bytes / elapsed)}/s"
        counts = f"{self.done}/{total} files, {format_bytes(self.bytes)}, {rate}"
        if not self.tty:
            return f"{self.label}: {counts}"
        filled = BAR_WIDTH * self.done // total if total else BAR_WIDTH
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        return f"{self.label} [{bar}] {counts}"

    def close(self) -> None:
        """Draw the final state (and end the terminal line)."""
        with self._lock:
            if not self.enabled or not self.done:
                return
            self._show(final=True)
            if self.tty and self._dirty:
                self.stream.write("")
                self._dirty = False
