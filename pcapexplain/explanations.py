"""Explanations (data only): every user-facing sentence of pcapexplain, in English and Chinese.

Key scheme (the same keys exist in every language; a test checks it):

- ``state.<TcpState name>``: the state's name and a one-line meaning.
- ``role.<PacketRole name>``: what a packet of that role does.
- ``handshake.<Handshake value>``, ``teardown.<Teardown value>``: a short label of the outcome;
  the same key plus ``.why``: what it means and why it matters.
- ``closer.<Closer value>``, ``severity.<Severity value>``: labels.
- ``anomaly.<slug>.title`` / ``.explain`` / ``.why``: an anomaly's name, what was seen (formatted
  with the params documented in ``anomalies.CATALOGUE``), and why it matters.
- ``concept.<id>.title`` / ``concept.<id>.body``: the teaching notes, ids listed in ``CONCEPTS``.
- ``narr.*``: the per-packet narrative (narrate.py), formatted with ``NARRATIVE_PARAMS``;
  ``narr.sum.*.one`` / ``.many`` are the counted pieces of a summary line.
- ``who.*``, ``side.*``, ``dir.*``: the two endpoints and the two directions in running text.
- ``ui.*``: labels of the CLI and the report (the header line of ``explain`` is ``ui.connection``).

Chinese texts use the terms of Xie Xiren's textbook (三次握手, 四次挥手, 半关闭, 已失效的连接请求
报文段, 2MSL, 主动关闭/被动关闭, 序号, 确认号, 报文段, 全双工) and keep protocol names (SYN, ACK,
FIN, RST, TIME_WAIT, FIN_WAIT_1, ...) as they are.
"""

from __future__ import annotations

from typing import Final, Literal

Lang = Literal["en", "zh"]
LANGUAGES: Final[tuple[Lang, ...]] = ("en", "zh")

# Concept notes, in the order a reader should meet them.
CONCEPTS: Final[tuple[str, ...]] = (
    "three_way_handshake",
    "sequence_numbers",
    "stale_syn",
    "why_three_minimum",
    "simultaneous_open",
    "four_way_close",
    "close_states",
    "time_wait",
    "who_time_wait",
    "rst",
)

# Every narr.* template formats with (a subset of) these parameters; narrate.py passes them all.
NARRATIVE_PARAMS: Final[tuple[str, ...]] = (
    "sender",  # who.client / who.server, already translated
    "seq",  # sequence number relative to the sender's ISN (or first seen seq)
    "ack",  # acknowledgment number relative to the receiver's ISN, or "-" without ACK
    "seq_raw",
    "ack_raw",
    "length",  # payload bytes of this segment
    "syn_length",  # payload bytes the client's SYN carried (TCP Fast Open)
    "port",  # the server's port
    "flags",  # e.g. "SYN, FIN"
    "window",  # the raw window field
    "titles",  # anomaly titles, joined (narr.flagged only)
)


_EN: dict[str, str] = {
    "state.UNKNOWN": (
        "UNKNOWN: the capture does not show this side's state (it probably started after the "
        "connection was opened)."
    ),
    "state.CLOSED": "CLOSED: there is no connection on this side.",
    "state.LISTEN": "LISTEN: a server waiting on its port for connection requests (SYNs).",
    "state.SYN_SENT": (
        "SYN_SENT: has sent a SYN to open a connection and waits for the matching SYN-ACK."
    ),
    "state.SYN_RECEIVED": (
        "SYN_RECEIVED: has received a SYN and answered it with its own SYN-ACK; waits for the ACK "
        "that completes the handshake."
    ),
    "state.ESTABLISHED": "ESTABLISHED: the connection is open and data can flow both ways.",
    "state.FIN_WAIT_1": (
        "FIN_WAIT_1: has sent its FIN (it has no more data to send) and waits for that FIN to be "
        "acknowledged."
    ),
    "state.FIN_WAIT_2": (
        "FIN_WAIT_2: its FIN has been acknowledged, so its own direction is closed; it still "
        "receives data until the peer sends its FIN."
    ),
    "state.CLOSE_WAIT": (
        "CLOSE_WAIT: has received and acknowledged the peer's FIN; its application may still send "
        "data, and must call close() before its own FIN goes out."
    ),
    "state.CLOSING": (
        "CLOSING: sent its FIN and then received the peer's FIN before its own was acknowledged "
        "(simultaneous close); waits for that acknowledgment."
    ),
    "state.LAST_ACK": (
        "LAST_ACK: the passive closer has sent its own FIN and waits for the last ACK; after it, "
        "the connection is CLOSED."
    ),
    "state.TIME_WAIT": (
        "TIME_WAIT: the active closer has acknowledged the peer's FIN and waits 2MSL before the "
        "connection is really gone (Linux: a fixed 60 s)."
    ),
    "role.SYN": "SYN: first step of the three-way handshake",
    "role.SYN_ACK": "SYN-ACK: second step of the handshake",
    "role.HANDSHAKE_ACK": "ACK: third step of the handshake",
    "role.DATA": "data segment",
    "role.PURE_ACK": "pure ACK: acknowledges data and carries none",
    "role.WINDOW_UPDATE": "window update: only the advertised receive window changed",
    "role.KEEP_ALIVE": (
        "keep-alive: checks that an idle connection is still there, or answers such a check"
    ),
    "role.FIN": "FIN: the sender has no more data to send",
    "role.FIN_ACK": "ACK of a FIN",
    "role.RST": "RST: the connection is reset (aborted)",
    "role.SYN_RETRANSMISSION": "SYN or SYN-ACK sent again with the same ISN",
    "role.OTHER": "other segment: unusual flags, or a segment that fits no step of the connection",
    "handshake.complete": "completed (SYN, SYN-ACK, ACK)",
    "handshake.complete.why": (
        "All three steps were seen: each side now knows that it can both send and receive, and "
        "each knows the other's initial sequence number."
    ),
    "handshake.refused": "refused: the SYN was answered with RST",
    "handshake.refused.why": (
        "The server's host is reachable, but no program was listening on that port, so its TCP "
        "answered the SYN with a reset. Check the port number and that the server program is "
        "running."
    ),
    "handshake.unanswered": "unanswered: no reply to the SYN",
    "handshake.unanswered.why": (
        "Nothing came back. The host may be down or unreachable, a firewall may drop the SYN "
        "without a word, or the capture missed the reply. The client keeps resending the same SYN "
        "(same ISN), waiting twice as long each time."
    ),
    "handshake.incomplete": "incomplete: the SYN-ACK was never acknowledged",
    "handshake.incomplete.why": (
        "The server answered, but the third step never came: the client may have given up, its ACK "
        "may have been lost, or the capture saw only one direction. Many such half-open "
        "connections at once are the signature of a SYN flood."
    ),
    "handshake.simultaneous_open": "simultaneous open: both sides sent a SYN",
    "handshake.simultaneous_open.why": (
        "Both ends sent a SYN at the same time; each answered the other's SYN with a SYN-ACK, and "
        "one connection opened with four segments instead of three (RFC 9293 Fig. 7). Rare, but "
        "legal."
    ),
    "handshake.old_duplicate": "stale SYN rejected (RFC 9293 Fig. 8)",
    "handshake.old_duplicate.why": (
        "The server answered an old SYN that had been held up in the network; the client, which "
        "had not asked for that connection, replied with RST. This is exactly the case the third "
        "step of the handshake exists for."
    ),
    "handshake.not_captured": "not captured: the capture started after the handshake",
    "handshake.not_captured.why": (
        "No SYN was seen, so the initial sequence numbers are unknown and relative numbers count "
        "from the first segment seen in each direction. Start the capture before the connection is "
        "opened."
    ),
    "teardown.four_way": "four-way close (FIN, ACK, FIN, ACK)",
    "teardown.four_way.why": (
        "Each direction was closed on its own: TCP is full duplex, so one side's FIN and the ACK "
        "of it close only that side's sending. The active closer ends in TIME_WAIT."
    ),
    "teardown.three_way": "three-way close (FIN, FIN+ACK, ACK)",
    "teardown.three_way.why": (
        "The passive closer had nothing left to send, so it acknowledged the FIN and sent its own "
        "FIN in the same segment. These are still the four steps of the close; two of them share a "
        "segment."
    ),
    "teardown.simultaneous": "simultaneous close: the two FINs crossed",
    "teardown.simultaneous.why": (
        "Both sides sent a FIN before they had seen the other's, so both went through CLOSING and "
        "both end in TIME_WAIT."
    ),
    "teardown.reset_by_client": "reset by the client (RST)",
    "teardown.reset_by_client.why": (
        "The client aborted the connection with RST instead of closing it with FIN: data still in "
        "flight or unread was thrown away, and neither side waits in TIME_WAIT."
    ),
    "teardown.reset_by_server": "reset by the server (RST)",
    "teardown.reset_by_server.why": (
        "The server aborted the connection with RST instead of closing it with FIN: data still in "
        "flight or unread was thrown away, and neither side waits in TIME_WAIT."
    ),
    "teardown.half_closed_at_end": "half-closed at capture end: only one FIN",
    "teardown.half_closed_at_end.why": (
        "One side closed its direction, and the other had not sent its FIN when the capture ended. "
        "If the capture ran long enough, the application on that side may never call close() (a "
        "connection left in CLOSE_WAIT)."
    ),
    "teardown.open_at_end": "still open at capture end",
    "teardown.open_at_end.why": (
        "No FIN or RST was seen: the connection was still open when the capture stopped. Stop "
        "capturing only after the programs have finished to see the close."
    ),
    "teardown.none": "never opened",
    "teardown.none.why": "The handshake never completed, so there was no connection to close.",
    "closer.client": "the client",
    "closer.server": "the server",
    "closer.both": "both sides",
    "closer.none": "neither side",
    "severity.info": "info",
    "severity.note": "note",
    "severity.warn": "warning",
    "severity.error": "error",
    "who.client": "the client",
    "who.server": "the server",
    "side.client": "client",
    "side.server": "server",
    "dir.to_server": "client → server",
    "dir.to_client": "server → client",
    "concept.three_way_handshake.title": "Why three messages open a connection",
    "concept.three_way_handshake.body": (
        "Before any data flows, each side must know two things about itself: that what it sends "
        "arrives, and that it can receive what the other side sends. Think of a phone call on a "
        'bad line. A: "Can you hear me?" B: "Yes, I can. Can you hear me?" A: "Yes." The '
        "first sentence tells B that A can speak and that B can hear. The second tells A that both "
        "directions work. Only the third tells B that its own voice reaches A.\n\nTCP's three-way "
        "handshake does the same with SYN, SYN-ACK and ACK. At the same time each side announces "
        "its initial sequence number (ISN) and learns the other's: the acknowledgment number is "
        "always the other side's number plus one, because a SYN uses up one sequence number."
    ),
    "concept.stale_syn.title": "The stale connection request",
    "concept.stale_syn.body": (
        "Suppose the client's first SYN is not lost but held up in the network for a long time. "
        "The client gives up waiting, sends a new SYN, opens its connection, uses it and closes "
        "it. Then the old SYN finally reaches the server. To the server it looks like a brand-new "
        "request.\n\nWith a two-step handshake the server would answer and at once consider the "
        "connection open: it would hold resources for a ghost connection and wait for data that "
        "never comes. With three steps the server waits for the client's confirmation. The client "
        "never asked for this connection (the acknowledgment number in the SYN-ACK matches none of "
        "its SYNs), so instead of confirming it answers with RST, and the server drops the "
        "half-open connection.\n\nA client's RST to an unexpected SYN-ACK is therefore the third "
        "step of the handshake doing its job. RFC 9293 shows this exchange in Figure 8 and names "
        "it as the principal reason for the three-way handshake."
    ),
    "concept.why_three_minimum.title": "Why three is the minimum, and when fewer would do",
    "concept.why_three_minimum.body": (
        "Over a channel that can lose, delay and duplicate messages, a sender can only be sure "
        "that something arrived when an answer comes back. Each side has to announce its own ISN "
        "and have it acknowledged: two announcements and two acknowledgments. The SYN-ACK carries "
        "the server's announcement and its acknowledgment of the client's in one segment, which "
        "makes three.\n\nFewer cannot work: after only two messages the server never learns "
        "whether its SYN arrived, and a stale SYN could open a connection. More would not help: a "
        "fourth message confirming the third would itself need confirming, without end. Three is "
        "where TCP stops; retransmission timers and RST deal with what remains.\n\nOn a channel "
        "that never lost, delayed or reordered anything, no confirmation would be needed at all: "
        "sending would be enough. UDP skips the handshake for a different reason. The network "
        "under it is just as unreliable, but UDP promises nothing: it sets up no connection, "
        "numbers nothing and resends nothing, so there is nothing to agree on. An application that "
        "needs reliability over UDP has to build its own confirmations."
    ),
    "concept.four_way_close.title": "Why four messages close a connection",
    "concept.four_way_close.body": (
        "TCP is full duplex: the two directions are two separate streams, and each is closed on "
        'its own. A FIN means "I have no more data to send", nothing more. When the client sends '
        "FIN and the server acknowledges it, only the client-to-server direction is closed. The "
        "server may still have data to send, and the client keeps receiving it: this is the "
        "half-close.\n\nOnly when the server has finished does it send its own FIN, which the "
        "client acknowledges. Two directions, each needing a FIN and an ACK: four messages. When "
        "the server has nothing left to send, it can put its FIN in the same segment as its ACK, "
        "and the close takes three segments."
    ),
    "concept.close_states.title": (
        "The states of a close: FIN_WAIT_1, FIN_WAIT_2, CLOSE_WAIT, LAST_ACK"
    ),
    "concept.close_states.body": (
        "The side that closes first (the active closer) sends FIN and enters FIN_WAIT_1: it waits "
        "for that FIN to be acknowledged. When the ACK arrives it moves to FIN_WAIT_2: its own "
        "direction is closed, it still receives data, and it waits for the peer's FIN.\n\nThe "
        "other side (the passive closer) enters CLOSE_WAIT when the FIN arrives. It knows the peer "
        "has finished, but its own application may still send, and it stays there until the "
        "application calls close(). That sends its FIN and moves it to LAST_ACK: it waits for the "
        "acknowledgment of its FIN, and when that arrives it is CLOSED.\n\nThe active closer, "
        "receiving the peer's FIN in FIN_WAIT_2, acknowledges it and enters TIME_WAIT. If the two "
        "FINs cross, each side receives the other's FIN while still in FIN_WAIT_1 and enters "
        "CLOSING instead."
    ),
    "concept.time_wait.title": "TIME_WAIT and 2MSL",
    "concept.time_wait.body": (
        "After acknowledging the peer's FIN, the active closer does not leave at once: it stays in "
        "TIME_WAIT for twice the maximum segment lifetime (2MSL). There are two reasons.\n\nFirst, "
        "its last ACK may be lost. The peer, still in LAST_ACK, will then resend its FIN, and "
        "someone must still be there to acknowledge it again; otherwise the peer would get a RST "
        "instead of a clean close. Second, old duplicate segments of this connection may still be "
        "wandering in the network. Waiting 2MSL lets them die out before the same four-tuple (both "
        "addresses and both ports) can carry a new connection, where they could be taken for new "
        "data.\n\nRFC 9293 takes MSL to be 2 minutes, so 2MSL is 4 minutes. Linux does not follow "
        "that: it holds TIME_WAIT for a fixed 60 seconds (TCP_TIMEWAIT_LEN in the kernel source), "
        "and no sysctl changes it. A common misconception is that net.ipv4.tcp_fin_timeout sets "
        "the length of TIME_WAIT. It does not: it is the timeout for orphaned connections in "
        "FIN_WAIT_2, a different timer whose default also happens to be 60 seconds."
    ),
    "concept.rst.title": "RST: resetting a connection",
    "concept.rst.body": (
        "A RST ends a connection at once, without the closing exchange: no FIN, no waiting, and "
        "any data in flight or still unread is discarded. It shows up in three situations.\n\nA "
        "refused connection: a SYN arrives at a port where nothing is listening, and the host "
        "answers with RST (its acknowledgment number is the SYN's sequence number plus one). An "
        "abort: the application ends the connection abruptly, for example after setting SO_LINGER "
        "to 0, by closing while received data is still unread (RFC 1122 §4.2.2.13), or because the "
        "process was killed. A reset for an unknown connection: a segment arrives for a connection "
        "its receiver does not have (already closed, lost in a crash and restart, or never "
        "opened), and the answer is RST.\n\nA RST is accepted only if its sequence number falls in "
        "the receiver's window; since RFC 5961, one that does not match exactly draws a challenge "
        "ACK instead, which protects against forged resets."
    ),
    "concept.who_time_wait.title": "Who ends in TIME_WAIT",
    "concept.who_time_wait.body": (
        "Only the active closer, the side that sent the first FIN, goes through TIME_WAIT. The "
        "passive closer goes from LAST_ACK straight to CLOSED when its FIN is acknowledged. That "
        "is why clients, which usually close first, collect TIME_WAIT entries, and why a server "
        "that closes first collects them instead. In a simultaneous close both sides are active "
        "closers: both go through CLOSING and both end in TIME_WAIT. A connection ended by RST "
        "leaves nobody in TIME_WAIT."
    ),
    "concept.sequence_numbers.title": "Sequence numbers and acknowledgment numbers",
    "concept.sequence_numbers.body": (
        "Every byte a side sends has a sequence number. The first one is chosen at random when the "
        "connection opens: the initial sequence number (ISN), carried in the SYN. The SYN and the "
        "FIN each use up one number, as if they were one byte. The acknowledgment number a side "
        "sends is the next sequence number it expects from the other side, so it acknowledges "
        "everything before it.\n\nWireshark and this tool show relative numbers: the raw number "
        "minus that side's ISN, so the SYN is 0, the first data byte is 1, and the ACK of a SYN is "
        "1. When the capture missed the SYN, relative numbers count from the first segment seen in "
        "each direction instead."
    ),
    "concept.simultaneous_open.title": "Simultaneous open",
    "concept.simultaneous_open.body": (
        "If both ends send a SYN at the same moment, each receives the other's SYN while in "
        "SYN_SENT. Each answers with a SYN-ACK that repeats its own ISN and acknowledges the "
        "other's, moves to SYN_RECEIVED, and becomes ESTABLISHED when the other's SYN-ACK arrives "
        "(RFC 9293 Fig. 7). One connection results, not two. Wireshark labels these segments as "
        "retransmissions and duplicate ACKs, which they are not."
    ),
    "narr.syn": (
        "Asks to open a connection: seq {seq_raw} is the client's initial sequence number (ISN, "
        "relative 0). The SYN itself uses up one number, so the client's first data byte will be "
        "relative 1. The client now waits for the server's answer, which will show that its SYN "
        "arrived."
    ),
    "narr.syn_stale": (
        "A stale connection request: this SYN (seq {seq_raw}) is an old copy that was held up in "
        "the network and arrives after the connection it belonged to is long gone. The client "
        "has no such connection pending, but the server cannot know that yet: to the server it "
        "looks like any new SYN."
    ),
    "narr.synack_stale": (
        "The server answers the stale SYN as if it were new: ack {ack} (that SYN's seq + 1) and "
        "its own ISN, seq {seq_raw}. It now waits in SYN_RECEIVED for the third step, which is "
        "what protects it: the client will not confirm a connection it never asked for."
    ),
    "narr.syn_data": (
        "Asks to open a connection and already carries {length} bytes of data: seq {seq_raw} is "
        "the client's ISN (relative 0), and the data fills relative 1 to {length}. Data on a SYN "
        "is unusual outside TCP Fast Open."
    ),
    "narr.syn_tfo": (
        "Asks to open a connection with TCP Fast Open (RFC 7413): seq {seq_raw} is the client's "
        "ISN (relative 0), and the SYN already carries {length} bytes of data, saving a round trip "
        "if the server accepts the cookie."
    ),
    "narr.syn_again": (
        "The same SYN again (seq {seq_raw}, the same ISN): no SYN-ACK came back in time, so the "
        "client's retransmission timer fired (1 s at first, doubling each time, RFC 6298)."
    ),
    "narr.synack_again": (
        "The same SYN-ACK again (seq {seq_raw}, the same ISN): the third step of the handshake has "
        "not reached the server, so it repeats the second."
    ),
    "narr.syn_simultaneous": (
        "A SYN from {sender} as well (ISN {seq_raw}), sent before it had seen the other one: both "
        "ends are opening at once (simultaneous open, RFC 9293 Fig. 7), and each will answer the "
        "other's SYN."
    ),
    "narr.synack": (
        'Second step of the handshake: ack {ack} (the client\'s ISN + 1) says "your SYN arrived", '
        "and seq {seq_raw} is the server's own ISN (relative 0). The server now knows that the "
        "client can send and that it can receive; when this arrives, the client knows that both "
        "its sending and its receiving work."
    ),
    "narr.synack_tfo": (
        "Second step of the handshake, accepting the data on the SYN: ack {ack} covers the SYN and "
        "its {syn_length} bytes, and seq {seq_raw} is the server's own ISN (relative 0)."
    ),
    "narr.synack_tfo_ignored": (
        "Second step of the handshake: ack {ack} acknowledges the SYN but not its {syn_length} "
        "bytes of data, so the server did not take the Fast Open data and the client must send it "
        "again. Seq {seq_raw} is the server's ISN (relative 0)."
    ),
    "narr.synack_old": (
        "A SYN-ACK whose ack (relative {ack}) is not the client's ISN + 1 (that would be 1): the "
        "server is answering an older SYN for this pair of addresses and ports, one that was held "
        "up in the network, a stale connection request. The client has no such connection pending."
    ),
    "narr.synack_simultaneous": (
        "SYN-ACK in a simultaneous open: {sender} repeats its ISN (seq {seq_raw}) and acknowledges "
        "the other side's SYN (ack {ack})."
    ),
    "narr.hs_ack": (
        "Third step of the handshake: ack {ack} (the server's ISN + 1) tells the server that its "
        "SYN arrived. Now each side knows that it can both send and receive, and the connection is "
        "open."
    ),
    "narr.rst_refused": (
        "Connection refused: nothing is listening on port {port}, so the server's TCP answers the "
        "SYN with a reset. Its ack {ack} (the client's ISN + 1) names the SYN it refuses; no "
        "connection ever existed."
    ),
    "narr.rst_old_duplicate": (
        "The client resets a SYN-ACK it never asked for (seq {seq_raw} is that SYN-ACK's ack): it "
        "tells the server to drop the half-open connection made from the stale SYN. This is the "
        "third step of the handshake doing its job: without it the server would keep a ghost "
        "connection and wait for data that never comes (RFC 9293 Fig. 8)."
    ),
    "narr.rst_handshake": (
        "Reset during the handshake: {sender} abandons the connection before it was established."
    ),
    "narr.rst_abort": (
        "Reset of an open connection: {sender} aborts instead of closing with FIN. Data still in "
        "flight or unread is thrown away, and nobody waits in TIME_WAIT. Typical causes: the "
        "application closed with unread data, set SO_LINGER to 0, or was killed."
    ),
    "narr.rst_after_fin": (
        "Reset after its own FIN: {sender} had closed and now aborts. TCP does this when the "
        "application closed while received data was still unread, or when data keeps arriving "
        "after the close (RFC 1122 §4.2.2.13)."
    ),
    "narr.rst_unknown": (
        "Reset, because {sender} no longer has this connection: a segment arrived for a connection "
        "that is already closed on its side, and TCP answers such segments with RST (RFC 9293 "
        "§3.5.2)."
    ),
    "narr.fin_active": (
        "FIN: {sender} has no more data to send and closes its direction (active close). The FIN "
        "uses up one sequence number (seq {seq}). The other side may still send: the connection is "
        "half-closed until its FIN comes."
    ),
    "narr.fin_passive": (
        "FIN: {sender} has finished sending too (passive close) and now waits in LAST_ACK for the "
        "last ACK."
    ),
    "narr.fin_three_way": (
        "FIN and ACK in one segment: {sender} acknowledges the other side's FIN (ack {ack}) and, "
        "having nothing left to send, closes its own direction at once. The close takes three "
        "segments instead of four."
    ),
    "narr.fin_simultaneous": (
        "FIN from {sender}, sent before it had seen the other side's FIN (its ack {ack} does not "
        "cover that FIN): the two FINs cross, a simultaneous close. Both sides go through CLOSING "
        "and both will end in TIME_WAIT."
    ),
    "narr.fin_again": (
        "The same FIN again (seq {seq}): {sender} got no ACK for it in time and resends it, so "
        "either its first FIN or the ACK of it was lost."
    ),
    "narr.finack_first": (
        "ACK of the FIN (ack {ack} = the FIN's seq + 1): {sender} confirms that the other side has "
        "finished sending. Its own direction stays open: it may still send data before its own FIN "
        "(half-close)."
    ),
    "narr.finack_last": (
        "Last step of the close: ack {ack} acknowledges the peer's FIN, so the peer can release "
        "the connection, while {sender}, the active closer, stays in TIME_WAIT for 2MSL in case "
        "this ACK is lost and the FIN comes again."
    ),
    "narr.finack_simultaneous": (
        "ACK of the crossing FIN (ack {ack}): once its own FIN is acknowledged as well, each side "
        "leaves CLOSING for TIME_WAIT."
    ),
    "narr.finack_again": (
        "The ACK again, sent from TIME_WAIT to answer the resent FIN: this is exactly what "
        "TIME_WAIT is for. Had {sender} already gone, the peer would have received a RST."
    ),
    "narr.illegal": (
        "A segment with an illegal combination of flags ({flags}): no TCP stack sends this in a "
        "normal connection; port scanners use such segments to fingerprint hosts."
    ),
    "narr.other": "A segment that fits no step of this connection ({flags}).",
    "narr.data": "{length} bytes of data at relative seq {seq}; acknowledges up to relative {ack}.",
    "narr.pure_ack": "Acknowledges everything up to relative {ack} and carries no data.",
    "narr.window_update": (
        "Window update: advertises a new receive window (field value {window}) and acknowledges up "
        "to relative {ack}."
    ),
    "narr.keep_alive": (
        "Keep-alive: checks that the idle connection is still there, or answers such a check."
    ),
    "narr.carries_data": "It also carries {length} bytes of data.",
    "narr.flagged": "Flagged: {titles}.",
    "narr.states": "States: {client}; {server}.",
    "narr.side_change": "{side} {before} → {after}",
    "narr.side_same": "{side} stays {state}",
    "narr.unknown_state": "UNKNOWN",
    "narr.sum.data.one": "1 data segment",
    "narr.sum.data.many": "{count} data segments",
    "narr.sum.to_server": "{amount} client → server",
    "narr.sum.to_client": "{amount} server → client",
    "narr.sum.and": " and ",
    "narr.sum.sep": ", ",
    "narr.sum.acks.one": "1 pure ACK",
    "narr.sum.acks.many": "{count} pure ACKs",
    "narr.sum.window.one": "1 window update",
    "narr.sum.window.many": "{count} window updates",
    "narr.sum.keepalive.one": "1 keep-alive",
    "narr.sum.keepalive.many": "{count} keep-alives",
    "narr.sum.retrans.one": "1 retransmission",
    "narr.sum.retrans.many": "{count} retransmissions",
    "narr.sum.other.one": "1 other segment",
    "narr.sum.other.many": "{count} other segments",
    "ui.frame": "frame {frame}",
    "ui.frames": "frames {first}–{last}",
    "ui.time": "+{seconds} s",
    "ui.connection": (
        "connection {id} · {client} → {server} · handshake: {handshake} · close: {teardown} · "
        "{packets} packets in {duration} s"
    ),
    "ui.closed_first": "closed first: {who}",
    "ui.time_wait": "TIME_WAIT at the end: {who}",
    "ui.midstream": (
        "relative numbers count from the first segment seen in each direction (no SYN captured)"
    ),
    "ui.anomalies": "Anomalies",
    "ui.concepts": "Concepts",
    "ui.why": "Why it matters",
    "ui.none": "none",
    "report.title": "TCP connections explained",
    "report.left_out": (
        "{count} connections are listed in the table with a one-line "
        "summary but not drawn in full, to keep this page small. Draw "
        "any of them with: pcapexplain report CAPTURE --connection N"
    ),
    "report.seconds": "{seconds} s",
    "report.second_unit": "s",
    "report.ms": "{ms} ms",
    "report.traffic": (
        "client → server: {up} packets, {up_bytes}; server → client: {down} packets, {down_bytes}"
    ),
    "report.who.client": "client",
    "report.who.server": "server",
    "report.who.both": "both",
    "report.who.none": "–",
    "report.table_legend": (
        "The handshake and close columns use the codes listed in the summary above. Connections "
        "in grey are summarised only; the numbered ones link to their full explanation."
    ),
    "report.yes": "yes",
    "report.no": "no",
    "report.option.mss": "MSS",
    "report.option.wscale": "window scale (shift)",
    "report.option.sack_permitted": "SACK permitted",
    "report.option.timestamps": "timestamps",
    "report.option.tfo": "TCP Fast Open",
    "report.fact.size": "size",
    "report.fact.sha256": "SHA-256",
    "report.fact.packets": "packets",
    "report.fact.span": "time span",
    "report.fact.connections": "TCP connections",
    "report.fact.reader": "read by",
    "report.fact.version": "pcapexplain",
    "report.fact.generated": "report made",
    "report.fact.warning": "warning",
    "report.fact.isn": "ISN (client / server)",
    "report.fact.rtt_syn": "RTT SYN → SYN-ACK",
    "report.fact.rtt_ack": "RTT SYN-ACK → ACK",
    "report.fact.zeek": "Zeek conn_state, history",
    "report.fact.traffic": "traffic",
    "report.col.id": "#",
    "report.col.client": "client",
    "report.col.server": "server",
    "report.col.handshake": "handshake",
    "report.col.teardown": "close",
    "report.col.closed_first": "closed first",
    "report.col.time_wait": "TIME_WAIT",
    "report.col.duration": "duration (s)",
    "report.col.bytes_up": "bytes c→s",
    "report.col.bytes_down": "bytes s→c",
    "report.col.packets": "packets",
    "report.col.anomalies": "anomalies",
    "report.summary": "Summary",
    "report.by_handshake": "Connections by handshake outcome",
    "report.by_teardown": "Connections by close",
    "report.by_severity": "Anomalies by severity",
    "report.by_anomaly": "Anomalies by kind",
    "report.table": "Connections",
    "report.filter_outcome": "Outcome",
    "report.filter_anomaly": "Anomaly",
    "report.search": "Search host or port",
    "report.all": "all",
    "report.clear": "show all",
    "report.inferred": "roles inferred: no SYN was captured",
    "report.ladder": "Ladder diagram",
    "report.packets": "Packets, explained",
    "report.findings": "Anomalies",
    "report.no_findings": "Nothing unusual in this connection.",
    "report.concepts": "Concept notes",
    "report.related": "Read more",
    "report.band": "{frames}: {count} segments, {size} of data",
    "report.band_open": "(click to show them)",
    "report.band_hidden": "more segments not drawn",
    "report.client": "client",
    "report.server": "server",
    "report.options": "Options in the handshake",
    "report.option": "option",
    "report.summary_only": "summary only; draw it with --connection",
    "report.noscript": "Sorting and filtering need JavaScript; the table is complete without it.",
    "report.back": "back to the table",
    "report.frames_label": "frames",
    "report.explanation": "what it does",
    "report.seq": "seq (raw, relative)",
    "report.ack": "ack (raw, relative)",
    "report.len": "len",
    "report.states": "states after (client · server)",
    "report.time": "time",
    "report.dir": "direction",
    "report.flags": "flags",
    "report.shown": "rows shown",
    "report.why": "Why it matters",
    "report.severity": "severity",
    "report.details": "details",
    "report.left_out_severe": (
        "{count} of them have warnings or errors: more than the {limit} connections this page "
        "draws in full, most severe first. Filter the table by severity to find them."
    ),
    "report.raw_rel": "{raw} (rel {rel})",
    "report.states_line": (
        "client {client_before}→{client_after} · server {server_before}→{server_after}"
    ),
    "report.more_frames": "and {count} more",
    "anomaly.syn-unanswered.title": "SYN unanswered",
    "anomaly.syn-unanswered.why": (
        "Without a reply there is no connection: the client program waits and finally reports a "
        "timeout. Check the address, the port, and any firewall on the way."
    ),
    "anomaly.syn-retransmitted.title": "SYN retransmitted",
    "anomaly.syn-retransmitted.why": (
        "Each retry means the client waited a whole retransmission timeout (1 s, then 2 s, 4 s, "
        "...): the connection took that much longer to open, or never opened."
    ),
    "anomaly.connection-refused.title": "Connection refused",
    "anomaly.connection-refused.why": (
        "The port is closed: the server program is not running, or it listens on another port or "
        'address. The client program gets "connection refused" at once.'
    ),
    "anomaly.handshake-incomplete.title": "Handshake not completed",
    "anomaly.handshake-incomplete.why": (
        "The server keeps a half-open connection until it gives up. One of them usually means a "
        "lost ACK or a capture that saw only one direction; many at once suggest a SYN flood."
    ),
    "anomaly.synack-retransmitted.title": "SYN-ACK retransmitted",
    "anomaly.synack-retransmitted.why": (
        "The server did not get the third step of the handshake in time: the client's ACK was lost "
        "or late, or the SYN-ACK itself was lost on its way to the client."
    ),
    "anomaly.old-duplicate-syn.title": "Stale SYN rejected",
    "anomaly.old-duplicate-syn.why": (
        "TCP working as designed: the third step of the handshake stopped an old, delayed "
        "connection request from opening a ghost connection (RFC 9293 Fig. 8)."
    ),
    "anomaly.simultaneous-open.title": "Simultaneous open",
    "anomaly.simultaneous-open.why": (
        "Rare but legal: one connection opened from both ends at once. Wireshark shows these "
        "segments as retransmissions and duplicate ACKs; they are neither."
    ),
    "anomaly.syn-data.title": "Data on the SYN",
    "anomaly.syn-data.why": (
        "With TCP Fast Open the request travels with the SYN and saves a round trip; if the server "
        "does not accept it, the client sends the data again after the handshake."
    ),
    "anomaly.illegal-flags.title": "Illegal flag combination",
    "anomaly.illegal-flags.why": (
        "No normal TCP stack sends this; such segments are typical of port scanners probing how a "
        "host reacts (for example nmap's NULL, FIN and Xmas scans)."
    ),
    "anomaly.ack-without-ack-flag.title": "Acknowledgment number without the ACK flag",
    "anomaly.ack-without-ack-flag.why": (
        "The acknowledgment field means nothing without the ACK flag and should be zero; a "
        "non-zero value hints at a crafted packet or a faulty stack."
    ),
    "anomaly.port-reused.title": "Address and port pair reused",
    "anomaly.port-reused.why": (
        "A new connection uses the same addresses and ports as an earlier one. That is normal when "
        "a client happens to pick the same port again, as long as the old connection is really "
        "gone."
    ),
    "anomaly.port-reused-in-time-wait.title": "Port pair reused during TIME_WAIT",
    "anomaly.port-reused-in-time-wait.why": (
        "The old connection was probably still in TIME_WAIT (60 s on Linux, 2MSL = 4 min by RFC "
        "9293). tcp_tw_reuse, SO_REUSEADDR or a NAT allow such early reuse, but old segments could "
        "then be taken for new ones."
    ),
    "anomaly.syn-in-established.title": "SYN inside an open connection",
    "anomaly.syn-in-established.why": (
        "A SYN on a connection that is already open should draw a challenge ACK (RFC 5961 §4). "
        "Often one side restarted and forgot the connection while the other still has it."
    ),
    "anomaly.retransmission.title": "Retransmission",
    "anomaly.retransmission.why": (
        "A segment was sent again because no acknowledgment came before the retransmission timer "
        "expired: something was lost, and the sender waited at least one timeout."
    ),
    "anomaly.fast-retransmission.title": "Fast retransmission",
    "anomaly.fast-retransmission.why": (
        "The receiver's duplicate ACKs told the sender that a segment was missing, so it resent it "
        "without waiting for a timeout: a loss, recovered quickly."
    ),
    "anomaly.spurious-retransmission.title": "Spurious retransmission",
    "anomaly.spurious-retransmission.why": (
        "The data had already been acknowledged, so this copy was not needed: the retransmission "
        "timer was too short, or an ACK was lost after the capture point."
    ),
    "anomaly.segment-not-captured.title": "Previous segment not captured",
    "anomaly.segment-not-captured.why": (
        "There is a gap in the sequence numbers: a segment was lost on the network or only missed "
        "by the capture. What follows (a retransmission, or an ACK past the gap) tells which."
    ),
    "anomaly.capture-loss.title": "Gap caused by the capture",
    "anomaly.capture-loss.why": (
        "The receiver acknowledged the missing bytes and nothing was resent, so they did arrive: "
        "only the capture missed them. This is not a network problem."
    ),
    "anomaly.acked-unseen-segment.title": "ACK of a segment not captured",
    "anomaly.acked-unseen-segment.why": (
        "The capture missed the segment being acknowledged, usually because it started late or "
        "dropped packets; the connection itself is fine."
    ),
    "anomaly.out-of-order.title": "Out-of-order segment",
    "anomaly.out-of-order.why": (
        "The segment arrived after data that follows it: packets took different paths or were "
        "reordered. TCP puts them back in order, but heavy reordering can trigger needless fast "
        "retransmissions."
    ),
    "anomaly.duplicate-ack.title": "Duplicate ACK",
    "anomaly.duplicate-ack.why": (
        "The receiver acknowledges the same byte again because data beyond a gap arrived: a sign "
        "that a segment is missing."
    ),
    "anomaly.triple-duplicate-ack.title": "Triple duplicate ACK",
    "anomaly.triple-duplicate-ack.why": (
        "Three duplicate ACKs make the sender resend the missing segment at once (fast retransmit) "
        "and cut its congestion window."
    ),
    "anomaly.zero-window.title": "Zero window",
    "anomaly.zero-window.why": (
        "The receiver's buffer is full because its application does not read fast enough: the "
        "sender must stop and probe until the window opens again."
    ),
    "anomaly.zero-window-probe.title": "Zero-window probe",
    "anomaly.zero-window-probe.why": (
        "While the receiver advertises a zero window, the sender sends small probes so that it "
        "notices when the window opens again."
    ),
    "anomaly.window-full.title": "Window full",
    "anomaly.window-full.why": (
        "The sender has filled the receiver's window and must wait for ACKs: the receiver, or its "
        "window size, limits the transfer speed."
    ),
    "anomaly.window-update.title": "Window update",
    "anomaly.window-update.why": (
        "The receiver has freed buffer space and tells the sender it may send more; after a zero "
        "window this is what restarts the transfer."
    ),
    "anomaly.keep-alive.title": "Keep-alive",
    "anomaly.keep-alive.why": (
        "After a long idle time (7200 s by default on Linux) TCP checks that the other side is "
        "still there. Harmless in itself."
    ),
    "anomaly.segment-exceeds-mss.title": "Segment larger than the MSS",
    "anomaly.segment-exceeds-mss.why": (
        "The capture was taken on the sending host with segmentation offload (TSO/GSO): the "
        "network card cuts the segment up later, so it never crossed the wire in this size."
    ),
    "anomaly.bad-checksum.title": "Bad checksum",
    "anomaly.bad-checksum.why": (
        "The receiver drops a damaged segment, and it has to be retransmitted. If every packet "
        "from the capture host is bad, it is checksum offload rather than damage."
    ),
    "anomaly.checksum-offload.title": "Checksums left to the network card",
    "anomaly.checksum-offload.why": (
        "Every packet from this host shows a bad checksum because the capture saw it before the "
        "network card filled the checksum in (checksum offload). Not an error."
    ),
    "anomaly.data-before-handshake.title": "Data before the handshake completed",
    "anomaly.data-before-handshake.why": (
        "Without TCP Fast Open, data has to wait until the connection is open; early data is "
        "discarded by the receiver, or points to a crafted packet or a faulty stack."
    ),
    "anomaly.half-close.title": "Half-close",
    "anomaly.half-close.why": (
        "One side has closed its direction and keeps receiving while the other still sends: legal, "
        "and exactly why closing a TCP connection takes four steps."
    ),
    "anomaly.close-wait-lingering.title": "Connection left in CLOSE_WAIT",
    "anomaly.close-wait-lingering.why": (
        "One side received a FIN but never sent its own: its application probably never calls "
        "close(), a classic resource leak."
    ),
    "anomaly.lost-final-ack.title": "Lost final ACK",
    "anomaly.lost-final-ack.why": (
        "The FIN was resent because the last ACK did not arrive, and the active closer answered "
        "again from TIME_WAIT: the first reason TIME_WAIT exists."
    ),
    "anomaly.fin-retransmitted.title": "FIN retransmitted",
    "anomaly.fin-retransmitted.why": (
        "The FIN was not acknowledged in time, so either it or its ACK was lost. TCP resends it "
        "until the close completes."
    ),
    "anomaly.connection-reset.title": "Connection reset",
    "anomaly.connection-reset.why": (
        "The connection ended abruptly: data in flight was lost, and the application on the other "
        'side sees "connection reset by peer".'
    ),
    "anomaly.reset-unread-data.title": "Reset after closing with unread data",
    "anomaly.reset-unread-data.why": (
        "The application closed while received data was still unread (or set SO_LINGER to 0), so "
        "TCP sent RST instead of completing the close; the peer may lose the last data it was sent."
    ),
    "anomaly.reset-by-middlebox.title": "Reset probably sent by a middlebox",
    "anomaly.reset-by-middlebox.why": (
        "The RST's TTL differs from the sender's other packets, so a firewall, NAT or load "
        "balancer on the path probably sent it in the sender's name, for example after an idle "
        "timeout."
    ),
    "anomaly.rst-not-in-window.title": "RST outside the expected sequence number",
    "anomaly.rst-not-in-window.why": (
        "A RST whose sequence number is not exactly the next expected one is not accepted (RFC "
        "5961): the receiver ignores it or answers with a challenge ACK. It may be forged."
    ),
    "anomaly.open-at-capture-end.title": "Still open at capture end",
    "anomaly.open-at-capture-end.why": (
        "No FIN or RST was captured: the connection outlived the capture. Stop capturing after the "
        "programs finish to see the close."
    ),
    "anomaly.data-after-reset.title": "Data after RST",
    "anomaly.data-after-reset.why": (
        "After a RST the connection no longer exists; more data from the same side breaks the "
        "protocol, unless the capture reordered the packets."
    ),
    "anomaly.data-after-fin.title": "Data after FIN",
    "anomaly.data-after-fin.why": (
        "A FIN promises that no more data follows from that side; data beyond it breaks the "
        "protocol, unless the capture reordered the packets."
    ),
    "anomaly.midstream.title": "Capture started mid-connection",
    "anomaly.midstream.why": (
        "The handshake was not captured, so the initial sequence numbers, the options and who "
        "opened the connection are unknown. For homework, capture again, starting before the "
        "connection opens."
    ),
    "anomaly.time-wait-conflict.title": "New connection met the old one in TIME_WAIT",
    "anomaly.time-wait-conflict.why": (
        "The old connection on this address and port pair was still in TIME_WAIT, so the new SYN "
        "got an ACK or RST instead of a SYN-ACK: the second reason TIME_WAIT exists."
    ),
    "anomaly.syn-unanswered.explain": (
        "The client sent a SYN and nothing came back from the server before the capture ended."
    ),
    "anomaly.syn-retransmitted.explain": (
        "The client sent its SYN again with the same initial sequence number: the earlier copy got "
        "no SYN-ACK within the retransmission timeout."
    ),
    "anomaly.connection-refused.explain": (
        "The server answered the SYN with RST instead of SYN-ACK: nothing was listening on that "
        "port."
    ),
    "anomaly.handshake-incomplete.explain": (
        "The server sent its SYN-ACK, but no ACK of it from the client appears in the capture."
    ),
    "anomaly.synack-retransmitted.explain": (
        "The server sent its SYN-ACK again with the same initial sequence number, because the "
        "third step of the handshake had not arrived."
    ),
    "anomaly.old-duplicate-syn.explain": (
        "A SYN-ACK acknowledged a SYN the client had not sent for this connection, and the client "
        "answered it with RST: an old, delayed SYN reached the server (RFC 9293 Fig. 8)."
    ),
    "anomaly.simultaneous-open.explain": (
        "Both ends sent a SYN before either had seen the other's, and each answered with a SYN-ACK "
        "that repeats its own ISN."
    ),
    "anomaly.syn-data.explain": (
        "The SYN carried data. With the TCP Fast Open option this is a fast open; the SYN-ACK's "
        "acknowledgment number shows whether the server accepted the data."
    ),
    "anomaly.illegal-flags.explain": (
        "A segment carried a combination of flags that is never valid, such as SYN with FIN, SYN "
        "with RST, no flags at all, or FIN, PSH and URG without ACK."
    ),
    "anomaly.ack-without-ack-flag.explain": (
        "The acknowledgment number field is not zero although the ACK flag is off."
    ),
    "anomaly.port-reused.explain": (
        "A new SYN, with a new initial sequence number, used the same addresses and ports as an "
        "earlier connection that had ended with FIN or RST."
    ),
    "anomaly.port-reused-in-time-wait.explain": (
        "The addresses and ports were used again so soon after the earlier connection ended that "
        "its active closer was most likely still in TIME_WAIT."
    ),
    "anomaly.syn-in-established.explain": (
        "A SYN arrived on a connection that was already established, with no FIN or RST before it."
    ),
    "anomaly.retransmission.explain": (
        "A segment carried bytes that had already been sent: the sender resent them after its "
        "retransmission timer expired."
    ),
    "anomaly.fast-retransmission.explain": (
        "A segment was resent right after duplicate ACKs for it, without waiting for the "
        "retransmission timer."
    ),
    "anomaly.spurious-retransmission.explain": (
        "A segment resent bytes that the receiver had already acknowledged."
    ),
    "anomaly.segment-not-captured.explain": (
        "This segment starts beyond the end of the previous one from the same sender: the bytes in "
        "between are missing from the capture."
    ),
    "anomaly.capture-loss.explain": (
        "Bytes missing from the capture were acknowledged by the receiver without being sent "
        "again, so they crossed the network and only the capture missed them."
    ),
    "anomaly.acked-unseen-segment.explain": (
        "This ACK acknowledges bytes the capture never showed being sent."
    ),
    "anomaly.out-of-order.explain": (
        "This segment fills a gap left by a segment that came earlier: it arrived after data that "
        "follows it, and was not sent before."
    ),
    "anomaly.duplicate-ack.explain": (
        "The receiver repeated the same acknowledgment number without new data or a window change."
    ),
    "anomaly.triple-duplicate-ack.explain": (
        "The same acknowledgment number came at least three more times: the signal for the sender "
        "to retransmit at once."
    ),
    "anomaly.zero-window.explain": (
        "The receiver advertised a window of zero: it cannot take any more data for now."
    ),
    "anomaly.zero-window-probe.explain": (
        "The sender probed the closed window with a tiny segment to learn whether it has opened."
    ),
    "anomaly.window-full.explain": (
        "This segment filled the receiver's advertised window exactly; the sender has to wait for "
        "acknowledgments before sending more."
    ),
    "anomaly.window-update.explain": (
        "This segment only changes the advertised receive window: no data, no new acknowledgment."
    ),
    "anomaly.keep-alive.explain": (
        "After an idle period a side sent a keep-alive: a segment whose sequence number is one "
        "below the next expected, which makes the peer answer with an ACK."
    ),
    "anomaly.segment-exceeds-mss.explain": (
        "This segment carries more bytes than the maximum segment size the peer announced in its "
        "SYN."
    ),
    "anomaly.bad-checksum.explain": "The checksum of this packet does not match its contents.",
    "anomaly.checksum-offload.explain": (
        "Every packet sent by this host has a bad checksum, while the other side's are good: the "
        "capture was taken on this host before its network card filled the checksums in."
    ),
    "anomaly.data-before-handshake.explain": (
        "Data was sent before the handshake had completed, without TCP Fast Open."
    ),
    "anomaly.half-close.explain": (
        "After one side's FIN was acknowledged, the other side kept sending data: the connection "
        "was half-closed."
    ),
    "anomaly.close-wait-lingering.explain": (
        "One side acknowledged the other's FIN but had not sent its own FIN when the capture "
        "ended: it stayed in CLOSE_WAIT."
    ),
    "anomaly.lost-final-ack.explain": (
        "The passive closer sent its FIN again after the active closer's ACK of it, and the active "
        "closer acknowledged it a second time from TIME_WAIT: the first ACK was lost on the way."
    ),
    "anomaly.fin-retransmitted.explain": (
        "A FIN was sent again with the same sequence number because no acknowledgment of it "
        "arrived in time."
    ),
    "anomaly.connection-reset.explain": (
        "The connection ended with RST instead of the FIN exchange."
    ),
    "anomaly.reset-unread-data.explain": (
        "A side sent RST right after its own FIN: the typical sign of an application closing with "
        "unread data, or with SO_LINGER set to 0."
    ),
    "anomaly.reset-by-middlebox.explain": (
        "The RST arrived with a TTL that differs from the other packets of its supposed sender."
    ),
    "anomaly.rst-not-in-window.explain": (
        "The RST's sequence number is not the one its receiver expected next."
    ),
    "anomaly.open-at-capture-end.explain": "Neither side sent FIN or RST before the capture ended.",
    "anomaly.data-after-reset.explain": "A side sent data after it had reset the connection.",
    "anomaly.data-after-fin.explain": "A side sent data beyond its own FIN.",
    "anomaly.midstream.explain": (
        "The first packet of this connection in the capture is not a SYN: the capture started "
        "after the connection was opened."
    ),
    "anomaly.time-wait-conflict.explain": (
        "A new SYN arrived while the earlier connection on the same addresses and ports was "
        "probably still in TIME_WAIT, and was answered with ACK or RST instead of SYN-ACK."
    ),
}

_ZH: dict[str, str] = {
    "state.UNKNOWN": "UNKNOWN：从抓包中看不出这一端的状态（抓包很可能是在连接建立之后才开始的）。",
    "state.CLOSED": "CLOSED：这一端没有连接。",
    "state.LISTEN": "LISTEN：服务器在自己的端口上等待连接请求（SYN）。",
    "state.SYN_SENT": "SYN_SENT：已发出 SYN 请求建立连接，正在等待对方的 SYN-ACK。",
    "state.SYN_RECEIVED": (
        "SYN_RECEIVED：收到了 SYN，并已用自己的 SYN-ACK 应答，正在等待完成握手的那个 ACK。"
    ),
    "state.ESTABLISHED": "ESTABLISHED：连接已建立，双方都可以发送数据。",
    "state.FIN_WAIT_1": "FIN_WAIT_1：已发出 FIN（自己没有数据要发了），正在等待对方确认这个 FIN。",
    "state.FIN_WAIT_2": (
        "FIN_WAIT_2：自己的 FIN 已被确认，本方向已经关闭；在对方发来 FIN 之前仍然接收数据。"
    ),
    "state.CLOSE_WAIT": (
        "CLOSE_WAIT：已收到并确认了对方的 FIN；本端应用仍可以发送数据，要调用 close() 才会发出自己"
        "的 FIN。"
    ),
    "state.CLOSING": (
        "CLOSING：发出 FIN 后，在自己的 FIN 被确认之前又收到了对方的 FIN（同时关闭），正在等待对自"
        "己 FIN 的确认。"
    ),
    "state.LAST_ACK": (
        "LAST_ACK：被动关闭的一方已发出自己的 FIN，正在等待最后一个 ACK，收到后连接即为 CLOSED。"
    ),
    "state.TIME_WAIT": (
        "TIME_WAIT：主动关闭的一方已确认对方的 FIN，还要等待 2MSL 才真正释放连接（Linux 上固定为 "
        "60 秒）。"
    ),
    "role.SYN": "SYN：三次握手的第一步",
    "role.SYN_ACK": "SYN-ACK：三次握手的第二步",
    "role.HANDSHAKE_ACK": "ACK：三次握手的第三步",
    "role.DATA": "数据报文段",
    "role.PURE_ACK": "纯确认：只确认数据，本身不携带数据",
    "role.WINDOW_UPDATE": "窗口更新：只改变了通告的接收窗口",
    "role.KEEP_ALIVE": "保活：探测空闲的连接是否还在，或应答这样的探测",
    "role.FIN": "FIN：发送方不再发送数据",
    "role.FIN_ACK": "对 FIN 的确认",
    "role.RST": "RST：复位（异常终止）连接",
    "role.SYN_RETRANSMISSION": "用同一个 ISN 重传的 SYN 或 SYN-ACK",
    "role.OTHER": "其他报文段：标志组合不寻常，或不属于连接的任何一步",
    "handshake.complete": "三次握手完成（SYN、SYN-ACK、ACK）",
    "handshake.complete.why": (
        "三步都已看到：双方都确认了自己既能发送又能接收，也都知道了对方的初始序号。"
    ),
    "handshake.refused": "连接被拒绝：SYN 收到的是 RST",
    "handshake.refused.why": (
        "服务器主机是可达的，但该端口上没有程序在监听，于是它的 TCP 用 RST 回应了 SYN。请检查端口"
        "号，以及服务器程序是否在运行。"
    ),
    "handshake.unanswered": "无应答：SYN 没有得到任何回复",
    "handshake.unanswered.why": (
        "没有收到任何回复：对方主机可能不在线或不可达，防火墙可能悄悄丢弃了 SYN，也可能是抓包漏掉了"
        "回复。客户端会用同一个 ISN 不断重发 SYN，每次等待的时间加倍。"
    ),
    "handshake.incomplete": "握手未完成：SYN-ACK 始终没有得到确认",
    "handshake.incomplete.why": (
        "服务器已经应答，但第三次握手始终没有到来：客户端可能已经放弃，它的 ACK 可能丢失了，也可能"
        "抓包只看到了一个方向。同时出现大量这样的半开连接，是 SYN 洪泛攻击的特征。"
    ),
    "handshake.simultaneous_open": "同时打开：双方都发出了 SYN",
    "handshake.simultaneous_open.why": (
        "两端同时发出 SYN，又各自用 SYN-ACK 应答对方的 SYN，一个连接用四个报文段而不是三个建立起来"
        "（RFC 9293 图 7）。这种情况很少见，但完全合法。"
    ),
    "handshake.old_duplicate": "拒绝了已失效的连接请求报文段（RFC 9293 图 8）",
    "handshake.old_duplicate.why": (
        "服务器应答了一个在网络中滞留已久的旧 SYN；客户端并没有请求这个连接，于是回以 RST。三次握手"
        "的第三步正是为这种情况而设的。"
    ),
    "handshake.not_captured": "未抓到握手：抓包在连接建立之后才开始",
    "handshake.not_captured.why": (
        "没有看到 SYN，因此不知道初始序号，这里的相对序号是从每个方向看到的第一个报文段算起的。请先"
        "开始抓包，再建立连接。"
    ),
    "teardown.four_way": "四次挥手（FIN、ACK、FIN、ACK）",
    "teardown.four_way.why": (
        "两个方向分别关闭：TCP 是全双工的，一方的 FIN 及对它的确认只关闭这一方的发送方向。主动关闭"
        "的一方最后进入 TIME_WAIT。"
    ),
    "teardown.three_way": "三次挥手（FIN、FIN+ACK、ACK）",
    "teardown.three_way.why": (
        "被动关闭的一方已经没有数据要发，于是在同一个报文段里既确认对方的 FIN，又发出自己的 FIN。这"
        "仍是四次挥手的四步，只是其中两步合在了一个报文段里。"
    ),
    "teardown.simultaneous": "同时关闭：两个 FIN 在途中交错",
    "teardown.simultaneous.why": (
        "双方都是在收到对方的 FIN 之前就发出了自己的 FIN，因此都经过 CLOSING，最后都进入 "
        "TIME_WAIT。"
    ),
    "teardown.reset_by_client": "被客户端复位（RST）",
    "teardown.reset_by_client.why": (
        "客户端用 RST 异常终止了连接，而不是用 FIN 正常释放：尚在途中或尚未读取的数据都被丢弃，双方"
        "都不进入 TIME_WAIT。"
    ),
    "teardown.reset_by_server": "被服务器复位（RST）",
    "teardown.reset_by_server.why": (
        "服务器用 RST 异常终止了连接，而不是用 FIN 正常释放：尚在途中或尚未读取的数据都被丢弃，双方"
        "都不进入 TIME_WAIT。"
    ),
    "teardown.half_closed_at_end": "抓包结束时处于半关闭：只有一个 FIN",
    "teardown.half_closed_at_end.why": (
        "一方关闭了自己的发送方向，另一方直到抓包结束都没有发出 FIN。如果抓包时间足够长，可能是那一"
        "端的应用始终没有调用 close()（连接滞留在 CLOSE_WAIT）。"
    ),
    "teardown.open_at_end": "抓包结束时连接仍然打开",
    "teardown.open_at_end.why": (
        "没有看到 FIN 或 RST：抓包停止时连接还开着。要看到连接释放的过程，请等程序结束之后再停止抓"
        "包。"
    ),
    "teardown.none": "连接从未建立",
    "teardown.none.why": "三次握手没有完成，因此也就没有需要释放的连接。",
    "closer.client": "客户端",
    "closer.server": "服务器",
    "closer.both": "双方",
    "closer.none": "无",
    "severity.info": "信息",
    "severity.note": "提示",
    "severity.warn": "警告",
    "severity.error": "错误",
    "who.client": "客户端",
    "who.server": "服务器",
    "side.client": "客户端",
    "side.server": "服务器",
    "dir.to_server": "客户端 → 服务器",
    "dir.to_client": "服务器 → 客户端",
    "concept.three_way_handshake.title": "为什么建立连接要三次握手",
    "concept.three_way_handshake.body": (
        "在传送数据之前，每一方都要确认关于自己的两件事：自己发出的东西对方能收到，对方发来的东西自"
        "己也能收到。可以想象在信号不好时打电话。A：“喂，听得到吗？”B：“听得到。你听得到我吗？”A：“"
        "听得到。”第一句话让 B 知道 A 能说、自己能听；第二句话让 A 知道两个方向都是通的；只有第三句"
        "话才让 B 知道自己的声音传到了 A 那里。\n\nTCP 的三次握手用 SYN、SYN-ACK 和 ACK 做的正是这"
        "件事。与此同时，双方还各自通告自己的初始序号（ISN），并得知对方的初始序号：确认号总是对方"
        "的序号加一，因为 SYN 本身要消耗一个序号。"
    ),
    "concept.stale_syn.title": "已失效的连接请求报文段",
    "concept.stale_syn.body": (
        "设想客户端发出的第一个 SYN 并没有丢失，而是在网络中滞留了很长时间。客户端等不到应答，重发"
        "了 SYN，建立连接、传完数据、又释放了连接。这时那个旧的 SYN 才到达服务器，它就是一个已失效"
        "的连接请求报文段。在服务器看来，它和一个新的连接请求没有任何区别。\n\n如果只用两次握手，服"
        "务器一发出确认就认为连接已经建立，会一直为这个“幽灵”连接保留资源，等待永远不会到来的数据。"
        "采用三次握手时，服务器还要等客户端的确认。客户端并没有请求这个连接（SYN-ACK 中的确认号和它"
        "发出的任何 SYN 都对不上），所以不会确认，而是回一个 RST，服务器随即撤销这个半开连接。\n\n"
        "因此，客户端对一个意外的 SYN-ACK 回 RST，正是第三次握手在发挥作用。RFC 9293 的图 8 画出了"
        "这个过程，并指出防止旧的重复连接请求造成混乱是采用三次握手的主要原因。"
    ),
    "concept.why_three_minimum.title": "为什么至少要三次，什么时候可以更少",
    "concept.why_three_minimum.body": (
        "在可能丢失、延迟和重复报文的信道上，发送方只有收到回应，才能确定自己发出的东西已经到达。双"
        "方都要通告自己的 ISN 并得到对方的确认：这需要两次通告和两次确认。SYN-ACK 把服务器的通告和"
        "它对客户端的确认合并在一个报文段里，所以一共三次。\n\n少于三次不行：只握手两次，服务器永远"
        "不知道自己的 SYN 是否到达，已失效的连接请求报文段也可能建立起连接。多于三次也没有用：用第"
        "四次去确认第三次，第四次本身又需要确认，如此没有尽头。TCP 在第三次停下，剩下的情况交给超时"
        "重传和 RST 处理。\n\n如果信道从不丢失、从不延迟、也从不乱序，那就根本不需要确认，直接发送"
        "就够了。UDP 不握手则是另一回事：它下面的网络同样不可靠，但 UDP 什么也不保证。它不建立连"
        "接，不给数据编号，也不重传，所以双方没有什么需要商定的。在 UDP 之上需要可靠传输的应用，必"
        "须自己实现确认机制。"
    ),
    "concept.four_way_close.title": "为什么释放连接要四次挥手",
    "concept.four_way_close.body": (
        "TCP 是全双工的：两个方向是两条独立的数据流，要分别关闭。FIN 的意思只是“我没有数据要发了”。"
        "客户端发出 FIN、服务器确认之后，关闭的只是客户端到服务器这个方向。服务器可能还有数据要发，"
        "客户端仍要继续接收，这就是半关闭。\n\n等服务器也发完了，它才发出自己的 FIN，再由客户端确"
        "认。两个方向各需要一个 FIN 和一个 ACK，所以是四次挥手。如果服务器已经没有数据要发，它可以"
        "把 FIN 和 ACK 放在同一个报文段里，这时只需要三个报文段。"
    ),
    "concept.close_states.title": (
        "连接释放过程中的状态：FIN_WAIT_1、FIN_WAIT_2、CLOSE_WAIT、LAST_ACK"
    ),
    "concept.close_states.body": (
        "先关闭的一方（主动关闭）发出 FIN，进入 FIN_WAIT_1：等待这个 FIN 被确认。收到确认后进入 "
        "FIN_WAIT_2：自己的发送方向已经关闭，但仍然接收数据，等待对方的 FIN。\n\n另一方（被动关闭）"
        "收到 FIN 时进入 CLOSE_WAIT。它知道对方已经发完了，但本端应用仍可以继续发送，一直要等到应用"
        "调用 close()。这时它发出自己的 FIN，进入 LAST_ACK：等待对自己 FIN 的确认，收到后进入 "
        "CLOSED。\n\n主动关闭的一方在 FIN_WAIT_2 收到对方的 FIN 后发出确认，进入 TIME_WAIT。如果两"
        "个 FIN 在途中交错，双方都会在 FIN_WAIT_1 收到对方的 FIN，于是都进入 CLOSING。"
    ),
    "concept.time_wait.title": "TIME_WAIT 与 2MSL",
    "concept.time_wait.body": (
        "确认对方的 FIN 之后，主动关闭的一方并不马上离开，而是在 TIME_WAIT 状态等待两倍的报文段最长"
        "寿命（2MSL）。原因有两个。\n\n第一，它发出的最后一个 ACK 可能丢失。这时仍处于 LAST_ACK 的"
        "对方会重传 FIN，必须有人在场再次确认；否则对方收到的将是 RST，而不是正常的释放。第二，本连"
        "接的旧的重复报文段可能还在网络中游荡。等待 2MSL 可以让它们全部消失，之后同一个四元组（双方"
        "的地址和端口）才能用于新的连接，否则这些旧报文段可能被误当作新连接的数据。\n\nRFC 9293 把 "
        "MSL 取为 2 分钟，因此 2MSL 为 4 分钟。Linux 并不照此执行：它把 TIME_WAIT 固定为 60 秒（内"
        "核源码中的 TCP_TIMEWAIT_LEN），任何 sysctl 都改不了。一个常见的误解是 "
        "net.ipv4.tcp_fin_timeout 决定 TIME_WAIT 的时长。其实不然：它是处于 FIN_WAIT_2 的孤儿连接的"
        "超时时间，是另一个计时器，只是默认值恰好也是 60 秒。"
    ),
    "concept.rst.title": "RST：复位连接",
    "concept.rst.body": (
        "RST 立即终止连接，不经过挥手：没有 FIN，不用等待，尚在途中或尚未读取的数据全部丢弃。它常见"
        "于三种情况。\n\n连接被拒绝：SYN 到达的端口上没有程序在监听，主机回以 RST（其确认号为该 "
        "SYN 的序号加一）。异常终止：应用程序突然结束连接，例如设置了 SO_LINGER 为 0，在接收缓存中"
        "还有未读数据时就关闭连接（RFC 1122 §4.2.2.13），或者进程被杀死。对未知连接的复位：报文段到"
        "达时，接收方并没有这个连接（已经关闭、崩溃后重启，或根本没有建立过），于是回以 RST。\n\n只"
        "有序号落在接收窗口内的 RST 才会被接受；按照 RFC 5961，序号不完全吻合的 RST 只会引来一个挑"
        "战 ACK，以防范伪造的复位。"
    ),
    "concept.who_time_wait.title": "谁会进入 TIME_WAIT",
    "concept.who_time_wait.body": (
        "只有主动关闭的一方，即先发出 FIN 的一方，才会经过 TIME_WAIT；被动关闭的一方在 LAST_ACK 收"
        "到对自己 FIN 的确认后直接进入 CLOSED。所以通常先关闭连接的客户端上会积累 TIME_WAIT，而如果"
        "是服务器先关闭，TIME_WAIT 就积累在服务器上。同时关闭时，双方都是主动关闭者：都经过 "
        "CLOSING，最后都进入 TIME_WAIT。用 RST 结束的连接，双方都不进入 TIME_WAIT。"
    ),
    "concept.sequence_numbers.title": "序号与确认号",
    "concept.sequence_numbers.body": (
        "一方发送的每个字节都有一个序号。建立连接时随机选定第一个序号，即初始序号（ISN），由 SYN 携"
        "带。SYN 和 FIN 各消耗一个序号，就像一个字节一样。一方发出的确认号，是它期望收到对方的下一"
        "个序号，表示此前的数据都已收到。\n\nWireshark 和本工具显示的是相对序号：原始序号减去该方"
        "的 ISN，于是 SYN 为 0，第一个数据字节为 1，对 SYN 的确认号为 1。如果抓包没有抓到 SYN，相对"
        "序号就从每个方向看到的第一个报文段算起。"
    ),
    "concept.simultaneous_open.title": "同时打开",
    "concept.simultaneous_open.body": (
        "如果两端同时发出 SYN，双方都会在 SYN_SENT 状态收到对方的 SYN。各自回一个 SYN-ACK，其中重复"
        "自己的 ISN 并确认对方的 ISN，然后进入 SYN_RECEIVED，收到对方的 SYN-ACK 后进入 ESTABLISHED"
        "（RFC 9293 图 7）。结果只建立一个连接，而不是两个。Wireshark 会把这些报文段标为重传和重复"
        "确认，其实它们并不是。"
    ),
    "narr.syn_stale": (
        "已失效的连接请求报文段：这个 SYN（序号 {seq_raw}）是一个在网络中滞留很久的旧副本，到达时它"
        "所属的连接早已释放。客户端并没有发出新的连接请求，但服务器此时无从知道：在服务器看来，它和"
        "普通的新 SYN 一样。"
    ),
    "narr.synack_stale": (
        "服务器把这个已失效的 SYN 当作新的请求来应答：确认号 {ack}（那个 SYN 的序号 + 1），以及自己"
        "的 ISN，序号 {seq_raw}。它现在在 SYN_RECEIVED 等待第三次握手，而这正是它的保护：客户端"
        "不会确认一个它从未请求过的连接。"
    ),
    "narr.syn": (
        "请求建立连接：序号 {seq_raw} 是客户端的初始序号（ISN，相对序号 0）。SYN 本身消耗一个序号，"
        "所以客户端的第一个数据字节将是相对序号 1。客户端现在等待服务器应答，以确认对方收到了这个 "
        "SYN。"
    ),
    "narr.syn_data": (
        "请求建立连接，并且已经携带了 {length} 字节数据：序号 {seq_raw} 是客户端的 ISN（相对序号 "
        "0），数据占用相对序号 1 到 {length}。除了 TCP Fast Open，SYN 携带数据是很少见的。"
    ),
    "narr.syn_tfo": (
        "用 TCP Fast Open（RFC 7413）请求建立连接：序号 {seq_raw} 是客户端的 ISN（相对序号 0），"
        "SYN 已经携带了 {length} 字节数据，如果服务器接受 cookie，就能节省一个往返时间。"
    ),
    "narr.syn_again": (
        "同一个 SYN 又发了一次（序号 {seq_raw}，ISN 不变）：没有及时收到 SYN-ACK，客户端的重传计时"
        "器超时了（起初为 1 秒，之后每次加倍，RFC 6298）。"
    ),
    "narr.synack_again": (
        "同一个 SYN-ACK 又发了一次（序号 {seq_raw}，ISN 不变）：三次握手的第三步没有到达服务器，所"
        "以它重发第二步。"
    ),
    "narr.syn_simultaneous": (
        "{sender}也发出了 SYN（ISN {seq_raw}），而且是在看到对方的 SYN 之前发出的：两端同时请求建立"
        "连接（同时打开，RFC 9293 图 7），双方都会应答对方的 SYN。"
    ),
    "narr.synack": (
        "三次握手的第二步：确认号 {ack}（客户端的 ISN + 1）表示“你的 SYN 收到了”，序号 {seq_raw} 是"
        "服务器自己的 ISN（相对序号 0）。服务器现在知道客户端能发送、自己能接收；这个报文段到达后，"
        "客户端就知道自己的发送和接收都正常。"
    ),
    "narr.synack_tfo": (
        "三次握手的第二步，并接受了 SYN 携带的数据：确认号 {ack} 同时确认了 SYN 和其中的 "
        "{syn_length} 字节数据，序号 {seq_raw} 是服务器自己的 ISN（相对序号 0）。"
    ),
    "narr.synack_tfo_ignored": (
        "三次握手的第二步：确认号 {ack} 只确认了 SYN，没有确认其中的 {syn_length} 字节数据，说明服"
        "务器没有接受 Fast Open 数据，客户端必须重发这些数据。序号 {seq_raw} 是服务器的 ISN（相对序"
        "号 0）。"
    ),
    "narr.synack_old": (
        "这个 SYN-ACK 的确认号（相对值 {ack}）不是客户端的 ISN + 1（那应当是 1）：服务器应答的是这"
        "对地址和端口上一个更早的、在网络中滞留的 SYN，即已失效的连接请求报文段。客户端并没有在等待"
        "这样一个连接。"
    ),
    "narr.synack_simultaneous": (
        "同时打开中的 SYN-ACK：{sender}重复自己的 ISN（序号 {seq_raw}），并确认对方的 SYN（确认号 "
        "{ack}）。"
    ),
    "narr.hs_ack": (
        "三次握手的第三步：确认号 {ack}（服务器的 ISN + 1）告诉服务器它的 SYN 已经到达。现在双方都"
        "知道自己既能发送又能接收，连接建立了。"
    ),
    "narr.rst_refused": (
        "连接被拒绝：端口 {port} 上没有程序在监听，服务器的 TCP 用复位来回应这个 SYN。确认号 {ack}"
        "（客户端的 ISN + 1）指明它拒绝的是哪个 SYN；连接从未建立。"
    ),
    "narr.rst_old_duplicate": (
        "客户端复位了一个自己从未请求过的 SYN-ACK（序号 {seq_raw} 就是那个 SYN-ACK 的确认号）：它通"
        "知服务器撤销由已失效的 SYN 建立的半开连接。这正是第三次握手在发挥作用：没有这一步，服务器"
        "就会保留一个“幽灵”连接，等待永远不会到来的数据（RFC 9293 图 8）。"
    ),
    "narr.rst_handshake": "握手过程中的复位：{sender}在连接建立之前就放弃了它。",
    "narr.rst_abort": (
        "复位一个已建立的连接：{sender}没有用 FIN 正常关闭，而是异常终止。尚在途中或未读取的数据都"
        "被丢弃，双方都不进入 TIME_WAIT。常见原因：应用在还有未读数据时关闭了连接、设置了 "
        "SO_LINGER 为 0，或者进程被杀死。"
    ),
    "narr.rst_after_fin": (
        "在自己的 FIN 之后复位：{sender}已经关闭，现在又异常终止。当应用在接收缓存中还有未读数据时"
        "关闭连接，或在关闭之后仍有数据到达时，TCP 就会这样做（RFC 1122 §4.2.2.13）。"
    ),
    "narr.rst_unknown": (
        "{sender}已经没有这个连接了，所以回以复位：报文段到达时，连接在它这一端已经关闭，TCP 对这类"
        "报文段一律回以 RST（RFC 9293 §3.5.2）。"
    ),
    "narr.fin_active": (
        "FIN：{sender}没有数据要发了，关闭自己的发送方向（主动关闭）。FIN 消耗一个序号（序号 "
        "{seq}）。对方仍然可以发送：在它的 FIN 到来之前，连接处于半关闭状态。"
    ),
    "narr.fin_passive": "FIN：{sender}也发完了数据（被动关闭），现在在 LAST_ACK 等待最后一个 ACK。",
    "narr.fin_three_way": (
        "FIN 和 ACK 在同一个报文段里：{sender}确认了对方的 FIN（确认号 {ack}），并且因为已经没有数"
        "据要发，立即关闭自己的方向。这样释放连接只用了三个报文段，而不是四个。"
    ),
    "narr.fin_simultaneous": (
        "{sender}的 FIN，是在看到对方的 FIN 之前发出的（它的确认号 {ack} 没有覆盖那个 FIN）：两个 "
        "FIN 在途中交错，即同时关闭。双方都会经过 CLOSING，最后都进入 TIME_WAIT。"
    ),
    "narr.fin_again": (
        "同一个 FIN 又发了一次（序号 {seq}）：{sender}没有及时收到对它的确认，于是重传；要么是第一"
        "个 FIN 丢了，要么是对它的 ACK 丢了。"
    ),
    "narr.finack_first": (
        "对 FIN 的确认（确认号 {ack} = FIN 的序号 + 1）：{sender}确认对方已经发完了数据。它自己的方"
        "向仍然打开：在发出自己的 FIN 之前，它还可以继续发送数据（半关闭）。"
    ),
    "narr.finack_last": (
        "释放连接的最后一步：确认号 {ack} 确认了对方的 FIN，对方收到后就可以释放连接；而{sender}作"
        "为主动关闭的一方，要在 TIME_WAIT 等待 2MSL，以防这个 ACK 丢失、对方重传 FIN。"
    ),
    "narr.finack_simultaneous": (
        "对交错的 FIN 的确认（确认号 {ack}）：一旦自己的 FIN 也被确认，双方就从 CLOSING 进入 "
        "TIME_WAIT。"
    ),
    "narr.finack_again": (
        "在 TIME_WAIT 中再次发出 ACK，应答重传的 FIN：这正是 TIME_WAIT 存在的意义。如果{sender}早已"
        "离开，对方收到的就会是 RST。"
    ),
    "narr.illegal": (
        "标志组合非法的报文段（{flags}）：正常连接中任何 TCP 实现都不会发送它；端口扫描器用这样的报"
        "文段探测主机的指纹。"
    ),
    "narr.other": "不属于这个连接任何一步的报文段（{flags}）。",
    "narr.data": "{length} 字节数据，相对序号 {seq}；确认到相对序号 {ack}。",
    "narr.pure_ack": "确认了相对序号 {ack} 之前的全部数据，本身不携带数据。",
    "narr.window_update": "窗口更新：通告新的接收窗口（字段值 {window}），并确认到相对序号 {ack}。",
    "narr.keep_alive": "保活：探测空闲的连接是否还在，或应答这样的探测。",
    "narr.carries_data": "它还携带了 {length} 字节数据。",
    "narr.flagged": "标记：{titles}。",
    "narr.states": "状态：{client}；{server}。",
    "narr.side_change": "{side} {before} → {after}",
    "narr.side_same": "{side}保持 {state}",
    "narr.unknown_state": "未知",
    "narr.sum.data.one": "1 个数据报文段",
    "narr.sum.data.many": "{count} 个数据报文段",
    "narr.sum.to_server": "客户端 → 服务器 {amount}",
    "narr.sum.to_client": "服务器 → 客户端 {amount}",
    "narr.sum.and": "，",
    "narr.sum.sep": "，",
    "narr.sum.acks.one": "1 个纯确认",
    "narr.sum.acks.many": "{count} 个纯确认",
    "narr.sum.window.one": "1 个窗口更新",
    "narr.sum.window.many": "{count} 个窗口更新",
    "narr.sum.keepalive.one": "1 个保活报文段",
    "narr.sum.keepalive.many": "{count} 个保活报文段",
    "narr.sum.retrans.one": "1 次重传",
    "narr.sum.retrans.many": "{count} 次重传",
    "narr.sum.other.one": "1 个其他报文段",
    "narr.sum.other.many": "{count} 个其他报文段",
    "ui.frame": "帧 {frame}",
    "ui.frames": "帧 {first}–{last}",
    "ui.time": "+{seconds} 秒",
    "ui.connection": (
        "连接 {id} · {client} → {server} · 建立：{handshake} · 释放：{teardown} · {duration} 秒内 "
        "{packets} 个报文段"
    ),
    "ui.closed_first": "{who}先关闭",
    "ui.time_wait": "{who}最后进入 TIME_WAIT",
    "ui.midstream": "相对序号从每个方向看到的第一个报文段算起（没有抓到 SYN）",
    "ui.anomalies": "异常",
    "ui.concepts": "概念",
    "ui.why": "为什么重要",
    "ui.none": "无",
    "report.title": "TCP 连接详解",
    "report.left_out": (
        "为了让页面保持小巧，有 {count} 个连接只在表格中列出一行摘要，没有完整绘制。"
        "要绘制其中任意一个，请运行：pcapexplain report CAPTURE --connection N"
    ),
    "report.seconds": "{seconds} 秒",
    "report.second_unit": "秒",
    "report.ms": "{ms} 毫秒",
    "report.traffic": (
        "客户端 → 服务器：{up} 个报文段，{up_bytes}；服务器 → 客户端：{down} 个报文段，{down_bytes}"
    ),
    "report.who.client": "客户端",
    "report.who.server": "服务器",
    "report.who.both": "双方",
    "report.who.none": "–",
    "report.table_legend": (
        "连接建立和释放两列使用上面概览中列出的代码。灰色的连接只有摘要；带链接的编号指向完整的解释。"
    ),
    "report.yes": "是",
    "report.no": "否",
    "report.option.mss": "MSS（最大报文段长度）",
    "report.option.wscale": "窗口扩大因子（移位数）",
    "report.option.sack_permitted": "允许 SACK（选择确认）",
    "report.option.timestamps": "时间戳",
    "report.option.tfo": "TCP 快速打开（TFO）",
    "report.fact.size": "大小",
    "report.fact.sha256": "SHA-256",
    "report.fact.packets": "分组数",
    "report.fact.span": "时间跨度",
    "report.fact.connections": "TCP 连接数",
    "report.fact.reader": "读取方式",
    "report.fact.version": "pcapexplain",
    "report.fact.generated": "报告生成时间",
    "report.fact.warning": "警告",
    "report.fact.isn": "初始序号 ISN（客户端 / 服务器）",
    "report.fact.rtt_syn": "往返时间 SYN → SYN-ACK",
    "report.fact.rtt_ack": "往返时间 SYN-ACK → ACK",
    "report.fact.zeek": "Zeek conn_state、history",
    "report.fact.traffic": "流量",
    "report.col.id": "#",
    "report.col.client": "客户端",
    "report.col.server": "服务器",
    "report.col.handshake": "连接建立",
    "report.col.teardown": "连接释放",
    "report.col.closed_first": "先关闭的一方",
    "report.col.time_wait": "TIME_WAIT",
    "report.col.duration": "持续时间（秒）",
    "report.col.bytes_up": "字节 客→服",
    "report.col.bytes_down": "字节 服→客",
    "report.col.packets": "报文段",
    "report.col.anomalies": "异常",
    "report.summary": "概览",
    "report.by_handshake": "按连接建立结果统计",
    "report.by_teardown": "按连接释放方式统计",
    "report.by_severity": "按严重程度统计异常",
    "report.by_anomaly": "按类型统计异常",
    "report.table": "连接列表",
    "report.filter_outcome": "结果",
    "report.filter_anomaly": "异常",
    "report.search": "搜索主机或端口",
    "report.all": "全部",
    "report.clear": "显示全部",
    "report.inferred": "角色是推断的：没有抓到 SYN",
    "report.ladder": "时序图",
    "report.packets": "逐个报文段的解释",
    "report.findings": "异常",
    "report.no_findings": "这个连接没有异常。",
    "report.concepts": "概念讲解",
    "report.related": "延伸阅读",
    "report.band": "{frames}：{count} 个报文段，数据 {size}",
    "report.band_open": "（点击展开）",
    "report.band_hidden": "个报文段未绘制",
    "report.client": "客户端",
    "report.server": "服务器",
    "report.options": "握手中协商的选项",
    "report.option": "选项",
    "report.summary_only": "仅摘要；用 --connection 绘制",
    "report.noscript": "排序和筛选需要 JavaScript；没有它表格也是完整的。",
    "report.back": "返回连接列表",
    "report.frames_label": "帧",
    "report.explanation": "作用",
    "report.seq": "序号（原始，相对）",
    "report.ack": "确认号（原始，相对）",
    "report.len": "长度",
    "report.states": "之后的状态（客户端 · 服务器）",
    "report.time": "时间",
    "report.dir": "方向",
    "report.flags": "标志",
    "report.shown": "显示的行数",
    "report.why": "为什么重要",
    "report.severity": "严重程度",
    "report.details": "详情",
    "report.left_out_severe": (
        "其中 {count} 个带有警告或错误：本页最多完整绘制 {limit} 个连接（最严重的优先），"
        "它们超出了这个上限。按严重程度筛选表格即可找到它们。"
    ),
    "report.raw_rel": "{raw}（相对 {rel}）",
    "report.states_line": (
        "客户端 {client_before}→{client_after} · 服务器 {server_before}→{server_after}"
    ),
    "report.more_frames": "另有 {count} 个",
    "anomaly.syn-unanswered.title": "SYN 无应答",
    "anomaly.syn-unanswered.why": (
        "没有回复就没有连接：客户端程序一直等待，最后报告超时。请检查地址、端口以及途中的防火墙。"
    ),
    "anomaly.syn-retransmitted.title": "SYN 重传",
    "anomaly.syn-retransmitted.why": (
        "每重传一次，说明客户端等满了一个重传超时时间（1 秒，然后 2 秒、4 秒……）：连接的建立因此推"
        "迟了这么久，甚至始终没有建立。"
    ),
    "anomaly.connection-refused.title": "连接被拒绝",
    "anomaly.connection-refused.why": (
        "端口是关闭的：服务器程序没有运行，或者它监听的是另一个端口或地址。客户端程序会立即得到"
        "“connection refused”（连接被拒绝）。"
    ),
    "anomaly.handshake-incomplete.title": "三次握手未完成",
    "anomaly.handshake-incomplete.why": (
        "服务器会一直保留这个半开连接，直到放弃为止。偶尔出现一个，通常是 ACK 丢失或抓包只看到了一"
        "个方向；同时出现大量这样的连接，则可能是 SYN 洪泛攻击。"
    ),
    "anomaly.synack-retransmitted.title": "SYN-ACK 重传",
    "anomaly.synack-retransmitted.why": (
        "服务器没有及时收到三次握手的第三步：客户端的 ACK 丢失或迟到了，或者 SYN-ACK 本身在去往客户"
        "端的途中丢失了。"
    ),
    "anomaly.old-duplicate-syn.title": "拒绝了已失效的连接请求报文段",
    "anomaly.old-duplicate-syn.why": (
        "这是 TCP 按设计在工作：三次握手的第三步阻止了一个滞留已久的旧连接请求建立起“幽灵”连接（"
        "RFC 9293 图 8）。"
    ),
    "anomaly.simultaneous-open.title": "同时打开",
    "anomaly.simultaneous-open.why": (
        "少见但合法：一个连接由两端同时打开。Wireshark 把这些报文段显示为重传和重复确认，其实都不"
        "是。"
    ),
    "anomaly.syn-data.title": "SYN 携带数据",
    "anomaly.syn-data.why": (
        "使用 TCP Fast Open 时，请求随 SYN 一起发出，可以节省一个往返时间；如果服务器不接受，客户端"
        "会在握手之后重发这些数据。"
    ),
    "anomaly.illegal-flags.title": "非法的标志组合",
    "anomaly.illegal-flags.why": (
        "正常的 TCP 实现不会发送这样的报文段；它们是端口扫描器探测主机反应的典型手段（例如 nmap 的 "
        "NULL、FIN 和 Xmas 扫描）。"
    ),
    "anomaly.ack-without-ack-flag.title": "ACK 标志未置位却有确认号",
    "anomaly.ack-without-ack-flag.why": (
        "没有 ACK 标志时确认号字段没有意义，应当为零；非零值说明报文段可能是伪造的，或者协议栈有缺"
        "陷。"
    ),
    "anomaly.port-reused.title": "地址和端口组合被重用",
    "anomaly.port-reused.why": (
        "新连接使用了与先前某个连接相同的地址和端口。只要旧连接确实已经结束，客户端碰巧再次选中同一"
        "个端口是正常的。"
    ),
    "anomaly.port-reused-in-time-wait.title": "在 TIME_WAIT 期间重用端口组合",
    "anomaly.port-reused-in-time-wait.why": (
        "旧连接很可能仍处于 TIME_WAIT（Linux 上为 60 秒，按 RFC 9293 的 2MSL 为 4 分钟）。"
        "tcp_tw_reuse、SO_REUSEADDR 或 NAT 都允许这样提前重用，但旧的报文段就可能被误当作新连接的报"
        "文段。"
    ),
    "anomaly.syn-in-established.title": "已建立的连接中出现 SYN",
    "anomaly.syn-in-established.why": (
        "在已经建立的连接上收到 SYN，接收方应当回一个挑战 ACK（RFC 5961 §4）。常见原因是一端重启后"
        "丢失了连接，而另一端还保留着它。"
    ),
    "anomaly.retransmission.title": "重传",
    "anomaly.retransmission.why": (
        "在重传计时器超时之前没有收到确认，于是报文段又发了一次：有数据丢失了，发送方至少等待了一个"
        "超时时间。"
    ),
    "anomaly.fast-retransmission.title": "快速重传",
    "anomaly.fast-retransmission.why": (
        "接收方的重复确认告诉发送方有一个报文段缺失，于是发送方不等超时就立即重传：发生了丢失，但很"
        "快就恢复了。"
    ),
    "anomaly.spurious-retransmission.title": "不必要的重传",
    "anomaly.spurious-retransmission.why": (
        "这些数据早已被确认，这次重传是多余的：重传计时器设得太短，或者有一个 ACK 在抓包点之后丢失"
        "了。"
    ),
    "anomaly.segment-not-captured.title": "前一个报文段未被抓到",
    "anomaly.segment-not-captured.why": (
        "序号出现了空缺：有报文段在网络中丢失，或者只是抓包漏掉了它。之后的情况（重传，或越过空缺的"
        "确认）可以判断是哪一种。"
    ),
    "anomaly.capture-loss.title": "抓包造成的空缺",
    "anomaly.capture-loss.why": (
        "接收方确认了缺失的字节，且没有任何重传，说明这些数据确实到达了，只是抓包没有抓到。这不是网"
        "络问题。"
    ),
    "anomaly.acked-unseen-segment.title": "确认了未被抓到的报文段",
    "anomaly.acked-unseen-segment.why": (
        "被确认的报文段没有出现在抓包中，通常是因为抓包开始得晚或丢了包；连接本身没有问题。"
    ),
    "anomaly.out-of-order.title": "报文段乱序",
    "anomaly.out-of-order.why": (
        "这个报文段比它后面的数据到得还晚：分组走了不同的路径或被重新排序。TCP 会把它们按序重组，但"
        "严重的乱序可能触发不必要的快速重传。"
    ),
    "anomaly.duplicate-ack.title": "重复确认",
    "anomaly.duplicate-ack.why": (
        "接收方再次确认同一个字节，是因为空缺之后的数据先到了：这说明有报文段缺失。"
    ),
    "anomaly.triple-duplicate-ack.title": "三个重复确认",
    "anomaly.triple-duplicate-ack.why": (
        "收到三个重复确认后，发送方会立即重传缺失的报文段（快速重传），并减小拥塞窗口。"
    ),
    "anomaly.zero-window.title": "零窗口",
    "anomaly.zero-window.why": (
        "接收方的缓存满了，因为它的应用程序读得不够快：发送方必须停下来，并不断探测，直到窗口重新打"
        "开。"
    ),
    "anomaly.zero-window-probe.title": "零窗口探测",
    "anomaly.zero-window-probe.why": (
        "在接收方通告零窗口期间，发送方发出小的探测报文段，以便及时发现窗口重新打开。"
    ),
    "anomaly.window-full.title": "窗口已满",
    "anomaly.window-full.why": (
        "发送方已经发满了接收方的窗口，必须等待确认：传输速度受到接收方或其窗口大小的限制。"
    ),
    "anomaly.window-update.title": "窗口更新",
    "anomaly.window-update.why": (
        "接收方腾出了缓存空间，通知发送方可以多发一些；在零窗口之后，正是它让传输重新开始。"
    ),
    "anomaly.keep-alive.title": "保活",
    "anomaly.keep-alive.why": (
        "空闲很长时间之后（Linux 默认 7200 秒），TCP 检查对方是否还在。它本身无害。"
    ),
    "anomaly.segment-exceeds-mss.title": "报文段超过 MSS",
    "anomaly.segment-exceeds-mss.why": (
        "抓包是在开启了分段卸载（TSO/GSO）的发送主机上进行的：网卡随后才会把报文段切小，所以它在线"
        "路上并不是这么大。"
    ),
    "anomaly.bad-checksum.title": "检验和错误",
    "anomaly.bad-checksum.why": (
        "接收方会丢弃损坏的报文段，必须重传。如果抓包主机发出的每个分组都有错误，那是检验和卸载，而"
        "不是损坏。"
    ),
    "anomaly.checksum-offload.title": "检验和交给网卡计算",
    "anomaly.checksum-offload.why": (
        "这台主机发出的每个分组的检验和都显示错误，是因为抓包在网卡填入检验和之前就看到了它们（检验"
        "和卸载）。这不是错误。"
    ),
    "anomaly.data-before-handshake.title": "握手完成之前就发送了数据",
    "anomaly.data-before-handshake.why": (
        "没有 TCP Fast Open 时，数据必须等到连接建立之后才能发送；提前发送的数据会被接收方丢弃，或"
        "者说明报文段是伪造的、协议栈有缺陷。"
    ),
    "anomaly.half-close.title": "半关闭",
    "anomaly.half-close.why": (
        "一方关闭了自己的发送方向后仍在接收，另一方还在发送：这完全合法，也正是释放 TCP 连接需要四"
        "次挥手的原因。"
    ),
    "anomaly.close-wait-lingering.title": "连接滞留在 CLOSE_WAIT",
    "anomaly.close-wait-lingering.why": (
        "一方收到了 FIN，却始终没有发出自己的 FIN：它的应用程序很可能从不调用 close()，这是典型的资"
        "源泄漏。"
    ),
    "anomaly.lost-final-ack.title": "最后一个 ACK 丢失",
    "anomaly.lost-final-ack.why": (
        "因为最后一个 ACK 没有到达，对方重传了 FIN，主动关闭的一方在 TIME_WAIT 中再次确认：这正是需"
        "要 TIME_WAIT 的第一个理由。"
    ),
    "anomaly.fin-retransmitted.title": "FIN 重传",
    "anomaly.fin-retransmitted.why": (
        "FIN 没有及时得到确认，说明 FIN 本身或对它的 ACK 丢失了。TCP 会一直重传，直到连接释放完成。"
    ),
    "anomaly.connection-reset.title": "连接被复位",
    "anomaly.connection-reset.why": (
        "连接被突然终止：途中的数据丢失了，另一端的应用程序会看到“connection reset by peer”（连接被"
        "对方复位）。"
    ),
    "anomaly.reset-unread-data.title": "带着未读数据关闭导致复位",
    "anomaly.reset-unread-data.why": (
        "应用程序在还有未读数据时关闭了连接（或设置了 SO_LINGER 为 0），于是 TCP 发出 RST，而不是正"
        "常完成释放；对方可能会丢失最后发给它的数据。"
    ),
    "anomaly.reset-by-middlebox.title": "复位很可能来自中间设备",
    "anomaly.reset-by-middlebox.why": (
        "这个 RST 的 TTL 与发送方的其他分组不同，很可能是途中的防火墙、NAT 或负载均衡器以发送方的名"
        "义发出的，例如在空闲超时之后。"
    ),
    "anomaly.rst-not-in-window.title": "RST 的序号不符合预期",
    "anomaly.rst-not-in-window.why": (
        "序号不恰好等于下一个期望序号的 RST 不会被接受（RFC 5961）：接收方会忽略它，或回一个挑战 "
        "ACK。它可能是伪造的。"
    ),
    "anomaly.open-at-capture-end.title": "抓包结束时连接仍然打开",
    "anomaly.open-at-capture-end.why": (
        "没有抓到 FIN 或 RST：连接比抓包持续得更久。要看到连接释放，请等程序结束之后再停止抓包。"
    ),
    "anomaly.data-after-reset.title": "RST 之后仍有数据",
    "anomaly.data-after-reset.why": (
        "RST 之后连接已经不存在；同一方再发数据违反了协议，除非是抓包把分组的顺序弄乱了。"
    ),
    "anomaly.data-after-fin.title": "FIN 之后仍有数据",
    "anomaly.data-after-fin.why": (
        "FIN 表示这一方不会再发送数据；在它之后还有数据违反了协议，除非是抓包把分组的顺序弄乱了。"
    ),
    "anomaly.midstream.title": "抓包从连接中途开始",
    "anomaly.midstream.why": (
        "没有抓到三次握手，因此初始序号、选项以及是谁发起的连接都无从得知。如果是作业，请重新抓包，"
        "并在建立连接之前就开始抓。"
    ),
    "anomaly.time-wait-conflict.title": "新连接遇上处于 TIME_WAIT 的旧连接",
    "anomaly.time-wait-conflict.why": (
        "这对地址和端口上的旧连接仍处于 TIME_WAIT，因此新的 SYN 收到的是 ACK 或 RST，而不是 "
        "SYN-ACK：这正是需要 TIME_WAIT 的第二个理由。"
    ),
    "anomaly.syn-unanswered.explain": "客户端发出了 SYN，但直到抓包结束，服务器都没有任何回复。",
    "anomaly.syn-retransmitted.explain": (
        "客户端用同一个初始序号再次发出 SYN：之前的 SYN 在重传超时时间内没有收到 SYN-ACK。"
    ),
    "anomaly.connection-refused.explain": (
        "服务器用 RST 而不是 SYN-ACK 回应了 SYN：该端口上没有程序在监听。"
    ),
    "anomaly.handshake-incomplete.explain": "服务器发出了 SYN-ACK，但抓包中没有客户端对它的确认。",
    "anomaly.synack-retransmitted.explain": (
        "服务器用同一个初始序号再次发出 SYN-ACK，因为三次握手的第三步没有到达。"
    ),
    "anomaly.old-duplicate-syn.explain": (
        "一个 SYN-ACK 确认的并不是客户端为这个连接发出的 SYN，客户端随即回以 RST：一个滞留已久的旧 "
        "SYN 到达了服务器（RFC 9293 图 8）。"
    ),
    "anomaly.simultaneous-open.explain": (
        "两端都在看到对方的 SYN 之前发出了自己的 SYN，然后各自用重复自己 ISN 的 SYN-ACK 应答。"
    ),
    "anomaly.syn-data.explain": (
        "SYN 携带了数据。带有 TCP Fast Open 选项时这就是快速打开；SYN-ACK 的确认号表明服务器是否接"
        "受了这些数据。"
    ),
    "anomaly.illegal-flags.explain": (
        "报文段的标志组合永远不合法，例如 SYN 与 FIN 同时置位、SYN 与 RST 同时置位、一个标志都没"
        "有，或者 FIN、PSH、URG 置位而 ACK 未置位。"
    ),
    "anomaly.ack-without-ack-flag.explain": "ACK 标志没有置位，确认号字段却不为零。",
    "anomaly.port-reused.explain": (
        "一个新的 SYN（带有新的初始序号）使用了与先前某个连接相同的地址和端口，而那个连接已经以 "
        "FIN 或 RST 结束。"
    ),
    "anomaly.port-reused-in-time-wait.explain": (
        "先前的连接结束后不久，这对地址和端口就被再次使用，当时它的主动关闭方很可能仍处于 "
        "TIME_WAIT。"
    ),
    "anomaly.syn-in-established.explain": (
        "在一个已经建立的连接上出现了 SYN，此前并没有 FIN 或 RST。"
    ),
    "anomaly.retransmission.explain": (
        "报文段携带的是已经发送过的字节：发送方在重传计时器超时后重发了它们。"
    ),
    "anomaly.fast-retransmission.explain": (
        "报文段在针对它的重复确认之后立即重发，没有等待重传计时器超时。"
    ),
    "anomaly.spurious-retransmission.explain": "报文段重发的字节早已被接收方确认。",
    "anomaly.segment-not-captured.explain": (
        "这个报文段的起始序号超过了同一发送方上一个报文段的末尾：中间的字节在抓包中缺失了。"
    ),
    "anomaly.capture-loss.explain": (
        "抓包中缺失的字节被接收方确认了，而且发送方没有重传，说明它们已经穿过网络，只是抓包漏掉了。"
    ),
    "anomaly.acked-unseen-segment.explain": "这个 ACK 确认了抓包中从未出现过的字节。",
    "anomaly.out-of-order.explain": (
        "这个报文段填补了此前留下的空缺：它比后面的数据到得晚，而且之前没有发送过。"
    ),
    "anomaly.duplicate-ack.explain": "接收方重复发出了相同的确认号，既没有新数据，窗口也没有变化。",
    "anomaly.triple-duplicate-ack.explain": (
        "同一个确认号又重复出现了至少三次：这是通知发送方立即重传的信号。"
    ),
    "anomaly.zero-window.explain": "接收方通告的窗口为零：它暂时不能再接收任何数据。",
    "anomaly.zero-window-probe.explain": (
        "发送方用一个很小的报文段探测关闭的窗口，看它是否已经重新打开。"
    ),
    "anomaly.window-full.explain": (
        "这个报文段恰好发满了接收方通告的窗口；发送方必须等到确认之后才能继续发送。"
    ),
    "anomaly.window-update.explain": "这个报文段只改变了通告的接收窗口：没有数据，也没有新的确认。",
    "anomaly.keep-alive.explain": (
        "空闲一段时间后，一方发出了保活报文段：它的序号比下一个期望的序号小一，对方收到后会回一个 "
        "ACK。"
    ),
    "anomaly.segment-exceeds-mss.explain": (
        "这个报文段携带的字节数超过了对方在 SYN 中通告的最大报文段长度（MSS）。"
    ),
    "anomaly.bad-checksum.explain": "这个分组的检验和与其内容不符。",
    "anomaly.checksum-offload.explain": (
        "这台主机发出的每个分组检验和都是错的，而另一方的都正确：抓包是在这台主机上、在网卡填入检验"
        "和之前进行的。"
    ),
    "anomaly.data-before-handshake.explain": (
        "在三次握手完成之前就发送了数据，而且没有使用 TCP Fast Open。"
    ),
    "anomaly.half-close.explain": (
        "一方的 FIN 被确认之后，另一方仍在继续发送数据：连接处于半关闭状态。"
    ),
    "anomaly.close-wait-lingering.explain": (
        "一方确认了对方的 FIN，但直到抓包结束都没有发出自己的 FIN：它一直停留在 CLOSE_WAIT。"
    ),
    "anomaly.lost-final-ack.explain": (
        "主动关闭的一方已经确认了被动关闭方的 FIN，被动关闭方却又重传了 FIN，主动关闭方在 "
        "TIME_WAIT 中第二次确认：第一个 ACK 在途中丢失了。"
    ),
    "anomaly.fin-retransmitted.explain": "由于没有及时收到确认，FIN 用相同的序号又发了一次。",
    "anomaly.connection-reset.explain": "连接以 RST 结束，而不是经过 FIN 的挥手过程。",
    "anomaly.reset-unread-data.explain": (
        "一方在自己的 FIN 之后紧接着发出了 RST：这通常说明应用程序在还有未读数据时关闭了连接，或设"
        "置了 SO_LINGER 为 0。"
    ),
    "anomaly.reset-by-middlebox.explain": "这个 RST 的 TTL 与其所谓发送方的其他分组不同。",
    "anomaly.rst-not-in-window.explain": "RST 的序号不是接收方期望的下一个序号。",
    "anomaly.open-at-capture-end.explain": "直到抓包结束，双方都没有发出 FIN 或 RST。",
    "anomaly.data-after-reset.explain": "一方在复位连接之后又发送了数据。",
    "anomaly.data-after-fin.explain": "一方在自己的 FIN 之后还发送了数据。",
    "anomaly.midstream.explain": (
        "这个连接在抓包中的第一个分组不是 SYN：抓包是在连接建立之后才开始的。"
    ),
    "anomaly.time-wait-conflict.explain": (
        "新的 SYN 到达时，同一对地址和端口上的旧连接很可能仍处于 TIME_WAIT，于是它收到的是 ACK 或 "
        "RST，而不是 SYN-ACK。"
    ),
}

CATALOG: Final[dict[str, dict[str, str]]] = {"en": _EN, "zh": _ZH}


def text(lang: Lang, key: str, **params: object) -> str:
    """The sentence under key in lang, formatted with params.

    Raises KeyError for an unknown language or key, or a parameter the template needs and did not
    get: a missing text is a bug to fix, never something to paper over with another language.
    """
    return CATALOG[lang][key].format(**params)


def has(lang: Lang, key: str) -> bool:
    """Whether lang has a text under key (for optional keys such as an anomaly's explanation)."""
    return key in CATALOG[lang]
