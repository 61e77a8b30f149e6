"""Load: threads sharing one storage instance, mixed operations, on every network backend.

Every thread works in a folder of its own and keeps what it expects to be stored there; every
answer is checked against that (bytes read, sizes, listings, existence), and at the end the
server's own view must match too. Connections are counted at the proxy.
"""

from __future__ import annotations

import random
import threading
import time
from typing import Any

from tests.reliability.figures import FULL, record
from tests.reliability.rigs import Rig
from tests.reliability.support import differs, payload, save

THREADS = 8
#: Operations per thread (docs/reliability.md records a full run).
OPERATIONS = 1000 if FULL else 50
#: Largest file the load saves (small: the load is about concurrency, not bandwidth).
MAX_SIZE = 32 * 1024
#: How often each operation is picked.
MIX = {"save": 30, "read": 20, "exists": 10, "size": 10, "listdir": 10, "delete": 10, "url": 10}
#: Connections at once the proxy may see: a few per thread (FTP: control and data).
CONNECTION_BOUND = THREADS * 3 + 2


class Worker:
    """One thread's share of the load."""

    def __init__(self, storage: Any, index: int) -> None:
        self.storage = storage
        self.folder = f"load/t{index}"
        self.files: dict[str, bytes] = {}
        self.gone: list[str] = []
        self.errors: list[str] = []
        self.done = 0
        self._random = random.Random(index)

    def run(self, start: threading.Barrier) -> None:
        """Run the operations (after every thread is ready)."""
        start.wait()
        operations, weights = list(MIX), list(MIX.values())
        for step in range(OPERATIONS):
            operation = self._random.choices(operations, weights)[0]
            if operation != "save" and not self.files:
                operation = "save"
            try:
                getattr(self, operation)(step)
            except Exception as exc:  # every failure is counted and reported
                self.errors.append(f"{operation} #{step}: {type(exc).__name__}: {exc}")
            self.done += 1

    def _pick(self) -> str:
        return self._random.choice(sorted(self.files))

    def _expect(self, ok: bool, what: str) -> None:
        if not ok:
            self.errors.append(what)

    def save(self, step: int) -> None:
        data = payload(self._random.randint(0, MAX_SIZE), seed=hash((self.folder, step)))
        name = save(self.storage, f"{self.folder}/f{step % 40}.bin", data)
        self._expect(name not in self.files, f"save returned the taken name {name}")
        self.files[name] = data

    def read(self, step: int) -> None:
        name = self._pick()
        with self.storage.open(name, "rb") as handle:
            problem = differs(handle.read(), self.files[name])
        self._expect(not problem, f"read {name}: {problem}")

    def exists(self, step: int) -> None:
        name = self._pick()
        self._expect(self.storage.exists(name), f"exists({name}) is False")
        if self.gone:
            missing = self._random.choice(self.gone)
            if missing not in self.files:
                self._expect(not self.storage.exists(missing), f"deleted {missing} exists")

    def size(self, step: int) -> None:
        name = self._pick()
        size = self.storage.size(name)
        self._expect(size == len(self.files[name]), f"size({name}) = {size}")

    def listdir(self, step: int) -> None:
        _, files = self.storage.listdir(self.folder)
        expected = sorted(name.rsplit("/", 1)[1] for name in self.files)
        self._expect(files == expected, f"listdir: {len(files)} files, {len(expected)} expected")

    def delete(self, step: int) -> None:
        name = self._pick()
        self.storage.delete(name)
        del self.files[name]
        self.gone.append(name)

    def url(self, step: int) -> None:
        url = self.storage.url(self._pick())
        self._expect(isinstance(url, str) and "://" in url, f"url: {url!r}")


def test_threads_share_one_storage(rig: Rig) -> None:
    """8 threads, one storage, mixed operations: no error, every byte as written."""
    storage = rig.storage()
    workers = [Worker(storage, index) for index in range(THREADS)]
    start = threading.Barrier(THREADS + 1)
    threads = [threading.Thread(target=w.run, args=(start,)) for w in workers]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.monotonic()
    for thread in threads:
        thread.join()
    seconds = time.monotonic() - began
    errors = [error for w in workers for error in w.errors]
    expected = {name: data for w in workers for name, data in w.files.items()}
    stored = [name for name in rig.raw_names() if name.startswith("load/")]
    mismatched = [name for name, data in expected.items() if differs(rig.raw_read(name), data)]
    operations = sum(w.done for w in workers)
    record(
        "load",
        rig.id,
        threads=THREADS,
        operations=operations,
        errors=len(errors),
        seconds=round(seconds, 2),
        per_second=round(operations / seconds),
        connections=rig.proxy.accepted,
        most_connections_at_once=rig.proxy.peak,
        files_checked=len(expected),
    )
    assert not errors, f"{len(errors)} errors, the first ones: {errors[:5]}"
    assert sorted(stored) == sorted(expected), "the server holds other files than expected"
    assert not mismatched, f"stored bytes differ from what was written: {mismatched[:5]}"
    assert rig.proxy.peak <= CONNECTION_BOUND, f"{rig.proxy.peak} connections at once"
