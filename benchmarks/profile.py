"""Benchmark diagnosis: where the Python side of `pcapexplain connections` spends its time.

Usage:
    python benchmarks/profile.py FILE [--top 30] [--save OUT.prof]

Runs the `connections` command in-process under cProfile (tshark still runs as a child; time the
loader spends blocked on its pipe shows up under the read calls), and prints the functions with
the most own time and the most cumulative time.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import pstats
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("capture", type=Path)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--save", type=Path, help="also save the raw profile here")
    args = parser.parse_args(argv)
    from pcapexplain.cli import main as cli_main

    cli_args = ["connections", str(args.capture), "--format", "csv", "-o", "/dev/null"]
    profiler = cProfile.Profile()
    began = time.perf_counter()
    profiler.enable()
    with contextlib.suppress(SystemExit):
        cli_main(cli_args)
    profiler.disable()
    print(f"wall {time.perf_counter() - began:.2f} s under cProfile", file=sys.stderr)
    if args.save:
        profiler.dump_stats(str(args.save))
    for key in ("tottime", "cumulative"):
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats(key).print_stats(args.top)
        print(f"## sorted by {key}\n{text.getvalue()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
