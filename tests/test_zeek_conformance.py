"""Conformance with Zeek: every TCP connection of the Zeek corpus, conn_state and history.

The corpus (Zeek's own regression traces with Zeek's verdicts) lives outside the project; the
path comes from PCAPEXPLAIN_ZEEK_CORPUS and the tests skip, saying why, without it.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import pytest

from pcapexplain import loader, zeek

pytestmark = pytest.mark.tshark
TARGET = 0.98
DISAGREEMENTS = Path(__file__).with_name("zeek_disagreements.csv")

Key = tuple[tuple[str, int], tuple[str, int]]


def _compare(corpus: Path) -> tuple[int, dict[tuple[str, int], tuple[str, str, str]]]:
    """(rows, {(trace, row number): (expected, ours, history)} for every row that disagrees)."""
    traces = list(csv.DictReader((corpus / "traces.csv").open(encoding="utf-8")))
    expected = list(csv.DictReader((corpus / "expected.csv").open(encoding="utf-8")))
    wrong: dict[tuple[str, int], tuple[str, str, str]] = {}
    for info in traces:
        validated = info["zeek_checksums"] == "validated"
        capture = loader.load_capture(
            corpus / "traces" / info["trace"], validate_checksums=validated
        )
        ours: dict[Key, list[zeek.ZeekConn]] = defaultdict(list)
        for conn in zeek.zeek_connections(capture.packets, checksums_validated=validated):
            ours[(conn.orig, conn.resp)].append(conn)
        rows = [r for r in expected if r["trace"] == info["trace"]]
        for number, row in enumerate(rows):
            key = ((row["orig_h"], int(row["orig_p"])), (row["resp_h"], int(row["resp_p"])))
            found = ours[key].pop(0) if ours[key] else None
            got = (found.state().value, found.history_text()) if found else ("missing", "")
            if got != (row["conn_state"], row["history"]):
                wrong[(info["trace"], number)] = (row["conn_state"], *got)
    return len(expected), wrong


def _listed() -> dict[tuple[str, int], dict[str, str]]:
    rows = csv.DictReader(DISAGREEMENTS.open(encoding="utf-8"))
    return {(r["trace"], int(r["row"])): r for r in rows}


def test_conn_state_agrees_with_zeek(zeek_corpus: Path) -> None:
    total, wrong = _compare(zeek_corpus)
    state_wrong = {k: v for k, v in wrong.items() if v[0] != v[1]}
    agreement = 1 - len(state_wrong) / total
    assert total > 0
    assert agreement >= TARGET, f"{agreement:.1%} agreement; disagreements: {state_wrong}"


def test_every_disagreement_is_listed_with_a_reason(zeek_corpus: Path) -> None:
    """The list stays honest both ways: no unlisted difference, no listed one that now agrees."""
    _, wrong = _compare(zeek_corpus)
    listed = _listed()
    assert all(r["reason"].strip() for r in listed.values())
    assert sorted(wrong) == sorted(listed), f"differences now: {wrong}"
