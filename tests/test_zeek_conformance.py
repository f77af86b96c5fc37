"""Conformance with Zeek: the conn.log that `connections --format zeek` writes, row by row.

The corpus (Zeek's own regression traces with Zeek's verdicts) lives outside the project; the
path comes from PCAPEXPLAIN_ZEEK_CORPUS and the tests skip, saying why, without it. Each trace goes
through the shipped command, in the checksum mode Zeek used for it, and every row of the file
written is compared with Zeek's: conn_state, history, and the packet counts where Zeek logged them.

tests/zeek_sizes.csv adds the sizes of Zeek's conn.log for the same rows (duration, bytes, IP bytes,
missed bytes), copied from the conn.log baselines of the Zeek tests the corpus names (zeek/zeek,
testing/btest/Baseline/<zeek_test>/; BSD licence). Rows of one four-tuple are in Zeek's order.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import pytest

from tests import shipped

pytestmark = [pytest.mark.tshark, pytest.mark.slow]
TARGET = 0.98
DISAGREEMENTS = Path(__file__).with_name("zeek_disagreements.csv")
SIZES = Path(__file__).with_name("zeek_sizes.csv")
COMPARED = ("conn_state", "history", "orig_pkts", "resp_pkts")
SIZE_FIELDS = ("duration", "orig_bytes", "resp_bytes", "missed_bytes", "orig_ip_bytes",
               "resp_ip_bytes")  # fmt: skip

Key = tuple[str, str, str]  # (trace, row, field); row is Zeek's row number, or "extra ..." for ours
Difference = tuple[str, str]  # (Zeek's value, ours)


def _write_log(corpus: Path, info: dict[str, str], out: Path) -> list[dict[str, str]]:
    target = out / f"{info['trace']}.conn.log"
    checksums = ["--check-checksums"] if info["zeek_checksums"] == "validated" else []
    trace = str(corpus / "traces" / info["trace"])
    done = shipped.run("connections", trace, "--format", "zeek", "-o", str(target), *checksums)
    assert done.returncode == 0, done.stderr
    return shipped.read_conn_log(target)


def _compare(
    trace: str, expected: list[dict[str, str]], ours: list[dict[str, str]], sizes: _Sizes
) -> dict[Key, Difference]:
    by_tuple: dict[tuple[str, ...], list[dict[str, str]]] = defaultdict(list)
    for row in ours:
        by_tuple[(row["id.orig_h"], row["id.orig_p"], row["id.resp_h"], row["id.resp_p"])].append(
            row
        )
    wrong: dict[Key, Difference] = {}
    for number, row in enumerate(expected):
        key = (row["orig_h"], row["orig_p"], row["resp_h"], row["resp_p"])
        found = by_tuple[key].pop(0) if by_tuple[key] else None
        if found is None:
            wrong[(trace, str(number), "row")] = ("present", "missing")
            continue
        for name in COMPARED:
            if row[name] and row[name] != found[name]:
                wrong[(trace, str(number), name)] = (row[name], found[name])
        zeeks = sizes[(trace, *key)].pop(0) if sizes[(trace, *key)] else {}
        for name in SIZE_FIELDS:
            if name in zeeks and zeeks[name] != found[name]:
                wrong[(trace, str(number), name)] = (zeeks[name], found[name])
    for key, left in by_tuple.items():
        for row in left:
            wrong[(trace, f"extra {' '.join(key)}", "row")] = ("missing", row["history"])
    return wrong


_Sizes = dict[tuple[str, ...], list[dict[str, str]]]


def _sizes() -> _Sizes:
    sizes: _Sizes = defaultdict(list)
    for row in csv.DictReader(SIZES.open(encoding="utf-8")):
        sizes[(row["trace"], row["orig_h"], row["orig_p"], row["resp_h"], row["resp_p"])].append(
            row
        )
    return sizes


@pytest.fixture(scope="module")
def comparison(
    zeek_corpus: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[int, dict[Key, Difference]]:
    """(Zeek's row count, every difference) over the whole corpus, through the shipped command."""
    out = tmp_path_factory.mktemp("conn-logs")
    traces = list(csv.DictReader((zeek_corpus / "traces.csv").open(encoding="utf-8")))
    expected = list(csv.DictReader((zeek_corpus / "expected.csv").open(encoding="utf-8")))
    sizes = _sizes()
    wrong: dict[Key, Difference] = {}
    for info in traces:
        rows = [r for r in expected if r["trace"] == info["trace"]]
        wrong |= _compare(info["trace"], rows, _write_log(zeek_corpus, info, out), sizes)
    assert not any(sizes.values()), "zeek_sizes.csv has rows that the corpus does not"
    return len(expected), wrong


def test_conn_state_and_history_agree_with_zeek(
    comparison: tuple[int, dict[Key, Difference]],
) -> None:
    total, wrong = comparison
    rows_wrong = {(t, r) for t, r, name in wrong if name in ("row", "conn_state", "history")}
    agreement = 1 - len(rows_wrong) / total
    assert total > 0
    assert agreement >= TARGET, f"{agreement:.1%} of {total} rows agree; differences: {wrong}"


def test_sizes_agree_with_zeek(comparison: tuple[int, dict[Key, Difference]]) -> None:
    _, wrong = comparison
    checked = sum(len(rows) for rows in _sizes().values())
    differ = {key: v for key, v in wrong.items() if key[2] in SIZE_FIELDS}
    assert checked >= 50
    assert 1 - len({k[:2] for k in differ}) / checked >= TARGET, differ


def test_every_disagreement_is_listed_with_a_reason(
    comparison: tuple[int, dict[Key, Difference]],
) -> None:
    """The list stays honest both ways: no unlisted difference, no listed one that now agrees."""
    _, wrong = comparison
    listed = {
        (r["trace"], r["row"], r["field"]): r
        for r in csv.DictReader(DISAGREEMENTS.open(encoding="utf-8"))
    }
    assert all(r["reason"].strip() for r in listed.values())
    assert sorted(wrong) == sorted(listed), f"differences now: {wrong}"
    for key, (zeeks, ours) in wrong.items():
        assert (listed[key]["expected"], listed[key]["ours"]) == (zeeks, ours), key
