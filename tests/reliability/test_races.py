"""Races: threads saving the same name at the same moment, overwriting off, on every backend.

Where the service has an atomic create-only write, no write is ever lost: every thread ends
with a name of its own holding its own bytes. FTP and Libcloud have none (the storage checks
that the name is free, then writes): there the test measures how long that window lasts and
how many writes were lost, and only requires that every stored file is whole.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from tests.reliability.figures import FULL, record
from tests.reliability.rigs import Rig
from tests.reliability.support import differs, payload, save

THREADS = 8
ROUNDS = 20 if FULL else 3
SIZE = 16 * 1024


def _timed(storage: Any, method: str, windows: list[float]) -> None:
    """Record how long each call of ``storage.<method>`` (the check-then-write) lasts."""
    original: Callable[..., Any] = getattr(storage, method)

    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.monotonic()
        try:
            return original(*args, **kwargs)
        finally:
            windows.append(time.monotonic() - start)

    setattr(storage, method, timed)


def _race(storage: Any, name: str, contents: list[bytes]) -> list[str]:
    """Save ``contents`` under ``name`` from one thread each, all at once; return the names."""
    names: list[str] = [""] * len(contents)
    errors: list[BaseException] = []
    start = threading.Barrier(len(contents))

    def run(index: int) -> None:
        start.wait()
        try:
            names[index] = save(storage, name, contents[index])
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(contents))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, f"saves failed: {errors[:3]}"
    return names


def test_same_name_saves_lose_no_write(rig: Rig) -> None:
    """8 threads save one name at once, several rounds: no write lost where creates are atomic."""
    storage = rig.storage()
    windows: list[float] = []
    if rig.race_window:
        _timed(storage, rig.race_window, windows)
    lost, saves = [], 0
    for round_ in range(ROUNDS):
        contents = [payload(SIZE, seed=1000 * round_ + i) for i in range(THREADS)]
        names = _race(storage, f"race/r{round_}.bin", contents)
        saves += THREADS
        for index, name in enumerate(names):
            stored = rig.raw_read(name)
            if differs(stored, contents[index]):
                lost.append(name)
                # Lost, but never mixed: the file holds another thread's bytes, whole.
                assert any(not differs(stored, c) for c in contents), f"{name} is corrupted"
    window_ms = round(1000 * max(windows), 1) if windows else None
    record(
        "races",
        rig.id,
        saves=saves,
        lost=len(lost),
        atomic=rig.atomic_create,
        longest_window_ms=window_ms,
        median_window_ms=round(1000 * sorted(windows)[len(windows) // 2], 1) if windows else None,
    )
    if rig.atomic_create:
        assert not lost, f"{len(lost)} of {saves} writes lost: {lost[:5]}"
