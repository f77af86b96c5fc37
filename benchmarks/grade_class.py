"""Benchmark: `pcapexplain grade` on a generated class, wall time with --jobs 2 (and 1).

Usage:
    python benchmarks/grade_class.py [--students 200] [--rounds 1] [--record]

Each student gets a synthetic capture from generate.py (12 connections, its own seed, so its own
ISNs; two or more go to port 80, the example rubric's server) and, for every other student, an
answers file. Every tenth student hands in the previous student's capture (identical-capture
flags). The class goes to benchmarks/data/class-N/. Runs of --jobs 2 and --jobs 1 alternate (in
the order 2, 1, then 1, 2, ...), so that both see the same machine load; each run's wall time,
CPU time (the command, its workers and their tshark) and the 1-minute load average when it started
are printed, and --record appends the table to RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import run  # noqa: E402  (run.py: the machine description and the load remark)

ROOT = HERE.parent
BIN = Path(sys.executable).parent
RUBRIC = ROOT / "examples" / "rubrics" / "tcp-handshake-lab.toml"
ANSWERS = 'client_mss = 1460\nteardown = "four_way"\ntime_wait_side = "client"\n'


def make_class(folder: Path, students: int) -> None:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for n in range(students):
        student = folder / f"s{n:03d}"
        student.mkdir()
        if n % 10 == 9:
            shutil.copy(folder / f"s{n - 1:03d}" / "lab.pcap", student / "lab.pcap")
        else:
            subprocess.run(
                [sys.executable, str(HERE / "generate.py"), str(student / "lab.pcap")]
                + ["--connections", "12", "--seed", str(n + 1)],
                check=True,
                capture_output=True,
            )
        if n % 2 == 0:
            (student / "answers.toml").write_text(ANSWERS, encoding="utf-8")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def grade(folder: Path, jobs: int) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and the 1-minute load average at the start of one run."""
    out = folder.with_name(folder.name + f"-out-j{jobs}")
    shutil.rmtree(out, ignore_errors=True)
    cmd = [str(BIN / "pcapexplain"), "grade", str(folder), "--rubric", str(RUBRIC)]
    load, cpu = os.getloadavg()[0], _children_cpu()
    start = time.perf_counter()
    subprocess.run([*cmd, "-o", str(out), "--jobs", str(jobs)], check=True, capture_output=True)
    return time.perf_counter() - start, _children_cpu() - cpu, load


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--students", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    folder = HERE / "data" / f"class-{args.students}"
    make_class(folder, args.students)
    load_before = os.getloadavg()
    runs: dict[int, list[tuple[float, float, float]]] = {2: [], 1: []}
    pairs: list[float] = []
    for round_ in range(args.rounds):
        for jobs in (2, 1) if round_ % 2 == 0 else (1, 2):
            runs[jobs].append(grade(folder, jobs))
            wall, cpu, load = runs[jobs][-1]
            print(f"--jobs {jobs}: {wall:.1f} s wall, {cpu:.1f} s CPU, load {load:.2f}", flush=True)
        pairs.append(runs[2][-1][0] / runs[1][-1][0])
    j2 = statistics.median(r[0] for r in runs[2])
    j1 = statistics.median(r[0] for r in runs[1])

    def row(jobs: int, wall: float) -> str:
        cpu = statistics.median(r[1] for r in runs[jobs])
        loads = ", ".join(f"{r[2]:.1f}" for r in runs[jobs])
        return (
            f"| `pcapexplain grade … --jobs {jobs}` | {wall:.1f} | "
            f"{1000 * wall / args.students:.0f} | {cpu:.1f} | {loads} |"
        )

    lines = [
        "",
        f"### grade, {args.students} generated submissions, {args.rounds} round(s), "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"Harness: `.venv/bin/python benchmarks/grade_class.py --students {args.students} "
        f"--rounds {args.rounds} --record`",
        "",
        "| command | wall median (s) | per student (ms) | CPU median (s) | load at start |",
        "|---|---:|---:|---:|---|",
        row(2, j2),
        row(1, j1),
        "",
        f"Ratio jobs 2 / jobs 1 (medians): **{j2 / j1:.2f}**; per interleaved pair: "
        f"{', '.join(f'{p:.2f}' for p in pairs)}. Machine: nproc {os.cpu_count()}; "
        f"python {platform.python_version()}; load (1/5/15 min) before "
        f"{' '.join(f'{x:.2f}' for x in load_before)}, after "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}. " + run.load_remark(load_before),
    ]
    print("\n".join(lines))
    if args.record:
        with open(HERE / "RESULTS.md", "a", encoding="utf-8") as results:
            results.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
