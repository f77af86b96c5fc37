"""Narrate (pure): the packet-by-packet story of one connection, in English or Chinese.

A packet gets a line of its own when it changes either endpoint's state, carries SYN, FIN or RST,
completes the handshake, has a warn or error anomaly, or belongs to a half-close (its first
HALF_CLOSE_LINES segments); the segments between them are collapsed into one summary line per
run. A told packet's facts are computed from the replay (situations.PacketFacts); they select its
sentence (situations.select), and the sentence is filled with computed values only, so that no
line can name a state or a step the replay does not show. Every text comes from explanations.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from pcapexplain import retransmission
from pcapexplain.explanations import plural, text
from pcapexplain.model import (
    NO_VALUE,
    AnalysisFlag,
    Anomaly,
    CaptureAnalysis,
    Closer,
    Connection,
    Direction,
    Handshake,
    Lang,
    PacketColumns,
    PacketRole,
    PacketStates,
    Severity,
    TcpFlags,
    TcpState,
)
from pcapexplain.situations import (
    CONCEPT_LINKS,
    RESENT_SITUATIONS,
    Backoff,
    Move,
    PacketFacts,
    Situation,
    select,
)


@dataclass(frozen=True, slots=True)
class NarrativeLine:
    """One line of the story: a single packet, or (is_summary) a run of ordinary segments."""

    frame: int | None  # first frame of the line
    last_frame: int | None  # equals frame for a single packet
    time: float  # seconds since the connection's first packet
    direction: Direction | None  # None for a summary line
    flags: str  # e.g. "SYN, ACK"; "" for a summary line
    role: PacketRole | None
    client_before: TcpState
    client_after: TcpState
    server_before: TcpState
    server_after: TcpState
    seq_raw: int | None
    seq_rel: int | None  # relative to the sender's ISN, or its first seen seq without a SYN
    ack_raw: int | None  # None when the ACK flag is off
    ack_rel: int | None
    length: int  # payload bytes (the total of the run for a summary line)
    text: str
    concepts: tuple[str, ...]
    anomalies: tuple[str, ...]
    is_summary: bool
    situation: Situation | None = None  # what selected the sentence (None for a summary)
    # States of another connection the text names (a reused port pair's old TIME_WAIT).
    context_states: tuple[TcpState, ...] = ()


@dataclass(frozen=True, slots=True)
class Story:
    """A connection's story: its header line, notes under it, and its lines."""

    header: str
    notes: tuple[str, ...]  # state paths, what the verdicts infer
    lines: tuple[NarrativeLine, ...]


_MOD = 1 << 32
_HALF = 1 << 31
HALF_CLOSE_LINES = 6  # segments of a half-close told one by one; the rest are summarised
_RETRANSMITTED = (
    AnalysisFlag.RETRANSMISSION
    | AnalysisFlag.FAST_RETRANSMISSION
    | AnalysisFlag.SPURIOUS_RETRANSMISSION
)
_CONTROL = TcpFlags.SYN | TcpFlags.FIN | TcpFlags.RST
# Roles that are always told (and drawn) packet by packet, never folded into a summary.
KEY_ROLES = frozenset(
    int(role)
    for role in {
        PacketRole.SYN,
        PacketRole.SYN_ACK,
        PacketRole.HANDSHAKE_ACK,
        PacketRole.FIN,
        PacketRole.FIN_ACK,
        PacketRole.RST,
        PacketRole.SYN_RETRANSMISSION,
        PacketRole.OTHER,
    }
)
# Plain ints for the per-packet hot path (an IntEnum comparison costs a method lookup).
_KEEP_ALIVE = int(PacketRole.KEEP_ALIVE)
_ZERO_WINDOW_PROBE = int(PacketRole.ZERO_WINDOW_PROBE)
_WINDOW_UPDATE = int(PacketRole.WINDOW_UPDATE)
_PURE_ACK = int(PacketRole.PURE_ACK)
_TO_SERVER = int(Direction.TO_SERVER)
_CLOSE_WAIT, _FIN_WAIT_2 = int(TcpState.CLOSE_WAIT), int(TcpState.FIN_WAIT_2)
# Wireshark's order for the flag list, lowest bit first: "FIN, SYN, RST, PSH, ACK, ...".
_FLAG_ORDER = tuple(TcpFlags)


def flags_label(flags: int, lang: Lang = Lang.EN) -> str:
    """The set TCP flags as Wireshark lists them, e.g. "SYN, ACK"; "no flags" in lang for none."""
    names = [flag.name or "" for flag in _FLAG_ORDER if flags & flag]
    return ", ".join(names) if names else text(lang, "ui.no_flags")


def _relative(value: int, base: int | None) -> int | None:
    """value - base modulo 2**32 (RFC 9293 §3.4), shown negative when it lies just behind base."""
    if base is None:
        return None
    diff = (value - base) % _MOD
    return diff - _MOD if diff >= _HALF else diff


def _seq_ge(a: int, b: int) -> bool:
    """a >= b in sequence space (RFC 9293 §3.4)."""
    return (a - b) % _MOD < _HALF


@dataclass(slots=True)
class _Story:
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
    positions: dict[int, int] = field(default_factory=dict)  # row → position, for look-ups


@dataclass(slots=True)
class _Run:
    """Counters of a run of ordinary segments, folded into one summary line."""

    first: int  # row index
    last: int
    data: int = 0
    acks: int = 0
    windows: int = 0
    keepalives: int = 0
    probes: int = 0  # zero-window probes and their answers
    others: int = 0
    retrans: int = 0
    to_server: int = 0  # payload bytes
    to_client: int = 0
    slugs: list[str] = field(default_factory=list)


def story(result: CaptureAnalysis, connection: Connection, lang: Lang) -> Story:
    """The whole story of one connection of an analysis: what `explain` prints and the report
    shows. The previous connection on the same port pair, if any, explains a reuse."""
    previous = predecessors(result.connections).get(connection.id)
    lines = narrate(result.packets, result.states, connection, lang, previous=previous)
    notes = (*state_paths(result.states, connection, lang), *inference_notes(connection, lang))
    return Story(connection_header(connection, lang), notes, tuple(lines))


def predecessors(connections: Iterable[Connection]) -> dict[int, Connection]:
    """Connection id → the connection that used the same port pair last before it."""
    last: dict[frozenset[tuple[str, int]], Connection] = {}
    found: dict[int, Connection] = {}
    for conn in sorted(connections, key=lambda c: (c.first_time, c.id)):
        key = frozenset(((conn.client.ip, conn.client.port), (conn.server.ip, conn.server.port)))
        if key in last:
            found[conn.id] = last[key]
        last[key] = conn
    return found


def narrate(
    packets: PacketColumns,
    states: PacketStates,
    connection: Connection,
    lang: Lang,
    *,
    previous: Connection | None = None,
) -> list[NarrativeLine]:
    """The story of one connection, one NarrativeLine per told packet or per run of others.

    packets and states are the whole capture's columns and the reconstructor's per-packet states;
    connection picks its rows through packet_index; lang is "en" or "zh"; previous is the
    connection that used the same port pair before (it explains a reuse).
    """
    rows = list(connection.packet_index)
    if not rows:
        return []
    walker = _new_story(packets, states, connection, lang, rows)
    walker.previous = previous
    lines: list[NarrativeLine] = []
    run: _Run | None = None
    for row in rows:
        if _is_key(walker, row):
            if run is not None:
                lines.append(_summary_line(walker, run))
                run = None
            lines.append(_key_line(walker, row))
        else:
            run = _add_to_run(walker, run, row)
        _remember(walker, row)
    if run is not None:
        lines.append(_summary_line(walker, run))
    return lines


def _new_story(
    packets: PacketColumns,
    states: PacketStates,
    conn: Connection,
    lang: Lang,
    rows: list[int],
) -> _Story:
    base: dict[Direction, int | None] = {
        Direction.TO_SERVER: conn.client_isn,
        Direction.TO_CLIENT: conn.server_isn,
    }
    for row in rows:  # without a captured SYN, count from the first seq seen in each direction
        direction = Direction(states.direction[row])
        if base[direction] is None:
            base[direction] = packets.seq[row]
    by_frame: dict[int, list[Anomaly]] = {}
    for anomaly in conn.anomalies:
        for frame in anomaly.frames:
            by_frame.setdefault(frame, []).append(anomaly)
    return _Story(packets, states, conn, lang, base, packets.time[rows[0]], by_frame)


def _is_key(walker: _Story, row: int) -> bool:
    # Raw codes compare equal to IntEnum members: no enum object per packet on the hot path.
    st = walker.states
    if st.role[row] in KEY_ROLES or walker.packets.flags[row] & _CONTROL:
        return True
    if (
        st.client_before[row] != st.client_after[row]
        or st.server_before[row] != st.server_after[row]
    ):
        return True  # a packet that moves a side on is always told
    if _half_close(walker, row) and walker.half_close_told < HALF_CLOSE_LINES:
        return True
    if not walker.by_frame:
        return False
    found = walker.by_frame.get(walker.packets.frame[row], ())
    return any(a.severity.rank >= Severity.WARN.rank for a in found)


def _half_close(walker: _Story, row: int) -> bool:
    """Data from a side in CLOSE_WAIT, or a FIN_WAIT_2 side's ACK of such data."""
    st, to_server = walker.states, walker.states.direction[row] == _TO_SERVER
    before = st.client_before[row] if to_server else st.server_before[row]
    peer = st.server_before[row] if to_server else st.client_before[row]
    if before == _CLOSE_WAIT:
        return bool(walker.packets.length[row])
    return before == _FIN_WAIT_2 and peer == _CLOSE_WAIT and st.role[row] == _PURE_ACK


def _remember(walker: _Story, row: int) -> None:
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
    if flags & TcpFlags.FIN:
        end = (p.seq[row] + p.length[row] + 1) % _MOD
        if walker.fin_end.get(direction) == end:
            walker.fin_resent.add(direction)
        walker.fin_end[direction] = end
    peer_fin = walker.fin_end.get(_other(direction))
    if flags & TcpFlags.ACK and peer_fin is not None and _seq_ge(p.ack[row], peer_fin):
        walker.acked_fin.add(direction)
    if _half_close(walker, row):
        walker.half_close_told += 1


def _other(direction: Direction) -> Direction:
    return Direction.TO_CLIENT if direction is Direction.TO_SERVER else Direction.TO_SERVER


# ------------------------------------------------------------------------------------- facts


def _moves(walker: _Story, row: int, direction: Direction) -> tuple[Move, Move]:
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


def _facts(walker: _Story, row: int) -> PacketFacts:
    """The computed facts of one packet, given what came before it."""
    p, conn = walker.packets, walker.conn
    direction = Direction(walker.states.direction[row])
    sender, receiver = _moves(walker, row, direction)
    flags = p.flags[row]
    answered = walker.last_segment.get(_other(direction))
    return PacketFacts(
        direction=direction,
        role=PacketRole(walker.states.role[row]),
        flags=flags,
        handshake=conn.handshake,
        sender=sender,
        receiver=receiver,
        length=p.length[row],
        resent=_resent(walker, row, direction),
        backoff=_backoff(walker, row, direction)[2],
        syn_captured=conn.client_isn is not None,
        synack_ack_delta=_relative(p.ack[row], conn.client_isn) if flags & TcpFlags.SYN else None,
        syn_length=walker.syn_length,
        tfo=bool(p.tfo[row]),
        answers_ack=answered is not None and bool(p.flags[answered] & TcpFlags.ACK),
        half_close=_half_close(walker, row),
        reacks_fin=_reacks_fin(walker, row, direction),
        fin_resent_later=_fin_resent_later(walker, row, direction),
        window_zero=p.window[row] == 0 and not flags & (TcpFlags.SYN | TcpFlags.RST),
        resent_because=_resent_evidence(walker, row).cause if _resent_data(p, row) else None,
    )


def _resent_data(packets: PacketColumns, row: int) -> bool:
    return bool(packets.analysis[row] & retransmission.RESENT and packets.length[row])


def _resent_evidence(walker: _Story, row: int) -> retransmission.Evidence:
    """What the capture shows about a resent segment (computed once per told packet)."""
    conn = walker.conn
    rows = conn.packet_index
    if not walker.positions:
        walker.positions = {r: i for i, r in enumerate(rows)}
    directions = [walker.states.direction[r] for r in rows]
    rtt = None
    if conn.rtt_syn_synack is not None and conn.rtt_synack_ack is not None:
        rtt = conn.rtt_syn_synack + conn.rtt_synack_ack
    return retransmission.evidence(walker.packets, rows, directions, walker.positions[row], rtt)


def _resent(walker: _Story, row: int, direction: Direction) -> bool:
    p = walker.packets
    if p.flags[row] & TcpFlags.FIN:
        return walker.fin_end.get(direction) == (p.seq[row] + p.length[row] + 1) % _MOD
    return PacketRole(walker.states.role[row]) is PacketRole.SYN_RETRANSMISSION


def _backoff(walker: _Story, row: int, direction: Direction) -> tuple[float, float, Backoff]:
    """(wait since the previous copy, the wait before that, how they compare) for a resent SYN."""
    flags = walker.packets.flags[row]
    times = walker.syn_times.get((direction, bool(flags & TcpFlags.ACK)), [])
    if not flags & TcpFlags.SYN or not times:
        return 0.0, 0.0, Backoff.FIRST
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


def _reacks_fin(walker: _Story, row: int, direction: Direction) -> bool:
    """An ACK of the peer's FIN from a side that had acknowledged it before it was resent."""
    p, peer = walker.packets, _other(direction)
    fin = walker.fin_end.get(peer)
    if fin is None or not p.flags[row] & TcpFlags.ACK or p.flags[row] & TcpFlags.FIN:
        return False
    covers = _seq_ge(p.ack[row], fin)
    return covers and direction in walker.acked_fin and peer in walker.fin_resent


def _fin_resent_later(walker: _Story, row: int, direction: Direction) -> bool:
    """The peer sends its FIN again after this packet: what it acknowledged never arrived."""
    if PacketRole(walker.states.role[row]) is not PacketRole.FIN_ACK:
        return False
    peer, fin = _other(direction), walker.fin_end.get(_other(direction))
    p, index = walker.packets, walker.conn.packet_index
    later = index[index.index(row) + 1 :]
    return any(
        walker.states.direction[r] == peer
        and p.flags[r] & TcpFlags.FIN
        and (p.seq[r] + p.length[r] + 1) % _MOD == fin
        for r in later
    )


# ------------------------------------------------------------------------------------- lines


def _key_line(walker: _Story, row: int) -> NarrativeLine:
    packets, st = walker.packets, walker.states
    direction = Direction(st.direction[row])
    found = walker.by_frame.get(packets.frame[row], [])
    packet_facts = _facts(walker, row)
    situation = select(packet_facts)
    seq_rel = _relative(packets.seq[row], walker.base[direction])
    has_ack = bool(packets.flags[row] & TcpFlags.ACK)
    ack_rel = _relative(packets.ack[row], walker.base[_other(direction)]) if has_ack else None
    reuse = _reuse(walker, row, situation)
    sentences = _sentences(walker, row, packet_facts, situation, seq_rel, ack_rel, reuse)
    if found:
        titles = _join(walker.lang, (text(walker.lang, f"anomaly.{a.slug}.title") for a in found))
        sentences.append(text(walker.lang, "narr.flagged", titles=titles))
    sentences.append(_states_clause(walker.lang, packet_facts))
    joined = " ".join(sentences) if walker.lang == Lang.EN else "".join(sentences)
    return NarrativeLine(
        frame=packets.frame[row],
        last_frame=packets.frame[row],
        time=packets.time[row] - walker.t0,
        direction=direction,
        flags=flags_label(packets.flags[row], walker.lang),
        role=packet_facts.role,
        client_before=TcpState(st.client_before[row]),
        client_after=TcpState(st.client_after[row]),
        server_before=TcpState(st.server_before[row]),
        server_after=TcpState(st.server_after[row]),
        seq_raw=packets.seq[row],
        seq_rel=seq_rel,
        ack_raw=packets.ack[row] if has_ack else None,
        ack_rel=ack_rel,
        length=packets.length[row],
        text=joined,
        concepts=CONCEPT_LINKS.get(situation, ()) + (("time_wait",) if reuse else ()),
        anomalies=tuple(dict.fromkeys(a.slug for a in found)),
        is_summary=False,
        situation=situation,
        context_states=reuse.states if reuse else (),
    )


def _sentences(
    walker: _Story,
    row: int,
    f: PacketFacts,
    situation: Situation,
    seq_rel: int | None,
    ack_rel: int | None,
    reuse: _Reuse | None,
) -> list[str]:
    """What the packet says and did, in computed values only, then what rode along with it."""
    lang = walker.lang
    params = _params(walker, row, f, seq_rel, ack_rel)
    sentences = []
    if f.illegal:
        sentences.append(text(lang, "narr.illegal", **params))
    sentences.append(text(lang, f"narr.{situation.value}", **params))
    told_data = {Situation.SYN_DATA, Situation.SYN_TFO, Situation.DATA, Situation.HS_ACK_DATA}
    told_data |= {Situation.DATA_HALF_CLOSE, Situation.FINACK_FIRST_DATA}
    told_data |= set(RESENT_SITUATIONS.values())
    if f.length and situation not in told_data:
        sentences.append(text(lang, "narr.carries_data", **params))
    if reuse is not None:
        sentences.extend(text(lang, f"narr.{key}", **params, **reuse.params) for key in reuse.keys)
    if f.resent_because is not None and params["rtts"] != "-":
        sentences.append(text(lang, "narr.resent_rtt", **params))
    return sentences


def _params(
    walker: _Story, row: int, f: PacketFacts, seq_rel: int | None, ack_rel: int | None
) -> dict[str, object]:
    """Every value a narr.* template may name (explanations.NARRATIVE_PARAMS), all computed."""
    p, lang = walker.packets, walker.lang
    wait, before, _ = _backoff(walker, row, f.direction)
    answered = walker.last_segment.get(_other(f.direction))
    sender, receiver = _side(f.direction), _side(_other(f.direction))
    return {
        "sender": text(lang, f"who.{sender}"),
        "receiver": text(lang, f"who.{receiver}"),
        "sender_before": _state_name(lang, f.sender.before),
        "sender_after": _state_name(lang, f.sender.after),
        "sender_passed": _state_name(lang, f.sender.passed),
        "receiver_before": _state_name(lang, f.receiver.before),
        "receiver_after": _state_name(lang, f.receiver.after),
        "receiver_passed": _state_name(lang, f.receiver.passed),
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


def _resent_params(walker: _Story, row: int, f: PacketFacts) -> dict[str, object]:
    """A resent segment's delay, the ACKs seen meanwhile, and the delay in round trips."""
    if f.resent_because is None:
        return {"resent_ms": "-", "dup_acks": 0, "sack_acks": 0, "rtts": "-", "rtt_ms": "-"}
    found = _resent_evidence(walker, row)
    rtts = found.rtts
    return {
        "resent_ms": f"{found.delay * 1000:,.1f}",
        "dup_acks": found.dup_acks,
        "sack_acks": found.sack_acks,
        "rtts": "-" if rtts is None else f"{rtts:,.0f}",
        "rtt_ms": "-" if found.rtt is None else f"{found.rtt * 1000:.3f}",
    }


def _answered(walker: _Story, row: int | None) -> dict[str, object]:
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
        "seg_len_parts": _join(lang, parts) if parts else text(lang, "narr.seg_len_none"),
    }


@dataclass(frozen=True, slots=True)
class _Reuse:
    """Why a SYN that reuses a port pair left in TIME_WAIT is safe, as the capture shows it."""

    keys: tuple[str, ...]
    params: dict[str, object]
    states: tuple[TcpState, ...]  # the old connection's state the text names


def _reuse(walker: _Story, row: int, situation: Situation) -> _Reuse | None:
    """RFC 6191: a new ISN beyond the old sequence space, or newer timestamps, keep old
    segments out of the new connection; both are read from the two connections' packets."""
    prev = walker.previous
    if prev is None or situation not in (Situation.SYN, Situation.SYN_DATA, Situation.SYN_TFO):
        return None
    if prev.time_wait is Closer.NONE:
        return None
    p = walker.packets
    sender = (p.src[row], p.sport[row])
    old_rows = [r for r in prev.packet_index if (p.src[r], p.sport[r]) == sender]
    if not old_rows:
        return None
    old_next = max(
        (p.seq[r] + p.length[r] + bool(p.flags[r] & _CONTROL & ~TcpFlags.RST)) % _MOD
        for r in old_rows
        if not p.flags[r] & TcpFlags.RST
    )
    gap = (p.seq[row] - old_next) % _MOD
    ahead = gap < _HALF
    keys = ["reuse_ahead" if ahead else "reuse_behind"]
    old_ts = [p.tsval[r] for r in old_rows if p.tsval[r] != NO_VALUE]
    tsval = p.tsval[row]
    if old_ts and tsval != NO_VALUE and (tsval - max(old_ts)) % _MOD < _HALF:
        keys.append("reuse_timestamps")
    side = Closer.CLIENT if prev.time_wait is Closer.BOTH else prev.time_wait
    old_state = prev.client_final if side is Closer.CLIENT else prev.server_final
    params: dict[str, object] = {
        "previous_id": prev.id,
        "old_side": text(walker.lang, f"who.{side.value}"),
        "old_state": _state_name(walker.lang, old_state),
        "gap": f"{p.time[row] - prev.last_time:.3f}",
        "old_next": old_next,
        "isn_gap": f"{gap if ahead else _MOD - gap:,}",
        "tsval": tsval,
        "old_tsval": max(old_ts) if old_ts else "-",
    }
    return _Reuse(tuple(keys), params, (old_state,))


def _side(direction: Direction) -> str:
    return "client" if direction is Direction.TO_SERVER else "server"


def _join(lang: Lang, items: Iterable[str]) -> str:
    return text(lang, "narr.sum.sep").join(items)


def _state_name(lang: Lang, state: TcpState | None) -> str:
    if state is None:
        return "-"
    return text(lang, "narr.unknown_state") if state is TcpState.UNKNOWN else state.name


def _states_clause(lang: Lang, f: PacketFacts) -> str:
    """ "States: client SYN_SENT → ESTABLISHED; server stays SYN_RECEIVED." in lang."""
    by_side = (
        (f.sender, f.receiver) if f.direction is Direction.TO_SERVER else (f.receiver, f.sender)
    )
    parts = {}
    for side, move in zip(("client", "server"), by_side, strict=True):
        label = text(lang, f"side.{side}")
        before, after = _state_name(lang, move.before), _state_name(lang, move.after)
        if not move.changed:
            parts[side] = text(lang, "narr.side_same", side=label, state=after)
        elif move.passed is not None:
            passed = _state_name(lang, move.passed)
            parts[side] = text(
                lang, "narr.side_passed", side=label, before=before, passed=passed, after=after
            )
        else:
            parts[side] = text(lang, "narr.side_change", side=label, before=before, after=after)
    return text(lang, "narr.states", **parts)


# ----------------------------------------------------------------------------------- summaries


def _add_to_run(walker: _Story, run: _Run | None, row: int) -> _Run:
    if run is None:
        run = _Run(first=row, last=row)
    run.last = row
    packets = walker.packets
    role = walker.states.role[row]
    length = packets.length[row]
    if role == _KEEP_ALIVE:
        run.keepalives += 1
    elif role == _ZERO_WINDOW_PROBE:
        run.probes += 1
    elif length:
        run.data += 1
    elif role == _WINDOW_UPDATE:
        run.windows += 1
    elif role == _PURE_ACK:
        run.acks += 1
    else:
        run.others += 1
    if walker.states.direction[row] == _TO_SERVER:
        run.to_server += length
    else:
        run.to_client += length
    if packets.analysis[row] & _RETRANSMITTED:
        run.retrans += 1
    if walker.by_frame:
        for anomaly in walker.by_frame.get(packets.frame[row], ()):
            if anomaly.slug not in run.slugs:
                run.slugs.append(anomaly.slug)
    return run


def _count(lang: Lang, key: str, count: int) -> str:
    return plural(lang, f"narr.sum.{key}", count)


def human_bytes(count: int) -> str:
    """A byte count for people: 950 B, 1.2 kB, 3.4 MB, 5.6 GB (decimal units)."""
    if count < 1000:
        return f"{count} B"
    value = float(count)
    for unit in ("kB", "MB", "GB"):
        value /= 1000
        if value < 1000 or unit == "GB":
            break
    return f"{value:.1f} {unit}"


def _summary_text(lang: Lang, run: _Run) -> str:
    parts = []
    if run.data:
        parts.append(_count(lang, "data", run.data))
        amounts = []
        if run.to_server:
            amounts.append(text(lang, "narr.sum.to_server", amount=human_bytes(run.to_server)))
        if run.to_client:
            amounts.append(text(lang, "narr.sum.to_client", amount=human_bytes(run.to_client)))
        parts.append(text(lang, "narr.sum.and").join(amounts))
    counted = (
        ("acks", run.acks),
        ("window", run.windows),
        ("keepalive", run.keepalives),
        ("zero_window_probe", run.probes),
        ("other", run.others),
        ("retrans", run.retrans),
    )
    parts.extend(_count(lang, key, n) for key, n in counted if n)
    return _join(lang, parts)


def _summary_line(walker: _Story, run: _Run) -> NarrativeLine:
    packets, st = walker.packets, walker.states
    first, last = run.first, run.last
    return NarrativeLine(
        frame=packets.frame[first],
        last_frame=packets.frame[last],
        time=packets.time[first] - walker.t0,
        direction=None,
        flags="",
        role=None,
        client_before=TcpState(st.client_before[first]),
        client_after=TcpState(st.client_after[last]),
        server_before=TcpState(st.server_before[first]),
        server_after=TcpState(st.server_after[last]),
        seq_raw=None,
        seq_rel=None,
        ack_raw=None,
        ack_rel=None,
        length=run.to_server + run.to_client,
        text=_summary_text(walker.lang, run),
        concepts=(),
        anomalies=tuple(run.slugs),
        is_summary=True,
    )


# ------------------------------------------------------------------------------- connection


def format_line(line: NarrativeLine, lang: Lang) -> str:
    """One terminal line: "frame 3 · +0.001 s · client → server · ACK · third step of ..."."""
    if line.is_summary and line.last_frame != line.frame:
        head = text(lang, "ui.frames", first=line.frame, last=line.last_frame)
    else:
        head = text(lang, "ui.frame", frame=line.frame)
    parts = [head, text(lang, "ui.time", seconds=f"{line.time:.3f}")]
    if line.direction is not None:
        parts.append(text(lang, f"dir.{line.direction.name.lower()}"))
    if line.flags:
        parts.append(line.flags)
    parts.append(line.text)
    return " · ".join(parts)


def connection_header(connection: Connection, lang: Lang) -> str:
    """The line that opens a connection's story: endpoints, outcomes, size and duration."""
    conn = connection
    parts = [
        text(
            lang,
            "ui.connection",
            id=conn.id,
            client=str(conn.client),
            server=str(conn.server),
            handshake=text(lang, f"handshake.{conn.handshake.value}"),
            teardown=text(lang, f"teardown.{conn.teardown.value}"),
            packets=f"{len(conn.packet_index):,}",
            duration=f"{conn.duration:.3f}",
        )
    ]
    if conn.closed_first is not Closer.NONE:
        parts.append(text(lang, "ui.closed_first", who=text(lang, f"closer.{conn.closed_first}")))
    if conn.time_wait is not Closer.NONE:
        parts.append(text(lang, "ui.time_wait", who=text(lang, f"closer.{conn.time_wait}")))
    if conn.handshake is Handshake.NOT_CAPTURED:
        parts.append(text(lang, "ui.midstream"))
    return " · ".join(parts)


def state_path(states: PacketStates, conn: Connection, client: bool) -> tuple[TcpState, ...]:
    """Every state one side went through, in order, as the replay shows it."""
    before = states.client_before if client else states.server_before
    after = states.client_after if client else states.server_after
    index = conn.packet_index
    path = [TcpState(before[index[0]])] if index else []
    for row in index:
        for state in (states.passed_through(row, client), TcpState(after[row])):
            if state is not None and state is not path[-1]:
                path.append(state)
    return tuple(path)


def state_paths(states: PacketStates, conn: Connection, lang: Lang) -> tuple[str, ...]:
    """One note naming each side's states from the first packet to the last."""
    parts = {}
    for side in ("client", "server"):
        path = state_path(states, conn, side == "client")
        names = text(lang, "ui.path_sep").join(_state_name(lang, s) for s in path)
        parts[side] = names
    return (text(lang, "ui.paths", **parts),)


def inference_notes(conn: Connection, lang: Lang) -> tuple[str, ...]:
    """What the verdicts rest on beyond the packets (the contract's `inferred`), one note each."""
    return tuple(text(lang, f"ui.inferred.{i.value}") for i in conn.inferred)
