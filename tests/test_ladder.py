"""Ladder geometry: states where they begin, crossing arrows, 2MSL, labels no line runs through."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from pcapexplain import anomalies, api, ladder
from pcapexplain.model import CaptureAnalysis, Connection, PacketColumns, PacketStates
from pcapexplain.reconstructor import reconstruct
from tests.builders import ACK, FIN, SYN, Conversation, closed_by_client

SAMPLES = Path(__file__).resolve().parent.parent / "sample_captures"


def _build(conv: Conversation) -> tuple[ladder.Ladder, PacketColumns, PacketStates, Connection]:
    packets = conv.columns()
    conns, states = reconstruct(packets)
    return ladder.build(packets, states, conns[0], frozenset()), packets, states, conns[0]


def _segments(drawn: ladder.Ladder) -> list[ladder.Segment]:
    return [p.detail if isinstance(p, ladder.Band) else p for p in drawn.parts]


def _marks(segment: ladder.Segment, side: str) -> list[tuple[str, int, str]]:
    x = ladder.CLIENT_X - 8 if side == "client" else ladder.SERVER_X + 8
    return [(m.state, m.y, m.kind) for m in segment.states if m.x == x]


def test_sender_state_at_the_tail_receiver_state_at_the_head() -> None:
    drawn, *_ = _build(closed_by_client())
    (segment,) = _segments(drawn)
    arrows = {a.frame: a for a in segment.arrows}
    client = _marks(segment, "client")
    server = _marks(segment, "server")
    # The SYN leaves the client in SYN_SENT at its tail and puts the server in SYN_RECEIVED at
    # its head; the marks sit on the arrow's ends (baseline 4 px below, to centre the text).
    assert ("SYN_SENT", arrows[1].y1 + 4, "change") in client
    assert ("SYN_RECEIVED", arrows[1].y2 + 4, "change") in server
    assert ("ESTABLISHED", arrows[2].y2 + 4, "change") in client  # on receiving the SYN-ACK
    assert ("FIN_WAIT_1", arrows[6].y1 + 4, "change") in client
    assert ("CLOSE_WAIT", arrows[6].y2 + 4, "change") in server
    assert ("LAST_ACK", arrows[8].y1 + 4, "change") in server
    assert ("TIME_WAIT", arrows[8].y2 + 4, "change") in client
    assert ("CLOSED", arrows[9].y2 + 4, "change") in server  # the passive closer, at the last ACK


def test_lifelines_start_in_listen_and_closed_and_time_wait_ends_after_2msl() -> None:
    drawn, *_ = _build(closed_by_client())
    (segment,) = _segments(drawn)
    client, server = _marks(segment, "client"), _marks(segment, "server")
    assert client[0][::2] == ("CLOSED", "initial") and server[0][::2] == ("LISTEN", "initial")
    (bracket,) = segment.brackets
    time_wait = next(y for state, y, _ in client if state == "TIME_WAIT")
    assert bracket.x < ladder.CLIENT_X and bracket.y1 > time_wait
    assert bracket.y2 - bracket.y1 >= ladder.BRACKET_MIN
    assert client[-1] == ("CLOSED", client[-1][1], "timer") and client[-1][1] > bracket.y2
    assert segment.height > client[-1][1]
    assert drawn.legend == ("open", "data", "close", "state", "initial", "time_wait")


def test_crossing_fins_are_drawn_crossing() -> None:
    """Both sides close at once: each FIN acknowledges only what came before the other FIN."""
    c = Conversation()
    c.handshake()
    c.fin(c.client)  # seq 1001, ack 5001
    c.send(c.server, FIN | ACK, ack=1001)  # sent before the client's FIN arrived
    c.ack(c.client)
    c.ack(c.server)
    drawn, packets, states, conn = _build(c)
    assert ladder.crossings(states, conn.packet_index) == {4: 3}
    (segment,) = _segments(drawn)
    first, second = (a for a in segment.arrows if a.frame in (4, 5))
    assert first.crossing and second.crossing
    assert first.y1 < second.y1 < first.y2 == second.y2  # the second left before the first arrived
    assert (first.x1, first.x2) == (ladder.CLIENT_X, ladder.SERVER_X)
    assert (second.x1, second.x2) == (ladder.SERVER_X, ladder.CLIENT_X)
    assert "crossing" in drawn.legend
    # Neither label sits where the two lines meet: each is near its own arrow's tail.
    assert first.label_x < (ladder.CLIENT_X + ladder.SERVER_X) / 2 < second.label_x


def test_a_fin_that_acknowledges_the_other_does_not_cross() -> None:
    drawn, packets, states, conn = _build(closed_by_client())
    assert ladder.crossings(states, conn.packet_index) == {}
    assert not any(a.crossing for s in _segments(drawn) for a in s.arrows)


def test_simultaneous_open_crosses_and_is_not_drawn_as_an_error() -> None:
    c = Conversation()
    c.send(c.client, SYN)
    c.send(c.server, SYN)  # no ACK: it had not seen the client's SYN
    c.send(c.client, SYN | ACK, seq=c.client_isn)
    c.send(c.server, SYN | ACK, seq=c.server_isn)
    c.ack(c.client)
    packets = c.columns()
    conns, states = reconstruct(packets)
    found = anomalies.detect(packets, states, conns)
    warned = frozenset(f for a in found if a.severity.rank >= 2 for f in a.frames)
    drawn = ladder.build(packets, states, conns[0], warned)
    arrows = [a for s in _segments(drawn) for a in s.arrows]
    # The SYNs cross (no ACK), and so do the SYN-ACKs: each side answered the other's SYN
    # before the other's SYN-ACK arrived (RFC 9293 Fig. 7), as the replay records.
    assert [a.crossing for a in arrows[:5]] == [True, True, True, True, False]
    assert all(a.kind == "open" and not a.resent and not a.flagged for a in arrows[:4])


def _hand_built_ladders() -> list[ladder.Ladder]:
    long = Conversation()
    long.handshake()
    for _ in range(12):
        long.data(long.server, 1448)
        long.ack(long.client)
    long.fin(long.server)
    long.fin(long.client)
    long.ack(long.server)
    crossing = Conversation()
    crossing.handshake()
    crossing.fin(crossing.client)
    crossing.send(crossing.server, FIN | ACK, ack=1001)
    crossing.ack(crossing.client)
    crossing.ack(crossing.server)
    return [_build(c)[0] for c in (long, crossing, closed_by_client())]


def _sample_ladders() -> list[ladder.Ladder]:
    drawn = []
    for capture in sorted(SAMPLES.glob("*.pcap")):
        result: CaptureAnalysis = api.analyse(capture).result
        for conn in result.connections:
            drawn.append(ladder.build(result.packets, result.states, conn, frozenset()))
    return drawn


def assert_readable(drawn: ladder.Ladder) -> None:
    """No line through a label, no label on a label, and the state names apart."""
    for segment in _segments(drawn):
        lines = [(a.x1, a.y1, a.x2, a.y2) for a in segment.arrows]
        for arrow in segment.arrows:
            box = arrow.label_box
            for line in lines:
                assert not ladder.crosses(box, line), (arrow.frame, arrow.label, line)
            assert box.x > ladder.CLIENT_X and box.x + box.width < ladder.SERVER_X, arrow.label
        for a, b in itertools.combinations(segment.arrows, 2):
            assert not a.label_box.overlaps(b.label_box), (a.label, b.label)
        for side in (ladder.CLIENT_X - 8, ladder.SERVER_X + 8):
            ys = sorted(m.y for m in segment.states if m.x == side)
            assert all(
                y2 - y1 >= ladder.ASCENT + ladder.DESCENT for y1, y2 in itertools.pairwise(ys)
            )
        times = sorted(a.y1 for a in segment.arrows)
        assert all(y2 - y1 >= 12 for y1, y2 in itertools.pairwise(times))


@pytest.mark.parametrize("index", range(3))
def test_hand_built_ladders_are_readable(index: int) -> None:
    assert_readable(_hand_built_ladders()[index])


@pytest.mark.tshark
def test_every_sample_ladder_is_readable() -> None:
    drawn = _sample_ladders()
    assert len(drawn) >= 20
    for one in drawn:
        assert_readable(one)


def test_crosses_detects_a_line_through_a_box() -> None:
    box = ladder.Box(100, 50, 80, 12)
    assert ladder.crosses(box, (0, 40, 300, 70))  # passes through
    assert not ladder.crosses(box, (0, 0, 300, 20))  # above
    assert not ladder.crosses(box, (200, 0, 300, 100))  # beside
    assert ladder.crosses(box, (120, 0, 120, 100))  # vertical, through


def test_a_state_passed_within_one_segment_is_written_before_the_new_one() -> None:
    """A FIN+ACK that acknowledges the client's FIN: its ACK, then its FIN (RFC 9293 §3.10.7.4)."""
    c = Conversation()
    c.handshake()
    c.fin(c.client)
    c.fin(c.server)  # acknowledges the client's FIN and closes the server's direction
    c.ack(c.client)
    drawn, *_ = _build(c)
    (segment,) = _segments(drawn)
    head = next(m for m in segment.states if m.state == "TIME_WAIT")
    assert (head.passed, head.x) == ("FIN_WAIT_2", ladder.CLIENT_X - 8)
