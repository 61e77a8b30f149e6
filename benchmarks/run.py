"""Run every backend's benchmark cases and print a table (``make bench``).

python -m benchmarks.run [--scale 0.1] [--only s3] [--match read] [--no-peer] [--no-charts]
                         [--docs] [--out benchmarks/results/latest.json]

Each ``benchmarks/bench_<backend>.py`` has ``cases(work, scale)``, returning its cases and a
function that stops its server, and optionally a third item: how the peer (django-storages, in
the ``.venv-peer`` virtualenv; see :mod:`benchmarks.peer`) reaches the same server, as a dict
with ``options`` (and optionally ``settings`` and ``env``), or a sentence saying why the peer
cannot be run for that backend.

The results go to ``--out`` (JSON) and beside it as a Markdown table, with SVG charts
(:mod:`benchmarks.charts`, run in the peer's virtualenv, which has matplotlib). With ``--docs``,
a complete run (every backend, no ``--match``) also updates docs/performance.md.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: Every ``benchmarks/bench_<backend>.py`` module, found on disk so a new backend joins by itself.
BACKENDS = sorted(
    path.stem.removeprefix("bench_") for path in Path(__file__).parent.glob("bench_*.py")
)


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
    except OSError:
        return "unknown"
    commit = out.stdout.strip() or "unknown"
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return f"{commit}+" if dirty else commit


def _start_peer(backend: str, how: Any, python: Path | None) -> tuple[Any, str | None]:
    """Return the peer process for ``backend`` (or None) and why there is none."""
    from benchmarks.peer import PeerError, PeerProcess

    if python is None:
        return None, "not run"
    if not isinstance(how, dict):
        return None, str(how) if how else "not measured"
    try:
        peer = PeerProcess(python, backend, how["options"], how.get("settings"), how.get("env"))
    except PeerError as exc:
        print(f"== {backend}: the peer did not start: {exc}", flush=True)
        return None, f"failed to start: {exc}"
    print(f"== {backend}: peer django-storages {peer.version} ready", flush=True)
    return peer, None


def main() -> int:
    """Run the benchmarks."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="shrink file sizes and counts (e.g. 0.1 for a quick run)",
    )
    parser.add_argument("--only", action="append", choices=BACKENDS, help="backends to run")
    parser.add_argument("--match", default="", help="only cases whose name contains this")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/latest.json")
    parser.add_argument("--no-peer", action="store_true", help="do not run django-storages")
    parser.add_argument("--no-charts", action="store_true", help="write no SVG charts")
    parser.add_argument(
        "--docs",
        action="store_true",
        help="after a complete run, put its charts and figures on docs/performance.md",
    )
    args = parser.parse_args()

    import tests.conftest  # noqa: F401 - configures Django like the test suite

    from benchmarks.harness import run_case, table, write_json
    from benchmarks.peer import peer_python

    python = None if args.no_peer else peer_python()
    if python is None and not args.no_peer:
        print("== no .venv-peer: django-storages is not run (make bench makes it)", flush=True)
    results = []
    started_at = datetime.now(timezone.utc)
    work = Path(tempfile.mkdtemp(prefix="stowage-bench-"))
    try:
        for backend in args.only or BACKENDS:
            module = importlib.import_module(f"benchmarks.bench_{backend}")
            print(f"== {backend}: preparing", flush=True)
            started = time.perf_counter()
            cases, stop, *rest = module.cases(work, args.scale)
            print(f"== {backend}: ready in {time.perf_counter() - started:.1f}s", flush=True)
            peer, reason = _start_peer(backend, rest[0] if rest else None, python)
            try:
                for case in cases:
                    if args.match not in case.name:
                        continue
                    if reason and isinstance(case.peer, dict):
                        case.peer = reason
                    results.append(
                        run_case(case, log=lambda line: print(line, flush=True), peer=peer)
                    )
            finally:
                if peer is not None:
                    with contextlib.suppress(Exception):
                        peer.close()
                stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    print(table(results))
    meta = {
        "date": started_at.strftime("%Y-%m-%d %H:%M UTC"),
        "commit": _commit(),
        "scale": args.scale,
        "peer": "django-storages 1.14.6" if python else None,
    }
    write_json(results, args.out, meta)
    args.out.with_suffix(".md").write_text(table(results) + "\n")
    print(f"\nwritten: {args.out}")
    if python is not None and not args.no_charts:
        # Charts need matplotlib, which only the peer's virtualenv has.
        complete = not args.only and not args.match
        command = [str(python), "-m", "benchmarks.charts", str(args.out)]
        subprocess.run([*command, "--docs"] if complete and args.docs else command, cwd=ROOT)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
