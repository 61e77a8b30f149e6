"""Real local servers for the tests: start on a free loopback port, poll until ready, stop.

Each server module builds on :class:`ServerProcess` (an external program) or starts a server in
a thread, and offers a pytest fixture that yields the storage options to reach it. When a server
cannot start, :func:`unavailable` fails the run under ``CI=true`` and skips otherwise (a developer
without, say, Node installed can still run the rest).
"""

from __future__ import annotations

import contextlib
import os
import pkgutil
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

import pytest

__all__ = ["SERVER_MODULES", "STATE_DIR", "ServerProcess", "free_port", "unavailable", "wait_until"]

#: Modules of this package that start a backend's server; each defines ``backend_<module>``.
SERVER_MODULES = sorted(
    m.name
    for m in pkgutil.iter_modules([str(Path(__file__).parent)])
    if m.name not in {"reference"} and not m.name.startswith("_")
)

#: Where servers keep their files (keys, configs, installed packages); ignored by git.
STATE_DIR = Path(__file__).resolve().parents[2] / ".servers"


def in_ci() -> bool:
    """Return whether the suite runs in CI, where a missing server is a failure."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def unavailable(reason: str) -> NoReturn:
    """Fail (in CI) or skip (elsewhere) because a server could not start."""
    if in_ci():
        pytest.fail(f"test server unavailable: {reason}", pytrace=False)
    pytest.skip(f"test server unavailable (set CI=true to make this an error): {reason}")


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Return whether something accepts TCP connections on ``host:port``."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def wait_until(
    probe: Callable[[], bool], timeout: float = 30.0, what: str = "server", interval: float = 0.02
) -> None:
    """Poll ``probe`` until it returns True; raise ``TimeoutError`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    delay = interval
    while True:
        try:
            if probe():
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not ready after {timeout:.0f}s")
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)


class ServerProcess:
    """An external server program on a free loopback port."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        port: int,
        *,
        ready: Callable[[], bool] | None = None,
        env: dict[str, str] | None = None,
        cwd: str | Path | None = None,
        timeout: float = 60.0,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.port = port
        self.ready = ready or (lambda: port_open(port))
        self.env = env
        self.cwd = cwd
        self.timeout = timeout
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = STATE_DIR / "logs" / f"{name}-{port}.log"

    def start(self) -> ServerProcess:
        """Start the program and wait until it answers; raise ``RuntimeError`` if it cannot."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("wb")
        env = dict(os.environ, **(self.env or {}))
        try:
            self.process = subprocess.Popen(
                self.argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.cwd
            )
        except OSError as exc:
            raise RuntimeError(f"{self.name}: cannot run {self.argv[0]}: {exc}") from exc
        finally:
            log.close()

        def probe() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.process.returncode}: {self.log_tail()}"
                )
            return self.ready()

        try:
            wait_until(probe, self.timeout, what=self.name)
        except (TimeoutError, RuntimeError):
            self.stop()
            raise
        return self

    def log_tail(self, lines: int = 20) -> str:
        """Return the last lines the server printed."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Stop the program (politely, then forcibly)."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def start_or_unavailable(server: ServerProcess) -> ServerProcess:
    """Start ``server``, or fail/skip the tests that need it with the reason."""
    try:
        return server.start()
    except (RuntimeError, TimeoutError) as exc:
        unavailable(str(exc))
