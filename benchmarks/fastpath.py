"""Benchmark: the TCP analysis with and without the fast path (tcpfast), CPU time.

Usage:
    python benchmarks/fastpath.py benchmarks/data/100k.pcap [-k 3]

Reads and decodes the capture once per round, then times `_Collected.columns` (the analysis and
the assembly of the columns) with the fast path and with the reference loop alone, in alternating
order, and prints the share of headers the fast path takes and the CPU seconds of each.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from pcapexplain import capfile, decode, native, tcpfast


def collected(path: Path) -> native._Collected:
    found = native._Collected()
    for block in capfile.read_records(path, capfile.FileSummary()):
        found.add(decode.decode(block, validate_checksums=False))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("capture", type=Path)
    parser.add_argument("-k", type=int, default=3, help="rounds (default 3)")
    args = parser.parse_args(argv)
    cpu: dict[bool, list[float]] = {True: [], False: []}
    for round_ in range(args.k):
        for fast in (True, False) if round_ % 2 == 0 else (False, True):
            found = collected(args.capture)
            began = time.process_time()
            found.columns(fast=fast)
            cpu[fast].append(time.process_time() - began)
    plain = tcpfast.split(collected(args.capture)._headers()).plain
    print(f"{args.capture.name}: {len(plain):,} headers, {plain.mean():.0%} on the fast path")
    for fast, label in ((True, "fast path + loop"), (False, "reference loop alone")):
        print(f"- {label}: {statistics.median(cpu[fast]):.2f} s CPU (median of {args.k})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
