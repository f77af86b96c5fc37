"""Benchmark of the HTML report: its size, the time to write it, the time headless Chromium takes.

Usage:
    python benchmarks/generate.py benchmarks/data/20k.pcap --connections 20000
    python benchmarks/report_size.py benchmarks/data/20k.pcap [-k 3] [--record]

Runs `pcapexplain report FILE -o OUT.html` (wall time, CPU, peak memory of the process tree), then
loads OUT.html in headless Chromium with --dump-dom (which returns once the page has loaded and
its scripts have run) and times that, k times each, interleaved. Targets (issue 3): the file is
under 20 MB and opens within a few seconds. --record adds the table to the "## Report size"
section of RESULTS.md, after the runs already there; the other sections are left alone.
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import HERE, Run, machine, measure  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
TARGET_MB = 20.0
TARGET_OPEN_S = 5.0  # "within a few seconds"
HEADING = "## Report size"
RUN_HEADING = "### HTML report of "


def chromium_argv(html: Path, profile: str) -> list[str]:
    return [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--dump-dom",
        html.resolve().as_uri(),
    ]


def _median(runs: list[Run], attr: str) -> float:
    return float(statistics.median(getattr(r, attr) for r in runs))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("capture", type=Path)
    parser.add_argument("-k", type=int, default=3, help="repetitions of each measurement")
    parser.add_argument(
        "--record", action="store_true", help=f"add to {HEADING!r} in benchmarks/RESULTS.md"
    )
    args = parser.parse_args(argv)
    cli = str(Path(sys.executable).parent / "pcapexplain")
    work = Path(tempfile.mkdtemp(prefix="pcapexplain-report-"))
    html, dom = work / "report.html", work / "dom.html"
    write_argv = [cli, "report", str(args.capture.resolve()), "-o", str(html)]
    empty = work / "empty.html"
    empty.write_text("<!doctype html><html><body></body></html>")
    writes: list[Run] = []
    loads: list[Run] = []
    baseline: list[Run] = []  # Chromium's own start-up and teardown, on an empty page
    dom_sizes: list[int] = []
    for rep in range(args.k):
        writes.append(measure(write_argv))
        if writes[-1].returncode or not html.exists():
            print("pcapexplain report failed", file=sys.stderr)
            return 1
        with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
            loads.append(measure(chromium_argv(html, profile), stdout=dom))
        with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
            baseline.append(measure(chromium_argv(empty, profile)))
        dom_sizes.append(dom.stat().st_size)
        print(
            f"[{rep + 1}/{args.k}] write {writes[-1].wall_s:.2f} s, "
            f"{html.stat().st_size / 1e6:.1f} MB; Chromium load {loads[-1].wall_s:.2f} s, "
            f"DOM {dom_sizes[-1] / 1e6:.1f} MB",
            file=sys.stderr,
            flush=True,
        )
    text = _report(args.capture, html, writes, (loads, baseline), dom_sizes, write_argv)
    print(text)
    if args.record:
        record(HERE / "RESULTS.md", text)
    loaded = "</html>" in dom.read_text(errors="replace")[-200:]  # Chromium serialised the page
    return 0 if loaded else 1


def record(results: Path, text: str) -> None:
    """Add one run at the end of the report-size section, creating the section when it is absent.

    The section runs from HEADING to the next heading that is not one of its own runs: run.py
    appends its loader runs to the end of the file, so "end of file" is not this section's end.
    """
    lines = results.read_text(encoding="utf-8").splitlines() if results.exists() else []
    run = text.rstrip("\n").splitlines()
    if HEADING not in lines:
        lines += ["", HEADING, "", *run] if lines and lines[-1] else [HEADING, "", *run]
    else:
        start = lines.index(HEADING) + 1
        end = next((i for i in range(start, len(lines)) if _foreign_heading(lines[i])), len(lines))
        while end > start and not lines[end - 1]:
            end -= 1  # insert right after the last run, keeping one blank line either side
        lines[end:end] = ["", *run]
    results.write_text("\n".join(lines).rstrip("\n") + "\n", encoding="utf-8")


def _foreign_heading(line: str) -> bool:
    return line.startswith("#") and not line.startswith(RUN_HEADING) and line != HEADING


def _report(
    capture: Path,
    html: Path,
    writes: list[Run],
    chromium: tuple[list[Run], list[Run]],
    dom_sizes: list[int],
    write_argv: list[str],
) -> str:
    size_mb = html.stat().st_size / 1e6
    loads, baseline = chromium
    load_s = _median(loads, "wall_s")
    lines = [
        f"### HTML report of {capture.name}, k = {len(writes)}",
        "",
        f"Harness: `{shlex.join([sys.executable, *sys.argv])}`",
        "",
        "| step | wall median (s) | CPU median (s) | peak tree RSS median (MB) | result |",
        "|---|---:|---:|---:|---|",
        f"| pcapexplain report | {_median(writes, 'wall_s'):.2f} | {_median(writes, 'cpu_s'):.2f} "
        f"| {_median(writes, 'peak_tree_mb'):.0f} | {size_mb:.1f} MB "
        f"(target < {TARGET_MB:.0f} MB: {'met' if size_mb < TARGET_MB else 'MISSED'}) |",
        f"| Chromium --dump-dom | {load_s:.2f} | {_median(loads, 'cpu_s'):.2f} "
        f"| {_median(loads, 'peak_tree_mb'):.0f} | DOM {statistics.median(dom_sizes) / 1e6:.1f} MB "
        f"(target ≤ {TARGET_OPEN_S:.0f} s: {'met' if load_s <= TARGET_OPEN_S else 'MISSED'}) |",
        f"| Chromium --dump-dom, empty page | {_median(baseline, 'wall_s'):.2f} "
        f"| {_median(baseline, 'cpu_s'):.2f} | {_median(baseline, 'peak_tree_mb'):.0f} "
        "| start-up cost included in the row above |",
        "",
        "Chromium's peak sums RSS over its processes, so shared pages count more than once.",
        "",
        "Machine: " + "; ".join(f"{key} {value}" for key, value in machine().items()),
        "",
        "Commands:",
        "",
        f"- `{shlex.join(write_argv)}`",
        f"- `{shlex.join(chromium_argv(html, '$(mktemp -d)'))} > dom.html`",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
