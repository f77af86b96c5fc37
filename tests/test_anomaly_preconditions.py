"""The checks' preconditions skip only connections on which a check finds nothing.

`anomalies.detect` runs a check only on the connections its precondition admits; with
`_EVERY_CHECK_EVERYWHERE` set it runs every check on every connection. Both must give the same
findings (slug, severity, connection, frames, params, order) on every capture that exercises the
checks: the sample captures (every slug among them), generated benchmark captures, those mutated
at random (records lost, duplicated, swapped), the Zeek corpus when it is there, and hand-built
packet lists.
"""

from __future__ import annotations

import inspect
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pcapexplain import anomalies, native
from pcapexplain.anomalies import preconditions
from pcapexplain.anomalies.context import Check, Context
from pcapexplain.model import Anomaly, AnomalySlug, Connection, PacketColumns, PacketStates
from pcapexplain.reconstructor import reconstruct
from tests import scenarios, test_anomalies
from tests.test_fastpaths import _mixed_capture

ROOT = Path(__file__).parent.parent
# Slugs that neither the sample captures (read natively) nor test_anomalies.py produce.
NOT_PRODUCED = [
    "acked-unseen-segment",
    "icmp-error",
    "length-unknown",
    "port-reused",
    "reset-unread-data",
    "spurious-retransmission",
    "time-wait-conflict",
]
SAMPLES = sorted((ROOT / "sample_captures").glob("*.pcap"))


def _both_ways(
    packets: PacketColumns, monkeypatch: pytest.MonkeyPatch
) -> tuple[list[Anomaly], list[Anomaly]]:
    connections, states = reconstruct(packets)
    skipping = anomalies.detect(packets, states, connections)
    with monkeypatch.context() as m:
        m.setattr(anomalies, "_EVERY_CHECK_EVERYWHERE", True)
        everywhere = anomalies.detect(packets, states, connections)
    return skipping, everywhere


def _same(packets: PacketColumns, monkeypatch: pytest.MonkeyPatch) -> list[Anomaly]:
    skipping, everywhere = _both_ways(packets, monkeypatch)
    as_found = [(a, a.severity, a.params) for a in skipping]
    assert as_found == [(a, a.severity, a.params) for a in everywhere]
    return skipping


def _generated(folder: Path, seed: int) -> Path:
    out = folder / f"generated_{seed}.pcap"
    subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "generate.py"), str(out)]
        + ["--connections", "300", "--seed", str(seed)],
        check=True,
        capture_output=True,
    )
    return out


def test_every_check_has_a_precondition() -> None:
    # A check without one would run on every connection: the cost this module exists to avoid.
    assert [c.__name__ for c in anomalies.CHECKS if c not in preconditions.PRECONDITIONS] == []


def test_sample_captures_give_the_same_findings(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: set[AnomalySlug] = set()
    for path in SAMPLES:
        seen.update(a.slug for a in _same(native.load_capture(str(path)).packets, monkeypatch))
    assert len(seen) >= 30  # the hand-built lists below add the rest


def test_hand_built_lists_of_the_anomaly_tests_give_the_same_findings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Every test of test_anomalies.py runs again, each of its detect calls made both ways.
    real = anomalies.detect
    seen: set[AnomalySlug] = set()

    def both_ways(
        packets: PacketColumns, states: PacketStates, connections: list[Connection]
    ) -> list[Anomaly]:
        skipping = real(packets, states, connections)
        with monkeypatch.context() as m:
            m.setattr(anomalies, "_EVERY_CHECK_EVERYWHERE", True)
            everywhere = real(packets, states, connections)
        assert [(a, a.severity, a.params) for a in skipping] == [
            (a, a.severity, a.params) for a in everywhere
        ]
        seen.update(a.slug for a in skipping)
        return skipping

    monkeypatch.setattr(anomalies, "detect", both_ways)
    tests = [
        test
        for name, test in vars(test_anomalies).items()
        if name.startswith("test_") and callable(test) and not inspect.signature(test).parameters
    ]
    assert len(tests) > 20
    for test in tests:
        test()
    samples: set[AnomalySlug] = set()
    for path in SAMPLES:
        packets = native.load_capture(str(path)).packets
        connections, states = reconstruct(packets)
        samples.update(a.slug for a in real(packets, states, connections))
    # Together with the sample captures, most slugs are compared somewhere.
    assert sorted(a.value for a in set(AnomalySlug) - seen - samples) == NOT_PRODUCED


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_generated_captures_give_the_same_findings(
    seed: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _generated(tmp_path, seed)
    found = _same(native.load_capture(str(path)).packets, monkeypatch)
    assert len({a.slug for a in found}) >= 8  # resets, resends, gaps, half-closes, ...
    for mutation in range(3):
        mutated = scenarios.mutate(
            path, tmp_path / f"mutated_{mutation}.pcap", seed * 10 + mutation
        )
        _same(native.load_capture(str(mutated)).packets, monkeypatch)


def _mutated_samples(folder: Path) -> Iterator[Path]:
    for path in SAMPLES:
        for seed in range(2):
            yield scenarios.mutate(path, folder / f"{path.stem}_{seed}.pcap", seed)


def test_mutated_sample_captures_give_the_same_findings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for path in _mutated_samples(tmp_path):
        _same(native.load_capture(str(path)).packets, monkeypatch)


def test_zeek_corpus_gives_the_same_findings(
    zeek_corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    traces = sorted((zeek_corpus / "traces").glob("*.pcap*"))
    assert traces
    for path in traces:
        _same(native.load_capture(str(path)).packets, monkeypatch)


def test_hand_built_lists_give_the_same_findings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    found = _same(_mixed_capture(), monkeypatch)
    assert found
    for name in scenarios.SCENARIOS:
        _same(native.load_capture(str(scenarios.build(name, tmp_path))).packets, monkeypatch)


def test_the_preconditions_skip_most_checks_on_ordinary_connections(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Counted by wrapping every check: the skip is real, not only an equal result.
    packets = native.load_capture(str(_generated(tmp_path, 4))).packets
    connections, states = reconstruct(packets)
    calls: list[str] = []

    def counted(check: Check) -> Check:
        def run(ctx: Context) -> Iterator[Anomaly]:
            calls.append(check.__name__)
            yield from check(ctx)

        monkeypatch.setitem(preconditions.PRECONDITIONS, run, preconditions.PRECONDITIONS[check])
        return run

    monkeypatch.setattr(anomalies, "CHECKS", tuple(counted(c) for c in anomalies.CHECKS))
    anomalies.detect(packets, states, connections)
    assert 0 < len(calls) < len(connections) * len(anomalies.CHECKS) / 4
