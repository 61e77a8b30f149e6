"""Side-by-side measurement: a storage operation against the raw SDK doing the same work.

Each case has a ``storage`` and a ``raw`` callable. They run interleaved (storage, raw, storage,
raw, ...) in one process against the same server, several repetitions each, so machine noise
hits both alike; the report gives medians and the ratio storage/raw. Peak RSS growth during a
run is sampled from /proc.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

MiB = 1024 * 1024


def rss_bytes() -> int:
    """Return this process's resident set size."""
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    import os

    return pages * os.sysconf("SC_PAGE_SIZE")


class PeakRSS:
    """Sample RSS every few milliseconds while the block runs; ``growth`` is peak - start."""

    def __init__(self) -> None:
        self.start = 0
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes())
            time.sleep(0.005)

    def __enter__(self) -> PeakRSS:
        self.start = self.peak = rss_bytes()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())

    @property
    def growth(self) -> int:
        """Return the peak RSS growth in bytes."""
        return self.peak - self.start


@dataclass
class Case:
    """One comparison: what to run for the storage and for the raw SDK."""

    backend: str
    name: str
    storage: Callable[[], Any]
    raw: Callable[[], Any]
    #: How many operations one call performs (for per-second figures).
    operations: int = 1
    #: Bytes one call moves (for MB/s figures).
    bytes: int = 0
    #: The target ratio storage/raw (time), or for "speedup" cases raw/storage.
    target: float | None = None
    #: "time": lower storage/raw is better; "speedup": storage should be faster by ``target``.
    kind: str = "time"
    repeat: int = 5
    measure_memory: bool = False
    setup: Callable[[], Any] | None = None


@dataclass
class Result:
    """The medians of one case."""

    backend: str
    name: str
    storage_s: float
    raw_s: float
    ratio: float
    target: float | None
    kind: str
    met: bool | None
    storage_ops_per_s: float
    raw_ops_per_s: float
    storage_mb_per_s: float | None = None
    raw_mb_per_s: float | None = None
    storage_rss_mb: float | None = None
    raw_rss_mb: float | None = None
    samples: dict[str, list[float]] = field(default_factory=dict)


def _timed(function: Callable[[], Any], memory: bool) -> tuple[float, int]:
    if memory:
        with PeakRSS() as peak:
            start = time.perf_counter()
            function()
            elapsed = time.perf_counter() - start
        return elapsed, peak.growth
    start = time.perf_counter()
    function()
    return time.perf_counter() - start, 0


def run_case(case: Case, log: Callable[[str], None] = print) -> Result:
    """Run ``case`` interleaved and return its medians."""
    times: dict[str, list[float]] = {"storage": [], "raw": []}
    rss: dict[str, list[int]] = {"storage": [], "raw": []}
    for i in range(case.repeat):
        order = (("storage", case.storage), ("raw", case.raw))
        if i % 2:
            order = order[::-1]  # alternate who goes first
        for label, function in order:
            if case.setup is not None:
                case.setup()
            elapsed, growth = _timed(function, case.measure_memory)
            times[label].append(elapsed)
            rss[label].append(growth)
        log(
            f"  {case.backend}:{case.name} rep {i + 1}/{case.repeat}: "
            f"storage {times['storage'][-1]:.4f}s raw {times['raw'][-1]:.4f}s"
        )
    storage_s = statistics.median(times["storage"])
    raw_s = statistics.median(times["raw"])
    if case.kind == "speedup":
        ratio = raw_s / storage_s
        met = None if case.target is None else ratio >= case.target
    else:
        ratio = storage_s / raw_s
        met = None if case.target is None else ratio <= case.target
    result = Result(
        backend=case.backend,
        name=case.name,
        storage_s=storage_s,
        raw_s=raw_s,
        ratio=ratio,
        target=case.target,
        kind=case.kind,
        met=met,
        storage_ops_per_s=case.operations / storage_s,
        raw_ops_per_s=case.operations / raw_s,
        samples={k: [round(v, 6) for v in vs] for k, vs in times.items()},
    )
    if case.bytes:
        result.storage_mb_per_s = case.bytes / MiB / storage_s
        result.raw_mb_per_s = case.bytes / MiB / raw_s
    if case.measure_memory:
        result.storage_rss_mb = max(rss["storage"]) / MiB
        result.raw_rss_mb = max(rss["raw"]) / MiB
    return result


def table(results: list[Result]) -> str:
    """Return the results as a Markdown table."""
    lines = [
        "| backend | case | storage | raw SDK | ratio | target | met | peak RSS growth MB "
        "(storage / raw) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        if r.storage_mb_per_s is not None:
            storage, raw = f"{r.storage_mb_per_s:.1f} MB/s", f"{r.raw_mb_per_s:.1f} MB/s"
        elif r.storage_ops_per_s < 10 or r.raw_ops_per_s < 10:
            storage, raw = f"{r.storage_s:.3f} s", f"{r.raw_s:.3f} s"
        else:
            storage, raw = f"{r.storage_ops_per_s:,.0f}/s", f"{r.raw_ops_per_s:,.0f}/s"
        if r.kind == "speedup":
            ratio, target = f"{r.ratio:.1f}x faster", f">= {r.target}x" if r.target else "-"
        else:
            ratio, target = f"{r.ratio:.3f}", f"<= {r.target}" if r.target else "-"
        met = "-" if r.met is None else ("yes" if r.met else "NO")
        memory = (
            f"{r.storage_rss_mb:.0f} / {r.raw_rss_mb:.0f}" if r.storage_rss_mb is not None else "-"
        )
        lines.append(
            f"| {r.backend} | {r.name} | {storage} | {raw} | {ratio} | {target} | "
            f"{met} | {memory} |"
        )
    return "\n".join(lines)


def write_json(results: list[Result], path: Path) -> None:
    """Write the results as JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([asdict(r) for r in results], indent=2))


class Sink:
    """A writable that drops what it gets (raw SDKs download into a file object)."""

    def write(self, data: bytes) -> int:
        """Accept ``data`` and forget it."""
        return len(data)


def static_tree(work: Path, scale: float) -> tuple[Path, int]:
    """Write the collectstatic case's source files (1,000 small CSS files in 20 apps)."""
    import tempfile

    root = Path(tempfile.mkdtemp(dir=work))
    files = max(int(1000 * scale), 10)
    for i in range(files):
        path = root / f"app{i % 20}" / f"file{i}.css"
        path.parent.mkdir(exist_ok=True)
        path.write_text(f".c{i} {{ color: #{i:06x}; }}\n")
    return root, files


def collectstatic_case(
    backend: str,
    storage_path: str,
    options: dict[str, Any],
    static_dir: Path,
    files: int,
    raw_put: Callable[[str, bytes, str | None], Any],
) -> Case:
    """Return a case: ``collectstatic`` into ``storage_path`` vs one ``raw_put`` per file.

    ``raw_put(key, body, content_type)`` stores one file with the raw SDK.
    """
    import mimetypes

    from django.core.management import call_command
    from django.test import override_settings

    storages = {
        "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
        "staticfiles": {"BACKEND": storage_path, "OPTIONS": options},
    }

    def storage_run() -> None:
        with override_settings(STORAGES=storages, STATICFILES_DIRS=[str(static_dir)]):
            call_command("collectstatic", interactive=False, verbosity=0, clear=False)

    def raw_run() -> None:
        for path in static_dir.rglob("*.css"):
            key = "rawstatic/" + str(path.relative_to(static_dir))
            raw_put(key, path.read_bytes(), mimetypes.guess_type(path.name)[0])

    return Case(
        backend, f"collectstatic {files} files", storage_run, raw_run, operations=files, repeat=3
    )
