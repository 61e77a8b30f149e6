"""Run every backend's benchmark cases and print a table (``make bench``).

python -m benchmarks.run [--scale 0.1] [--only s3] [--out benchmarks/results/latest.json]
"""

from __future__ import annotations

import argparse
import importlib
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: Every ``benchmarks/bench_<backend>.py`` module, found on disk so a new backend joins by itself.
BACKENDS = sorted(
    path.stem.removeprefix("bench_") for path in Path(__file__).parent.glob("bench_*.py")
)


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
    args = parser.parse_args()

    import tests.conftest  # noqa: F401 - configures Django like the test suite

    from benchmarks.harness import run_case, table, write_json

    results = []
    work = Path(tempfile.mkdtemp(prefix="stowage-bench-"))
    try:
        for backend in args.only or BACKENDS:
            module = importlib.import_module(f"benchmarks.bench_{backend}")
            print(f"== {backend}: preparing", flush=True)
            started = time.perf_counter()
            cases, stop = module.cases(work, args.scale)
            print(f"== {backend}: ready in {time.perf_counter() - started:.1f}s", flush=True)
            try:
                for case in cases:
                    if args.match not in case.name:
                        continue
                    results.append(run_case(case, log=lambda line: print(line, flush=True)))
            finally:
                stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    print(table(results))
    write_json(results, args.out)
    print(f"\nwritten: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
