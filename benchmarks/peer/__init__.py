"""The peer: django-storages doing each benchmark case beside us, same server, same run.

django-storages and this project both import as ``storages``, so the peer lives in a virtualenv
of its own (``.venv-peer``, made by ``make bench`` with django-storages 1.14.6 and the same SDK
versions as ours; never a dependency of the package) and runs in a child process:
:mod:`benchmarks.peer.worker`. The parent starts one child per backend, and for each repetition
of a case sends it the case's *spec* (a small JSON description of the work, e.g. ``{"do":
"read", "name": "big.bin", "how": "read()"}``); the child runs it once and answers with the
seconds it took and the peak growth of its own resident memory. The parent interleaves those
runs with its own storage and raw SDK runs, so all three meet the same machine noise.

The specs a child understands are listed in :mod:`benchmarks.peer.worker`; how it builds
django-storages' storages from JSON options, in :mod:`benchmarks.peer.build`.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from pathlib import Path
from typing import IO, Any

__all__ = ["PeerError", "PeerProcess", "peer_python"]

ROOT = Path(__file__).resolve().parents[2]
#: The peer's virtualenv (scripts/test.sh bench makes it).
PEER_VENV = ROOT / ".venv-peer"
#: The django-storages release compared with.
PEER_VERSION = "1.14.6"


class PeerError(RuntimeError):
    """The peer failed to do a case (the message is its error)."""


def peer_python() -> Path | None:
    """Return the peer virtualenv's Python, or None when it was not made."""
    python = PEER_VENV / "bin" / "python"
    return python if python.exists() else None


class PeerProcess:
    """One child process running django-storages for one backend."""

    def __init__(
        self,
        python: Path,
        backend: str,
        options: dict[str, Any],
        settings: dict[str, Any] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        environment = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        environment.update(env or {})
        # From the repository root: benchmarks/ is importable, and src/ (our storages) is not.
        self._process = subprocess.Popen(
            [str(python), "-m", "benchmarks.peer.worker"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=environment,
            text=True,
        )
        answer = self._call(
            {"op": "open", "backend": backend, "options": options, "settings": settings or {}}
        )
        self.version = str(answer.get("version"))

    def _call(self, message: dict[str, Any]) -> dict[str, Any]:
        stdin: IO[str] | None = self._process.stdin
        stdout: IO[str] | None = self._process.stdout
        assert stdin is not None and stdout is not None
        stdin.write(json.dumps(message) + "\n")
        stdin.flush()
        line = stdout.readline()
        if not line:
            raise PeerError(f"the peer process ended (exit code {self._process.wait()})")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise PeerError(answer["error"])
        return answer

    def run(self, spec: dict[str, Any], memory: bool) -> tuple[float, int]:
        """Run ``spec`` once in the child; return its seconds and peak RSS growth in bytes."""
        answer = self._call({"op": "run", "spec": spec, "memory": memory})
        return float(answer["seconds"]), int(answer["rss"])

    def close(self) -> None:
        """Stop the child."""
        if self._process.poll() is None:
            with contextlib.suppress(PeerError, OSError, ValueError):
                self._call({"op": "quit"})
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
