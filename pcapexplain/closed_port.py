"""Closed-port answers (pure): the RSTs a port with no connection sends (RFC 9293 §3.10.7.1).

Segments without a SYN that only such RSTs answer belong to no connection. The grouping
(reconstructor) takes their sender for the client; the replay (endpoints) changes no state for
them. The same RST from a side the replay has in ESTABLISHED shows a host that lost the
connection (`lost_connection_answer`, read by the checks and the story).
"""

from __future__ import annotations

from collections.abc import Sequence

from pcapexplain.model import Direction, PacketColumns, PacketStates, TcpFlags, TcpState
from pcapexplain.seqspace import segment_end, seq_add

_SYN, _ACK, _RST = int(TcpFlags.SYN), int(TcpFlags.ACK), int(TcpFlags.RST)
_EST, _CLOSED = int(TcpState.ESTABLISHED), int(TcpState.CLOSED)
_SYN_RCVD = int(TcpState.SYN_RECEIVED)


def stray_prober(packets: PacketColumns, rows: Sequence[int]) -> tuple[str, int] | None:
    """The sender of segments that only a closed port's RSTs answer, or None.

    RFC 9293 §3.10.7.1: with no connection, a segment without RST is answered by
    <SEQ=SEG.ACK><CTL=RST> if it had ACK, else by <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>.
    The rows qualify when nobody sent a SYN, every other segment came from one sender, and every
    RST answers that sender's latest segment in exactly this form.
    """
    prober: tuple[str, int] | None = None
    last: int | None = None
    answered = False
    for row in rows:
        flags = packets.flags[row]
        sender = (packets.src[row], packets.sport[row])
        if flags & _SYN:
            return None
        if not flags & _RST:
            if prober not in (None, sender):
                return None
            prober, last = sender, row
            continue
        if last is None or sender == prober or not closed_port_answer(packets, last, row):
            return None
        answered = True
    return prober if answered else None


def closed_port_answer(packets: PacketColumns, segment: int, rst: int) -> bool:
    """The RST is what a port with no connection sends back for the segment (§3.10.7.1)."""
    flags = packets.flags[segment]
    if flags & _ACK:
        return packets.seq[rst] == packets.ack[segment] and not packets.flags[rst] & _ACK
    expected = segment_end(packets.seq[segment], packets.length[segment], flags)
    return bool(packets.flags[rst] & _ACK) and packets.ack[rst] == expected


def lost_connection_answer(
    packets: PacketColumns, states: PacketStates, answered: int | None, rst: int, isn: int | None
) -> bool:
    """A RST from a side the replay has in ESTABLISHED, without ACK, answering the peer's latest
    segment (which carried ACK) exactly as a host without the connection does: <SEQ=SEG.ACK>
    <CTL=RST> (RFC 9293 §3.10.7.1). A stack that aborts a connection it still has (Linux,
    Windows, the BSDs) sets ACK on that RST; Linux answers data after its own FIN in this form
    too, which the state rules out. From SYN_RECEIVED (its side's ISN is isn) only when the
    answered ACK was acceptable there: an unacceptable one gets this RST from a live socket."""
    before = _answered_from(packets, states, answered, rst)
    if before == _SYN_RCVD and answered is not None:
        return isn is not None and packets.ack[answered] == seq_add(isn, 1)
    return before == _EST


def no_connection_answer(
    packets: PacketColumns, states: PacketStates, answered: int | None, rst: int, isn: int | None
) -> bool:
    """`lost_connection_answer`, or the same RST from a side the replay has CLOSED already: a
    SYN it sent inside the connection showed it had lost it (RFC 5961 §4)."""
    return _answered_from(packets, states, answered, rst) == _CLOSED or lost_connection_answer(
        packets, states, answered, rst, isn
    )


def _answered_from(
    packets: PacketColumns, states: PacketStates, answered: int | None, rst: int
) -> int | None:
    """The state the replay had the RST's sender in, when the RST answers the peer's latest
    segment (which carried ACK) in the form of a host without the connection; else None."""
    if answered is None or packets.flags[rst] & _ACK or not packets.flags[answered] & _ACK:
        return None
    if not closed_port_answer(packets, answered, rst):
        return None
    to_server = states.direction[rst] == Direction.TO_SERVER
    return states.client_before[rst] if to_server else states.server_before[rst]
