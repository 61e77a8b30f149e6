"""Charts of a benchmark run, and the performance page's figures (run by ``make bench``).

    .venv-peer/bin/python -m benchmarks.charts benchmarks/results/latest.json [--docs]

Runs in the peer's virtualenv, which has matplotlib (a benchmark dependency only, never one of
the package). For each backend in the results it writes, next to the JSON file:

* ``<backend>-ratios.svg``: each case's time relative to the raw SDK (1 = as fast as the SDK;
  log scale, lower is better), ours beside django-storages';
* ``<backend>-memory.svg``: the peak growth of resident memory in the large cases, for the raw
  SDK, ours and django-storages.

With ``--docs`` (a complete run: every backend, every case) it also copies the charts into
``docs/images/bench/`` and rewrites the performance page's generated parts: the table of the
latest run, and one more row of the history table (date, commit, key ratios).
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "performance.md"
IMAGES = ROOT / "docs" / "images" / "bench"
#: The backends in the order the page shows them.
ORDER = ("s3", "azure", "gcloud", "sftp", "ftp", "dropbox", "libcloud")
#: How the page names each backend's section (and the server it was measured on).
TITLES = {
    "s3": "Amazon S3 (moto)",
    "azure": "Azure Blob Storage (Azurite)",
    "gcloud": "Google Cloud Storage (fake-gcs-server)",
    "sftp": "SFTP (OpenSSH)",
    "ftp": "FTP (pyftpdlib)",
    "dropbox": "Dropbox (a local fake of its API)",
    "libcloud": "Apache Libcloud (S3 driver on moto)",
    "collectstatic": "collectstatic",
}
#: Colours of the three sides (the raw SDK, ours, django-storages).
COLOURS = {"raw": "#9e9e9e", "ours": "#1b6ac9", "peer": "#e07b00"}
LATEST = ("<!-- bench:latest:start -->", "<!-- bench:latest:end -->")
HISTORY = ("<!-- bench:history:start -->", "<!-- bench:history:end -->")
CHARTS = ("<!-- bench:charts:start -->", "<!-- bench:charts:end -->")


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["svg.hashsalt"] = "django-stowage"  # stable ids: small diffs
    import matplotlib.pyplot as plt

    return plt


def _time_ratio(result: dict[str, Any], side: str) -> float | None:
    """Return a side's time relative to the raw SDK (1 = as fast)."""
    seconds = result["storage_s"] if side == "ours" else result.get("peer_s")
    return None if seconds is None else seconds / result["raw_s"]


def _save(fig: Any, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, format="svg", metadata={"Date": None})
    _plt().close(fig)


def ratio_chart(backend: str, results: list[dict[str, Any]], path: Path) -> None:
    """Write the chart of each case's time relative to the raw SDK, ours beside the peer's."""
    plt = _plt()
    from matplotlib.ticker import FuncFormatter, LogLocator

    names = [r["name"] for r in results]
    height = 0.38
    fig, ax = plt.subplots(figsize=(8.5, 0.42 * len(names) + 1.5))
    sides = (
        (-height / 2, "ours", "django-stowage"),
        (height / 2, "peer", "django-storages 1.14.6"),
    )
    for offset, side, label in sides:
        values = [_time_ratio(r, side) for r in results]
        shown = [(i + offset, v) for i, v in enumerate(values) if v is not None]
        if shown:
            bars = ax.barh(
                [p for p, _ in shown],
                [v for _, v in shown],
                height,
                label=label,
                color=COLOURS[side],
            )
            ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=2)
        for i, value in enumerate(values):
            if value is None and side == "peer":
                note = results[i].get("peer_note") or "n/a"
                ax.text(1.0, i + offset, f"  django-storages: {note}", va="center", fontsize=6.5)
    ax.axvline(1.0, color="black", linewidth=1)
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(
        "time relative to the raw SDK (log scale: 1 = as fast as the SDK, lower is better)"
    )
    ax.set_title(f"{backend}: the same work through each library, against the raw SDK")
    ax.legend(fontsize=8, loc="best")
    _save(fig, path)


def memory_chart(backend: str, results: list[dict[str, Any]], path: Path) -> bool:
    """Write the chart of peak RSS growth in the large cases; False if there are none."""
    large = [r for r in results if r.get("storage_rss_mb") is not None]
    if not large:
        return False
    plt = _plt()
    height = 0.27
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(large) + 1.4))
    sides = (
        ("raw", "raw_rss_mb", "raw SDK"),
        ("ours", "storage_rss_mb", "django-stowage"),
        ("peer", "peer_rss_mb", "django-storages 1.14.6"),
    )
    for k, (side, key, label) in enumerate(sides):
        positions = [i + (k - 1) * height for i, r in enumerate(large) if r.get(key) is not None]
        values = [r[key] for r in large if r.get(key) is not None]
        ax.barh(positions, values, height, label=label, color=COLOURS[side])
    ax.set_yticks(range(len(large)), [r["name"] for r in large], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("peak growth of resident memory (MB)")
    ax.set_title(f"{backend}: memory of the large cases")
    ax.legend(fontsize=8, loc="lower right")
    _save(fig, path)
    return True


def _by_backend(results: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for result in results:
        groups.setdefault(result["backend"], []).append(result)
    return dict(
        sorted(
            groups.items(),
            key=lambda item: ORDER.index(item[0]) if item[0] in ORDER else len(ORDER),
        )
    )


def _replace(text: str, markers: tuple[str, str], body: str) -> str:
    start, end = markers
    head, _, rest = text.partition(start)
    _, _, tail = rest.partition(end)
    return f"{head}{start}\n\n{body}\n\n{end}{tail}"


def _between(text: str, markers: tuple[str, str]) -> str:
    return text.partition(markers[0])[2].partition(markers[1])[0]


def _key_ratios(results: list[dict[str, Any]]) -> str:
    """Return the worst read ratio, ours and the peer's (``1.02 / 4.1``)."""
    reads = [r for r in results if r["name"].startswith("read ")]
    if not reads:
        return "-"
    ours = max(r["ratio"] for r in reads)
    peers = [r["peer_ratio"] for r in reads if r.get("peer_ratio") is not None]
    return f"{ours:.2f} / {max(peers):.1f}" if peers else f"{ours:.2f} / -"


def update_page(
    meta: dict[str, Any], groups: dict[str, list[dict[str, Any]]], table: str, charts: set[str]
) -> None:
    """Rewrite the performance page's generated parts for this run (``charts``: file names)."""
    text = PAGE.read_text()
    figures = []
    for backend in groups:
        title = TITLES.get(backend, backend)
        figures.append(f"### {title}\n")
        for kind, alt in (("ratios", "time relative to the raw SDK"), ("memory", "peak memory")):
            if f"{backend}-{kind}.svg" in charts:
                figures.append(f"![{title}: {alt}](images/bench/{backend}-{kind}.svg)\n")
    text = _replace(text, CHARTS, "\n".join(figures))
    text = _replace(
        text,
        LATEST,
        f"Run on {meta.get('date')}, commit `{meta.get('commit')}`, "
        f"scale {meta.get('scale')}.\n\n{table}",
    )
    # The history keeps its rows (a header and a separator line, then one row a run).
    rows = [line for line in _between(text, HISTORY).splitlines() if line.startswith("| 2")]
    cells = [_key_ratios(groups.get(backend, [])) for backend in ORDER]
    rows.append(
        f"| {meta.get('date')} | `{meta.get('commit')}` | {meta.get('scale')} | "
        + " | ".join(cells)
        + " |"
    )
    header = [
        "| date | commit | scale | " + " | ".join(ORDER) + " |",
        "|---" * (3 + len(ORDER)) + "|",
    ]
    PAGE.write_text(_replace(text, HISTORY, "\n".join(header + rows)))


def main() -> int:
    """Write the charts (and with --docs, the page's figures)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("results", type=Path)
    parser.add_argument("--docs", action="store_true", help="update docs/performance.md too")
    args = parser.parse_args()
    document = json.loads(args.results.read_text())
    meta, results = document.get("meta", {}), document["results"]
    groups = _by_backend(results)
    out = args.results.parent
    written = []
    for backend, cases in groups.items():
        ratio_chart(backend, cases, out / f"{backend}-ratios.svg")
        written.append(out / f"{backend}-ratios.svg")
        if memory_chart(backend, cases, out / f"{backend}-memory.svg"):
            written.append(out / f"{backend}-memory.svg")
    print("charts: " + ", ".join(str(path) for path in written))
    if args.docs:
        IMAGES.mkdir(parents=True, exist_ok=True)
        for stale in IMAGES.glob("*.svg"):
            stale.unlink()  # the page shows one run's charts, never a mix of two
        for path in written:
            shutil.copyfile(path, IMAGES / path.name)
        markdown = args.results.with_suffix(".md")
        table = markdown.read_text() if markdown.exists() else ""
        update_page(meta, groups, table.strip(), {path.name for path in written})
        print(f"updated: {PAGE.relative_to(ROOT)} and {IMAGES.relative_to(ROOT)}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
