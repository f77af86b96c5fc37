"""Benchmark harness: our full pipeline against a bare tshark field export, time and memory.

Usage:
    python benchmarks/run.py benchmarks/data/1m.pcap [-k 3] [--record] [--skip-ours]

Runs, k times each and interleaved (the machine is shared and noisy):
  ours   pcapexplain connections FILE --format csv -o /dev/null     (tshark + Python)
  bare   tshark -n -r FILE -T fields -E separator=/t -e <the loader's fields> > /dev/null
  floor  tshark -n -r FILE -q -Y tcp                                 (tshark's own dissection cost)
and reports the medians of wall time, CPU time (user + sys of the whole process tree) and peak
memory: the sum of RSS over the process and all its descendants, sampled from /proc every ~50 ms,
plus each process's own peak; and the sum of PSS over the tree, its true footprint once processes
share pages (forked children share their parent's pages until either writes to them, and RSS
counts a shared page in every process that maps it). --record appends the table to
benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PAGE = os.sysconf("SC_PAGE_SIZE")
SAMPLE_S = 0.05
TARGET_RATIO = 1.25
TARGET_PEAK_MB = 1500.0

# The loader's field list, used when pcapexplain.loader does not expose one (it is imported first).
ANALYSIS_FLAGS = (
    "retransmission fast_retransmission spurious_retransmission out_of_order lost_segment "
    "ack_lost_segment duplicate_ack zero_window zero_window_probe zero_window_probe_ack "
    "window_full window_update keep_alive keep_alive_ack reused_ports"
)
FALLBACK_FIELDS = [
    *[
        "frame.number",
        "frame.time_epoch",
        "ip.src",
        "ipv6.src",
        "ip.dst",
        "ipv6.dst",
        "tcp.srcport",
        "tcp.dstport",
        "tcp.flags",
        "tcp.seq_raw",
        "tcp.ack_raw",
        "tcp.len",
        "tcp.window_size_value",
        "tcp.options.mss_val",
        "tcp.options.wscale.shift",
        "tcp.options.sack_perm",
        "tcp.options.sack_le",
        "tcp.options.timestamp.tsval",
        "tcp.options.tfo",
        "ip.ttl",
        "ipv6.hlim",
    ],
    *(f"tcp.analysis.{flag}" for flag in ANALYSIS_FLAGS.split()),
    "ip.checksum.status",
    "tcp.checksum.status",
    "tcp.stream",
]


@dataclass
class Run:
    """One measured execution."""

    wall_s: float
    cpu_s: float  # user + sys of the process and every descendant it waited for
    peak_tree_mb: float  # peak over samples of the summed RSS of the whole tree
    peak_by_process: dict[str, float]  # "name[pid]" → that process's own peak RSS
    samples: int
    returncode: int
    peak_tree_pss_mb: float = 0.0  # peak over samples of the summed PSS of the whole tree


@dataclass
class Measurement:
    name: str
    argv: list[str]
    stdout_devnull: bool  # the command's stdout is redirected to /dev/null
    runs: list[Run] = field(default_factory=list)

    def median(self, attr: str) -> float:
        return statistics.median(getattr(r, attr) for r in self.runs)

    def process_peaks(self) -> dict[str, float]:
        """Median over runs of each process's peak, keyed by process name (pids differ)."""
        names: dict[str, list[float]] = {}
        for run in self.runs:
            per_run: dict[str, float] = {}
            for key, mb in run.peak_by_process.items():
                name = key.split("[")[0]
                per_run[name] = max(per_run.get(name, 0.0), mb)
            for name, mb in per_run.items():
                names.setdefault(name, []).append(mb)
        return {name: statistics.median(v) for name, v in sorted(names.items())}

    def shell(self) -> str:
        return shlex.join(self.argv) + (" > /dev/null" if self.stdout_devnull else "")


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(b")", 1)[1].split()[1])  # field 4, after the "(comm)" field
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def _tree_rss(root: int) -> tuple[dict[str, float], float]:
    """RSS in MB of root and all its descendants right now, keyed by "comm[pid]"; and the sum
    of their PSS in MB (each shared page divided among the processes that map it)."""
    children, out, stack, pss = _children_map(), {}, [root], 0.0
    while stack:
        pid = stack.pop()
        stack.extend(children.get(pid, ()))
        try:
            with open(f"/proc/{pid}/statm", "rb") as f:
                rss = int(f.read().split()[1]) * PAGE / 1e6
            with open(f"/proc/{pid}/comm", "rb") as f:
                comm = f.read().decode(errors="replace").strip()
            pss += _pss(pid)
        except OSError:
            continue  # exited between the scan and the read
        out[f"{comm}[{pid}]"] = rss
    return out, pss


def _pss(pid: int) -> float:
    """A process's PSS in MB (/proc/PID/smaps_rollup, Linux 4.14+; 0 where it is missing)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
            for line in f:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) / 1e3  # kB
    except FileNotFoundError:
        pass
    return 0.0


def measure(argv: Sequence[str], stdout: Path | None = None) -> Run:
    """Run argv once, sampling the RSS of its whole process tree every SAMPLE_S seconds.

    The command's stdout goes to the file stdout, or to /dev/null.
    """
    with open(stdout or os.devnull, "wb") as sink, tempfile.TemporaryFile() as errors:
        began = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=sink, stderr=errors)
        peak_tree, peak_pss, peaks, samples = 0.0, 0.0, {}, 0
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            now, pss = _tree_rss(proc.pid)
            samples += 1
            peak_tree = max(peak_tree, sum(now.values()))
            peak_pss = max(peak_pss, pss)
            for key, mb in now.items():
                peaks[key] = max(peaks.get(key, 0.0), mb)
            time.sleep(SAMPLE_S)
        wall = time.perf_counter() - began
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode:
            errors.seek(0)
            tail = errors.read().decode(errors="replace")[-2000:]
            print(f"FAILED ({proc.returncode}): {shlex.join(argv)}\n{tail}", file=sys.stderr)
    cpu = usage.ru_utime + usage.ru_stime
    return Run(wall, cpu, peak_tree, peaks, samples, proc.returncode, peak_pss)


def loader_fields() -> tuple[list[str], str]:
    """The fields the loader asks tshark for, and where the list came from."""
    try:
        from pcapexplain import loader
    except Exception:  # noqa: BLE001 - the loader may be missing or broken while being written
        return list(FALLBACK_FIELDS), "benchmarks/run.py FALLBACK_FIELDS"
    for name in ("FIELDS", "TSHARK_FIELDS", "FIELD_NAMES"):
        value = getattr(loader, name, None)
        if value:
            return [str(v) for v in value], f"pcapexplain.loader.{name}"
    return list(FALLBACK_FIELDS), "benchmarks/run.py FALLBACK_FIELDS"


def measurements(capture: Path, fields: list[str], skip_ours: bool) -> list[Measurement]:
    tshark = "/usr/bin/tshark"
    bare = [tshark, "-n", "-r", str(capture), "-T", "fields", "-E", "separator=/t"]
    for name in fields:
        bare += ["-e", name]
    out = [
        Measurement("bare", bare, True),
        Measurement("floor", [tshark, "-n", "-r", str(capture), "-q", "-Y", "tcp"], True),
    ]
    if not skip_ours:
        cli = str(Path(sys.executable).parent / "pcapexplain")
        ours = [cli, "connections", str(capture), "--format", "csv", "-o", "/dev/null"]
        out.insert(0, Measurement("ours", ours, False))
    return out


def machine() -> dict[str, str]:
    """Facts that make a timing comparable: cores, memory, CPU, tshark, Python, load."""
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )
    tshark = subprocess.run(["/usr/bin/tshark", "-v"], capture_output=True, text=True).stdout
    return {
        "nproc": str(os.cpu_count()),
        "memory": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "cpu": cpu,
        "tshark": tshark.splitlines()[0] if tshark else "missing",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "kernel": platform.release(),
        "load (1/5/15 min)": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


# A 1-minute load average above this before a run starts means other work shared the cores.
BUSY_LOAD = 0.5


def load_remark(before: tuple[float, float, float]) -> str:
    """What the load before a run says about it, for the recorded footer."""
    if before[0] > BUSY_LOAD:
        return "Other work was running on the machine."
    return "The machine was otherwise idle when the run started."


def table(results: list[Measurement]) -> str:
    """The markdown table of medians, then the ratio line."""
    lines = [
        "| measurement | wall median (s) | wall min–max (s) | CPU median (s) "
        "| peak tree RSS median (MB) | per-process peak RSS, median (MB) |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for m in results:
        walls = [r.wall_s for r in m.runs]
        procs = ", ".join(f"{name} {mb:.0f}" for name, mb in m.process_peaks().items())
        lines.append(
            f"| {m.name} | {m.median('wall_s'):.2f} | {min(walls):.2f}–{max(walls):.2f} "
            f"| {m.median('cpu_s'):.2f} | {m.median('peak_tree_mb'):.0f} | {procs} |"
        )
    by_name = {m.name: m for m in results}
    if "ours" in by_name:
        ours, bare = by_name["ours"], by_name["bare"]
        wall = ours.median("wall_s") / bare.median("wall_s")
        cpu = ours.median("cpu_s") / bare.median("cpu_s")
        peak = ours.median("peak_tree_mb")
        lines += [
            "",
            f"ratio ours / bare export: wall {wall:.2f}, CPU {cpu:.2f} "
            f"(target ≤ {TARGET_RATIO}: {'met' if wall <= TARGET_RATIO else 'MISSED'}); "
            f"peak memory of ours, tshark included: {peak:.0f} MB "
            f"(target ≤ {TARGET_PEAK_MB:.0f} MB: {'met' if peak <= TARGET_PEAK_MB else 'MISSED'})",
        ]
    return "\n".join(lines)


def report(capture: Path, results: list[Measurement], facts: dict[str, str], source: str) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    k = len(results[0].runs)
    frames = capture.stat().st_size / 1e6
    out = [
        f"### {capture.name} ({frames:.0f} MB), k = {k}, {when}",
        "",
        f"Harness: `{shlex.join([sys.executable, *sys.argv])}`",
        "",
        table(results),
        "",
        "Machine: " + "; ".join(f"{key} {value}" for key, value in facts.items()),
        "",
        f"Field list for the bare export: {source}. Commands:",
        "",
        *[f"- {m.name}: `{m.shell()}`" for m in results],
        "",
    ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("capture", type=Path)
    parser.add_argument("-k", type=int, default=3, help="repetitions of each measurement")
    parser.add_argument("--record", action="store_true", help="append to benchmarks/RESULTS.md")
    parser.add_argument("--skip-ours", action="store_true", help="tshark measurements only")
    args = parser.parse_args(argv)
    fields, source = loader_fields()
    results = measurements(args.capture.resolve(), fields, args.skip_ours)
    facts = machine()
    subprocess.run(["cat", str(args.capture)], stdout=subprocess.DEVNULL, check=True)  # warm cache
    for rep in range(args.k):
        shift = rep % len(results)  # rotate the order so no command always runs first
        for m in results[shift:] + results[:shift]:
            run = measure(m.argv)
            m.runs.append(run)
            print(
                f"[{rep + 1}/{args.k}] {m.name}: {run.wall_s:.2f} s wall, {run.cpu_s:.2f} s CPU, "
                f"peak {run.peak_tree_mb:.0f} MB ({run.samples} samples)",
                file=sys.stderr,
                flush=True,
            )
    facts["load after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    text = report(args.capture, results, facts, source)
    print(text)
    if args.record:
        with (HERE / "RESULTS.md").open("a") as f:
            f.write("\n" + text)
    return 1 if any(r.returncode for m in results for r in m.runs) else 0


if __name__ == "__main__":
    sys.exit(main())
