"""report_size.py --record files each run under "## Report size", whatever follows that section.

Run with `.venv/bin/pytest benchmarks/test_report_size.py -q` (not part of the main suite).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import report_size  # noqa: E402

RUN_A = "### HTML report of a.pcap, k = 1\n\n| a |\n"
RUN_B = "### HTML report of b.pcap, k = 1\n\n| b |\n"


def test_first_run_creates_the_section_at_the_end(tmp_path: Path) -> None:
    results = tmp_path / "RESULTS.md"
    results.write_text("# Benchmark results\n\nintro\n")
    report_size.record(results, RUN_A)
    assert results.read_text() == (
        "# Benchmark results\n\nintro\n\n## Report size\n\n### HTML report of a.pcap, k = 1\n"
        "\n| a |\n"
    )


def test_later_runs_go_after_the_earlier_ones_not_after_other_sections(tmp_path: Path) -> None:
    results = tmp_path / "RESULTS.md"
    results.write_text(f"# Results\n\n## Report size\n\n{RUN_A}\n### 1m.pcap, k = 3\n\n| x |\n")
    report_size.record(results, RUN_B)
    text = results.read_text()
    assert text.index("a.pcap") < text.index("b.pcap") < text.index("1m.pcap")
    assert "\n\n\n" not in text
    assert text.endswith("### 1m.pcap, k = 3\n\n| x |\n")


def test_a_missing_file_gets_just_the_section(tmp_path: Path) -> None:
    results = tmp_path / "RESULTS.md"
    report_size.record(results, RUN_A)
    assert results.read_text().startswith("## Report size\n\n### HTML report of a.pcap")
