"""Benchmark diagnosis: time and memory of each stage of `pcapexplain connections --format csv`.

Usage:
    python benchmarks/stages.py benchmarks/data/1m.pcap [--reader native] [--profile STAGE]

Runs the stages one after the other in this process (the command runs them in a process per
core, reading included) and prints per stage:
wall and CPU time, the process's resident memory after it, the peak during it (sampled every
20 ms by a thread), and what it added per packet. --profile STAGE also prints cProfile's top
functions of that stage.
"""

from __future__ import annotations

import sys
from pathlib import Path

# benchmarks/profile.py would shadow the standard library's profile module that cProfile imports.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import cProfile  # noqa: E402
import io  # noqa: E402
import os  # noqa: E402
import pstats  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mb() -> float:
    with open("/proc/self/statm", "rb") as f:
        return int(f.read().split()[1]) * PAGE / 1e6


class Peak:
    """The highest resident memory seen while a stage runs."""

    def __init__(self) -> None:
        self.value = rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.wait(0.02):
            self.value = max(self.value, rss_mb())

    def __enter__(self) -> Peak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.value = max(self.value, rss_mb())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("capture", type=Path)
    parser.add_argument("--reader", default="native", choices=("native", "tshark"))
    parser.add_argument("--profile", help="cProfile this stage (read, reconstruct, ...)")
    args = parser.parse_args(argv)

    from pcapexplain import anomalies, output, readers, reconstructor, records, zeek_views
    from pcapexplain.model import CaptureAnalysis, Reader

    state: dict[str, Any] = {}

    def read() -> None:
        # As `connections` reads: its outputs never show the file's SHA-256.
        state["capture"] = readers.load(args.capture, reader=Reader(args.reader), digest=False)

    def reconstruct() -> None:
        state["connections"], state["states"] = reconstructor.reconstruct(state["capture"].packets)

    def detect() -> None:
        packets = state["capture"].packets
        state["anomalies"] = anomalies.detect(packets, state["states"], state["connections"])

    def zeek_view() -> None:
        state["zeek"] = zeek_views.verdicts(state["capture"].packets, state["connections"])

    def rows() -> None:
        capture = state["capture"]
        result = CaptureAnalysis(
            capture.info,
            capture.packets,
            state["states"],
            state["connections"],
            state["anomalies"],
            state["zeek"],
        )
        state["rows"] = records.connection_records(result, "x")

    def write() -> None:
        # What `connections --format csv -o FILE` does with the records: flat rows, CSV, written
        # to a temporary file then renamed.
        with tempfile.TemporaryDirectory(prefix="stages-") as folder:
            target = Path(folder) / "connections.csv"
            output.atomic_write(target, lambda handle: records.write_csv(state["rows"], handle))

    stages: list[tuple[str, Callable[[], None]]] = [
        ("read", read), ("reconstruct", reconstruct), ("anomalies", detect),
        ("zeek", zeek_view), ("rows", rows), ("csv", write),
    ]  # fmt: skip
    print(f"start: {rss_mb():.0f} MB resident (Python and imports)")
    print("| stage | wall (s) | CPU (s) | RSS after (MB) | peak during (MB) | added (B/packet) |")
    print("|---|---:|---:|---:|---:|---:|")
    packets = 0
    for name, stage in stages:
        before = rss_mb()
        profiler = cProfile.Profile() if args.profile == name else None
        with Peak() as peak:
            began, cpu = time.perf_counter(), time.process_time()
            if profiler:
                profiler.enable()
            stage()
            if profiler:
                profiler.disable()
            wall, used = time.perf_counter() - began, time.process_time() - cpu
        packets = packets or len(state["capture"].packets)
        added = (rss_mb() - before) * 1e6 / packets
        print(f"| {name} | {wall:.2f} | {used:.2f} | {rss_mb():.0f} | {peak.value:.0f} | "
              f"{added:.0f} |")  # fmt: skip
        if profiler:
            text = io.StringIO()
            pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(25)
            print(text.getvalue(), file=sys.stderr)
    print(f"{packets:,} TCP packets, {len(state['connections']):,} connections")
    return 0


if __name__ == "__main__":
    sys.exit(main())
