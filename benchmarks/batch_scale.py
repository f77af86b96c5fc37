"""Benchmark of `pcapexplain batch`: the speed-up of a second worker, the time per tiny capture and
what it is made of, and the peak memory of the whole batch, workers and tshark included.

Usage:
    python benchmarks/batch_scale.py mixed [--captures 100] [-k 2] [--record]
    python benchmarks/batch_scale.py tiny [--captures 1000] [-k 1] [--record]

`mixed` writes captures of sizes spread evenly on a log scale from 5 to 100,000 packets
(generate.py, one seed each) into benchmarks/data/batch-mixed/, then runs
`pcapexplain batch DIR -o OUT --jobs 1 --force` and the same with `--jobs 2`, interleaved k times
(A B, then B A, ...), and reports the medians and the ratio jobs 2 / jobs 1 (target ≤ 0.6 on two
cores). `tiny` writes captures of 3 complete connections each (a class's homework) into
benchmarks/data/batch-tiny/, runs the batch with `--jobs 2 --force`, and reports the time per
capture, then times its parts one by one on a sample: tshark start-up and dissection, Python
start-up of a worker, the per-capture Python work (analysis, report, parts) in a warm worker, and
the per-capture costs the batch no longer pays (a `tshark -v` per capture, compiling the report
templates per capture, a Parquet file per capture). Peak memory is the RSS summed over the
batch's process tree (the command, its workers and their tshark), sampled every 50 ms.
--record appends the tables to RESULTS.md.
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from generate import write_capture  # noqa: E402
from run import HERE, Run, machine, measure  # noqa: E402

DATA = HERE / "data"
PCAPEXPLAIN = [sys.executable, "-m", "pcapexplain"]
TARGET_RATIO = 0.6
HEADING = "## Batch"
SAMPLE = 30  # tiny captures timed one by one for the breakdown


def mixed_sizes(count: int) -> list[int]:
    """count sizes from 5 to 100,000 packets, evenly spread on a log scale."""
    low, high = math.log(5), math.log(100_000)
    return [round(math.exp(low + (high - low) * i / max(count - 1, 1))) for i in range(count)]


def make_folder(folder: Path, names_sizes: list[tuple[str, dict[str, int]]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for seed, (name, size) in enumerate(names_sizes, start=1):
        path = folder / name
        if not path.exists():
            write_capture(path, seed=seed, **size)  # type: ignore[arg-type]


def batch_argv(folder: Path, out: Path, jobs: int) -> list[str]:
    return [*PCAPEXPLAIN, "batch", str(folder), "-o", str(out), "--jobs", str(jobs), "--force"]


def _median(runs: list[Run], attr: str) -> float:
    return statistics.median(getattr(r, attr) for r in runs)


def mixed(count: int, k: int) -> str:
    folder = DATA / "batch-mixed"
    sizes = mixed_sizes(count)
    make_folder(folder, [(f"m{i:03d}-{n}.pcap", {"packets": n}) for i, n in enumerate(sizes)])
    total_mb = sum(p.stat().st_size for p in folder.glob("*.pcap")) / 1e6
    runs: dict[int, list[Run]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory(prefix="batch-bench-") as tmp:
        for rep in range(k):
            for jobs in (1, 2) if rep % 2 == 0 else (2, 1):
                run = measure(batch_argv(folder, Path(tmp) / f"out{jobs}", jobs))
                runs[jobs].append(run)
                print(f"jobs {jobs}: {run.wall_s:.1f} s", file=sys.stderr)
    ratios = [b.wall_s / a.wall_s for a, b in zip(runs[1], runs[2], strict=True)]
    ratio = _median(runs[2], "wall_s") / _median(runs[1], "wall_s")
    verdict = "met" if ratio <= TARGET_RATIO else "MISSED"
    lines = [
        f"### {count} mixed captures ({min(sizes)} to {max(sizes):,} packets, "
        f"{sum(sizes):,} in all, {total_mb:.0f} MB), k = {k}",
        "",
        f"Harness: `{shlex.join([sys.executable, *sys.argv])}`",
        "",
        "| run | wall median (s) | CPU median (s) | peak tree RSS median (MB) "
        "| largest process (MB) |",
        "|---|---:|---:|---:|---|",
        *(_row(f"--jobs {jobs}", runs[jobs]) for jobs in (1, 2)),
        "",
        f"Ratio jobs 2 / jobs 1 (medians): **{ratio:.2f}** (target ≤ {TARGET_RATIO}: {verdict}); "
        f"per interleaved pair: {', '.join(f'{r:.2f}' for r in ratios)}.",
        "",
        *_footer([batch_argv(folder, Path("OUT"), 2)]),
    ]
    return "\n".join(lines)


def _row(name: str, runs: list[Run]) -> str:
    biggest = max(runs[0].peak_by_process.items(), key=lambda kv: kv[1])
    return (
        f"| {name} | {_median(runs, 'wall_s'):.1f} | {_median(runs, 'cpu_s'):.1f} "
        f"| {_median(runs, 'peak_tree_mb'):.0f} | {biggest[0].split('[')[0]} {biggest[1]:.0f} |"
    )


def _footer(argvs: list[list[str]]) -> list[str]:
    return [
        "Machine: " + "; ".join(f"{key} {value}" for key, value in machine().items()),
        "",
        "Commands:",
        "",
        *(f"- `{shlex.join(a)}`" for a in argvs),
        "",
    ]


def tiny(count: int, k: int) -> str:
    folder = DATA / "batch-tiny"
    make_folder(folder, [(f"student{i:04d}.pcap", {"connections": 3}) for i in range(count)])
    runs = []
    with tempfile.TemporaryDirectory(prefix="batch-bench-") as tmp:
        for _ in range(k):
            runs.append(measure(batch_argv(folder, Path(tmp) / "out", 2)))
            print(f"jobs 2: {runs[-1].wall_s:.1f} s", file=sys.stderr)
        parts = breakdown(sorted(folder.glob("*.pcap"))[:SAMPLE], Path(tmp))
    wall, cpu = _median(runs, "wall_s"), _median(runs, "cpu_s")
    lines = [
        f"### {count} tiny captures (3 connections each), k = {k}",
        "",
        f"Harness: `{shlex.join([sys.executable, *sys.argv])}`",
        "",
        "| run | wall median (s) | per capture (ms) | CPU per capture (ms) | peak tree RSS (MB) |",
        "|---|---:|---:|---:|---:|",
        f"| --jobs 2 | {wall:.1f} | {wall / count * 1000:.0f} | {cpu / count * 1000:.0f} "
        f"| {_median(runs, 'peak_tree_mb'):.0f} |",
        "",
        f"Where one capture's time goes (median of {SAMPLE} captures, one at a time):",
        "",
        "| part | wall (ms) | CPU (ms) | paid |",
        "|---|---:|---:|---|",
        *(f"| {name} | {w * 1000:.0f} | {c * 1000:.0f} | {paid} |" for name, w, c, paid in parts),
        "",
        *_footer([batch_argv(folder, Path("OUT"), 2)]),
    ]
    return "\n".join(lines)


def _timed(argv: list[str]) -> tuple[float, float]:
    """Wall and CPU time (user + sys, children included) of one command."""
    began = time.perf_counter()
    with open(os.devnull, "wb") as sink:
        process = subprocess.Popen(argv, stdout=sink, stderr=sink)
        _, _, usage = os.wait4(process.pid, 0)
    return time.perf_counter() - began, usage.ru_utime + usage.ru_stime


def _in_process(call: Callable[[], object]) -> tuple[float, float]:
    began, cpu = time.perf_counter(), time.process_time()
    call()
    return time.perf_counter() - began, time.process_time() - cpu


def _med(samples: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples)


def breakdown(captures: list[Path], tmp: Path) -> list[tuple[str, float, float, str]]:
    from pcapexplain import api, capture_task, loader, reporter, tables

    tshark = loader.tshark_info().path
    rows: list[tuple[str, float, float, str]] = []
    dissect = [
        _timed(loader.tshark_command(tshark, str(c), validate_checksums=False)) for c in captures
    ]
    rows.append(
        ("tshark: start-up and dissection (the loader's command)", *_med(dissect), "per capture")
    )
    version = [_timed([tshark, "-v"]) for _ in captures[:10]]
    rows.append(("`tshark -v` (tshark_info), now once per worker", *_med(version), "per worker"))
    start = [_timed([sys.executable, "-c", "import pcapexplain.capture_task"]) for _ in range(5)]
    rows.append(("Python start-up and imports of a worker", *_med(start), "per worker"))

    tasks = [
        capture_task.CaptureTask(
            str(c), c.name, str(tmp / f"{c.stem}.html"), str(tmp / c.stem), "en"
        )
        for c in captures
    ]
    capture_task.run_capture(tasks[0])  # warm: imports, templates, tshark_info
    whole = [_in_process(lambda t=t: capture_task.run_capture(t)) for t in tasks]
    rows.append(("run_capture in a warm worker (tshark included)", *_med(whole), "per capture"))
    analyses = [api.analyse(c) for c in captures]
    render = [_in_process(lambda a=a: capture_task.report_html(a, "en")) for a in analyses]
    rows.append(("of which: building and rendering the report", *_med(render), "per capture"))
    compile_ = [
        _in_process(lambda: reporter._environment.__wrapped__().get_template("report.html.j2"))
        for _ in range(10)
    ]
    rows.append(
        ("compiling the report templates, now once per worker", *_med(compile_), "per worker")
    )
    parquet = []
    for a, t in zip(analyses, tasks, strict=True):
        rows_ = capture_task.connection_rows(a, t.capture)
        parquet.append(
            _in_process(lambda r=rows_, t=t: tables.rows_frame(r).to_parquet(t.parts + ".parquet"))
        )
    rows.append(
        (
            "a Parquet file per capture (dropped: one streamed file at the end)",
            *_med(parquet),
            "no longer",
        )
    )
    return rows


def record(text: str) -> None:
    results = HERE / "RESULTS.md"
    body = results.read_text(encoding="utf-8").rstrip("\n")
    if HEADING not in body.splitlines():
        body += f"\n\n{HEADING}\n\n_Runs of `benchmarks/batch_scale.py --record`; newest last._"
    results.write_text(body + "\n\n" + text.rstrip("\n") + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("kind", choices=("mixed", "tiny"))
    parser.add_argument("--captures", type=int, help="how many (mixed: 100, tiny: 1000)")
    parser.add_argument("-k", type=int, default=None, help="repetitions (mixed: 2, tiny: 1)")
    parser.add_argument("--record", action="store_true", help="append the result to RESULTS.md")
    args = parser.parse_args(argv)
    if args.kind == "mixed":
        text = mixed(args.captures or 100, args.k or 2)
    else:
        text = tiny(args.captures or 1000, args.k or 1)
    print(text)
    if args.record:
        record(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
