"""Whole-column passes and skips of the pure stages, checked against their row-by-row reference.

The anomaly stage gathers notable rows with numpy and lets checks return at once when no notable
row carries what they look for; the reconstructor counts packets, bytes and resends per direction
with numpy. Each must give exactly what the plain loop over every row gives.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pcapexplain import anomalies, native, outcomes
from pcapexplain.anomalies import context
from pcapexplain.endpoints import Side
from pcapexplain.model import (
    RETRANSMITTED,
    AnalysisFlag,
    ChecksumStatus,
    Connection,
    PacketColumns,
    PacketRole,
    PacketStates,
    TcpFlags,
)
from pcapexplain.reconstructor import reconstruct
from tests.builders import ACK, PSH, RST, SYN, Conversation, merged

F = AnalysisFlag
SAMPLES = sorted((Path(__file__).parent.parent / "sample_captures").glob("*.pcap"))
_CTRL = int(TcpFlags.SYN | TcpFlags.ACK | TcpFlags.FIN | TcpFlags.RST)
_BAD = int(ChecksumStatus.BAD)


def _mixed_capture() -> PacketColumns:
    """Several connections interleaved: oversize data, data after FIN and RST, resends, a zero
    window, a keep-alive, a bad checksum, an illegal flag combination."""
    half = Conversation(client=("10.0.0.1", 40001), clock=0.001)
    half.handshake()
    half.data(half.client, 1500)  # above the server's MSS of 1400
    half.fin(half.client)
    half.ack(half.server)
    half.data(half.server, 300)  # data after the peer's FIN
    half.send(
        half.server,
        ACK | PSH,
        300,
        analysis=int(F.RETRANSMISSION),
        seq=half.next[half.server] - 300,
    )
    half.fin(half.server)
    half.ack(half.client)
    reset = Conversation(client=("10.0.0.3", 40002), clock=0.002)
    reset.handshake()
    reset.data(reset.client, 200)
    reset.rst(reset.client)
    reset.data(reset.client, 100)  # data after its own RST
    window = Conversation(client=("10.0.0.4", 40003), clock=0.003)
    window.handshake()
    window.data(window.client, 1000)
    window.send(window.server, ACK, window=0, analysis=int(F.ZERO_WINDOW))
    window.send(window.client, ACK, seq=window.next[window.client] - 1, analysis=int(F.KEEP_ALIVE))
    window.send(window.server, ACK, window=4096, analysis=int(F.WINDOW_UPDATE))
    window.send(window.client, SYN | RST)
    window.data(window.client)
    plain = Conversation(client=("10.0.0.5", 40004), clock=0.004)
    plain.handshake()
    for _ in range(5):
        plain.data(plain.client, 1300)
        plain.ack(plain.server)
    packets = merged(half, reset, window, plain)
    bad = int(ChecksumStatus.BAD)
    packets.tcp_checksum = [bad if i == len(packets) - 3 else 0 for i in range(len(packets))]
    return packets


def _captures() -> list[PacketColumns]:
    return [_mixed_capture(), *(native.load_capture(str(p)).packets for p in SAMPLES)]


def _min_mss(packets: PacketColumns, states: PacketStates, connections: list[Connection]) -> int:
    return anomalies.capture_wide(packets, states, connections).min_mss


def _reference_notable(
    packets: PacketColumns, states: PacketStates, connections: list[Connection]
) -> dict[int, list[int]]:
    """The row-by-row rule: analysis bits, any flag but a lone ACK, a bad checksum, more payload
    than the smallest MSS, or data after a FIN or RST of the same connection."""
    notable: dict[int, list[int]] = {c.id: [] for c in connections}
    known = [o.mss for c in connections for o in (c.client_options, c.server_options) if o.mss]
    min_mss = min(known, default=1 << 30)
    closed: set[int] = set()
    for row in range(len(packets)):
        cid, flags, length = states.connection[row], packets.flags[row], packets.length[row]
        if (
            packets.analysis[row]
            or (flags & _CTRL) != int(TcpFlags.ACK)
            or packets.tcp_checksum[row] == _BAD
            or length > min_mss
        ):
            if flags & int(TcpFlags.FIN | TcpFlags.RST):
                closed.add(cid)
        elif not (length and cid in closed):
            continue
        notable[cid].append(row)
    return notable


@pytest.mark.parametrize("packets", _captures(), ids=["mixed", *(p.name for p in SAMPLES)])
def test_gathered_rows_and_what_they_carry_match_the_row_by_row_rule(
    packets: PacketColumns,
) -> None:
    connections, states = reconstruct(packets)
    gathered = context.gather(packets, states, connections, _min_mss(packets, states, connections))
    reference = _reference_notable(packets, states, connections)
    assert {cid: n.rows for cid, n in gathered.items()} == reference
    for cid, rows in reference.items():
        n = gathered[cid]
        flags = bits = 0
        for r in rows:
            flags, bits = flags | packets.flags[r], bits | packets.analysis[r]
        assert (n.flags, n.bits) == (flags, bits)
        assert n.bad_checksum == any(packets.tcp_checksum[r] == _BAD for r in rows)
        assert n.zero_window == any(packets.window[r] == 0 for r in rows)


def test_the_mixed_capture_exercises_every_kind_of_notable_row() -> None:
    packets = _mixed_capture()
    connections, states = reconstruct(packets)
    gathered = context.gather(packets, states, connections, _min_mss(packets, states, connections))
    assert len(connections) == 4
    assert any(n.bad_checksum for n in gathered.values())
    assert any(n.zero_window for n in gathered.values())
    # Some connections carry what a check looks for and some do not: both paths are taken.
    assert {bool(n.flags & int(TcpFlags.RST)) for n in gathered.values()} == {True, False}
    assert {bool(n.bits & int(F.RETRANSMISSION)) for n in gathered.values()} == {True, False}
    assert {a.slug.value for a in anomalies.detect(packets, states, connections)} >= {
        "half-close",
        "data-after-reset",
        "zero-window",
        "illegal-flags",
        "segment-exceeds-mss",
        "retransmission",
    }


@pytest.mark.parametrize("packets", _captures(), ids=["mixed", *(p.name for p in SAMPLES)])
def test_checks_find_the_same_without_the_shortcuts(
    packets: PacketColumns, monkeypatch: pytest.MonkeyPatch
) -> None:
    connections, states = reconstruct(packets)
    fast = anomalies.detect(packets, states, connections)

    def every_row_read(*args: object, **kwargs: object) -> context.Context:
        # The defaults say every flag, bit, bad checksum and zero window may be there.
        for key in ("seen_flags", "seen_bits", "seen_bad_checksum", "seen_zero_window"):
            kwargs.pop(key)
        return context.Context(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(anomalies, "Context", every_row_read)
    slow = anomalies.detect(packets, states, connections)
    assert [(a, a.params) for a in fast] == [(a, a.params) for a in slow]


@pytest.mark.parametrize("packets", _captures(), ids=["mixed", *(p.name for p in SAMPLES)])
def test_counters_match_a_count_row_by_row(packets: PacketColumns) -> None:
    connections, states = reconstruct(packets)
    for conn in connections:
        expected = [[0, 0, 0, 0], [0, 0, 0, 0]]  # packets, bytes, unknown, resent
        streams = set()
        for row in conn.packet_index:
            counts = expected[states.direction[row]]
            counts[0] += 1
            counts[1] += packets.length[row]
            counts[2] += packets.length_unknown[row]
            counts[3] += outcomes.resent(packets, states, row)
            streams.add(packets.stream[row])
        for stats, want in zip((conn.to_server, conn.to_client), expected, strict=True):
            got = [stats.packets, stats.payload_bytes, stats.unknown_length, stats.retransmissions]
            assert got == want
        assert conn.tshark_streams == tuple(sorted(streams))


def test_resend_rule_gives_the_same_for_one_row_and_for_columns() -> None:
    roles = [int(r) for r in PacketRole]
    bit_values = [0, *(int(b) for b in F), RETRANSMITTED]
    pairs = [(r, b) for r in roles for b in bit_values]
    columns = outcomes._resent(
        np.array([r for r, _ in pairs], dtype=np.int8), np.array([b for _, b in pairs])
    )
    assert [bool(outcomes._resent(r, b)) for r, b in pairs] == columns.tolist()
    assert outcomes._resent(int(PacketRole.SYN_RETRANSMISSION), 0)
    assert not outcomes._resent(int(PacketRole.SYN_ACK), int(F.RETRANSMISSION))
    assert outcomes._resent(int(PacketRole.DATA), int(F.FAST_RETRANSMISSION))


def _resent_after_fin() -> PacketColumns:
    """The server resends old data after the client's FIN: no new data, so no half-close."""
    c = Conversation()
    c.handshake()
    c.data(c.server, 300)
    c.ack(c.client)
    c.fin(c.client)
    c.send(c.server, ACK | PSH, 300, seq=c.next[c.server] - 300, analysis=int(F.RETRANSMISSION))
    c.fin(c.server)
    c.ack(c.client)
    return c.columns()


def _eager_half_close(packets: PacketColumns, states: PacketStates, conn: Connection) -> bool:
    """The summary loop as it was: _data on every data or FIN row, from the first row on."""
    facts = outcomes._Facts()
    client = Side(0)
    for row in conn.packet_index:
        d, flags, length = states.direction[row], packets.flags[row], packets.length[row]
        if flags & int(TcpFlags.SYN | TcpFlags.FIN | TcpFlags.RST):
            seq, ack = packets.seq[row], packets.ack[row]
            outcomes._control(facts, row, d, flags, seq, ack, client, conn.self_connect)
        if length or flags & int(TcpFlags.FIN):
            outcomes._data(facts, d, packets.seq[row], length, flags)
    return facts.half_close


@pytest.mark.parametrize(
    "packets",
    [_resent_after_fin(), *_captures()],
    ids=["resent-after-fin", "mixed", *(p.name for p in SAMPLES)],
)
def test_half_close_found_as_by_the_loop_over_every_row(packets: PacketColumns) -> None:
    connections, states = reconstruct(packets)
    for conn in connections:
        assert conn.half_close == (
            _eager_half_close(packets, states, conn) and conn.teardown.value != "none"
        )


def test_half_close_seen_in_the_samples_and_the_mixed_capture() -> None:
    # The comparison above means something only if both answers occur.
    found: set[bool] = set()
    for packets in [_resent_after_fin(), *_captures()]:
        connections, _ = reconstruct(packets)
        found.update(c.half_close for c in connections)
    assert found == {True, False}
