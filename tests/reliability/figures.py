"""The figures the reliability tests measure, for docs/reliability.md.

Each test notes what it saw with :func:`record`; at the end of the run they are merged into
``.servers/reliability.json`` (earlier runs' figures for tests not run this time are kept).
``STOWAGE_RELIABILITY_FULL=1`` asks for the full counts (1,000 operations per thread, 10,000
names, 20 race rounds); the default counts keep the suite within its time budget.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

from tests.servers import STATE_DIR

__all__ = ["FIGURES_PATH", "FULL", "record", "write"]

FULL = os.environ.get("STOWAGE_RELIABILITY_FULL", "").lower() in {"1", "true", "yes"}
FIGURES_PATH = STATE_DIR / "reliability.json"

_figures: dict[str, dict[str, Any]] = {}
_lock = threading.Lock()


def record(test: str, rig_id: str, **values: Any) -> None:
    """Note figures measured by ``test`` on ``rig_id``."""
    with _lock:
        _figures.setdefault(test, {})[rig_id] = values


def write() -> None:
    """Merge this run's figures into :data:`FIGURES_PATH`."""
    if not _figures:
        return
    FIGURES_PATH.parent.mkdir(parents=True, exist_ok=True)
    merged: dict[str, Any] = {}
    if FIGURES_PATH.exists():
        try:
            merged = json.loads(FIGURES_PATH.read_text())
        except ValueError:
            merged = {}
    for test, by_rig in _figures.items():
        merged.setdefault(test, {}).update(by_rig)
    merged["_run"] = {"full": FULL}
    FIGURES_PATH.write_text(json.dumps(merged, indent=2, sort_keys=True, default=str))
