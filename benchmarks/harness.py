"""Side-by-side measurement: a storage operation against the raw SDK doing the same work, and
django-storages (the peer) doing it too.

Each case has a ``storage`` and a ``raw`` callable, and a ``peer`` spec: the same work described
for django-storages, which runs in a child process of its own virtualenv (both packages import
as ``storages``; see :mod:`benchmarks.peer`), or a sentence saying why the peer cannot do it.
The three run interleaved (storage, raw, peer, then rotated) against the same server, several
repetitions each, so machine noise hits all alike; the report gives medians and the ratios to
the raw SDK. Peak RSS growth during a run is sampled from /proc (the peer samples its own).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

MiB = 1024 * 1024
#: The ways of reading a whole file measured for every backend, by the name in the case.
READ_MODES = ("read()", "chunks(1 MiB)", "copyfileobj")

#: Metadata cases: calls per repetition, and repetitions. Many short interleaved repetitions,
#: because a local server's speed drifts over a run and one call is a millisecond or less.
META_CALLS = 100
META_REPEAT = 31


def rss_bytes() -> int:
    """Return this process's resident set size."""
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    import os

    return pages * os.sysconf("SC_PAGE_SIZE")


def _peak_rss_bytes() -> int:
    """Return this process's peak resident set size since the last reset (VmHWM)."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise OSError("no VmHWM in /proc/self/status")


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak RSS mark to the current RSS; return whether it could."""
    global _PEAK_RESETS
    if _PEAK_RESETS is False:
        return False
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        if _PEAK_RESETS is None:
            _peak_rss_bytes()  # once: the mark must also be readable
    except OSError:
        _PEAK_RESETS = False
        return False
    _PEAK_RESETS = True
    return True


#: Whether this system lets the process reset and read its peak RSS (None: not tried yet).
_PEAK_RESETS: bool | None = None


class PeakRSS:
    """The peak RSS growth while the block runs (``growth``: peak - start).

    Where Linux lets a process reset its peak RSS mark (``/proc/self/clear_refs``), the kernel
    keeps the exact peak and nothing runs beside the block. Elsewhere a thread samples RSS every
    few milliseconds, which takes the interpreter lock from the block: it slows a side that
    runs more Python per byte more than one that waits in the kernel, so timings are only
    comparable where the first way is available.
    """

    def __init__(self) -> None:
        self.start = 0
        self.peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes())
            time.sleep(0.005)

    def __enter__(self) -> PeakRSS:
        self.start = self.peak = rss_bytes()
        if not _reset_peak_rss():
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread is None:
            self.peak = max(self.peak, _peak_rss_bytes())
            return
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
    #: What the peer runs for this case (see benchmarks.peer.worker), or why it cannot.
    peer: dict[str, Any] | str | None = None
    #: The peer joins only this many of the repetitions (None: all), for cases it is very slow at.
    peer_repeat: int | None = None


class Peer(Protocol):
    """The child process running django-storages (benchmarks.peer.PeerProcess)."""

    def run(self, spec: dict[str, Any], memory: bool) -> tuple[float, int]:
        """Run ``spec`` once; return its seconds and peak RSS growth in bytes."""


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
    #: The peer's median, its ratio to the raw SDK, RSS; or the reason it has none.
    peer_s: float | None = None
    peer_ratio: float | None = None
    peer_rss_mb: float | None = None
    peer_note: str | None = None
    samples: dict[str, list[float]] = field(default_factory=dict)


def once(function: Callable[[], Any]) -> Callable[[], None]:
    """Return a ``setup`` that runs ``function`` before the first repetition only.

    Cases that fill the server (10,000 keys to list) do it lazily and run last: some emulators
    (Azurite above all) answer every later request several times slower once they hold them,
    which would hide a client's overhead in the server's.
    """
    done: list[bool] = []

    def run() -> None:
        if not done:
            function()
            done.append(True)

    return run


#: Keys in the listing cases, at scale 1.
LISTED_KEYS = 10_000


def listdir_case(
    backend: str,
    storage: Any,
    scale: float,
    put: Callable[[str], Any],
    raw_list: Callable[[], Any],
) -> Case:
    """Return the case listing ``many/`` with ``LISTED_KEYS`` (scaled) keys in it: ``put(key)``
    stores one empty object (16 at a time, before the first repetition; see :func:`once`),
    ``raw_list()`` lists them with the SDK's paginator and a delimiter."""
    listed = max(int(LISTED_KEYS * scale), 100)

    def fill() -> None:
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(put, (f"many/k{i:05d}" for i in range(listed))))

    return Case(
        backend,
        f"listdir {listed} keys",
        lambda: storage.listdir("many"),
        raw_list,
        operations=1,
        target=1.1,
        repeat=3,
        setup=once(fill),
        peer={"do": "listdir", "path": "many"},
    )


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


def _ratio(case: Case, side_s: float, raw_s: float) -> float:
    return raw_s / side_s if case.kind == "speedup" else side_s / raw_s


def run_case(case: Case, log: Callable[[str], None] = print, peer: Peer | None = None) -> Result:
    """Run ``case`` interleaved (with the peer when it can do the case) and return medians."""
    sides: list[tuple[str, Callable[[], tuple[float, int]]]] = [
        ("storage", lambda: _timed(case.storage, case.measure_memory)),
        ("raw", lambda: _timed(case.raw, case.measure_memory)),
    ]
    spec = case.peer
    if isinstance(spec, dict) and peer is not None:
        sides.append(("peer", lambda: peer.run(spec, case.measure_memory)))
    times: dict[str, list[float]] = {label: [] for label, _ in sides}
    rss: dict[str, list[int]] = {label: [] for label, _ in sides}
    failure = None
    for i in range(case.repeat):
        for label, function in sides[i % len(sides) :] + sides[: i % len(sides)]:
            if label == "peer" and case.peer_repeat is not None and i >= case.peer_repeat:
                continue
            if case.setup is not None:
                case.setup()
            try:
                elapsed, growth = function()
            except Exception as exc:
                if label != "peer":
                    raise
                # The peer failing a case is a finding, not the end of the run.
                failure = f"failed: {exc}"
                sides = [side for side in sides if side[0] != "peer"]
                del times["peer"], rss["peer"]
                continue
            times[label].append(elapsed)
            rss[label].append(growth)
        log(
            f"  {case.backend}:{case.name} rep {i + 1}/{case.repeat}: "
            + " ".join(f"{label} {times[label][-1]:.4f}s" for label, _ in sides if times.get(label))
        )
    medians = {label: statistics.median(values) for label, values in times.items()}
    storage_s, raw_s = medians["storage"], medians["raw"]
    ratio = _ratio(case, storage_s, raw_s)
    met = None
    if case.target is not None:
        met = ratio >= case.target if case.kind == "speedup" else ratio <= case.target
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
    if "peer" in medians:
        result.peer_s = medians["peer"]
        result.peer_ratio = _ratio(case, medians["peer"], raw_s)
    elif failure is not None or isinstance(spec, str):
        result.peer_note = failure or str(spec)
    else:
        result.peer_note = "not run" if isinstance(spec, dict) else "not measured"
    if case.bytes:
        result.storage_mb_per_s = case.bytes / MiB / storage_s
        result.raw_mb_per_s = case.bytes / MiB / raw_s
    if case.measure_memory:
        result.storage_rss_mb = max(rss["storage"]) / MiB
        result.raw_rss_mb = max(rss["raw"]) / MiB
        if "peer" in rss:
            result.peer_rss_mb = max(rss["peer"]) / MiB
    return result


def _speed(r: Result, seconds: float) -> str:
    if r.storage_mb_per_s is not None:
        return f"{r.storage_mb_per_s * r.storage_s / seconds:.1f} MB/s"
    ops = r.storage_ops_per_s * r.storage_s / seconds
    return f"{seconds:.3f} s" if ops < 10 else f"{ops:,.0f}/s"


def _ratio_text(r: Result, ratio: float) -> str:
    return f"{ratio:.1f}x faster" if r.kind == "speedup" else f"{ratio:.3f}"


def table(results: list[Result]) -> str:
    """Return the results as a Markdown table: raw SDK, ours, django-storages side by side."""
    lines = [
        "| backend | case | raw SDK | ours | django-storages | ours / raw | django-storages / raw "
        "| target | met | peak RSS growth MB (raw / ours / django-storages) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        if r.peer_s is not None and r.peer_ratio is not None:
            peer, peer_ratio = _speed(r, r.peer_s), _ratio_text(r, r.peer_ratio)
        else:
            peer, peer_ratio = f"({r.peer_note})", "-"
        if r.target is None:
            target = "-"
        else:
            target = f">= {r.target}x" if r.kind == "speedup" else f"<= {r.target}"
        met = "-" if r.met is None else ("yes" if r.met else "NO")
        memory = "-"
        if r.storage_rss_mb is not None:
            theirs = "-" if r.peer_rss_mb is None else f"{r.peer_rss_mb:.0f}"
            memory = f"{r.raw_rss_mb:.0f} / {r.storage_rss_mb:.0f} / {theirs}"
        lines.append(
            f"| {r.backend} | {r.name} | {_speed(r, r.raw_s)} | {_speed(r, r.storage_s)} | "
            f"{peer} | {_ratio_text(r, r.ratio)} | {peer_ratio} | {target} | {met} | {memory} |"
        )
    return "\n".join(lines)


def write_json(results: list[Result], path: Path, meta: dict[str, Any] | None = None) -> None:
    """Write the results as JSON: ``{"meta": {date, commit, scale, peer}, "results": [...]}``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"meta": meta or {}, "results": [asdict(r) for r in results]}
    path.write_text(json.dumps(document, indent=2))


class Sink:
    """A writable that drops what it gets (raw SDKs download into a file object)."""

    def write(self, data: bytes) -> int:
        """Accept ``data`` and forget it."""
        return len(data)


def consume(handle: Any, mode: str) -> None:
    """Read an open file to its end the way ``mode`` (one of READ_MODES) says."""
    if mode == "read()":
        handle.read()
    elif mode == "chunks(1 MiB)":
        for _chunk in handle.chunks(MiB):
            pass
    else:
        shutil.copyfileobj(handle, Sink())


def consume_stream(stream: Any, mode: str) -> None:
    """Read a raw SDK's stream (``read(n)``) to its end the way ``mode`` says."""
    if mode == "read()":
        stream.read()
    elif mode == "chunks(1 MiB)":
        while stream.read(MiB):
            pass
    else:
        shutil.copyfileobj(stream, Sink())


def place_file(source: Path, target: Path, size: int) -> None:
    """Write the first ``size`` bytes of ``source`` to ``target`` on the server's own disk (random
    bytes past the end of ``source``), a MiB at a time."""
    target.parent.mkdir(exist_ok=True)
    with source.open("rb") as reader, target.open("wb") as writer:
        for _ in range(size // MiB):
            writer.write(reader.read(MiB) or os.urandom(MiB))


def read_cases(
    backend: str,
    size: int,
    open_file: Callable[[], Any],
    raw: Callable[[str], Any],
    peer: dict[str, Any] | str | None,
    target: float | None = 1.05,
    repeat: int = 15,
    peer_repeat: int | None = 5,
) -> list[Case]:
    """Return one case per way of reading (READ_MODES) a file of ``size`` bytes.

    ``open_file()`` opens it from the storage; ``raw(mode)`` reads the same bytes with the raw
    client's streamed read, consumed the same way; ``peer`` is the peer's read spec (its
    ``how`` is filled in per mode). A read of 64 MB takes 10 ms on the fastest servers here,
    so ours and the SDK's run 15 times each; the peer, often many times slower, 5.
    """

    def ours(mode: str) -> None:
        with open_file() as handle:
            consume(handle, mode)

    return [
        Case(
            backend,
            f"read {size // MiB} MB: {mode}",
            lambda mode=mode: ours(mode),
            lambda mode=mode: raw(mode),
            bytes=size,
            target=target,
            repeat=repeat,
            measure_memory=True,
            peer={**peer, "how": mode} if isinstance(peer, dict) else peer,
            peer_repeat=peer_repeat,
        )
        for mode in READ_MODES
    ]


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
    peer: dict[str, Any] | str | None = None,
) -> Case:
    """Return a case: ``collectstatic`` into ``storage_path`` vs one ``raw_put`` per file.

    ``raw_put(key, body, content_type)`` stores one file with the raw SDK; ``peer`` is the
    peer's ``collectstatic`` spec (its static directory is filled in).
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
        backend,
        f"collectstatic {files} files",
        storage_run,
        raw_run,
        operations=files,
        repeat=3,
        peer={**peer, "static_dir": str(static_dir)} if isinstance(peer, dict) else peer,
    )
