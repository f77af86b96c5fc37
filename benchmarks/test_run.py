"""Benchmark harness checks: the memory sampler sees the whole process tree, at the same moment.

Run with `.venv/bin/pytest benchmarks/test_run.py -q` (not part of the main suite).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run  # noqa: E402

# Two children of a shell each hold 150 MB at the same time; the shell itself holds little.
HOLD = "import time; x = bytearray(150_000_000); x[::4096] = b'1' * len(x[::4096]); time.sleep(1)"


def test_peak_sums_descendants_alive_together() -> None:
    script = f'"{sys.executable}" -c "{HOLD}" & "{sys.executable}" -c "{HOLD}" & wait'
    result = run.measure(["/bin/sh", "-c", script])
    assert result.returncode == 0
    pythons = [mb for key, mb in result.peak_by_process.items() if not key.startswith("sh[")]
    assert len(pythons) == 2 and all(mb > 150 for mb in pythons)
    assert result.peak_tree_mb > 300  # both at once, plus the shell
    assert result.peak_tree_mb <= sum(result.peak_by_process.values()) + 1
    assert 1.0 <= result.wall_s < 10 and result.samples >= 10


def test_failed_command_reports_its_status() -> None:
    assert run.measure(["/bin/sh", "-c", "exit 3"]).returncode == 3


def test_fallback_fields_match_the_loader_contract() -> None:
    fields = run.FALLBACK_FIELDS
    assert len(fields) == len(set(fields)) == 39
    assert sum(f.startswith("tcp.analysis.") for f in fields) == 15
    assert fields[0] == "frame.number" and fields[-1] == "tcp.stream"
