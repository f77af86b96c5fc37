"""Where the capture was taken: the split handshake round trip, on hand-built timings."""

from __future__ import annotations

from pathlib import Path

import pytest

from pcapexplain import narrate, vantage
from pcapexplain.cli import main
from pcapexplain.explanations import text
from pcapexplain.model import CapturePoint, Handshake, Lang, Vantage
from pcapexplain.reconstructor import reconstruct
from tests.builders import ACK, SYN, Conversation

MS = 0.001


@pytest.mark.parametrize(
    ("syn_synack", "synack_ack", "point"),
    [
        (40 * MS, 0.05 * MS, CapturePoint.NEAR_CLIENT),  # the whole trip is on the server's side
        (0.05 * MS, 40 * MS, CapturePoint.NEAR_SERVER),
        (25 * MS, 15 * MS, CapturePoint.MIDDLE),
        (8 * MS, 2 * MS, CapturePoint.NEAR_CLIENT),  # at the edge: the client's half is 20 %
        (2 * MS, 8 * MS, CapturePoint.NEAR_SERVER),
        (7.9 * MS, 2.1 * MS, CapturePoint.MIDDLE),
    ],
)
def test_the_longer_half_points_away_from_the_capture(
    syn_synack: float, synack_ack: float, point: CapturePoint
) -> None:
    found = vantage.locate(Handshake.COMPLETE, syn_synack, synack_ack)
    assert found.point is point
    assert not found.weak
    # Each endpoint is half of its own round trip away, one way.
    assert found.server_delay == pytest.approx(syn_synack / 2)
    assert found.client_delay == pytest.approx(synack_ack / 2)


def test_a_sub_millisecond_round_trip_is_weak_evidence() -> None:
    """On a veth pair, host turnaround (15 µs) is as long as the path (40 µs)."""
    found = vantage.locate(Handshake.COMPLETE, 0.040 * MS, 0.015 * MS)
    assert found.point is CapturePoint.MIDDLE
    assert found.weak
    found = vantage.locate(Handshake.COMPLETE, 0.9 * MS, 0.001 * MS)
    assert (found.point, found.weak) == (CapturePoint.NEAR_CLIENT, True)


@pytest.mark.parametrize(
    ("handshake", "syn_synack", "synack_ack"),
    [
        (Handshake.COMPLETE, None, 10 * MS),  # the SYN-ACK was not captured
        (Handshake.COMPLETE, 10 * MS, None),
        (Handshake.NOT_CAPTURED, None, None),
        (Handshake.INCOMPLETE, 10 * MS, None),
        (Handshake.SIMULTANEOUS_OPEN, 10 * MS, 0.0),  # the SYN-ACKs cross: no round trip
    ],
)
def test_without_a_whole_handshake_the_point_is_unknown(
    handshake: Handshake, syn_synack: float | None, synack_ack: float | None
) -> None:
    assert vantage.locate(handshake, syn_synack, synack_ack) == Vantage()
    assert Vantage().point is CapturePoint.UNKNOWN and Vantage().weak


def test_zero_round_trip_says_nothing() -> None:
    found = vantage.locate(Handshake.COMPLETE, 0.0, 0.0)
    assert (found.point, found.weak) == (CapturePoint.UNKNOWN, True)


def _timed_handshake(*gaps: float) -> Conversation:
    """SYN, SYN-ACK, ACK, with the given time between consecutive segments."""
    c = Conversation()
    c.send(c.client, SYN)
    c.clock += gaps[0] - c.step
    c.send(c.server, SYN | ACK)
    for gap in gaps[1:]:
        c.clock += gap - c.step
        c.send(c.client, ACK)
    return c


def test_the_reconstructor_carries_the_capture_point() -> None:
    connections, _ = reconstruct(_timed_handshake(30 * MS, 0.1 * MS).columns())
    assert connections[0].vantage.point is CapturePoint.NEAR_CLIENT
    assert connections[0].vantage.server_delay == pytest.approx(15 * MS)


def test_a_resent_syn_ack_is_measured_from_the_copy_the_ack_answers() -> None:
    """Captured beside the server: the first SYN-ACK was lost on the way to the client."""
    c = Conversation()
    c.send(c.client, SYN)
    c.clock = 0.0001
    c.send(c.server, SYN | ACK)
    c.clock = 1.0001  # the server's retransmission timer
    c.send(c.server, SYN | ACK, seq=c.server_isn)
    c.clock = 1.0401  # a 40 ms round trip to the client
    c.send(c.client, ACK)
    conn = reconstruct(c.columns())[0][0]
    assert conn.rtt_synack_ack == pytest.approx(0.04)
    assert conn.vantage.point is CapturePoint.NEAR_SERVER


@pytest.mark.parametrize(
    ("gaps", "en", "zh"),
    [
        ((40 * MS, 0.05 * MS), ["near the client", "20.0 ms (one one-way delay)"], ["靠近客户端"]),
        (
            (0.05 * MS, 40 * MS),
            ["near the server", "if the client sent its ACK as soon as", "client about 20.0 ms"],
            ["靠近服务器", "如果客户端一收到 SYN-ACK 就发出 ACK"],
        ),
        (
            (30 * MS, 10 * MS),
            ["between", "client was about 5.0 ms", "server about 15.0", "holds it back"],
            ["之间", "暂缓发送的客户端"],
        ),
        ((0.04 * MS, 0.015 * MS), ["cannot be told reliably", "0.055 ms"], ["无法可靠", "0.055"]),
    ],
)
def test_the_story_says_where_the_capture_was_taken(
    gaps: tuple[float, float], en: list[str], zh: list[str]
) -> None:
    conn = reconstruct(_timed_handshake(*gaps).columns())[0][0]
    for lang, expected in ((Lang.EN, en), (Lang.ZH, zh)):
        said = narrate.vantage_text(conn, lang)
        assert all(e in said for e in expected), said


def test_without_a_handshake_the_story_says_it_cannot_tell() -> None:
    c = Conversation()
    c.data(c.client)
    c.ack(c.server)
    conn = reconstruct(c.columns())[0][0]
    assert "cannot be told" in narrate.vantage_text(conn, Lang.EN)
    assert "无法判断" in narrate.vantage_text(conn, Lang.ZH)


@pytest.mark.tshark
@pytest.mark.parametrize("lang", tuple(Lang))
def test_a_held_third_ack_is_named_as_what_near_the_server_rests_on(
    lang: Lang, capsys: pytest.CaptureFixture[str]
) -> None:
    """accept_queue_full.pcap was taken at the client, whose third ACK waited 200 ms: the same
    packets captured beside the server would show the same split, so the story says on what
    its "near the server" rests."""
    sample = Path(__file__).resolve().parent.parent / "sample_captures" / "accept_queue_full.pcap"
    assert main(["explain", str(sample), "--lang", lang.value]) == 0
    out = capsys.readouterr().out
    said = text(lang, "vantage.near_server", synack_ack="200.5", syn_synack="0.049", client="100.3")
    assert said in out
