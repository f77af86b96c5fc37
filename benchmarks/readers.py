"""Benchmark: the native reader against the tshark reader and tcptrace, time and memory.

Usage:
    python benchmarks/readers.py benchmarks/data/1m.pcap [--growth benchmarks/data/100k.pcap \\
        benchmarks/data/1m.pcap benchmarks/data/5m.pcap] [-k 3] [--record]

On the first capture it runs, k times each, interleaved in rotating order (the machine is shared):
  native         pcapexplain connections FILE --format csv -o /dev/null --reader native
                 (its 4-tuples analysed on every core above shard_run.MIN_PACKETS, and
                 read on every core too for a file above shard_run.MIN_BYTES)
  native-1       the same in one process (--jobs 1)
  tshark         the same with --reader tshark (left out with --no-tshark)
  tcptrace       tcptrace -l -n FILE > /dev/null      (installed from the OS packages if missing)
  native-reader  the native reader alone: native.load_capture(FILE), nothing after it
and reports the medians of wall time, CPU time and peak memory of the process tree (run.py's
sampler: summed RSS, and summed PSS, the true footprint of forked processes sharing pages), with
the ratios between them. --growth then runs native and tcptrace on each capture
listed (the first capture's runs are reused when it is listed) and reports how wall
time and peak memory grow with the packet count, and the memory cost per packet. Everything is one
run, under one load; --record appends the tables to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pcapexplain

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run  # noqa: E402  (run.py: the process-tree sampler and the machine description)

HERE = Path(__file__).resolve().parent
TCPTRACE = "tcptrace"


def ensure_tcptrace() -> str:
    """tcptrace's path, installing Debian's package first when it is missing."""
    found = shutil.which(TCPTRACE)
    if found:
        return found
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([*sudo, "apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run([*sudo, "apt-get", "install", "-y", "-qq", TCPTRACE], check=True, env=env)
    found = shutil.which(TCPTRACE)
    if not found:
        raise SystemExit("tcptrace is still missing after apt-get install")
    return found


def commands(capture: Path, tcptrace: str, *, with_tshark: bool) -> list[run.Measurement]:
    """native, native-1, native-reader, tcptrace, and tshark after native with_tshark."""
    cli = str(Path(sys.executable).parent / "pcapexplain")
    base = [cli, "connections", str(capture), "--format", "csv", "-o", "/dev/null"]
    reader_only = (
        "import sys; from pcapexplain import native; "
        "c = native.load_capture(sys.argv[1]); print(len(c.packets), file=sys.stderr)"
    )
    out = [
        run.Measurement("native", [*base, "--reader", "native"], False),
        run.Measurement("native-1", [*base, "--reader", "native", "--jobs", "1"], False),
        run.Measurement("native-reader", [sys.executable, "-c", reader_only, str(capture)], False),
        run.Measurement("tcptrace", [tcptrace, "-l", "-n", str(capture)], True),
    ]
    if with_tshark:
        out.insert(1, run.Measurement("tshark", [*base, "--reader", "tshark"], False))
    return out


def interleaved(measurements: list[run.Measurement], k: int) -> None:
    """k rounds; each round runs every command once, the order rotating from round to round."""
    for round_ in range(k):
        order = (
            measurements[round_ % len(measurements) :] + measurements[: round_ % len(measurements)]
        )
        for m in order:
            result = run.measure(m.argv)
            if result.returncode:
                raise SystemExit(f"{m.name} failed ({result.returncode})")
            m.runs.append(result)
            # Every run in full as it ends: a run cut short still leaves its numbers.
            line = f"  round {round_ + 1} {m.name}: wall {result.wall_s:.2f} s, "
            line += f"CPU {result.cpu_s:.2f} s, peak {result.peak_tree_mb:.0f} MB"
            line += f" (PSS {result.peak_tree_pss_mb:.0f} MB)"
            print(line, file=sys.stderr, flush=True)


def table(measurements: list[run.Measurement]) -> list[str]:
    lines = [
        "| measurement | wall median (s) | wall min–max (s) | CPU median (s) "
        "| peak tree RSS median (MB) | peak tree PSS median (MB) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for m in measurements:
        walls = [r.wall_s for r in m.runs]
        lines.append(
            f"| {m.name} | {m.median('wall_s'):.2f} | {min(walls):.2f}–{max(walls):.2f} | "
            f"{m.median('cpu_s'):.2f} | {m.median('peak_tree_mb'):.0f} "
            f"| {m.median('peak_tree_pss_mb'):.0f} |"
        )
    return lines


def ratios(measurements: list[run.Measurement]) -> list[str]:
    by = {m.name: m for m in measurements}
    pairs = [("native", "tcptrace"), ("native-1", "tcptrace"), ("native", "native-1"),
             ("native-reader", "tcptrace"), ("tshark", "tcptrace"),
             ("native", "tshark")]  # fmt: skip
    out = []
    for a, b in pairs:
        if a in by and b in by:
            # Ratios of the runs of one round, then their median: both saw the same load.
            runs = list(zip(by[a].runs, by[b].runs, strict=True))
            wall = statistics.median(x.wall_s / y.wall_s for x, y in runs)
            # CPU time: what the wall time would be on an idle core, less sensitive to the load.
            cpu = statistics.median(x.cpu_s / y.cpu_s for x, y in runs)
            out.append(f"- {a} / {b}: wall {wall:.2f}, CPU {cpu:.2f}")
    return out


def packets_in(capture: Path) -> int:
    from pcapexplain import capfile

    summary = capfile.FileSummary()
    return sum(len(r) for r in capfile.read_records(capture, summary))


def growth(
    captures: list[Path], tcptrace: str, k: int, done: dict[Path, list[run.Measurement]]
) -> list[str]:
    rows = []
    for capture in captures:
        count = packets_in(capture)
        print(f"{capture.name}: {count} packets", file=sys.stderr)
        measurements = done.get(capture.resolve())
        if measurements is None:
            # The whole command and tcptrace; the reader alone only on the compared capture.
            measurements = commands(capture, tcptrace, with_tshark=False)
            measurements = [m for m in measurements if m.name not in ("native-reader", "native-1")]
            interleaved(measurements, k)
        rows.append((capture.name, count, measurements))
    lines = [
        "| capture | packets | native wall (s) | native peak (MB) | reader wall (s) "
        "| reader peak (MB) | tcptrace wall (s) | tcptrace peak (MB) | native CPU (s) "
        "| tcptrace CPU (s) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, count, ms in rows:
        by = {m.name: m for m in ms}
        cells = []
        for key in ("native", "native-reader", "tcptrace"):
            if key not in by:
                cells += ["–", "–"]
                continue
            cells += [f"{by[key].median('wall_s'):.2f}", f"{by[key].median('peak_tree_mb'):.0f}"]
        cells += [f"{by[key].median('cpu_s'):.2f}" for key in ("native", "tcptrace")]
        lines.append(f"| {name} | {count:,} | " + " | ".join(cells) + " |")
    first, last = rows[0], rows[-1]
    extra = last[1] - first[1]
    for key in ("native", "tcptrace"):
        a = {m.name: m for m in first[2]}[key].median("peak_tree_mb")
        b = {m.name: m for m in last[2]}[key].median("peak_tree_mb")
        lines.append(f"- {key}: {(b - a) * 1e6 / extra:.0f} bytes of peak memory per packet "
                     f"({first[0]} → {last[0]})")  # fmt: skip
    return lines


def compiled() -> None:
    """The package's bytecode written, as pip writes it when it installs a package: an editable
    install under PYTHONDONTWRITEBYTECODE would otherwise compile every module in every run
    (about 0.1 s), which measures Python's compiler rather than pcapexplain."""
    package = Path(pcapexplain.__file__).parent
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(package)], check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("capture", type=Path, help="the capture the readers are compared on")
    parser.add_argument("-k", type=int, default=3, help="rounds (default 3)")
    parser.add_argument(
        "--growth", type=Path, nargs="+", default=[], help="captures of growing size"
    )
    parser.add_argument("--record", action="store_true", help="append to benchmarks/RESULTS.md")
    parser.add_argument("--no-tshark", action="store_true", help="leave out the tshark reader")
    args = parser.parse_args(argv)
    tcptrace = ensure_tcptrace()
    load_before = os.getloadavg()
    capture = args.capture
    subprocess.run(["cat", str(capture)], stdout=subprocess.DEVNULL, check=True)  # warm cache
    compiled()
    measurements = commands(capture, tcptrace, with_tshark=not args.no_tshark)
    interleaved(measurements, args.k)
    title = f"Readers on {capture.name}"
    lines = table(measurements) + [""] + ratios(measurements)
    lines += ["", "Commands:", ""] + [f"- {m.name}: `{m.shell()}`" for m in measurements]
    if args.growth:
        title += ", growth " + " → ".join(c.name for c in args.growth)
        lines += ["", "Growth with the packet count:", ""]
        lines += growth(args.growth, tcptrace, args.k, {capture.resolve(): measurements})
    load_after = os.getloadavg()
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    header = [f"### {title}, k = {args.k}, {stamp}", ""]
    footer = [
        "",
        f"Harness: `{Path(sys.executable).name} benchmarks/readers.py {capture} "
        f"{'--growth ' if args.growth else ''}{' '.join(str(c) for c in args.growth)} "
        f"-k {args.k}`",
        "",
        "Machine: "
        + "; ".join(f"{k} {v}" for k, v in run.machine().items() if "load" not in k)
        + "; load (1/5/15 min) before "
        f"{' '.join(f'{x:.2f}' for x in load_before)}, after "
        f"{' '.join(f'{x:.2f}' for x in load_after)}. " + run.load_remark(load_before),
        "",
    ]
    text = "\n".join(header + lines + footer)
    print(text)
    if args.record:
        with (HERE / "RESULTS.md").open("a", encoding="utf-8") as handle:
            handle.write("\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
