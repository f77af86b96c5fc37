"""Anomaly checks on hand-built packet lists: slug, severity, frames and parameters."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from pcapexplain import anomalies, native, retransmission
from pcapexplain.explanations import finding_texts
from pcapexplain.model import (
    AnalysisFlag,
    Anomaly,
    AnomalySlug,
    ChecksumStatus,
    Lang,
    PacketColumns,
    Severity,
)
from pcapexplain.reconstructor import reconstruct
from tests.builders import (
    ACK,
    FIN,
    PSH,
    RETRANSMISSION,
    RST,
    SELF,
    SYN,
    Conversation,
    closed_by_client,
    connected_to_itself,
    merged,
)
from tests.findings import check_against_catalogue
from tests.test_fastpaths import _mixed_capture

F = AnalysisFlag


Found = list[Anomaly]  # the findings of one connection


def found(packets: PacketColumns) -> list[Found]:
    """What detect returns, split by connection (in id order)."""
    conns, states = reconstruct(packets)
    findings = anomalies.detect(packets, states, conns)
    assert [a.connection for a in findings] == sorted(a.connection for a in findings)
    for finding in findings:
        check_against_catalogue(finding)
    return [[a for a in findings if a.connection == c.id] for c in conns]


def slugs(conn: Found) -> set[AnomalySlug]:
    return {a.slug for a in conn}


def one(conn: Found, slug: AnomalySlug) -> Anomaly:
    matches = [a for a in conn if a.slug is slug]
    assert len(matches) == 1, (slug, slugs(conn))
    return matches[0]


def test_catalogue_covers_every_slug_with_a_severity() -> None:
    assert set(anomalies.CATALOGUE) == set(AnomalySlug)
    assert all(isinstance(s.severity, Severity) for s in anomalies.CATALOGUE.values())


def test_unanswered_syn_with_doubling_retries() -> None:
    c = Conversation()
    for at in (0.0, 1.0, 3.0):
        c.clock = at
        c.send(c.client, SYN, seq=1000, advance=False)
    c.clock = 7.0
    conn = found(c.columns())[0]
    unanswered = one(conn, AnomalySlug.SYN_UNANSWERED)
    assert unanswered.severity is Severity.WARN
    assert unanswered.frames == (1, 2, 3)
    assert unanswered.params["count"] == 3
    assert unanswered.params["backoff"] == "doubling"
    assert AnomalySlug.SYN_RETRANSMITTED.value in slugs(conn)


def test_refused_names_the_port() -> None:
    c = Conversation(server=("10.0.0.2", 8443))
    c.send(c.client, SYN)
    c.send(c.server, RST | ACK, seq=0)
    refused = one(found(c.columns())[0], AnomalySlug.CONNECTION_REFUSED)
    assert refused.params["port"] == 8443
    assert refused.frames == (1, 2)


def test_synack_never_acknowledged() -> None:
    c = Conversation()
    c.send(c.client, SYN)
    c.send(c.server, SYN | ACK)
    c.clock = 5.0
    c.send(c.server, SYN | ACK, seq=5000, advance=False)
    conn = found(c.columns())[0]
    assert AnomalySlug.HANDSHAKE_INCOMPLETE.value in slugs(conn)


def test_old_duplicate_seen_at_the_server_names_all_three_frames() -> None:
    c = Conversation(client_isn=90, server_isn=300)
    c.send(c.client, SYN)
    c.send(c.server, SYN | ACK)
    c.send(c.client, RST, seq=91)
    c.next[c.client], c.next[c.server] = 100, 400
    c.handshake()
    stale, real = found(c.columns())
    assert one(stale, AnomalySlug.OLD_DUPLICATE_SYN).frames == (1, 2, 3)
    assert AnomalySlug.OLD_DUPLICATE_SYN.value not in slugs(real)
    assert AnomalySlug.PORT_REUSED.value not in slugs(real)  # recovery, not reuse


def test_simultaneous_open_corrects_tsharks_retransmission_label() -> None:
    c = Conversation(client=("10.0.0.1", 5000), server=("10.0.0.2", 6000))
    c.send(c.client, SYN)
    c.send(c.server, SYN)
    resent = int(F.RETRANSMISSION)
    c.send(c.client, SYN | ACK, seq=1000, analysis=resent)
    c.send(c.server, SYN | ACK, seq=5000, analysis=resent)
    conn = found(c.columns())[0]
    assert AnomalySlug.SIMULTANEOUS_OPEN.value in slugs(conn)
    assert not slugs(conn) & {"retransmission", "syn-retransmitted", "synack-retransmitted"}


def _crossing_syns() -> Conversation:
    c = Conversation(client=("10.0.0.1", 5000), server=("10.0.0.2", 6000))
    c.send(c.client, SYN)
    c.send(c.server, SYN)
    return c


def test_simultaneous_open_server_syn_resent_is_a_retransmission() -> None:
    """The server's SYN sent again with its ISN: tshark labels it a retransmission, rightly (only
    the first SYN-ACK's label is wrong there), and it is flagged as the client's would be."""
    c = _crossing_syns()
    c.send(c.server, SYN, seq=5000, analysis=RETRANSMISSION)
    c.send(c.client, SYN | ACK, seq=1000, analysis=RETRANSMISSION)
    c.send(c.server, ACK)
    packets = c.columns()
    conns, _ = reconstruct(packets)
    assert (conns[0].to_server.retransmissions, conns[0].to_client.retransmissions) == (0, 1)
    conn = found(packets)[0]
    resent = one(conn, AnomalySlug.SYN_RETRANSMITTED)
    assert (resent.frames, resent.params["side"], resent.params["count"]) == ((3,), "server", 1)
    # Of tshark's labels only the SYN-ACK's (frame 4) is a mislabel of the simultaneous open.
    assert one(conn, AnomalySlug.SIMULTANEOUS_OPEN).params["suppressed"] == 1
    explain, why = finding_texts(Lang.EN, resent.slug, resent.params)
    assert explain.startswith("The server, which sent a SYN of its own") and "server" in why
    assert finding_texts(Lang.ZH, resent.slug, resent.params)[0].startswith("服务器也发出了")


def test_simultaneous_open_client_syn_and_synack_resent() -> None:
    c = _crossing_syns()
    c.send(c.client, SYN, seq=1000, analysis=RETRANSMISSION)
    c.send(c.client, SYN | ACK, seq=1000, analysis=RETRANSMISSION)
    c.send(c.client, SYN | ACK, seq=1000, analysis=RETRANSMISSION)
    c.send(c.server, SYN | ACK, seq=5000, analysis=RETRANSMISSION)
    conn = found(c.columns())[0]
    syn = one(conn, AnomalySlug.SYN_RETRANSMITTED)
    assert (syn.frames, syn.params["side"]) == ((3,), "client")
    synack = one(conn, AnomalySlug.SYNACK_RETRANSMITTED)
    assert (synack.frames, synack.params["side"]) == ((5,), "client")
    assert finding_texts(Lang.EN, synack.slug, synack.params)[0].startswith("The client, which")
    # The two first SYN-ACKs (frames 4 and 6) are the mislabels; the copies are not.
    assert one(conn, AnomalySlug.SIMULTANEOUS_OPEN).params["suppressed"] == 2


def test_a_resent_syn_of_an_ordinary_client_keeps_its_texts() -> None:
    c = Conversation()
    c.send(c.client, SYN)
    c.send(c.client, SYN, seq=1000, analysis=RETRANSMISSION)
    c.send(c.server, SYN | ACK)
    c.send(c.client, ACK)
    resent = one(found(c.columns())[0], AnomalySlug.SYN_RETRANSMITTED)
    assert resent.params["side"] == "client"
    assert finding_texts(Lang.EN, resent.slug, resent.params)[0].startswith("The client sent")


def test_self_connect_is_flagged_instead_of_a_simultaneous_open() -> None:
    """One socket at both ends: one finding says so; its SYN-ACK, which tshark calls a
    retransmission of its SYN, is the handshake, and no second SYN crossed anything."""
    c = connected_to_itself()
    c.data(c.client, 8)
    c.ack(c.client)
    c.fin(c.client)
    c.ack(c.client)
    conn = found(c.columns())[0]
    finding = one(conn, AnomalySlug.SELF_CONNECT)
    assert finding.severity is Severity.WARN
    assert finding.params == {"port": SELF[1], "variant": "connected"}
    assert finding.frames == (1, 2)
    assert not slugs(conn) & {
        AnomalySlug.SIMULTANEOUS_OPEN,
        AnomalySlug.SYN_UNANSWERED,
        AnomalySlug.RETRANSMISSION,
        AnomalySlug.SYNACK_RETRANSMITTED,
        AnomalySlug.HALF_CLOSE,
    }


def test_self_connect_whose_syn_never_came_back() -> None:
    c = Conversation(client=SELF, server=SELF)
    for _ in range(2):
        c.send(c.client, SYN, seq=5000)
    conn = found(c.columns())[0]
    assert one(conn, AnomalySlug.SELF_CONNECT).params["variant"] == "attempt"
    assert AnomalySlug.SYN_UNANSWERED in slugs(conn)


def test_a_simultaneous_open_of_two_sockets_is_no_self_connect() -> None:
    c = Conversation(client=("10.0.0.1", 5000), server=("10.0.0.1", 6000))  # one host, two ports
    c.send(c.client, SYN)
    c.send(c.server, SYN)
    c.send(c.client, SYN | ACK, seq=1000)
    c.send(c.server, SYN | ACK, seq=5000)
    conn = found(c.columns())[0]
    assert AnomalySlug.SIMULTANEOUS_OPEN in slugs(conn)
    assert AnomalySlug.SELF_CONNECT not in slugs(conn)


def test_illegal_flag_combination() -> None:
    c = Conversation()
    c.send(c.client, SYN | FIN)
    c.send(c.server, RST | ACK, seq=0, ack=1002)
    conn = found(c.columns())[0]
    assert one(conn, AnomalySlug.ILLEGAL_FLAGS).frames == (1,)


def test_half_close_counts_the_data_after_the_fin() -> None:
    c = Conversation()
    c.handshake()
    c.fin(c.client)
    c.ack(c.server)
    c.data(c.server, 300)
    c.data(c.server, 200)
    c.fin(c.server)
    c.ack(c.client)
    half = one(found(c.columns())[0], AnomalySlug.HALF_CLOSE)
    assert half.params["bytes"] == 500
    assert half.params["side"] == "server"


def test_lost_final_ack_when_the_fin_comes_again() -> None:
    c = Conversation()
    c.handshake()
    c.fin(c.client)
    c.ack(c.server)
    c.fin(c.server)
    c.ack(c.client)
    c.clock += 0.2
    c.send(c.server, FIN | ACK, seq=c.next[c.server] - 1, analysis=int(F.RETRANSMISSION))
    c.ack(c.client)
    conn = found(c.columns())[0]
    lost = one(conn, AnomalySlug.LOST_FINAL_ACK)  # the client had ACKed the FIN, and ACKs it again
    assert (lost.frames, lost.params["side"]) == ((8,), "server")
    assert AnomalySlug.FIN_RETRANSMITTED not in slugs(conn)


def test_fin_resent_before_any_ack_of_it_is_a_plain_retransmission() -> None:
    c = Conversation()
    c.handshake()
    c.fin(c.client)
    c.clock += 0.2
    c.send(c.client, FIN | ACK, seq=c.next[c.client] - 1, analysis=int(F.RETRANSMISSION))
    c.ack(c.server)
    conn = found(c.columns())[0]
    resent = one(conn, AnomalySlug.FIN_RETRANSMITTED)
    assert (resent.frames, resent.params["side"]) == ((5,), "client")
    assert AnomalySlug.LOST_FINAL_ACK not in slugs(conn)


def test_reset_of_an_open_connection() -> None:
    c = Conversation()
    c.handshake()
    c.data(c.client, 600)
    c.rst(c.server)
    reset = one(found(c.columns())[0], AnomalySlug.CONNECTION_RESET)
    assert reset.frames[-1] == 5


def test_port_reuse_inside_time_wait() -> None:
    first = Conversation()
    first.handshake()
    first.fin(first.client)
    first.fin(first.server)
    first.ack(first.client)
    again = Conversation(client_isn=900000, server_isn=700000)
    again.clock = first.clock + 2.0
    again.handshake()
    conns = found(merged(first, again))
    reuse = one(conns[1], AnomalySlug.PORT_REUSED_IN_TIME_WAIT)
    assert reuse.params["time_wait_side"] == "client"
    assert reuse.params["gap"] < 60


def test_a_syn_the_server_in_time_wait_answers_with_an_ack_is_a_conflict() -> None:
    """The server closed first, so it holds the 4-tuple in TIME_WAIT; 2 s later the client's new
    SYN gets a (challenge) ACK instead of a SYN-ACK."""
    first = Conversation()
    first.handshake()
    first.fin(first.server)
    first.fin(first.client)
    first.ack(first.server)
    again = Conversation(client_isn=900000, server_isn=700000)
    again.clock = first.clock + 2.0
    again.send(again.client, SYN)
    again.send(again.server, ACK, ack=first.next[first.client])
    conns = found(merged(first, again))
    conflict = one(conns[1], AnomalySlug.TIME_WAIT_CONFLICT)
    assert conflict.params["answer"] == "ack"
    assert conflict.params["time_wait_side"] == "server"
    assert conflict.frames == (7, 8)  # the new SYN and its answer
    assert conflict.params["gap"] < 60


def test_a_spurious_retransmission_is_its_own_finding() -> None:
    c = Conversation()
    c.handshake()
    c.data(c.client, 100)
    c.ack(c.server)
    c.send(
        c.client, ACK | PSH, 100, seq=1001, advance=False, analysis=int(F.SPURIOUS_RETRANSMISSION)
    )
    conn = found(c.columns())[0]
    assert one(conn, AnomalySlug.SPURIOUS_RETRANSMISSION).frames == (6,)
    assert AnomalySlug.RETRANSMISSION not in slugs(conn)


def test_port_reuse_after_2msl_is_plain_reuse() -> None:
    first = closed_by_client()
    again = Conversation(client_isn=900000, server_isn=700000)
    again.clock = first.clock + 300.0  # past 2MSL (RFC 9293: 240 s)
    again.handshake()
    conns = found(merged(first, again))
    reuse = one(conns[1], AnomalySlug.PORT_REUSED)
    assert reuse.frames == (len(first.packets) + 1,)
    assert reuse.params["previous"] == 0 and reuse.params["gap"] >= 240
    assert AnomalySlug.PORT_REUSED_IN_TIME_WAIT not in slugs(conns[1])


def test_a_reset_that_leaves_received_data_unacknowledged_says_so() -> None:
    """The server resets while 600 bytes it received are unacknowledged (unread data)."""
    c = Conversation()
    c.handshake()
    c.data(c.client, 600)
    c.send(c.server, RST | ACK, ack=c.client_isn + 1)
    unread = one(found(c.columns())[0], AnomalySlug.RESET_UNREAD_DATA)
    assert unread.frames == (5,)
    assert unread.params == {"side": "server", "cause": "unacked-received", "bytes": 600}


def test_retransmitted_data_is_flagged_from_tsharks_verdict() -> None:
    c = Conversation()
    c.handshake()
    c.data(c.client, 100)
    c.send(c.client, ACK | PSH, 100, seq=1001, advance=False, analysis=int(F.RETRANSMISSION))
    conn = found(c.columns())[0]
    assert one(conn, AnomalySlug.RETRANSMISSION).frames == (5,)
    assert reconstruct(c.columns())[0][0].to_server.retransmissions == 1


def test_gap_acknowledged_without_a_resend_is_capture_loss() -> None:
    c = Conversation()
    c.handshake()
    c.data(c.client, 100)
    c.next[c.client] += 100  # a segment the capture missed
    c.send(c.client, ACK | PSH, 100, analysis=int(F.LOST_SEGMENT))
    c.ack(c.server)  # acknowledges all 300 bytes, nothing was resent
    conn = found(c.columns())[0]
    assert AnomalySlug.CAPTURE_LOSS.value in slugs(conn)


def test_zero_window_episode() -> None:
    c = Conversation()
    c.handshake()
    c.data(c.client, 1000)
    c.send(c.server, ACK, window=0, analysis=int(F.ZERO_WINDOW))
    c.clock += 1.0
    c.send(c.server, ACK, window=4096, analysis=int(F.WINDOW_UPDATE))
    conn = found(c.columns())[0]
    zero = one(conn, AnomalySlug.ZERO_WINDOW)
    assert zero.params["side"] == "server"
    assert zero.params["variant"] == "reopened"


def test_capture_started_mid_connection() -> None:
    c = Conversation()
    c.data(c.client)
    c.data(c.server)
    conn = found(c.columns())[0]
    assert one(conn, AnomalySlug.MIDSTREAM).severity is Severity.INFO


def test_offloaded_checksums_from_one_host() -> None:
    c = Conversation()
    c.handshake()
    c.data(c.client)
    c.data(c.server)
    packets = c.columns()
    bad = int(ChecksumStatus.BAD)
    packets.tcp_checksum = [bad if s == "10.0.0.1" else 0 for s in packets.src]
    conn = found(packets)[0]
    offload = one(conn, AnomalySlug.CHECKSUM_OFFLOAD)  # every client packet, no server packet
    assert (offload.params["side"], offload.params["count"]) == ("client", 3)
    assert AnomalySlug.BAD_CHECKSUM not in slugs(conn)


def test_one_bad_checksum_among_good_ones_is_an_error() -> None:
    c = Conversation()
    c.handshake()
    c.data(c.client)  # frame 4: damaged on the way, dropped, never acknowledged
    c.send(c.client, ACK | PSH, 100, seq=c.client_isn + 1, analysis=RETRANSMISSION)
    c.data(c.server)
    packets = c.columns()
    packets.tcp_checksum = [int(ChecksumStatus.BAD) if f == 4 else 0 for f in packets.frame]
    conn = found(packets)[0]
    bad = one(conn, AnomalySlug.BAD_CHECKSUM)
    assert (bad.frames, bad.severity, bad.params["side"]) == ((4,), Severity.ERROR, "client")
    assert AnomalySlug.CHECKSUM_OFFLOAD not in slugs(conn)


def test_a_bad_checksum_its_receiver_acknowledged_is_offload() -> None:
    # Captured on the sender: the kernel fills in most checksums on the NIC, but the ACK a
    # TIME_WAIT socket sends is computed in software, so one of the host's packets is good.
    c = Conversation()
    c.handshake()
    c.data(c.client)  # frame 4, acknowledged by the server's reply
    c.data(c.server)
    c.ack(c.client)  # frame 6: the only good one
    packets = c.columns()
    packets.tcp_checksum = [
        int(ChecksumStatus.BAD) if s == "10.0.0.1" and f != 6 else 0
        for s, f in zip(packets.src, packets.frame, strict=True)
    ]
    conn = found(packets)[0]
    assert one(conn, AnomalySlug.CHECKSUM_OFFLOAD).params == {"count": 3, "side": "client"}
    assert AnomalySlug.BAD_CHECKSUM not in slugs(conn)


def test_loopback_checksums_are_offload_on_both_sides() -> None:
    # Loopback never computes TCP checksums: every packet of both hosts is "bad".
    c = Conversation()
    c.handshake()
    c.data(c.client)
    c.data(c.server)
    packets = c.columns()
    packets.tcp_checksum = [int(ChecksumStatus.BAD)] * len(packets.frame)
    conn = found(packets)[0]
    assert one(conn, AnomalySlug.CHECKSUM_OFFLOAD).params == {"count": 5, "side": "both"}
    assert AnomalySlug.BAD_CHECKSUM not in slugs(conn)


def test_data_resent_with_its_fin_is_not_data_after_fin() -> None:
    # Linux collapses a retransmission with what follows it: lost bytes, later bytes and the FIN
    # come again in one segment, after the FIN was first sent alone.
    c = Conversation()
    c.handshake()
    c.data(c.client, 100)
    c.data(c.client, 50)
    c.fin(c.client)
    c.send(c.client, FIN | ACK | PSH, 150, seq=c.client_isn + 1, analysis=RETRANSMISSION)
    c.send(c.server, ACK, ack=c.client_isn + 152)
    conn = found(c.columns())[0]
    assert AnomalySlug.DATA_AFTER_FIN not in slugs(conn)
    assert AnomalySlug.DATA_AFTER_RESET not in slugs(conn)


def test_data_beyond_the_fin_is_data_after_fin() -> None:
    c = Conversation()
    c.handshake()
    c.fin(c.client)
    c.data(c.client, 6)
    conn = found(c.columns())[0]
    after = one(conn, AnomalySlug.DATA_AFTER_FIN)
    assert (after.frames, after.params["bytes"], after.params["side"]) == ((5,), 6, "client")


def test_a_new_syn_does_not_move_the_old_sequence_space() -> None:
    # H10: the client lost its state and connects again with a new ISN; the server's challenge
    # ACK draws the client's RST <SEQ=SEG.ACK>. Nothing was left unacknowledged.
    c = Conversation()
    c.handshake()
    c.data(c.client, 6)
    c.ack(c.server)
    c.send(c.client, SYN, seq=900_000, advance=False)
    c.ack(c.server)  # the challenge ACK
    c.send(c.client, RST, seq=c.client_isn + 7)
    conn = found(c.columns())[0]
    assert one(conn, AnomalySlug.SYN_IN_ESTABLISHED).params == {"count": 1, "side": "client"}
    # <SEQ=SEG.ACK> without ACK: the form of an answer from no connection (RFC 9293 §3.10.7.1).
    assert one(conn, AnomalySlug.CONNECTION_RESET).params["cause"] == "no-connection"
    assert AnomalySlug.RESET_UNREAD_DATA not in slugs(conn)


def test_a_clean_connection_has_no_anomaly() -> None:
    assert found(closed_by_client().columns())[0] == []


def test_zero_window_probes_and_keep_alives_follow_the_replay_s_one_rule() -> None:
    """A keep-alive-shaped segment probes a zero window only while the peer's window is 0; the
    finding lists exactly the segments the replay gave that role, and the story tells them so."""
    from pcapexplain.model import PacketRole
    from pcapexplain.narrate import narrate

    c = Conversation()
    c.handshake()
    c.data(c.client, 1000)
    c.send(c.server, ACK, window=0, analysis=F.ZERO_WINDOW)
    probe = c.next[c.client] - 1  # Linux probes with SND.UNA - 1 and no data
    for _ in range(2):
        c.send(c.client, ACK, seq=probe, analysis=F.KEEP_ALIVE)
        c.send(c.server, ACK, window=0, analysis=F.ZERO_WINDOW | F.KEEP_ALIVE_ACK)
    c.send(c.server, ACK, window=2896, analysis=F.WINDOW_UPDATE)
    c.data(c.client, 500)
    c.ack(c.server)
    c.send(c.client, ACK, seq=c.next[c.client] - 1, analysis=F.KEEP_ALIVE)  # idle: window open
    c.send(c.server, ACK, analysis=F.KEEP_ALIVE_ACK)
    packets = c.columns()
    conns, states = reconstruct(packets)
    roles = {packets.frame[r]: PacketRole(states.role[r]) for r in range(len(packets))}
    assert [roles[f] for f in (6, 7, 8, 9)] == [PacketRole.ZERO_WINDOW_PROBE] * 4
    assert (roles[13], roles[14]) == (PacketRole.KEEP_ALIVE, PacketRole.KEEP_ALIVE)
    findings = anomalies.detect(packets, states, conns)
    probes = one(findings, AnomalySlug.ZERO_WINDOW_PROBE)
    assert probes.frames == (6, 8) and probes.params["count"] == 2
    assert one(findings, AnomalySlug.ZERO_WINDOW).frames == (5, 7, 9)
    keep_alive = one(findings, AnomalySlug.KEEP_ALIVE)
    assert keep_alive.frames == (13, 14) and keep_alive.params["acks"] == 1
    told = narrate(packets, states, conns[0], "en", findings)
    covering = {
        f: line.text for line in told for f in range(line.frame or 0, (line.last_frame or 0) + 1)
    }
    assert all("keep-alive" not in covering[f] for f in (6, 8))
    assert "keep-alive" in covering[13]


def test_a_reset_from_the_closer_ends_close_wait_so_nothing_lingers() -> None:
    c = Conversation()
    c.handshake()
    c.fin(c.client)
    c.data(c.server, 9)  # acknowledges the FIN and keeps sending: CLOSE_WAIT
    c.rst(c.client, with_ack=False)  # the client, in FIN_WAIT_2, does not want it: reset
    conn = found(c.columns())[0]
    assert AnomalySlug.CLOSE_WAIT_LINGERING not in slugs(conn)
    assert AnomalySlug.HALF_CLOSE in slugs(conn)
    c.packets.pop()  # without the reset the server sits in CLOSE_WAIT to the end
    assert AnomalySlug.CLOSE_WAIT_LINGERING in slugs(found(c.columns())[0])


def _silent_server(tries: int, *, keep_alive: bool = False) -> Conversation:
    """A request and its ACK, then the server falls silent: the client resends its second
    request (or, idle, probes) tries times, each wait twice the one before."""
    c = Conversation()
    c.handshake()
    c.data(c.client, 23)
    c.ack(c.server)
    wait = 0.2
    if keep_alive:
        for _ in range(tries):
            c.clock += wait
            c.send(c.client, ACK, seq=c.next[c.client] - 1, analysis=F.KEEP_ALIVE)
        return c
    c.data(c.client, 23)
    again = c.next[c.client] - 23
    for _ in range(tries):
        c.clock += wait
        wait *= 2
        c.send(c.client, ACK | PSH, 23, seq=again, analysis=RETRANSMISSION)
    return c


def _later(clock: float) -> Conversation:
    """Another connection's lone SYN at clock: the capture goes on until then."""
    other = Conversation(client=("10.0.0.9", 5555), clock=clock)
    other.send(other.client, SYN)
    return other


def test_a_peer_that_stops_answering_is_named_with_the_tries_and_their_backoff() -> None:
    c = _silent_server(3)
    conn = found(merged(c, _later(c.clock + 5.0)))[0]
    stall = one(conn, AnomalySlug.PEER_UNRESPONSIVE)
    assert stall.frames == (7, 8, 9)
    params = stall.params
    assert (params["side"], params["ending"], params["count"]) == ("client", "at-capture-end", 3)
    step = c.step  # the builder's clock moves on after each packet
    assert (params["first_interval"], params["last_interval"], params["backoff"]) == (
        round(0.4 + step, 6),
        round(0.8 + step, 6),
        "doubling",
    )
    assert params["silent"] == round(c.clock + 5.0 - 4 * step, 6)  # from the server's ACK (5)
    explain, why = finding_texts(Lang.ZH, "peer-unresponsive", params)
    assert "客户端又尝试了 3 次" in explain and "ETIMEDOUT" in why


def test_one_unanswered_resend_is_ordinary_loss_not_a_silent_peer() -> None:
    c = _silent_server(1)
    assert AnomalySlug.PEER_UNRESPONSIVE not in slugs(found(merged(c, _later(c.clock + 5)))[0])


def test_a_peer_that_answers_after_the_tries_is_alive() -> None:
    c = _silent_server(3)
    c.ack(c.server)
    assert AnomalySlug.PEER_UNRESPONSIVE not in slugs(found(c.columns())[0])


def test_new_data_after_the_tries_shows_they_were_answered_unseen() -> None:
    c = _silent_server(2)
    c.data(c.client, 50)  # a stack sends new data only once something was acknowledged
    c.clock += 1.0
    c.send(c.client, ACK | PSH, 50, seq=c.next[c.client] - 50, analysis=RETRANSMISSION)
    assert AnomalySlug.PEER_UNRESPONSIVE not in slugs(found(c.columns())[0])


def test_tries_with_no_packet_of_the_peer_in_the_capture_prove_no_silence() -> None:
    """A one-sided capture: the server's packets may have passed another way."""
    c = _silent_server(3)
    c.packets = [p for p in c.packets if p.src == c.client]
    assert AnomalySlug.PEER_UNRESPONSIVE not in slugs(found(c.columns())[0])


def test_unanswered_keep_alives_then_a_reset_are_a_peer_given_up_on() -> None:
    from pcapexplain.model import TcpState

    c = _silent_server(3, keep_alive=True)
    c.rst(c.client)
    packets = c.columns()
    conns, states = reconstruct(packets)
    conn = found(packets)[0]
    stall = one(conn, AnomalySlug.PEER_UNRESPONSIVE)
    assert (stall.params["ending"], stall.params["backoff"]) == ("gave-up", "constant")
    assert stall.frames == (6, 7, 8, 9)
    assert one(conn, AnomalySlug.CONNECTION_RESET).params["cause"] == "gave-up"
    assert AnomalySlug.RESET_UNREAD_DATA not in slugs(conn)
    assert (conns[0].client_final, conns[0].server_final) == (TcpState.CLOSED, TcpState.UNKNOWN)


def test_a_peer_silent_for_several_resends_then_answering_is_a_stall_with_its_length() -> None:
    c = _silent_server(4)  # the second request (6), resent at 7-10 with doubling waits
    c.ack(c.server)  # 11: the server answers at last
    packets = c.columns()
    conn = found(packets)[0]
    stall = one(conn, AnomalySlug.STALLED)
    assert AnomalySlug.PEER_UNRESPONSIVE not in slugs(conn)
    assert (stall.severity, stall.frames) == (Severity.WARN, (7, 8, 9, 10, 11))
    params = stall.params
    assert (params["variant"], params["side"], params["count"], params["frame"]) == (
        "client-answered",
        "client",
        4,
        11,
    )
    step, t = c.step, packets.time
    assert (params["first_interval"], params["last_interval"], params["backoff"]) == (
        round(0.4 + step, 6),
        round(1.6 + step, 6),
        "doubling",
    )
    assert params["stalled"] == round(t[10] - t[5], 6)  # from the original request
    assert params["silent"] == round(t[10] - t[4], 6)  # from the server's ACK (5)
    explain, why = finding_texts(Lang.EN, "stalled", params)
    assert "the client tried 4 times" in explain and "frame 11 ended the stall" in explain
    assert "RFC 6298 §5.5" in why
    explain, why = finding_texts(Lang.ZH, "stalled", params)
    assert "客户端尝试了 4 次" in explain and "第 11 帧" in explain and "指数退避" in why


def test_one_resend_then_an_answer_is_ordinary_loss_not_a_stall() -> None:
    c = _silent_server(1)
    c.ack(c.server)
    conn = found(c.columns())[0]
    assert AnomalySlug.RETRANSMISSION in slugs(conn)
    assert not slugs(conn) & {AnomalySlug.STALLED, AnomalySlug.PEER_UNRESPONSIVE}


def test_a_burst_of_resends_within_a_round_trip_is_not_a_stall() -> None:
    """SACK or RACK recovery resends several segments at once: no answer could have come yet."""
    c = Conversation()
    c.handshake()
    c.data(c.client, 100)
    c.data(c.client, 100)
    c.ack(c.server)
    first = c.next[c.client] - 200
    c.clock += 0.3
    for offset in (0, 100):
        c.send(c.client, ACK | PSH, 100, seq=first + offset, analysis=RETRANSMISSION)
    c.ack(c.server)
    assert AnomalySlug.STALLED not in slugs(found(c.columns())[0])


def test_a_packet_of_the_peer_that_acknowledges_none_of_the_tries_ends_no_stall() -> None:
    """accept_queue_full.pcap: the server, its third ACK dropped, resends its SYN-ACK between the
    client's resends; alive, it has not received them, so that ends no stall."""
    c = _silent_server(3)
    resent = c.packets[-1]
    c.send(c.server, SYN | ACK, seq=c.packets[1].seq, ack=resent.seq)
    assert AnomalySlug.STALLED not in slugs(found(c.columns())[0])
    c.packets[-1] = replace(c.packets[-1], flags=ACK, ack=c.next[c.client])  # acknowledges them
    assert AnomalySlug.STALLED in slugs(found(c.columns())[0])


def test_an_unanswered_end_stays_peer_unresponsive_and_is_no_stall() -> None:
    c = _silent_server(3)
    conn = found(merged(c, _later(c.clock + 5.0)))[0]
    assert AnomalySlug.PEER_UNRESPONSIVE in slugs(conn)
    assert AnomalySlug.STALLED not in slugs(conn)


def test_resends_with_no_packet_of_the_peer_in_the_capture_prove_no_stall() -> None:
    """A one-sided capture: the server's answers may have passed another way."""
    c = _silent_server(4)
    c.ack(c.server)
    c.data(c.client, 10)
    c.packets = [p for p in c.packets if p.src == c.client]
    assert not slugs(found(c.columns())[0]) & {AnomalySlug.STALLED, AnomalySlug.PEER_UNRESPONSIVE}


def test_unanswered_probes_then_an_answer_are_a_noted_stall_from_the_first_probe() -> None:
    c = _silent_server(3, keep_alive=True)  # three keep-alives (6-8) a fixed 0.2 s apart
    c.ack(c.server)
    packets = c.columns()
    stall = one(found(packets)[0], AnomalySlug.STALLED)
    assert (stall.severity, stall.frames) == (Severity.NOTE, (6, 7, 8, 9))
    assert (stall.params["count"], stall.params["backoff"]) == (3, "constant")
    t = packets.time
    assert stall.params["stalled"] == round(t[8] - t[5], 6)  # idle time before is no stall
    assert stall.params["silent"] == round(t[8] - t[4], 6)
    _, why = finding_texts(Lang.EN, "stalled", stall.params)
    assert "fixed interval" in why


def test_probes_into_a_zero_window_are_its_wait_not_a_stall() -> None:
    """The sender waits for the window, not for an answer: Linux rate-limits its answers."""

    def probed(window: int) -> Found:
        c = Conversation()
        c.handshake()
        c.data(c.client, 100)
        c.send(c.server, ACK, window=window, analysis=F.ZERO_WINDOW if not window else 0)
        for _ in range(3):
            c.clock += 0.3
            c.send(c.client, ACK, seq=c.next[c.client] - 1, analysis=F.ZERO_WINDOW_PROBE)
        c.ack(c.server)  # 9: it opens again
        return found(c.columns())[0]

    closed = probed(0)
    assert AnomalySlug.ZERO_WINDOW in slugs(closed)
    assert AnomalySlug.STALLED not in slugs(closed)
    assert one(probed(100), AnomalySlug.STALLED).severity is Severity.NOTE  # unanswered, open


def test_a_stall_counts_from_the_original_even_when_the_peer_spoke_after_it() -> None:
    c = Conversation()
    c.handshake()
    c.data(c.client, 100)  # 4: lost
    c.data(c.server, 50)  # 5: the server's own data crosses it, acknowledging nothing new
    again = c.next[c.client] - 100
    for wait in (0.3, 0.6):
        c.clock += wait
        c.send(c.client, ACK | PSH, 100, seq=again, analysis=RETRANSMISSION)
    c.ack(c.server)  # 8
    packets = c.columns()
    params = one(found(packets)[0], AnomalySlug.STALLED).params
    assert params["stalled"] == round(packets.time[7] - packets.time[3], 6)  # the lost request
    assert params["silent"] == round(packets.time[7] - packets.time[4], 6)  # the server's data


def test_a_stall_ended_by_the_peers_reset_says_so() -> None:
    c = _silent_server(3)
    c.rst(c.server)
    conn = found(c.columns())[0]
    stall = one(conn, AnomalySlug.STALLED)
    assert stall.params["variant"] == "client-reset"
    explain, _ = finding_texts(Lang.EN, "stalled", stall.params)
    assert "the server answered with a RST at frame 10" in explain
    assert AnomalySlug.CONNECTION_RESET in slugs(conn)


def test_a_server_stall_is_named_for_the_server() -> None:
    c = Conversation()
    c.handshake()
    c.data(c.client, 23)
    c.data(c.server, 300)  # 5: the reply, lost
    again = c.next[c.server] - 300
    for wait in (0.2, 0.4, 0.8):
        c.clock += wait
        c.send(c.server, ACK | PSH, 300, seq=again, analysis=RETRANSMISSION)
    c.ack(c.client)  # 9
    stall = one(found(c.columns())[0], AnomalySlug.STALLED)
    assert (stall.params["variant"], stall.params["count"], stall.frames) == (
        "server-answered",
        3,
        (6, 7, 8, 9),
    )
    explain, _ = finding_texts(Lang.ZH, "stalled", stall.params)
    assert "服务器尝试了 3 次" in explain and "客户端在 " in explain


def test_syn_retries_are_the_handshakes_finding_not_a_stall() -> None:
    c = Conversation()
    for wait in (0.0, 1.0, 2.0):
        c.clock += wait
        c.send(
            c.client, SYN, seq=c.client_isn, advance=False, analysis=RETRANSMISSION if wait else 0
        )
    c.next[c.client] = c.client_isn + 1
    c.send(c.server, SYN | ACK)
    c.ack(c.client)
    conn = found(c.columns())[0]
    assert AnomalySlug.SYN_RETRANSMITTED in slugs(conn)
    assert AnomalySlug.STALLED not in slugs(conn)


def test_a_reset_without_ack_at_the_peers_ack_is_a_lost_connection_not_unread_data() -> None:
    c = Conversation()
    c.handshake()
    c.data(c.client, 23)
    c.ack(c.server)
    c.data(c.client, 23)  # unacknowledged: the server no longer has the connection
    c.send(c.server, RST, seq=c.next[c.server])  # <SEQ=SEG.ACK><CTL=RST>, RFC 9293 §3.10.7.1
    conn = found(c.columns())[0]
    assert one(conn, AnomalySlug.CONNECTION_RESET).params["cause"] == "no-connection"
    assert AnomalySlug.RESET_UNREAD_DATA not in slugs(conn)
    c.packets.pop()
    c.send(c.server, RST | ACK)  # an abort by a stack that still has the connection
    conn = found(c.columns())[0]
    assert one(conn, AnomalySlug.CONNECTION_RESET).params["cause"] != "no-connection"


def test_stalls_looks_at_every_run_that_could_hold_one() -> None:
    """`_runs_with_tries` skips runs without MIN_TRIES resends or probes; every run it skips
    gives `_tries_before` too few tries (checked on every run of real and built captures)."""
    samples = Path(__file__).parent.parent / "sample_captures"
    captures = [_mixed_capture(), _silent_server(4).columns()]
    for name in ("lossy_transfer.pcap", "stalled_then_recovered.pcap", "peer_vanished.pcap"):
        captures.append(native.load_capture(str(samples / name)).packets)
    looked = 0
    for packets in captures:
        conns, states = reconstruct(packets)
        for conn in conns:
            index, dirs = conn.packet_index, states.direction
            ends = [
                k + 1
                for k in range(len(index))
                if k + 1 == len(index) or dirs[index[k]] != dirs[index[k + 1]]
            ]
            kept = retransmission._runs_with_tries(packets, states, index)
            assert set(kept) <= set(ends)
            for stop in set(ends) - set(kept):
                _, tries = retransmission._tries_before(packets, states, index, stop)
                assert len(tries) < retransmission.MIN_TRIES
            looked += len(kept)
    assert looked >= 3  # the stall, the vanished peer, the built one
