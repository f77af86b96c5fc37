"""Robustness on tcpdump's test captures: odd link types, malformed and truncated packets.

The corpus lives outside the project (PCAPEXPLAIN_TCPDUMP_CORPUS; its README.md and files.csv
describe it). Every file goes through the shipped `pcapexplain connections FILE --format json`, as
a user would run it: it must end in time, with exit 0 and valid JSON or exit 1 and the documented
two-line error, never a traceback. Where tshark counts the file's TCP streams (files.csv), the
connection count must be the same, or the difference listed with its reason in
tests/tcpdump_connection_counts.csv.
"""

from __future__ import annotations

import csv
import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import shipped

pytestmark = [pytest.mark.tshark, pytest.mark.slow]
TIMEOUT = 120.0  # seconds per file; the largest takes a few seconds on an idle machine
WORKERS = 2
LISTED = Path(__file__).with_name("tcpdump_connection_counts.csv")


@dataclass(frozen=True)
class Outcome:
    trace: str
    tshark_streams: int
    returncode: int | None  # None: still running at TIMEOUT, then killed
    stdout: str
    stderr: str


def _run(corpus: Path, info: dict[str, str]) -> Outcome:
    streams = int(info["tshark_tcp_streams"])
    path = str(corpus / "traces" / info["trace"])
    try:
        done = shipped.run("connections", path, "--format", "json", timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return Outcome(info["trace"], streams, None, "", "")
    return Outcome(info["trace"], streams, done.returncode, done.stdout, done.stderr)


@pytest.fixture(scope="module")
def outcomes(tcpdump_corpus: Path) -> list[Outcome]:
    files = list(csv.DictReader((tcpdump_corpus / "files.csv").open(encoding="utf-8")))
    assert files, "files.csv lists no capture"
    with ThreadPoolExecutor(WORKERS) as pool:
        return list(pool.map(lambda info: _run(tcpdump_corpus, info), files))


def _error_lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if not ln.startswith("pcapexplain: warning: ")]


def test_no_file_hangs(outcomes: list[Outcome]) -> None:
    hung = [o.trace for o in outcomes if o.returncode is None]
    assert not hung, f"still running after {TIMEOUT:.0f} s: {hung}"


def test_no_traceback_and_only_the_documented_exits(outcomes: list[Outcome]) -> None:
    bad = {
        o.trace: (o.returncode, o.stderr[-400:])
        for o in outcomes
        if o.returncode is not None and (o.returncode not in (0, 1) or "Traceback" in o.stderr)
    }
    assert not bad, bad


def test_an_error_is_one_line_and_a_hint(outcomes: list[Outcome]) -> None:
    bad = {}
    for o in outcomes:
        if o.returncode != 1:
            continue
        lines = _error_lines(o.stderr)
        if not (
            len(lines) == 2
            and lines[0].startswith("pcapexplain: error: ")
            and lines[1].startswith("hint: ")
        ):
            bad[o.trace] = o.stderr
    assert not bad, bad


def test_success_prints_json_connections(outcomes: list[Outcome]) -> None:
    for o in outcomes:
        if o.returncode == 0:
            connections = json.loads(o.stdout)
            assert isinstance(connections, list), o.trace
            assert [c["id"] for c in connections] == list(range(len(connections))), o.trace


def _counts(outcomes: list[Outcome]) -> dict[str, tuple[int, int]]:
    """{trace: (tshark's streams, ours)} for every file read whose counts differ."""
    counts = {}
    for o in outcomes:
        if o.returncode == 0:
            ours = len(json.loads(o.stdout))
            if ours != o.tshark_streams:
                counts[o.trace] = (o.tshark_streams, ours)
        elif o.returncode == 1 and o.tshark_streams:
            counts[o.trace] = (o.tshark_streams, 0)
    return counts


def test_connection_counts_match_tshark_or_are_explained(outcomes: list[Outcome]) -> None:
    """Same number as tshark's tcp.stream count, unless the list says why not; the list stays
    honest both ways (a listed file that now agrees fails too)."""
    listed = {r["trace"]: r for r in csv.DictReader(LISTED.open(encoding="utf-8"))}
    assert all(r["reason"].strip() for r in listed.values())
    differ = _counts(outcomes)
    assert sorted(differ) == sorted(listed), f"differences now: {differ}"
    for trace, (theirs, ours) in differ.items():
        expected = (int(listed[trace]["tshark_streams"]), int(listed[trace]["ours"]))
        assert (theirs, ours) == expected, trace
