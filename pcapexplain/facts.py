"""Packet facts (pure): what the replay computed about each told packet, and the values its
sentence may name.

`Walk` remembers, while narrate walks a connection, what later packets' facts need (SYN times,
FIN ends, who acknowledged which FIN). `packet_facts` turns one packet into a PacketFacts from the
replay's states, the sequence space and the timing; `sentence_params` gives the template values,
all computed (explanations.NARRATIVE_PARAMS); `reuse` explains a port pair reused after TIME_WAIT
from the two connections' packets.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field

from pcapexplain import closed_port, retransmission
from pcapexplain.explanations import text
from pcapexplain.model import (
    NO_VALUE,
    RETRANSMITTED,
    Anomaly,
    Closer,
    Connection,
    Direction,
    Inference,
    Lang,
    PacketColumns,
    PacketRole,
    PacketStates,
    TcpFlags,
    TcpState,
)
from pcapexplain.seqspace import relative, segment_end, seq_diff, seq_ge
from pcapexplain.situations import (
    Backoff,
    EcnSetup,
    EcnSignal,
    Move,
    PacketFacts,
    Situation,
)

_TO_SERVER = int(Direction.TO_SERVER)
_PURE_ACK = int(PacketRole.PURE_ACK)
_HS_ACK = int(PacketRole.HANDSHAKE_ACK)
_KEEP_ALIVE = int(PacketRole.KEEP_ALIVE)
_ECN_SETUP = int(TcpFlags.ECE | TcpFlags.CWR)
_SYN_ACK_RST = TcpFlags.SYN | TcpFlags.ACK | TcpFlags.RST
_UNSEEN = frozenset((Inference.CLIENT_NOT_CAPTURED, Inference.SERVER_NOT_CAPTURED))
_CLOSE_WAIT, _FIN_WAIT_2 = int(TcpState.CLOSE_WAIT), int(TcpState.FIN_WAIT_2)
# Wireshark's order for the flag list, lowest bit first: "FIN, SYN, RST, PSH, ACK, ...".
_FLAG_ORDER = tuple(TcpFlags)


def flags_label(flags: int, lang: Lang = Lang.EN) -> str:
    """The set TCP flags in Wireshark's order, e.g. "SYN, ACK" ("SYN、ACK" in Chinese); "no
    flags" in lang for none."""
    names = [flag.name or "" for flag in _FLAG_ORDER if flags & flag]
    return text(lang, "ui.list_sep").join(names) if names else text(lang, "ui.no_flags")


@dataclass(slots=True)
class Walk:
    """What the narrator has learnt so far about one connection while walking its packets."""

    packets: PacketColumns
    states: PacketStates
    conn: Connection
    lang: Lang
    base: dict[Direction, int | None]
    t0: float
    by_frame: dict[int, list[Anomaly]]
    previous: Connection | None = None  # the last connection on the same port pair
    syn_length: int = 0
    syn_times: dict[tuple[Direction, bool], list[float]] = field(default_factory=dict)
    fin_end: dict[Direction, int] = field(default_factory=dict)  # seq just after each FIN
    fin_resent: set[Direction] = field(default_factory=set)  # sides that sent their FIN again
    acked_fin: set[Direction] = field(default_factory=set)  # sides that ACKed the peer's FIN
    last_segment: dict[Direction, int] = field(default_factory=dict)  # latest non-RST row
    half_close_told: int = 0
    synack_crossed: set[Direction] = field(default_factory=set)  # sides whose SYN-ACK crossed
    hs_acked: set[Direction] = field(default_factory=set)  # sides that sent a handshake ACK
    resent_seen: int = 0  # resent data segments so far
    evidence: dict[int, retransmission.Evidence] | None = None  # resent row → its evidence
    ecn_on: bool = False  # the captured handshake set up ECN (EcnSetup.AGREES)
    echoing: set[Direction] = field(default_factory=set)  # sides echoing ECE, not yet answered
    ecn_told: int = 0  # ECE echoes and CWRs told one by one so far


def half_close(walker: Walk, row: int) -> bool:
    """Data from a side in CLOSE_WAIT, or a FIN_WAIT_2 side's ACK of such data."""
    st, to_server = walker.states, walker.states.direction[row] == _TO_SERVER
    before = st.client_before[row] if to_server else st.server_before[row]
    peer = st.server_before[row] if to_server else st.client_before[row]
    if before == _CLOSE_WAIT:
        return bool(walker.packets.length[row])
    return before == _FIN_WAIT_2 and peer == _CLOSE_WAIT and st.role[row] == _PURE_ACK


def remember(walker: Walk, row: int) -> None:
    """What later packets' facts need: SYN times, FIN ends, who acknowledged a FIN."""
    p, direction = walker.packets, Direction(walker.states.direction[row])
    flags = p.flags[row]
    if not flags & TcpFlags.RST:
        walker.last_segment[direction] = row
    if flags & TcpFlags.SYN and not flags & TcpFlags.RST:
        times = walker.syn_times.setdefault((direction, bool(flags & TcpFlags.ACK)), [])
        times.append(p.time[row])
        if direction is Direction.TO_SERVER and not flags & TcpFlags.ACK:
            walker.syn_length = walker.syn_length or p.length[row]
    if flags & TcpFlags.SYN and flags & TcpFlags.ACK and row in walker.states.crossed:
        walker.synack_crossed.add(other(direction))  # the SYN-ACK this one crossed was the peer's
    if flags & TcpFlags.FIN:
        end = segment_end(p.seq[row], p.length[row], flags)
        if walker.fin_end.get(direction) == end:
            walker.fin_resent.add(direction)
        walker.fin_end[direction] = end
    peer_fin = walker.fin_end.get(other(direction))
    if flags & TcpFlags.ACK and peer_fin is not None and seq_ge(p.ack[row], peer_fin):
        walker.acked_fin.add(direction)
    if walker.states.role[row] == _HS_ACK:
        walker.hs_acked.add(direction)
    if half_close(walker, row):
        walker.half_close_told += 1
    _remember_ecn(walker, row, direction)
    if resent_data(walker.packets, row):
        walker.resent_seen += 1


def _remember_ecn(walker: Walk, row: int, direction: Direction) -> None:
    flags = walker.packets.flags[row]
    if flags & TcpFlags.SYN:
        answered = walker.last_segment.get(other(direction))
        if ecn_setup(walker.packets, row, answered) is EcnSetup.AGREES:
            walker.ecn_on = True
        return
    if ecn_signal(walker, row, direction) is not EcnSignal.NONE:
        walker.ecn_told += 1
    if flags & TcpFlags.ECE and walker.ecn_on:
        walker.echoing.add(direction)
    if flags & TcpFlags.CWR:
        walker.echoing.discard(other(direction))


def ecn_signal(walker: Walk, row: int, direction: Direction) -> EcnSignal:
    """On a connection whose captured handshake set up ECN: the first ECE of an echo (its sender
    received a CE mark, RFC 3168 §6.1.3), or a CWR (its sender reduced its congestion window,
    §6.1.2). The ECEs that repeat an echo until the CWR say nothing new. Without the handshake
    ECE and CWR are only flags: another ECN variant may mean something else by them."""
    flags = walker.packets.flags[row]
    if not walker.ecn_on or flags & (TcpFlags.SYN | TcpFlags.RST):
        return EcnSignal.NONE
    if flags & TcpFlags.CWR:
        return EcnSignal.CWR
    if flags & TcpFlags.ECE and direction not in walker.echoing:
        return EcnSignal.ECHO
    return EcnSignal.NONE


def other(direction: Direction) -> Direction:
    return Direction.TO_CLIENT if direction is Direction.TO_SERVER else Direction.TO_SERVER


# ------------------------------------------------------------------------------------- facts


def _moves(walker: Walk, row: int, direction: Direction) -> tuple[Move, Move]:
    """(sender's, receiver's) states around the packet, as the replay left them."""
    st = walker.states
    client = Move(
        TcpState(st.client_before[row]),
        TcpState(st.client_after[row]),
        st.passed_through(row, client=True),
    )
    server = Move(
        TcpState(st.server_before[row]),
        TcpState(st.server_after[row]),
        st.passed_through(row, client=False),
    )
    return (client, server) if direction is Direction.TO_SERVER else (server, client)


def packet_facts(walker: Walk, row: int) -> PacketFacts:
    """The computed facts of one packet, given what came before it."""
    p, conn = walker.packets, walker.conn
    direction = Direction(walker.states.direction[row])
    sender, receiver = _moves(walker, row, direction)
    flags = p.flags[row]
    answered = walker.last_segment.get(other(direction))
    resent = _resent(walker, row, direction)
    syn_copy = _previous_syn(walker, row, direction)
    return PacketFacts(
        direction=direction,
        role=PacketRole(walker.states.role[row]),
        flags=flags,
        handshake=conn.handshake,
        sender=sender,
        receiver=receiver,
        length=p.length[row],
        resent=resent,
        fin_acks_more=resent
        and retransmission.acks_more(p, walker.last_segment.get(direction), row),
        backoff=_backoff(walker, row, direction, syn_copy)[2],
        syn_captured=conn.client_isn is not None,
        synack_ack_delta=relative(p.ack[row], conn.client_isn) if flags & TcpFlags.SYN else None,
        syn_length=walker.syn_length,
        tfo=bool(p.tfo[row]),
        syn_copy=syn_copy,
        answers_ack=answered is not None and bool(p.flags[answered] & TcpFlags.ACK),
        first_seen=not walker.last_segment,
        half_close=half_close(walker, row),
        reacks_fin=_reacks_fin(walker, row, direction),
        fin_resent_later=_fin_resent_later(walker, row, direction),
        fin_acked_before=other(direction) in walker.acked_fin,
        synack_resent_later=_synack_resent_later(walker, row, direction),
        window_zero=p.window[row] == 0 and not flags & (TcpFlags.SYN | TcpFlags.RST),
        resent_because=_resent_evidence(walker, row).cause if resent_data(p, row) else None,
        synack_crossed=direction in walker.synack_crossed,
        sent_synack=(direction, True) in walker.syn_times,
        hs_acked_before=direction in walker.hs_acked,
        receiver_shows_it=_receiver_shows_it(walker, row, direction)
        if direction in walker.hs_acked and walker.states.role[row] == _HS_ACK
        else None,  # asked of handshake ACKs only, not a scan ahead from every later packet
        self_connect=conn.self_connect,
        close_order_unknown=conn.closed_first is Closer.UNKNOWN,
        peer_unseen=bool(_UNSEEN.intersection(conn.inferred)),
        gives_up=bool(flags & TcpFlags.RST) and _gives_up(walker, row),
        lost_connection=bool(flags & TcpFlags.RST)
        and closed_port.lost_connection_answer(
            p,
            walker.states,
            answered,
            row,
            conn.client_isn if direction is Direction.TO_SERVER else conn.server_isn,
        ),
        answers_keep_alive=answered is not None and walker.states.role[answered] == _KEEP_ALIVE,
        refused_after_close=_refused_after_close(walker, row, receiver),
        ecn=ecn_setup(p, row, answered),
        ecn_signal=ecn_signal(walker, row, direction),
    )


def _refused_after_close(walker: Walk, row: int, receiver: Move) -> bool:
    """Data whose receiver, past its own FIN, answers it with its next segment, a RST of the
    closed-port form <SEQ=SEG.ACK><CTL=RST>: its application had closed the socket, not only its
    sending direction, and data after that close draws a RST (RFC 1122 §4.2.2.13)."""
    p, st = walker.packets, walker.states
    if not p.length[row] or receiver.before not in (TcpState.FIN_WAIT_1, TcpState.FIN_WAIT_2):
        return False
    rows = walker.conn.packet_index
    start = bisect_right(rows, row)
    reply = next((r for r in rows[start:] if st.direction[r] != st.direction[row]), None)
    if reply is None or not p.flags[reply] & TcpFlags.RST:
        return False
    return closed_port.closed_port_answer(p, row, reply)


def ecn_setup(p: PacketColumns, row: int, answered: int | None) -> EcnSetup:
    """A SYN's or SYN-ACK's part in setting up ECN (RFC 3168 §6.1.1): a SYN with ECE and CWR
    asks; a SYN-ACK answering such a SYN agrees with ECE alone and declines without ECE; with ECE
    and CWR, the reflection of a broken host, it sets up nothing, and ECN stays off untold. What
    answers a SYN that did not ask sets up nothing."""
    flags = p.flags[row]
    if not flags & TcpFlags.SYN or flags & TcpFlags.RST:
        return EcnSetup.NONE
    if not flags & TcpFlags.ACK:
        return EcnSetup.ASKS if flags & _ECN_SETUP == _ECN_SETUP else EcnSetup.NONE
    agrees = flags & _ECN_SETUP == TcpFlags.ECE
    syn = None if answered is None else p.flags[answered]
    if syn is None or syn & (TcpFlags.SYN | TcpFlags.ACK) != TcpFlags.SYN:
        return EcnSetup.AGREES_UNSEEN if agrees else EcnSetup.NONE
    if syn & _ECN_SETUP != _ECN_SETUP:
        return EcnSetup.NONE
    if agrees:
        return EcnSetup.AGREES
    return EcnSetup.NONE if flags & TcpFlags.ECE else EcnSetup.DECLINES


def _gives_up(walker: Walk, row: int) -> bool:
    """The RST ends its sender's unanswered tries (retransmission.stall)."""
    if row != walker.conn.packet_index[-1]:
        return False
    found = retransmission.stall(walker.packets, walker.states, walker.conn)
    return found is not None and found.gave_up == row


def resent_data(packets: PacketColumns, row: int) -> bool:
    return bool(packets.analysis[row] & RETRANSMITTED and packets.length[row])


def _resent_evidence(walker: Walk, row: int) -> retransmission.Evidence:
    """What the capture shows about a resent segment; every resent segment of the connection is
    weighed in one pass, the first time one is told."""
    if walker.evidence is None:
        conn, p = walker.conn, walker.packets
        rows = conn.packet_index
        rtt = retransmission.handshake_rtt(conn)
        resent = [r for r in rows if resent_data(p, r)]
        walker.evidence = retransmission.evidence_of(p, rows, walker.states.direction, resent, rtt)
    return walker.evidence[row]


def _resent(walker: Walk, row: int, direction: Direction) -> bool:
    p = walker.packets
    if p.flags[row] & TcpFlags.FIN:
        return walker.fin_end.get(direction) == segment_end(p.seq[row], p.length[row], p.flags[row])
    return PacketRole(walker.states.role[row]) is PacketRole.SYN_RETRANSMISSION


def _backoff(
    walker: Walk, row: int, direction: Direction, syn_copy: int | None
) -> tuple[float, float, Backoff]:
    """(wait since the previous copy, the wait before that, how they compare) for a resent SYN;
    syn_copy: the first SYN's copy in the connection before (_previous_syn), asked once per row."""
    flags = walker.packets.flags[row]
    times = walker.syn_times.get((direction, bool(flags & TcpFlags.ACK)), [])
    if not flags & TcpFlags.SYN or not times:
        p = walker.packets
        wait = 0.0 if syn_copy is None else p.time[row] - p.time[syn_copy]
        return wait, 0.0, Backoff.FIRST
    wait = walker.packets.time[row] - times[-1]
    if len(times) < 2:
        return wait, 0.0, Backoff.FIRST
    before = times[-1] - times[-2]
    ratio = wait / before if before > 0 else 0.0
    if 1.6 <= ratio <= 2.5:
        return wait, before, Backoff.DOUBLED
    if 0.8 <= ratio <= 1.25:
        return wait, before, Backoff.SAME
    return wait, before, Backoff.OTHER


def _previous_syn(walker: Walk, row: int, direction: Direction) -> int | None:
    """The row of this first SYN's first copy (its sender, seq, no ACK) in the connection before
    on the port pair: the capture told it there, as it reached that connection synchronized."""
    p, prev = walker.packets, walker.previous
    flags = p.flags[row]
    if prev is None or flags & (TcpFlags.ACK | TcpFlags.RST) or not flags & TcpFlags.SYN:
        return None
    if (direction, False) in walker.syn_times:
        return None
    src, sport, seq = p.src[row], p.sport[row], p.seq[row]
    copies = [
        r
        for r in prev.packet_index
        if p.flags[r] & _SYN_ACK_RST == TcpFlags.SYN
        and (p.seq[r], p.src[r], p.sport[r]) == (seq, src, sport)
    ]
    return copies[-1] if copies else None


def _reacks_fin(walker: Walk, row: int, direction: Direction) -> bool:
    """An ACK of the peer's FIN from a side that had acknowledged it before it was resent."""
    p, peer = walker.packets, other(direction)
    fin = walker.fin_end.get(peer)
    if fin is None or not p.flags[row] & TcpFlags.ACK or p.flags[row] & TcpFlags.FIN:
        return False
    covers = seq_ge(p.ack[row], fin)
    return covers and direction in walker.acked_fin and peer in walker.fin_resent


def _fin_resent_later(walker: Walk, row: int, direction: Direction) -> bool:
    """The peer sends its FIN again after this packet: what it acknowledged never arrived."""
    if PacketRole(walker.states.role[row]) is not PacketRole.FIN_ACK:
        return False
    peer, fin = other(direction), walker.fin_end.get(other(direction))
    p, index = walker.packets, walker.conn.packet_index
    return any(
        walker.states.direction[r] == peer
        and p.flags[r] & TcpFlags.FIN
        and segment_end(p.seq[r], p.length[r], p.flags[r]) == fin
        for r in (index[k] for k in range(bisect_right(index, row), len(index)))
    )


def _synack_resent_later(walker: Walk, row: int, direction: Direction) -> bool:
    """The peer sends its SYN-ACK again after this handshake ACK: it did not take effect there."""
    if PacketRole(walker.states.role[row]) is not PacketRole.HANDSHAKE_ACK:
        return False
    p, index, peer = walker.packets, walker.conn.packet_index, other(direction)
    return any(
        walker.states.direction[r] == peer
        and p.flags[r] & (TcpFlags.SYN | TcpFlags.ACK) == TcpFlags.SYN | TcpFlags.ACK
        for r in (index[k] for k in range(bisect_right(index, row), len(index)))
    )


def _receiver_shows_it(walker: Walk, row: int, direction: Direction) -> bool | None:
    """The receiver's first later segment without SYN or RST shows it took an ACK of its SYN:
    True when the sender sent nothing in between, False when it did, None when none follows."""
    p, index, st = walker.packets, walker.conn.packet_index, walker.states
    sent_between = False
    for r in (index[k] for k in range(bisect_right(index, row), len(index))):
        if st.direction[r] == direction:
            sent_between = True
        elif not p.flags[r] & (TcpFlags.SYN | TcpFlags.RST):
            return not sent_between
    return None


def sentence_params(
    walker: Walk, row: int, f: PacketFacts, seq_rel: int | None, ack_rel: int | None
) -> dict[str, object]:
    """Every value a narr.* template may name (explanations.NARRATIVE_PARAMS), all computed."""
    p, lang = walker.packets, walker.lang
    wait, before, _ = _backoff(walker, row, f.direction, f.syn_copy)
    answered = walker.last_segment.get(other(f.direction))
    sender, receiver = _side(f.direction), _side(other(f.direction))
    return {
        "sender": text(lang, f"who.{sender}"),
        "receiver": text(lang, f"who.{receiver}"),
        "sender_before": state_name(lang, f.sender.before),
        "sender_after": state_name(lang, f.sender.after),
        "sender_passed": state_name(lang, f.sender.passed),
        "receiver_before": state_name(lang, f.receiver.before),
        "receiver_after": state_name(lang, f.receiver.after),
        "receiver_passed": state_name(lang, f.receiver.passed),
        "seq": seq_rel,
        "ack": "-" if ack_rel is None else ack_rel,
        "seq_raw": p.seq[row],
        "ack_raw": p.ack[row],
        "length": p.length[row],
        "syn_length": walker.syn_length,
        "port": walker.conn.server.port,
        "flags": flags_label(p.flags[row], lang),
        "window": p.window[row],
        "wait": f"{wait:.3f}",
        "previous_wait": f"{before:.3f}",
        **_answered(walker, answered),
        **_resent_params(walker, row, f),
    }


def _resent_params(walker: Walk, row: int, f: PacketFacts) -> dict[str, object]:
    """A resent segment's delay, the ACKs seen meanwhile, and the delay in round trips."""
    if f.resent_because is None:
        return {
            "resent_ms": "-",
            "dup_acks": 0,
            "sack_acks": 0,
            "cut": 0,
            "rtts": "-",
            "rtt_ms": "-",
        }
    found = _resent_evidence(walker, row)
    rtts = found.rtts
    return {
        "resent_ms": f"{found.delay * 1000:,.1f}",
        "dup_acks": found.dup_acks,
        "sack_acks": found.sack_acks,
        "cut": found.cut,
        "rtts": "-" if rtts is None else f"{rtts:,.0f}",
        "rtt_ms": "-" if found.rtt is None else f"{found.rtt * 1000:.3f}",
    }


def _answered(walker: Walk, row: int | None) -> dict[str, object]:
    """The segment a RST answers: its seq, ack, and its length in sequence numbers (SEG.LEN)."""
    lang = walker.lang
    if row is None:
        return {"answered_seq": "-", "answered_ack": "-", "seg_len": 0, "seg_len_parts": "-"}
    p = walker.packets
    flags, length = p.flags[row], p.length[row]
    parts = []
    if flags & TcpFlags.SYN:
        parts.append(text(lang, "narr.seg_len_syn"))
    if flags & TcpFlags.FIN:
        parts.append(text(lang, "narr.seg_len_fin"))
    if length:
        parts.append(text(lang, "narr.seg_len_data", answered_length=length))
    seg_len = length + bool(flags & TcpFlags.SYN) + bool(flags & TcpFlags.FIN)
    return {
        "answered_seq": p.seq[row],
        "answered_ack": p.ack[row],
        "seg_len": seg_len,
        "seg_len_parts": join(lang, parts) if parts else text(lang, "narr.seg_len_none"),
    }


@dataclass(frozen=True, slots=True)
class Reuse:
    """Why a SYN that reuses a port pair left in TIME_WAIT is safe, as the capture shows it."""

    keys: tuple[str, ...]
    params: dict[str, object]
    states: tuple[TcpState, ...]  # the old connection's state the text names


_OPENING = (Situation.SYN, Situation.SYN_DATA, Situation.SYN_TFO, Situation.SYN_AGAIN_NEW)


def reuse(walker: Walk, row: int, situation: Situation) -> Reuse | None:
    """RFC 6191: a new ISN beyond the old sequence space, or newer timestamps, keep old
    segments out of the new connection; both are read from the two connections' packets."""
    prev = walker.previous
    if prev is None or situation not in _OPENING:
        return None
    if prev.time_wait in (Closer.NONE, Closer.UNKNOWN):
        return None  # unknown: the previous connection's close was seen one way only
    p = walker.packets
    sender = (p.src[row], p.sport[row])
    old_rows = [r for r in prev.packet_index if (p.src[r], p.sport[r]) == sender]
    if not old_rows:
        return None
    old_next = max(
        segment_end(p.seq[r], p.length[r], p.flags[r])
        for r in old_rows
        if not p.flags[r] & TcpFlags.RST
    )
    gap = seq_diff(p.seq[row], old_next)
    ahead = gap >= 0
    keys = ["reuse_ahead" if ahead else "reuse_behind"]
    old_ts = [p.tsval[r] for r in old_rows if p.tsval[r] != NO_VALUE]
    tsval = p.tsval[row]
    if old_ts and tsval != NO_VALUE and seq_ge(tsval, max(old_ts)):
        keys.append("reuse_timestamps")
    side = Closer.CLIENT if prev.time_wait is Closer.BOTH else prev.time_wait
    old_state = prev.client_final if side is Closer.CLIENT else prev.server_final
    params: dict[str, object] = {
        "previous_id": prev.id,
        "old_side": text(walker.lang, f"who.{side.value}"),
        "old_state": state_name(walker.lang, old_state),
        "gap": f"{p.time[row] - prev.last_time:.3f}",
        "old_next": old_next,
        "isn_gap": f"{abs(gap):,}",
        "tsval": tsval,
        "old_tsval": max(old_ts) if old_ts else "-",
    }
    return Reuse(tuple(keys), params, (old_state,))


def _side(direction: Direction) -> str:
    return "client" if direction is Direction.TO_SERVER else "server"


def join(lang: Lang, items: Iterable[str]) -> str:
    return text(lang, "narr.sum.sep").join(items)


def state_name(lang: Lang, state: TcpState | None) -> str:
    if state is None:
        return "-"
    return text(lang, "narr.unknown_state") if state is TcpState.UNKNOWN else state.name
