"""The reconstructor on hand-built packet lists: every hard case of issue 2, no tshark involved."""

from __future__ import annotations

import pytest

from pcapexplain.model import (
    NO_VALUE,
    Closer,
    Connection,
    Handshake,
    Inference,
    PacketColumns,
    PacketRole,
    PacketStates,
    TcpFlags,
    TcpState,
    Teardown,
)
from pcapexplain.reconstructor import reconstruct
from tests.builders import (
    ACK,
    FIN,
    PSH,
    RST,
    SELF,
    SERVER,
    SYN,
    Conversation,
    client_side_only,
    closed_by_client,
    closed_three_way,
    connected_to_itself,
    merged,
)

S = TcpState
R = PacketRole


def run(conv: Conversation | PacketColumns) -> tuple[list[Connection], PacketStates]:
    packets = conv.columns() if isinstance(conv, Conversation) else conv
    return reconstruct(packets)


def ladder(states: PacketStates, conn: Connection) -> list[tuple[str, str, str, str, str]]:
    """(role, client before, client after, server before, server after) per packet."""
    return [
        (
            R(states.role[r]).name,
            S(states.client_before[r]).name,
            S(states.client_after[r]).name,
            S(states.server_before[r]).name,
            S(states.server_after[r]).name,
        )
        for r in conn.packet_index
    ]


def only(conns: list[Connection]) -> Connection:
    assert len(conns) == 1, [c.handshake for c in conns]
    return conns[0]


def test_textbook_open_and_four_way_close() -> None:
    c = Conversation()
    c.handshake()
    c.data(c.client, 100)
    c.ack(c.server)
    c.fin(c.client)
    c.ack(c.server)
    c.fin(c.server)
    c.ack(c.client)
    conns, states = run(c)
    conn = only(conns)
    assert ladder(states, conn) == [
        ("SYN", "CLOSED", "SYN_SENT", "LISTEN", "SYN_RECEIVED"),
        ("SYN_ACK", "SYN_SENT", "ESTABLISHED", "SYN_RECEIVED", "SYN_RECEIVED"),
        ("HANDSHAKE_ACK", "ESTABLISHED", "ESTABLISHED", "SYN_RECEIVED", "ESTABLISHED"),
        ("DATA", "ESTABLISHED", "ESTABLISHED", "ESTABLISHED", "ESTABLISHED"),
        ("PURE_ACK", "ESTABLISHED", "ESTABLISHED", "ESTABLISHED", "ESTABLISHED"),
        ("FIN", "ESTABLISHED", "FIN_WAIT_1", "ESTABLISHED", "CLOSE_WAIT"),
        ("FIN_ACK", "FIN_WAIT_1", "FIN_WAIT_2", "CLOSE_WAIT", "CLOSE_WAIT"),
        ("FIN", "FIN_WAIT_2", "TIME_WAIT", "CLOSE_WAIT", "LAST_ACK"),
        ("FIN_ACK", "TIME_WAIT", "TIME_WAIT", "LAST_ACK", "CLOSED"),
    ]
    assert (conn.handshake, conn.teardown) == (Handshake.COMPLETE, Teardown.FOUR_WAY)
    assert (conn.closed_first, conn.time_wait, conn.half_close) == (
        Closer.CLIENT,
        Closer.CLIENT,
        False,
    )
    assert (conn.client_isn, conn.server_isn) == (1000, 5000)
    assert (conn.client_options.mss, conn.client_options.wscale) == (1460, 7)
    assert (conn.server_options.mss, conn.server_options.wscale) == (1400, 8)
    assert conn.rtt_syn_synack == pytest.approx(0.01)
    assert conn.rtt_synack_ack == pytest.approx(0.01)
    assert (conn.to_server.packets, conn.to_server.payload_bytes) == (5, 100)
    assert (conn.to_client.packets, conn.to_client.payload_bytes) == (4, 0)
    assert not conn.roles_inferred


def test_server_closes_first() -> None:
    c = Conversation()
    c.handshake()
    c.fin(c.server)
    c.ack(c.client)
    c.fin(c.client)
    c.ack(c.server)
    conn = only(run(c)[0])
    assert (conn.teardown, conn.closed_first, conn.time_wait) == (
        Teardown.FOUR_WAY,
        Closer.SERVER,
        Closer.SERVER,
    )
    assert (conn.client_final, conn.server_final) == (S.CLOSED, S.TIME_WAIT)


def test_three_way_close_goes_from_fin_wait_1_straight_to_time_wait() -> None:
    c = Conversation()
    c.handshake()
    c.fin(c.client)
    c.fin(c.server)  # FIN+ACK acknowledging the client's FIN
    c.ack(c.client)
    conns, states = run(c)
    conn = only(conns)
    assert ladder(states, conn)[4] == ("FIN", "FIN_WAIT_1", "TIME_WAIT", "CLOSE_WAIT", "LAST_ACK")
    assert conn.teardown is Teardown.THREE_WAY
    assert conn.time_wait is Closer.CLIENT


def test_simultaneous_close_both_closing_both_time_wait() -> None:
    c = Conversation()
    c.handshake()
    server_next = c.next[c.server]
    c.send(c.client, FIN | ACK)  # crosses the server's FIN
    c.send(c.server, FIN | ACK, ack=c.next[c.client] - 1)  # has not seen the client's FIN
    c.send(c.server, ACK)  # now it has
    c.send(c.client, ACK, ack=server_next + 1)
    conns, states = run(c)
    conn = only(conns)
    assert ladder(states, conn)[3:] == [
        ("FIN", "ESTABLISHED", "FIN_WAIT_1", "ESTABLISHED", "ESTABLISHED"),
        ("FIN", "FIN_WAIT_1", "CLOSING", "ESTABLISHED", "FIN_WAIT_1"),
        ("FIN_ACK", "CLOSING", "TIME_WAIT", "FIN_WAIT_1", "CLOSING"),
        ("FIN_ACK", "TIME_WAIT", "TIME_WAIT", "CLOSING", "TIME_WAIT"),
    ]
    assert (conn.teardown, conn.closed_first, conn.time_wait) == (
        Teardown.SIMULTANEOUS,
        Closer.BOTH,
        Closer.BOTH,
    )


def test_half_close_with_data_after_the_fin() -> None:
    c = Conversation()
    c.handshake()
    c.fin(c.client)
    c.ack(c.server)
    c.data(c.server, 300)  # from CLOSE_WAIT
    c.ack(c.client)  # from FIN_WAIT_2
    c.fin(c.server)
    c.ack(c.client)
    conns, states = run(c)
    conn = only(conns)
    assert conn.half_close
    assert conn.teardown is Teardown.FOUR_WAY
    assert ladder(states, conn)[5] == (
        "DATA",
        "FIN_WAIT_2",
        "FIN_WAIT_2",
        "CLOSE_WAIT",
        "CLOSE_WAIT",
    )


def test_lost_last_ack_fin_resent_and_answered_from_time_wait() -> None:
    c = Conversation()
    c.handshake()
    c.fin(c.client)
    c.ack(c.server)
    c.fin(c.server)
    c.ack(c.client)  # lost before the server
    server_fin = c.next[c.server] - 1
    c.send(c.server, FIN | ACK, seq=server_fin)
    c.ack(c.client)
    conns, states = run(c)
    conn = only(conns)
    rows = ladder(states, conn)
    assert rows[-2] == ("FIN", "TIME_WAIT", "TIME_WAIT", "LAST_ACK", "LAST_ACK")
    assert rows[-1] == ("FIN_ACK", "TIME_WAIT", "TIME_WAIT", "LAST_ACK", "CLOSED")
    assert conn.teardown is Teardown.FOUR_WAY


def _handshake_ack_lost(resends: int) -> Conversation:
    """The client's third ACK is captured but lost before the server, which resends its SYN-ACK
    (resends times, each copy answered by the ACK again, every answer but the last lost too)."""
    c = Conversation()
    c.handshake()
    for _ in range(resends):
        c.send(c.server, SYN | ACK, seq=c.server_isn)
        c.ack(c.client)
    c.data(c.client)
    c.ack(c.server)
    return c


@pytest.mark.parametrize("resends", [1, 2])
def test_a_resent_synack_shows_the_captured_third_ack_never_took_effect(resends: int) -> None:
    conn, states = _one(_handshake_ack_lost(resends))
    rows = ladder(states, conn)
    lost = ("HANDSHAKE_ACK", "ESTABLISHED", "ESTABLISHED", "SYN_RECEIVED", "SYN_RECEIVED")
    resent = ("SYN_RETRANSMISSION", "ESTABLISHED", "ESTABLISHED", "SYN_RECEIVED", "SYN_RECEIVED")
    assert rows[2] == lost
    for k in range(resends):
        assert rows[3 + 2 * k] == resent
        assert rows[4 + 2 * k] == (lost if k < resends - 1 else rows[4 + 2 * k])
    last_ack = rows[2 + 2 * resends]
    assert last_ack == (
        "HANDSHAKE_ACK",
        "ESTABLISHED",
        "ESTABLISHED",
        "SYN_RECEIVED",
        "ESTABLISHED",
    )
    assert conn.handshake is Handshake.COMPLETE
    assert conn.server_final is S.ESTABLISHED


def test_a_synack_resent_after_the_server_acknowledged_data_undoes_nothing() -> None:
    """Only an ACK from the peer can be lost: the server's own ACK of data proves ESTABLISHED."""
    c = Conversation()
    c.handshake()
    c.data(c.client)
    c.ack(c.server)
    c.send(c.server, SYN | ACK, seq=c.server_isn)
    conn, states = _one(c)
    assert [row[4] for row in ladder(states, conn)[2:]] == ["ESTABLISHED"] * 4


def _one(c: Conversation) -> tuple[Connection, PacketStates]:
    conns, states = run(c)
    return only(conns), states


@pytest.mark.parametrize(
    ("side", "teardown"),
    [("client", Teardown.RESET_BY_CLIENT), ("server", Teardown.RESET_BY_SERVER)],
)
def test_reset_from_either_side_while_established(side: str, teardown: Teardown) -> None:
    c = Conversation()
    c.handshake()
    c.data(c.client, 600)  # e.g. unread data when the server closes
    sender = c.client if side == "client" else c.server
    c.rst(sender)
    conns, states = run(c)
    conn = only(conns)
    assert conn.teardown is teardown
    assert conn.closed_first is Closer(side)
    assert conn.time_wait is Closer.NONE
    assert (conn.client_final, conn.server_final) == (S.CLOSED, S.CLOSED)
    assert R(states.role[conn.packet_index[-1]]) is R.RST


def test_reset_during_teardown_is_still_a_reset() -> None:
    c = Conversation()
    c.handshake()
    c.fin(c.client)
    c.rst(c.server)
    conn = only(run(c)[0])
    assert (conn.teardown, conn.closed_first) == (Teardown.RESET_BY_SERVER, Closer.CLIENT)


def test_refused() -> None:
    c = Conversation()
    c.send(c.client, SYN)
    c.send(c.server, RST | ACK, seq=0)
    conns, states = run(c)
    conn = only(conns)
    assert ladder(states, conn) == [
        ("SYN", "CLOSED", "SYN_SENT", "CLOSED", "CLOSED"),
        ("RST", "SYN_SENT", "CLOSED", "CLOSED", "CLOSED"),
    ]
    assert (conn.handshake, conn.teardown, conn.closed_first) == (
        Handshake.REFUSED,
        Teardown.NONE,
        Closer.NONE,
    )


def test_retransmitted_syns_are_one_unanswered_connection() -> None:
    c = Conversation()
    for _ in range(3):
        c.send(c.client, SYN, seq=1000, advance=False)
    conns, states = run(c)
    conn = only(conns)
    assert [R(states.role[r]) for r in conn.packet_index] == [
        R.SYN,
        R.SYN_RETRANSMISSION,
        R.SYN_RETRANSMISSION,
    ]
    assert (conn.handshake, conn.teardown) == (Handshake.UNANSWERED, Teardown.NONE)
    assert conn.server_final is S.UNKNOWN


def test_synack_never_acknowledged_is_incomplete() -> None:
    c = Conversation()
    c.send(c.client, SYN)
    c.send(c.server, SYN | ACK)
    c.send(c.server, SYN | ACK, seq=5000, advance=False)
    conns, states = run(c)
    conn = only(conns)
    assert conn.handshake is Handshake.INCOMPLETE
    assert R(states.role[conn.packet_index[-1]]) is R.SYN_RETRANSMISSION


def test_simultaneous_open() -> None:
    """RFC 9293 Fig. 7: each SYN's sender goes SYN_SENT, then SYN_RECEIVED with its SYN-ACK (only
    that shows the peer's SYN arrived); the client's SYN-ACK crossed the server's, so the server
    becomes ESTABLISHED at the client's next segment, which that SYN-ACK travelled ahead of."""
    c = Conversation(client=("10.0.0.1", 5000), server=("10.0.0.2", 6000))
    c.send(c.client, SYN)
    c.send(c.server, SYN)
    c.send(c.client, SYN | ACK, seq=1000)
    c.send(c.server, SYN | ACK, seq=5000)
    c.data(c.client, 10)
    conns, states = run(c)
    conn = only(conns)
    assert ladder(states, conn) == [
        ("SYN", "CLOSED", "SYN_SENT", "CLOSED", "CLOSED"),
        ("SYN", "SYN_SENT", "SYN_SENT", "CLOSED", "SYN_SENT"),
        ("SYN_ACK", "SYN_SENT", "SYN_RECEIVED", "SYN_SENT", "SYN_SENT"),
        ("SYN_ACK", "SYN_RECEIVED", "ESTABLISHED", "SYN_SENT", "SYN_RECEIVED"),
        ("HANDSHAKE_ACK", "ESTABLISHED", "ESTABLISHED", "SYN_RECEIVED", "ESTABLISHED"),
    ]
    assert conn.handshake is Handshake.SIMULTANEOUS_OPEN
    assert conn.teardown is Teardown.OPEN_AT_END


def test_simultaneous_open_server_synack_first() -> None:
    """The server's SYN-ACK shows first, then the client's: a client that had received it would
    be ESTABLISHED and send a plain ACK, so the two crossed; the server's SYN-ACK reaches the
    client ahead of the server's next segment."""
    c = Conversation(client=("10.0.0.1", 5000), server=("10.0.0.2", 6000))
    c.send(c.client, SYN)
    c.send(c.server, SYN)
    c.send(c.server, SYN | ACK, seq=5000)
    c.send(c.client, SYN | ACK, seq=1000)
    c.send(c.server, ACK)
    conns, states = run(c)
    assert ladder(states, only(conns))[2:] == [
        ("SYN_ACK", "SYN_SENT", "SYN_SENT", "SYN_SENT", "SYN_RECEIVED"),
        ("SYN_ACK", "SYN_SENT", "SYN_RECEIVED", "SYN_RECEIVED", "ESTABLISHED"),
        ("HANDSHAKE_ACK", "SYN_RECEIVED", "ESTABLISHED", "ESTABLISHED", "ESTABLISHED"),
    ]


def test_simultaneous_open_with_one_syn_lost() -> None:
    """The real capture simultaneous_open.pcap: the client's SYN never reaches the server; the
    server's SYN finds the client in SYN_SENT, the client's SYN-ACK finds the server in SYN_SENT
    (straight to ESTABLISHED, RFC 9293 §3.10.7.3), and the server's plain ACK ends the opening."""
    c = Conversation(client=("10.0.0.1", 5000), server=("10.0.0.2", 6000))
    c.send(c.client, SYN)
    c.send(c.server, SYN)
    c.send(c.client, SYN | ACK, seq=1000)
    c.send(c.server, ACK)
    conns, states = run(c)
    conn = only(conns)
    assert ladder(states, conn) == [
        ("SYN", "CLOSED", "SYN_SENT", "CLOSED", "CLOSED"),
        ("SYN", "SYN_SENT", "SYN_SENT", "CLOSED", "SYN_SENT"),
        ("SYN_ACK", "SYN_SENT", "SYN_RECEIVED", "SYN_SENT", "ESTABLISHED"),
        ("HANDSHAKE_ACK", "SYN_RECEIVED", "ESTABLISHED", "ESTABLISHED", "ESTABLISHED"),
    ]
    assert conn.handshake is Handshake.SIMULTANEOUS_OPEN
    assert conn.inferred == ()  # the server's SYN stands in for a SYN-ACK: nothing is missing


def test_old_duplicate_syn_seen_at_the_server() -> None:
    """RFC 9293 Fig. 8: stale SYN, SYN-ACK, client RST, then the real SYN: two incarnations."""
    c = Conversation(client_isn=90, server_isn=300)
    c.send(c.client, SYN)  # the stale copy
    c.send(c.server, SYN | ACK)
    c.send(c.client, RST, seq=91)
    c.next[c.client], c.next[c.server] = 100, 400
    c.handshake()
    c.data(c.client, 5)
    conns, states = run(c)
    assert [x.handshake for x in conns] == [Handshake.OLD_DUPLICATE, Handshake.COMPLETE]
    stale = conns[0]
    assert (stale.teardown, stale.closed_first) == (Teardown.NONE, Closer.NONE)
    assert ladder(states, stale)[-1] == ("RST", "CLOSED", "CLOSED", "SYN_RECEIVED", "LISTEN")
    assert conns[1].client_isn == 100


def test_figure_8_pattern_is_old_duplicate_with_nothing_after_it() -> None:
    """SYN, SYN-ACK, RST <SEQ=SEG.ACK> without ACK: old_duplicate whatever follows, and the client,
    which had no connection to match the SYN-ACK, is never ESTABLISHED."""
    c = Conversation()
    c.send(c.client, SYN)
    c.send(c.server, SYN | ACK)
    c.send(c.client, RST)
    conns, states = run(c)
    conn = only(conns)
    assert conn.handshake is Handshake.OLD_DUPLICATE
    assert (conn.teardown, conn.closed_first) == (Teardown.NONE, Closer.NONE)
    assert {s for row in ladder(states, conn) for s in row[1:3]} == {"CLOSED"}
    assert ladder(states, conn)[-1] == ("RST", "CLOSED", "CLOSED", "SYN_RECEIVED", "LISTEN")


def test_a_reset_with_ack_after_the_synack_is_not_figure_8() -> None:
    c = Conversation()
    c.send(c.client, SYN)
    c.send(c.server, SYN | ACK)
    c.send(c.client, RST | ACK)
    assert only(run(c)[0]).handshake is Handshake.INCOMPLETE


def test_stale_synack_at_the_client_is_a_connection_of_its_own() -> None:
    """Fig. 8 seen from the client: the stale SYN-ACK and the client's RST form the old_duplicate
    connection the server side shows; the client's own attempt stays in SYN_SENT, then opens."""
    c = Conversation(client_isn=100, server_isn=300)
    c.send(c.client, SYN)
    c.send(c.server, SYN | ACK, ack=91)  # acknowledges an old SYN, not ours
    c.send(c.client, RST, seq=91)
    c.send(c.server, SYN | ACK, seq=400, ack=101)
    c.next[c.server] = 401
    c.ack(c.client)
    conns, states = run(c)
    assert [x.handshake for x in conns] == [Handshake.COMPLETE, Handshake.OLD_DUPLICATE]
    real, stale = conns
    assert [states.role[r] for r in real.packet_index] == [R.SYN, R.SYN_ACK, R.HANDSHAKE_ACK]
    assert ladder(states, real)[0][1:3] == ("CLOSED", "SYN_SENT")
    assert ladder(states, stale) == [
        ("SYN_ACK", "CLOSED", "CLOSED", "LISTEN", "SYN_RECEIVED"),
        ("RST", "CLOSED", "CLOSED", "SYN_RECEIVED", "LISTEN"),
    ]
    assert stale.client.port == real.client.port and stale.roles_inferred
    assert [i.value for i in stale.inferred] == ["roles", "syn_not_captured"]


def test_capture_started_mid_connection() -> None:
    c = Conversation(client=("10.0.0.1", 51000), server=("10.0.0.2", 443))
    c.next = {c.client: 7000, c.server: 9000}
    c.data(c.server, 50)  # first packet comes from the server
    c.ack(c.client)
    c.fin(c.client)
    c.ack(c.server)
    conns, states = run(c)
    conn = only(conns)
    assert conn.roles_inferred
    assert (conn.client.port, conn.server.port) == (51000, 443)
    assert conn.handshake is Handshake.NOT_CAPTURED
    assert conn.teardown is Teardown.HALF_CLOSED_AT_END
    assert ladder(states, conn)[0][1:] == ("UNKNOWN", "UNKNOWN", "UNKNOWN", "UNKNOWN")
    assert ladder(states, conn)[2] == ("FIN", "UNKNOWN", "FIN_WAIT_1", "UNKNOWN", "CLOSE_WAIT")
    assert conn.client_isn is None


def test_capture_ending_mid_connection() -> None:
    c = Conversation()
    c.handshake()
    c.data(c.client)
    conn = only(run(c)[0])
    assert (conn.teardown, conn.closed_first, conn.time_wait) == (
        Teardown.OPEN_AT_END,
        Closer.NONE,
        Closer.NONE,
    )


def test_roles_from_a_synack_when_the_syn_was_missed() -> None:
    c = Conversation(client=("10.0.0.1", 3000), server=("10.0.0.2", 4000))
    c.next[c.client] += 1
    c.send(c.server, SYN | ACK)
    c.ack(c.client)
    conn = only(run(c)[0])
    assert conn.roles_inferred
    assert conn.client.port == 3000
    assert conn.handshake is Handshake.COMPLETE


def test_port_reuse_after_close_is_a_new_connection() -> None:
    first = Conversation()
    first.handshake()
    first.fin(first.client)
    first.fin(first.server)
    first.ack(first.client)
    again = Conversation(client_isn=90000, server_isn=70000)
    again.clock = first.clock + 1.0
    again.handshake()
    conns, _ = run(merged(first, again))
    assert [x.client_isn for x in conns] == [1000, 90000]
    assert [x.id for x in conns] == [0, 1]
    assert conns[0].time_wait is Closer.CLIENT


def test_port_reused_twice_after_close_gives_three_connections() -> None:
    """Each incarnation's own FIN ends it: the next SYN on the 4-tuple starts the next one."""
    conversations = []
    for n, (client_isn, server_isn) in enumerate(((1000, 5000), (90000, 70000), (190000, 170000))):
        c = Conversation(client_isn=client_isn, server_isn=server_isn)
        c.clock = 10.0 * n
        conversations.append(closed_three_way(c))
    conns, _ = run(merged(*conversations))
    assert [x.client_isn for x in conns] == [1000, 90000, 190000]
    assert {x.teardown for x in conns} == {Teardown.THREE_WAY}


def test_syn_with_new_isn_on_an_open_connection_stays_in_it() -> None:
    c = Conversation()
    c.handshake()
    c.send(c.client, SYN, seq=777777, advance=False)
    c.send(c.server, ACK)  # RFC 5961 challenge ACK
    conns, states = run(c)
    conn = only(conns)
    assert R(states.role[conn.packet_index[3]]) is R.OTHER
    # No stack sends a SYN on a connection it holds: its sender has lost this one (RFC 5961 §4),
    # while the server, which answers with a challenge ACK, still holds it.
    assert S(states.client_after[conn.packet_index[3]]) is S.CLOSED
    assert conn.client_final is S.CLOSED
    assert conn.server_final is S.ESTABLISHED


def test_a_reconnecting_clients_reset_ends_the_old_connection_and_its_syn_opens_the_next() -> None:
    """RFC 5961 §4 with a client that lost its connection: its SYN finds the server established,
    the challenge ACK carries the old numbers, and the client, which has no such connection,
    resets it at that ACK's ack; its SYN, resent, opens the next connection."""
    c = Conversation()
    c.handshake()
    c.data(c.client, 23)
    c.ack(c.server)
    c.send(c.client, SYN, seq=777777, advance=False)
    challenge = c.send(c.server, ACK)
    c.send(c.client, RST, seq=challenge.ack)  # <SEQ=SEG.ACK><CTL=RST>, no ACK flag
    c.send(c.client, SYN, seq=777777, advance=False)
    c.send(c.server, SYN | ACK, seq=900000, ack=777778, advance=False)
    c.send(c.client, ACK, seq=777778, ack=900001, advance=False)
    conns, states = run(c)
    old, new = conns
    syn, reset = old.packet_index[5], old.packet_index[7]
    assert (S(states.client_before[syn]), S(states.client_after[syn])) == (S.ESTABLISHED, S.CLOSED)
    assert S(states.server_after[syn]) is S.ESTABLISHED
    assert (S(states.client_after[reset]), S(states.server_after[reset])) == (S.CLOSED, S.CLOSED)
    assert old.teardown is Teardown.RESET_BY_CLIENT
    assert new.handshake is Handshake.COMPLETE
    assert len(new.packet_index) == 3


def test_a_handshake_ack_the_server_never_shows_is_undone_by_its_reset_of_no_connection() -> None:
    """A full accept queue: the server resends its SYN-ACK, the ACK comes again, and the server's
    next segment is a RST without ACK at the client's ack (RFC 9293 §3.10.7.1): it never showed
    ESTABLISHED, so the replay keeps it in SYN_RECEIVED until that RST."""
    c = Conversation()
    c.send(c.client, SYN)
    synack = c.send(c.server, SYN | ACK)
    c.ack(c.client)
    c.send(c.client, PSH | ACK, 23, advance=False)
    c.send(c.server, SYN | ACK, seq=synack.seq, advance=False)  # the ACK did not take effect
    c.ack(c.client)
    c.send(c.client, PSH | ACK, 23)
    c.send(c.server, RST, seq=synack.seq + 1)
    conns, states = run(c)
    conn = only(conns)
    rows = conn.packet_index
    assert [S(states.server_after[r]) for r in rows[5:7]] == [S.SYN_RECEIVED] * 2
    assert S(states.server_before[rows[7]]) is S.SYN_RECEIVED
    assert conn.server_final is S.CLOSED


def test_a_reset_of_no_connection_after_the_server_spoke_keeps_its_handshake() -> None:
    """The server acknowledged data after the third ACK: it was ESTABLISHED, and a later RST of a
    host without the connection shows it lost it since, nothing about the handshake."""
    c = Conversation()
    c.handshake()
    c.data(c.client, 23)
    c.ack(c.server)
    c.send(c.client, PSH | ACK, 23)
    c.send(c.server, RST, seq=c.next[c.server])
    conns, states = run(c)
    rows = only(conns).packet_index
    assert S(states.server_before[rows[-1]]) is S.ESTABLISHED


def test_data_on_the_syn_fast_open() -> None:
    c = Conversation()
    c.send(c.client, SYN, 40, tfo=True)
    c.send(c.server, SYN | ACK)
    c.ack(c.client)
    conns, states = run(c)
    conn = only(conns)
    assert conn.handshake is Handshake.COMPLETE
    assert conn.client_options.tfo
    assert conn.to_server.payload_bytes == 40


def test_interleaved_connections_keep_their_own_packets() -> None:
    a = Conversation(client=("10.0.0.1", 40001))
    b = Conversation(client=("10.0.0.3", 40002))
    for conv in (a, b):
        conv.step = 0.02
    b.clock = 0.01
    for conv in (a, b):
        conv.handshake()
        conv.fin(conv.client)
    packets = merged(a, b)
    conns, states = run(packets)
    assert [x.client.ip for x in conns] == ["10.0.0.1", "10.0.0.3"]
    for conn in conns:
        assert [states.connection[r] for r in conn.packet_index] == [conn.id] * 4
        assert all(packets.src[r] in (conn.client.ip, conn.server.ip) for r in conn.packet_index)
        assert conn.teardown is Teardown.HALF_CLOSED_AT_END


def test_data_after_reset_leaves_both_closed() -> None:
    c = Conversation()
    c.handshake()
    c.rst(c.client)
    c.send(c.server, ACK | PSH, 10)
    conns, states = run(c)
    conn = only(conns)
    assert ladder(states, conn)[-1][1:] == ("CLOSED", "CLOSED", "CLOSED", "CLOSED")


def test_fin_flag_alone_without_ack() -> None:
    c = Conversation()
    c.handshake()
    c.send(c.client, FIN)
    conn = only(run(c)[0])
    assert conn.teardown is Teardown.HALF_CLOSED_AT_END
    assert conn.client_final is S.FIN_WAIT_1


def test_ack_flag_constant_is_used() -> None:
    # Guards the builders themselves: a pure ACK carries the peer's next sequence number.
    c = Conversation()
    c.handshake()
    assert c.packets[2].flags == int(ACK)
    assert c.packets[2].ack == 5001


def test_one_sided_capture_the_clients_ack_proves_the_missed_synack() -> None:
    c = Conversation()
    c.send(c.client, SYN)
    c.next[c.server] += 1  # the SYN-ACK went by unseen
    c.ack(c.client)
    c.data(c.client, 50)
    conns, states = run(c)
    conn = only(conns)
    assert conn.handshake is Handshake.COMPLETE
    assert ladder(states, conn)[1] == (
        "HANDSHAKE_ACK",
        "SYN_SENT",
        "ESTABLISHED",
        "UNKNOWN",
        "ESTABLISHED",
    )


def test_stale_synack_reset_by_the_client_with_nothing_after_is_old_duplicate() -> None:
    c = Conversation(client_isn=100, server_isn=300)
    c.send(c.client, SYN)
    c.send(c.server, SYN | ACK, ack=91)
    c.send(c.client, RST, seq=91)
    conns, _ = run(c)
    assert [x.handshake for x in conns] == [Handshake.UNANSWERED, Handshake.OLD_DUPLICATE]
    assert conns[1].teardown is Teardown.NONE


@pytest.mark.parametrize(
    ("flags", "answer_ack"),
    [(0, 2000), (FIN | PSH | TcpFlags.URG, 2001), (FIN, 2001), (PSH, 2000)],
    ids=["null", "xmas", "fin", "psh"],
)
def test_probes_answered_by_a_closed_port_are_stray(flags: int, answer_ack: int) -> None:
    """RFC 9293 §3.10.7.1: no connection exists, none opens, none is reset, no state changes."""
    c = Conversation(client=("10.0.0.1", 55202), server=("10.0.0.2", 80), client_isn=2000)
    c.send(c.client, flags)
    c.send(c.server, RST | ACK, seq=0, ack=answer_ack)
    conns, states = run(c)
    conn = only(conns)
    assert conn.handshake is Handshake.STRAY
    assert (conn.teardown, conn.closed_first, conn.time_wait) == (
        Teardown.NONE,
        Closer.NONE,
        Closer.NONE,
    )
    assert ladder(states, conn) == [
        ("OTHER", "CLOSED", "CLOSED", "CLOSED", "CLOSED"),
        ("RST", "CLOSED", "CLOSED", "CLOSED", "CLOSED"),
    ]
    assert conn.client.port == 55202 and Inference.ROLES in conn.inferred


def test_ack_probe_answered_by_a_closed_port_leaves_the_prober_unknown() -> None:
    """<SEQ=SEG.ACK><CTL=RST>: the prober may believe in a connection the port has forgotten."""
    c = Conversation(client=("10.0.0.1", 55204), server=("10.0.0.2", 80))
    c.send(c.client, ACK, seq=7000, ack=9000)
    c.send(c.server, RST, seq=9000)
    conns, states = run(c)
    conn = only(conns)
    assert conn.handshake is Handshake.STRAY
    assert ladder(states, conn)[1] == ("RST", "UNKNOWN", "UNKNOWN", "CLOSED", "CLOSED")


def test_a_reset_that_is_not_a_closed_ports_answer_is_not_stray() -> None:
    c = Conversation(client=("10.0.0.1", 55205), server=("10.0.0.2", 80))
    c.send(c.client, ACK | PSH, 10, seq=7000, ack=9000)
    c.send(c.server, RST | ACK, seq=9000, ack=7010)  # an abort of a live connection
    assert only(run(c)[0]).handshake is Handshake.NOT_CAPTURED


def test_fast_open_syn_then_fin_with_the_synack_missed_is_one_account() -> None:
    """The client's FIN+ACK from SYN_SENT proves the SYN-ACK: complete (inferred), the client
    passes ESTABLISHED on its way to FIN_WAIT_1, the server to CLOSE_WAIT."""
    c = Conversation()
    c.send(c.client, SYN, 20, tfo=True)
    c.next[c.server] += 1  # the SYN-ACK the capture missed
    c.send(c.client, FIN | ACK)
    conns, states = run(c)
    conn = only(conns)
    assert conn.handshake is Handshake.COMPLETE
    # Nothing of the server is in the capture, but the client acknowledges its SYN.
    assert conn.inferred == (Inference.SYNACK_NOT_CAPTURED, Inference.SERVER_NOT_CAPTURED)
    assert conn.teardown is Teardown.HALF_CLOSED_AT_END
    # The FIN's ack may already cover a server FIN that came with the missed SYN-ACK's data:
    # who closed first, and so the states the FIN leads to, are unknown.
    assert conn.closed_first is Closer.UNKNOWN
    assert (conn.client_final, conn.server_final) == (S.UNKNOWN, S.UNKNOWN)
    fin = conn.packet_index[1]
    assert ladder(states, conn)[1] == ("FIN", "SYN_SENT", "UNKNOWN", "UNKNOWN", "UNKNOWN")
    assert states.passed_through(fin, client=True) is S.ESTABLISHED


def test_fin_ack_that_acknowledges_our_fin_passes_fin_wait_2_at_once() -> None:
    c = Conversation()
    c.handshake()
    c.fin(c.client)
    c.fin(c.server)
    c.ack(c.client)
    conns, states = run(c)
    conn = only(conns)
    row = conn.packet_index[4]
    assert ladder(states, conn)[4] == ("FIN", "FIN_WAIT_1", "TIME_WAIT", "CLOSE_WAIT", "LAST_ACK")
    assert states.passed_through(row, client=True) is S.FIN_WAIT_2
    assert states.passed_through(row, client=False) is None


def test_self_connect_open_data_and_close() -> None:
    """One socket at both ends (sample_captures/self_connect.pcap): each segment is applied to it
    as sent, then as received. Its SYN comes back to it in SYN_SENT (a simultaneous open with
    itself, proven by its SYN-ACK), the SYN-ACK takes it through SYN_RECEIVED to ESTABLISHED; its
    FIN comes back to it in FIN_WAIT_1 (CLOSING), and the ACK of that FIN to TIME_WAIT."""
    c = connected_to_itself()
    c.data(c.client, 8)
    c.ack(c.client)
    c.fin(c.client)
    c.ack(c.client)
    conns, states = run(c)
    conn = only(conns)
    assert conn.self_connect and conn.client == conn.server
    assert ladder(states, conn) == [
        ("SYN", "CLOSED", "SYN_SENT", "CLOSED", "SYN_SENT"),
        ("SYN_ACK", "SYN_SENT", "ESTABLISHED", "SYN_SENT", "ESTABLISHED"),
        ("PURE_ACK", "ESTABLISHED", "ESTABLISHED", "ESTABLISHED", "ESTABLISHED"),
        ("DATA", "ESTABLISHED", "ESTABLISHED", "ESTABLISHED", "ESTABLISHED"),
        ("PURE_ACK", "ESTABLISHED", "ESTABLISHED", "ESTABLISHED", "ESTABLISHED"),
        ("FIN", "ESTABLISHED", "CLOSING", "ESTABLISHED", "CLOSING"),
        ("FIN_ACK", "CLOSING", "TIME_WAIT", "CLOSING", "TIME_WAIT"),
    ]
    synack, fin = conn.packet_index[1], conn.packet_index[5]
    for client in (True, False):
        assert states.passed_through(synack, client) is S.SYN_RECEIVED
        assert states.passed_through(fin, client) is S.FIN_WAIT_1
    assert states.crossed == {}  # one SYN and one FIN: nothing crossed anything
    assert (conn.handshake, conn.teardown) == (Handshake.SIMULTANEOUS_OPEN, Teardown.SIMULTANEOUS)
    assert (conn.closed_first, conn.time_wait) == (Closer.BOTH, Closer.BOTH)
    assert (conn.client_final, conn.server_final) == (S.TIME_WAIT, S.TIME_WAIT)
    assert conn.client_isn == conn.server_isn == 5000
    # tshark calls the SYN-ACK a retransmission of the SYN: it is the socket's first SYN-ACK.
    assert conn.to_server.retransmissions == 0
    assert (conn.to_server.packets, conn.to_client.packets) == (7, 0)
    assert not conn.half_close


def test_self_connect_reset() -> None:
    c = connected_to_itself()
    c.data(c.client, 8)
    c.ack(c.client)
    c.rst(c.client)
    conns, states = run(c)
    conn = only(conns)
    assert ladder(states, conn)[-1] == ("RST", "ESTABLISHED", "CLOSED", "ESTABLISHED", "CLOSED")
    assert (conn.handshake, conn.teardown) == (
        Handshake.SIMULTANEOUS_OPEN,
        Teardown.RESET_BY_CLIENT,
    )
    assert (conn.client_final, conn.server_final) == (S.CLOSED, S.CLOSED)
    assert conn.time_wait is Closer.NONE


def test_self_connect_that_never_completes() -> None:
    """A SYN to its own address and port that never comes back to it (dropped on the way in):
    no SYN-ACK shows it arrived, so the socket stays in SYN_SENT and the SYN is unanswered."""
    c = Conversation(client=SELF, server=SELF)
    for _ in range(3):
        c.send(c.client, SYN, seq=5000)
    conns, states = run(c)
    conn = only(conns)
    assert conn.self_connect
    assert ladder(states, conn) == [
        ("SYN", "CLOSED", "SYN_SENT", "CLOSED", "SYN_SENT"),
        ("SYN_RETRANSMISSION", "SYN_SENT", "SYN_SENT", "SYN_SENT", "SYN_SENT"),
        ("SYN_RETRANSMISSION", "SYN_SENT", "SYN_SENT", "SYN_SENT", "SYN_SENT"),
    ]
    assert (conn.handshake, conn.teardown) == (Handshake.UNANSWERED, Teardown.NONE)


def test_an_ordinary_connection_is_no_self_connect() -> None:
    conns, _ = run(closed_by_client())
    assert not only(conns).self_connect


def test_self_connect_is_no_one_sided_capture() -> None:
    """No packet goes to the client, yet none of the server's is missing: they are the client's."""
    c = connected_to_itself()
    c.fin(c.client)
    conns, _ = run(c)
    assert only(conns).inferred == ()


def _server_side_only(*, tfo: bool) -> Conversation:
    """The server's packets only: its SYN-ACK, an ACK of the client's request, a reply, a FIN."""
    c = Conversation()
    c.next[c.client] += 1 + (20 if tfo else 0)  # the client's SYN (with 20 bytes), not captured
    c.send(c.server, SYN | ACK)
    if not tfo:
        c.next[c.client] += 23  # the request, not captured
    c.send(c.server, ACK)
    c.data(c.server, 44)
    c.fin(c.server)
    return c


def test_the_servers_ack_of_data_proves_a_handshake_ack_the_capture_missed() -> None:
    conns, states = run(_server_side_only(tfo=False))
    conn = only(conns)
    assert conn.handshake is Handshake.COMPLETE
    assert Inference.ACK_NOT_CAPTURED in conn.inferred
    assert Inference.CLIENT_NOT_CAPTURED in conn.inferred
    servers = [(row[3], row[4]) for row in ladder(states, conn)]
    assert servers[:2] == [("UNKNOWN", "SYN_RECEIVED"), ("SYN_RECEIVED", "ESTABLISHED")]
    # Its FIN acks no more than before and nothing follows: the client may have closed first,
    # its FIN the last of what the server acknowledged since its data (2).
    assert servers[2:] == [("ESTABLISHED", "UNKNOWN"), ("UNKNOWN", "UNKNOWN")]
    assert conn.closed_first is Closer.UNKNOWN


def test_an_ack_no_higher_than_the_synacks_proves_nothing() -> None:
    """With Fast Open the SYN-ACK already acknowledges the SYN's data: the same ack later does
    not show that the client's third ACK arrived."""
    conn = only(run(_server_side_only(tfo=True))[0])
    assert conn.handshake is Handshake.INCOMPLETE
    assert Inference.ACK_NOT_CAPTURED not in conn.inferred


def test_a_lone_synack_does_not_say_that_a_direction_was_not_captured() -> None:
    """The SYN it answers and the ACK after it may lie before and after the capture."""
    c = Conversation()
    c.next[c.client] += 1
    c.send(c.server, SYN | ACK)
    conn = only(run(c)[0])
    assert Inference.CLIENT_NOT_CAPTURED not in conn.inferred
    c.send(c.server, ACK | PSH, 10)  # the same acknowledgment again proves nothing either
    assert Inference.CLIENT_NOT_CAPTURED not in only(run(c)[0]).inferred
    c.next[c.client] += 5  # five bytes from the client arrived while the capture ran
    c.send(c.server, ACK)
    assert Inference.CLIENT_NOT_CAPTURED in only(run(c)[0]).inferred


# ------------------------------------------------- who closed first, seen from one side only


def _client_side_only() -> Conversation:
    """The client's packets only: SYN, handshake ACK, a 23-byte request, the ACK of a reply."""
    c = client_side_only(23, 44)
    c.ack(c.client)
    return c


def _unknown_close(conn: Connection, states: PacketStates, start: int) -> None:
    """Unknown from the row start on: the first whose ack reached the FIN's."""
    assert conn.closed_first is Closer.UNKNOWN
    assert conn.time_wait is Closer.UNKNOWN
    assert (conn.client_final, conn.server_final) == (S.UNKNOWN, S.UNKNOWN)
    rows = ladder(states, conn)
    assert rows[start - 1][2] == "ESTABLISHED"
    assert rows[start][1:] == ("ESTABLISHED", "UNKNOWN", "ESTABLISHED", "UNKNOWN")
    assert all(row[1:] == ("UNKNOWN",) * 4 for row in rows[start + 1 :])


def test_a_later_ack_of_one_more_proves_the_visible_side_closed_first() -> None:
    """The server's FIN arrived after the client's was sent: nothing follows a FIN."""
    c = _client_side_only()
    c.fin(c.client)
    c.next[c.server] += 1  # the server's FIN, not captured
    c.ack(c.client)
    conn, states = (lambda r: (only(r[0]), r[1]))(run(c))
    assert Inference.SERVER_NOT_CAPTURED in conn.inferred
    assert conn.closed_first is Closer.CLIENT
    # The server got the FIN in CLOSE_WAIT, or in CLOSING if its own FIN crossed it; or not yet.
    assert ladder(states, conn)[4][1:] == ("ESTABLISHED", "FIN_WAIT_1", "ESTABLISHED", "UNKNOWN")
    # What moved the ack may be the server's FIN or data: TIME_WAIT and the states are unknown.
    assert conn.time_wait is Closer.UNKNOWN
    assert ladder(states, conn)[5][1:] == ("FIN_WAIT_1", "UNKNOWN", "UNKNOWN", "UNKNOWN")


def test_a_fin_after_the_ack_of_the_peers_fin_leaves_who_closed_first_unknown() -> None:
    """The server closed first: the client's ACK covers its FIN, the client's FIN the same."""
    c = _client_side_only()
    c.next[c.server] += 1  # the server's FIN, not captured
    c.ack(c.client)
    c.fin(c.client)
    conns, states = run(c)
    _unknown_close(only(conns), states, 4)  # the ACK that may be the ACK of the server's FIN


def test_a_fin_whose_ack_moves_with_it_leaves_who_closed_first_unknown() -> None:
    """The server's FIN (or one byte) may have come just before: the FIN carries ack + 1."""
    c = _client_side_only()
    c.next[c.server] += 1
    c.fin(c.client)
    conns, states = run(c)
    _unknown_close(only(conns), states, 4)


def test_a_fin_with_nothing_after_it_leaves_who_closed_first_unknown() -> None:
    """The same packets come from a client that closed first and a server that closed long
    before (its FIN acknowledged by the client's last ACK)."""
    c = _client_side_only()
    c.fin(c.client)
    conns, states = run(c)
    _unknown_close(only(conns), states, 3)  # the ACK of the reply may cover a FIN behind it


def test_a_resent_fin_acking_one_more_proves_the_visible_side_closed_first() -> None:
    """BSD and macOS set FIN on the ACK of the peer's FIN while their own is unacknowledged."""
    c = _client_side_only()
    c.fin(c.client)
    fin_seq = c.next[c.client] - 1
    c.next[c.server] += 1
    c.send(c.client, FIN | ACK, seq=fin_seq)
    assert only(run(c)[0]).closed_first is Closer.CLIENT


def test_the_servers_fin_is_its_active_close_when_it_later_acks_one_more() -> None:
    c = _server_side_only(tfo=False)
    c.next[c.client] += 1  # the client's FIN, not captured
    c.ack(c.server)
    assert only(run(c)[0]).closed_first is Closer.SERVER


def test_a_one_sided_reset_leaves_who_closed_first_unknown_but_no_time_wait() -> None:
    """The server may have sent a FIN the client answered with this RST; a RST leaves no
    TIME_WAIT whatever came before it, and both sides CLOSED."""
    c = _client_side_only()
    c.next[c.server] += 1
    c.ack(c.client)
    c.rst(c.client)
    conn, states = (lambda r: (only(r[0]), r[1]))(run(c))
    assert conn.teardown is Teardown.RESET_BY_CLIENT
    assert (conn.closed_first, conn.time_wait) == (Closer.UNKNOWN, Closer.NONE)
    assert conn.client_final is S.CLOSED


def test_both_directions_captured_keep_the_client_as_the_first_closer() -> None:
    """The rule reads only one-sided connections: with both, the FINs themselves tell."""
    conn = only(run(closed_by_client())[0])
    assert (conn.closed_first, conn.time_wait) == (Closer.CLIENT, Closer.CLIENT)


# (mss, wscale, tsval, header cut) offers, some shared by two handshakes, some with options absent
_OFFERS = [
    (1460, 7, 11, False),
    (1400, NO_VALUE, NO_VALUE, False),
    (1460, 7, 12, False),
    (NO_VALUE, NO_VALUE, NO_VALUE, True),
    (536, 0, 13, False),
    (1460, 7, NO_VALUE, False),
]


def test_each_connection_gets_the_options_its_own_handshake_offered() -> None:
    """The options are read for all connections at once (outcomes.fill_options, which groups
    equal sets): each connection still gets what its own SYN and SYN-ACK offered."""
    conversations = []
    for k, (mss, wscale, tsval, cut) in enumerate(_OFFERS):
        c = Conversation(client=("10.0.0.1", 40000 + k), server=SERVER)
        c.send(c.client, SYN, mss=mss, wscale=wscale, tsval=tsval, header_cut=cut)
        mss, wscale, tsval, cut = _OFFERS[-1 - k]  # the server offers another set
        c.send(c.server, SYN | ACK, mss=mss, wscale=wscale, tsval=tsval, header_cut=cut)
        c.send(c.client, ACK)
        conversations.append(c)
    connections, _ = reconstruct(merged(*conversations))
    assert len(connections) == len(_OFFERS)
    for conn in connections:
        k = conn.client.port - 40000
        for options, (mss, wscale, tsval, cut) in (
            (conn.client_options, _OFFERS[k]),
            (conn.server_options, _OFFERS[-1 - k]),
        ):
            assert options.mss == (None if mss == NO_VALUE else mss)
            assert options.wscale == (None if wscale == NO_VALUE else wscale)
            assert options.sack_permitted == (mss != NO_VALUE)  # builders: SACK beside MSS
            assert options.timestamps == (tsval != NO_VALUE)
            assert options.options_cut == cut
