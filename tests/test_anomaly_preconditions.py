"""The checks' preconditions skip only connections on which a check finds nothing.

`anomalies.detect` runs a check only on the connections its precondition admits; with
`_EVERY_CHECK_EVERYWHERE` set it runs every check on every connection. Both must give the same
findings (slug, severity, connection, frames, params, order) on every capture that exercises the
checks: the sample captures, generated benchmark captures, both mutated at random (records lost,
duplicated, swapped), the Zeek corpus when it is there, and the hand-built packet lists of
test_anomalies.py (which, with the samples, produce all but the slugs in NOT_PRODUCED).
"""

from __future__ import annotations

import inspect
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from pcapexplain import anomalies, native, retransmission
from pcapexplain.anomalies import preconditions
from pcapexplain.anomalies.context import LOOK_BACK, RST, SYN, Check, Context
from pcapexplain.model import (
    AnalysisFlag,
    Anomaly,
    AnomalySlug,
    Connection,
    PacketColumns,
    PacketStates,
    TcpFlags,
)
from pcapexplain.reconstructor import reconstruct
from pcapexplain.seqspace import segment_end, seq_gt
from tests import scenarios, test_anomalies
from tests.builders import ACK, PSH, Conversation
from tests.test_fastpaths import _mixed_capture

ROOT = Path(__file__).parent.parent
# Slugs that neither the sample captures (read natively) nor test_anomalies.py produce.
NOT_PRODUCED = [
    "acked-unseen-segment",
    "icmp-error",
    "length-unknown",
]
SAMPLES = sorted((ROOT / "sample_captures").glob("*.pcap"))


def _same(packets: PacketColumns, monkeypatch: pytest.MonkeyPatch) -> list[Anomaly]:
    """The findings with the preconditions, once shown equal to those without."""
    connections, states = reconstruct(packets)
    skipping = anomalies.detect(packets, states, connections)
    with monkeypatch.context() as m:
        m.setattr(anomalies, "_EVERY_CHECK_EVERYWHERE", True)
        everywhere = anomalies.detect(packets, states, connections)
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


def _next_seq_one_by_one(ctx: Context, row: int, direction: int) -> int | None:
    """next(sender) as a walk back over one direction's rows, one row at a time."""
    index, p = list(ctx.c.packet_index), ctx.p
    isn = ctx.c.client_isn if direction == 0 else ctx.c.server_isn
    best: int | None = None
    pos = index.index(row)
    for r in reversed(index[max(pos - LOOK_BACK, 0) : pos]):
        if ctx.s.direction[r] != direction or p.flags[r] & RST:
            continue
        if p.flags[r] & SYN and p.seq[r] != isn:
            continue
        e = segment_end(p.seq[r], p.length[r], p.flags[r])
        best = e if best is None or seq_gt(e, best) else best
    return best


def _long_connection() -> PacketColumns:
    """More rows than LOOK_BACK, with resent data and a RST at the end."""
    c = Conversation()
    c.handshake()
    for k in range(200):
        c.data(c.client, 1000)
        c.ack(c.server)
        if k % 50 == 7:
            c.send(c.client, ACK | PSH, 1000, seq=c.next[c.client] - 1000)
    c.rst(c.server)
    return c.columns()


def test_next_seq_of_both_directions_in_one_walk_matches_one_at_a_time(tmp_path: Path) -> None:
    # Long connections (past LOOK_BACK rows), resends, SYNs with another ISN, RSTs.
    paths = [_generated(tmp_path, 5), *SAMPLES]
    paths.append(scenarios.mutate(paths[0], tmp_path / "mutated.pcap", 5))
    asked = 0
    for packets in [
        _long_connection(),
        *(native.load_capture(str(path)).packets for path in paths),
    ]:
        connections, states = reconstruct(packets)
        for conn in connections:
            ctx = Context(packets, states, conn, [], packets.time[-1])
            for row in conn.packet_index:
                for direction in (1, 0):
                    expected = _next_seq_one_by_one(ctx, row, direction)
                    assert ctx.next_seq(row, direction) == expected
                    asked += expected is not None
    assert asked > 10_000


def test_may_be_try_over_columns_is_its_value_per_packet() -> None:
    # The stall checks' precondition asks it of whole columns, _is_try of one packet at a time.
    flag_values = [int(f) for f in TcpFlags] + [0, int(TcpFlags.SYN | TcpFlags.ACK)]
    bit_values = [int(b) for b in AnalysisFlag] + [0, retransmission.TRIED_AGAIN]
    pairs = [(f, b) for f in flag_values for b in bit_values]
    flags = np.array([f for f, _ in pairs], dtype=np.int64)
    bits = np.array([b for _, b in pairs], dtype=np.int64)
    each = [bool(retransmission.may_be_try(f, b)) for f, b in pairs]
    assert retransmission.may_be_try(flags, bits).tolist() == each
    assert any(each) and not all(each)
