"""The anomaly stage's answers made once for many rows equal those made one row at a time.

`lookback.known` answers Context.next_seq and teardown's usual TTL for the rows the checks ask
about with whole-array passes; `Gathered.where` answers Context.where once per question for every
connection; `retransmission.evidence_of` weighs resent segments from lists built with a few
comprehensions.
Each is compared here with its row-by-row reference, and `detect` with all of them switched off.
"""

from __future__ import annotations

from bisect import bisect_right, insort
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pcapexplain import anomalies, native, retransmission
from pcapexplain.anomalies import context, lookback, teardown
from pcapexplain.model import (
    NO_VALUE,
    RETRANSMITTED,
    AnalysisFlag,
    Connection,
    PacketColumns,
    PacketStates,
)
from pcapexplain.reconstructor import reconstruct
from pcapexplain.seqspace import HALF, seq_sub
from tests import scenarios
from tests.builders import ACK, PSH, RST, Conversation
from tests.test_anomaly_preconditions import SAMPLES, _generated, _long_connection
from tests.test_fastpaths import _mixed_capture

F = AnalysisFlag


def _captures(folder: Path) -> list[PacketColumns]:
    generated = _generated(folder, 6)
    paths = [generated, scenarios.mutate(generated, folder / "mutated.pcap", 6), *SAMPLES]
    return [
        _long_connection(),
        _mixed_capture(),
        _wrapping(),
        _ttls(),
        *(native.load_capture(str(p)).packets for p in paths),
    ]


def _wrapping() -> PacketColumns:
    """A client whose segments lie more than half the sequence space apart, then a RST: "later"
    orders them no longer, and the answer depends on the order the walk meets them."""
    c = Conversation()
    c.handshake()
    c.data(c.client, 100)
    c.send(c.client, ACK | PSH, 100, seq=c.next[c.client] + HALF + 5000)
    c.send(c.client, ACK | PSH, 100, seq=c.next[c.client] + HALF // 2)
    c.ack(c.server)
    c.send(c.server, RST | ACK, analysis=int(F.LOST_SEGMENT))
    return c.columns()


def _ttls() -> PacketColumns:
    """RSTs after packets whose TTL is unknown (left out) or differs (no usual TTL)."""
    c = Conversation()
    c.handshake()
    c.send(c.client, ACK | PSH, 100, ttl=NO_VALUE)
    c.ack(c.server)
    c.send(c.server, ACK | PSH, 100, ttl=50)
    c.ack(c.client)
    c.rst(c.client)
    c.rst(c.server)
    return c.columns()


def test_next_seq_answered_at_once_matches_the_walk(tmp_path: Path) -> None:
    answered = 0
    for packets in _captures(tmp_path):
        connections, states = reconstruct(packets)
        rows = list(range(len(packets)))
        known = lookback.known(packets, states, connections, rows).next_seqs
        for conn in connections:
            ctx = context.Context(packets, states, conn, [], packets.time[-1])
            for row in conn.packet_index:
                for d in (0, 1):
                    if (row, d) in known:
                        answered += 1
                        assert known[(row, d)] == ctx.next_seq(row, d), (row, d)
    assert answered > 10_000


def test_usual_ttl_answered_at_once_matches_the_walk(tmp_path: Path) -> None:
    agreed = disagreed = 0
    for packets in _captures(tmp_path):
        connections, states = reconstruct(packets)
        # Rows of every kind: RSTs are what the check asks about, the others widen the test.
        known = lookback.known(packets, states, connections, list(range(len(packets))))
        for conn in connections:
            ctx = context.Context(packets, states, conn, [], packets.time[-1])
            for row in conn.packet_index:
                expected = teardown._usual_ttl(ctx, row)
                assert known.usual_ttls[row] == expected, row
                agreed += expected is not None
                disagreed += expected is None
    assert agreed > 10_000
    assert disagreed > 100


def test_next_seq_leaves_ends_half_the_space_apart_to_the_walk() -> None:
    packets = _wrapping()
    connections, states = reconstruct(packets)
    rst = len(packets) - 1
    known = lookback.known(packets, states, connections, [rst]).next_seqs
    assert (rst, 0) not in known  # the client's ends: more than half the space apart
    assert (rst, 1) in known
    ctx = context.Context(packets, states, connections[0], [], packets.time[-1], next_seqs=known)
    walked = context.Context(packets, states, connections[0], [], packets.time[-1])
    assert ctx.next_seq(rst, 0) == walked.next_seq(rst, 0) is not None


def _where_one_by_one(ctx: context.Context, bits: int, flags: int) -> list[int]:
    p = ctx.p
    return [r for r in ctx.rows if p.analysis[r] & bits or p.flags[r] & flags]


def test_where_answered_for_all_connections_matches_a_scan_of_each(tmp_path: Path) -> None:
    questions = [
        (int(RETRANSMITTED | F.OUT_OF_ORDER), 0),
        (int(F.LOST_SEGMENT), 0),
        (int(F.DUPLICATE_ACK), 0),
        (0, int(RST)),
        (int(F.WINDOW_FULL), int(RST)),
    ]
    hits = 0
    for packets in _captures(tmp_path):
        connections, states = reconstruct(packets)
        min_mss = anomalies.capture_wide(packets, states, connections).min_mss
        notable = context.gather_columns(packets, states, connections, min_mss)
        for conn in connections:
            rows = notable.rows[notable.starts[conn.id] : notable.starts[conn.id + 1]]
            ctx = context.Context(packets, states, conn, rows, 0.0, notable=notable)
            for bits, flags in questions:
                found = ctx.where(bits=bits, flags=flags)
                assert found == _where_one_by_one(ctx, bits, flags)
                hits += len(found)
    assert hits > 1000


@dataclass
class _Segment:
    length: int
    row: int
    dup_acks: int
    sack_acks: int
    cut: int


@dataclass
class _Side:
    base: int | None = None
    by_offset: dict[int, _Segment] = field(default_factory=dict)
    offsets: list[int] = field(default_factory=list)
    dup_acks_seen: int = 0
    sack_acks_seen: int = 0
    cut_seen: int = 0


def _evidence_row_by_row(
    packets: PacketColumns, conn: Connection, states: PacketStates, wanted: list[int]
) -> dict[int, tuple[retransmission.Cause, int | None, float, int, int, int]]:
    """The resend evidence by a walk over every row, indexing each segment as it goes by."""
    sides = {0: _Side(), 1: _Side()}
    found: dict[int, tuple[retransmission.Cause, int | None, float, int, int, int]] = {}
    for row in conn.packet_index:
        d = states.direction[row]
        own, peer = sides[d], sides[1 - d]
        if row in wanted:
            best = None
            if own.base is not None:
                offset = seq_sub(packets.seq[row], own.base)
                k = bisect_right(own.offsets, offset)
                for start in own.offsets[max(k - retransmission.OVERLAP_SCAN, 0) : k]:
                    seg = own.by_offset[start]
                    if offset - start < seg.length and (best is None or seg.row > best.row):
                        best = seg
            spurious = packets.analysis[row] & int(F.SPURIOUS_RETRANSMISSION)
            if best is None:
                cause = retransmission.Cause.SPURIOUS if spurious else retransmission.Cause.UNKNOWN
                found[row] = (cause, None, 0.0, 0, 0, 0)
            else:
                dup = own.dup_acks_seen - best.dup_acks
                sack = own.sack_acks_seen - best.sack_acks
                cut = own.cut_seen - best.cut
                delay = max(packets.time[row] - packets.time[best.row], 0.0)
                cause = (
                    retransmission.Cause.SPURIOUS
                    if spurious
                    else retransmission._cause(dup, sack, cut, delay)
                )
                found[row] = (cause, best.row, delay, dup, sack, cut)
        peer.dup_acks_seen += bool(packets.analysis[row] & int(F.DUPLICATE_ACK))
        peer.sack_acks_seen += bool(packets.sack[row])
        peer.cut_seen += bool(packets.header_cut[row])
        if packets.length[row]:
            if own.base is None:
                own.base = packets.seq[row]
            offset = seq_sub(packets.seq[row], own.base)
            if offset not in own.by_offset:
                insort(own.offsets, offset)
            seen = (own.dup_acks_seen, own.sack_acks_seen, own.cut_seen)
            own.by_offset[offset] = _Segment(packets.length[row], row, *seen)
    return found


def test_resend_evidence_matches_a_walk_over_every_row(tmp_path: Path) -> None:
    weighed = 0
    causes: set[retransmission.Cause] = set()
    for packets in _captures(tmp_path):
        connections, states = reconstruct(packets)
        for conn in connections:
            resent = [r for r in conn.packet_index if packets.analysis[r] & RETRANSMITTED]
            if not resent:
                continue
            got = retransmission.evidence_of(
                packets, conn.packet_index, states.direction, resent, None
            )
            expected = _evidence_row_by_row(packets, conn, states, resent)
            assert {
                r: (e.cause, e.previous, e.delay, e.dup_acks, e.sack_acks, e.cut)
                for r, e in got.items()
            } == expected
            weighed += len(got)
            causes.update(e.cause for e in got.values())
    assert weighed > 500
    assert len(causes) >= 4


def _without_batches(*args: object, **kwargs: object) -> context.Context:
    kwargs.pop("notable")
    kwargs.pop("next_seqs")
    kwargs.pop("usual_ttls")
    return context.Context(*args, **kwargs)  # type: ignore[arg-type]


def test_detect_finds_the_same_without_the_batched_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for packets in _captures(tmp_path):
        connections, states = reconstruct(packets)
        fast = anomalies.detect(packets, states, connections)
        with monkeypatch.context() as m:
            m.setattr(anomalies, "Context", _without_batches)
            m.setattr(lookback, "_ENABLED", False)
            slow = anomalies.detect(packets, states, connections)
        assert [(a, a.severity, a.params) for a in fast] == [
            (a, a.severity, a.params) for a in slow
        ]
