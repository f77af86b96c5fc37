"""Narrate (pure): the packet-by-packet story of one connection, in English or Chinese.

One line per handshake, FIN, ACK-of-FIN and RST segment and per packet with a warn or error
anomaly; the data, pure-ACK, window-update and keep-alive segments between them are collapsed
into one summary line per run. Every sentence comes from explanations.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from pcapexplain.explanations import plural, text
from pcapexplain.model import (
    AnalysisFlag,
    Anomaly,
    CapturePoint,
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


_MOD = 1 << 32
_HALF = 1 << 31
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
_WINDOW_UPDATE = int(PacketRole.WINDOW_UPDATE)
_PURE_ACK = int(PacketRole.PURE_ACK)
_TO_SERVER = int(Direction.TO_SERVER)
_SYNCHRONISED = frozenset(TcpState) - {
    TcpState.UNKNOWN,
    TcpState.CLOSED,
    TcpState.LISTEN,
    TcpState.SYN_SENT,
    TcpState.SYN_RECEIVED,
}
# Wireshark's order for the flag list, lowest bit first: "FIN, SYN, RST, PSH, ACK, ...".
_FLAG_ORDER = tuple(TcpFlags)

# Concept notes each situation links to (ids of explanations.CONCEPTS).
_CONCEPTS: dict[str, tuple[str, ...]] = {
    "syn": ("three_way_handshake", "sequence_numbers"),
    "syn_data": ("three_way_handshake",),
    "syn_tfo": ("three_way_handshake",),
    "syn_again": ("three_way_handshake",),
    "synack_again": ("three_way_handshake",),
    "syn_simultaneous": ("simultaneous_open",),
    "synack": ("three_way_handshake", "sequence_numbers"),
    "synack_tfo": ("three_way_handshake",),
    "synack_tfo_ignored": ("three_way_handshake",),
    "synack_old": ("stale_syn",),
    "synack_simultaneous": ("simultaneous_open",),
    "hs_ack": ("three_way_handshake", "why_three_minimum"),
    "rst_refused": ("rst",),
    "rst_old_duplicate": ("stale_syn", "why_three_minimum"),
    "rst_handshake": ("rst",),
    "rst_abort": ("rst",),
    "rst_after_fin": ("rst",),
    "rst_unknown": ("rst",),
    "fin_active": ("four_way_close", "close_states"),
    "fin_passive": ("four_way_close", "close_states"),
    "fin_three_way": ("four_way_close", "close_states"),
    "fin_simultaneous": ("close_states", "who_time_wait"),
    "fin_again": ("time_wait",),
    "finack_first": ("four_way_close", "close_states"),
    "finack_last": ("time_wait", "who_time_wait"),
    "finack_simultaneous": ("close_states", "who_time_wait"),
    "finack_again": ("time_wait",),
}


def flags_label(flags: int, lang: Lang = Lang.EN) -> str:
    """The set TCP flags in Wireshark's order, e.g. "SYN, ACK" ("SYN、ACK" in Chinese), and
    Wireshark's "<None>" (无标志) when none is set."""
    names = [flag.name or "" for flag in _FLAG_ORDER if flags & flag]
    return text(lang, "ui.flag_sep").join(names) if names else text(lang, "ui.no_flags")


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
    syn_length: int = 0
    synack_seen: bool = False
    stale_synack: bool = False
    opened: bool = False
    crossed: bool = False  # the two FINs crossed: a simultaneous close
    fin_seq: dict[Direction, int] = field(default_factory=dict)  # seq number of each side's FIN
    acked_fin: set[Direction] = field(default_factory=set)  # sides that ACKed the peer's FIN
    fin_resent: set[Direction] = field(default_factory=set)  # sides that sent their FIN again


@dataclass(slots=True)
class _Run:
    """Counters of a run of ordinary segments, folded into one summary line."""

    first: int  # row index
    last: int
    data: int = 0
    acks: int = 0
    windows: int = 0
    keepalives: int = 0
    others: int = 0
    retrans: int = 0
    to_server: int = 0  # payload bytes
    to_client: int = 0
    slugs: list[str] = field(default_factory=list)


def narrate(
    packets: PacketColumns, states: PacketStates, connection: Connection, lang: Lang
) -> list[NarrativeLine]:
    """The story of one connection, one NarrativeLine per notable packet or per run of others.

    packets and states are the whole capture's columns and the reconstructor's per-packet states;
    connection picks its rows through packet_index; lang is "en" or "zh".
    """
    rows = list(connection.packet_index)
    if not rows:
        return []
    story = _new_story(packets, states, connection, lang, rows)
    lines: list[NarrativeLine] = []
    run: _Run | None = None
    for row in rows:
        if _is_key(story, row):
            if run is not None:
                lines.append(_summary_line(story, run))
                run = None
            lines.append(_key_line(story, row))
        else:
            run = _add_to_run(story, run, row)
    if run is not None:
        lines.append(_summary_line(story, run))
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
    opened = conn.handshake is Handshake.NOT_CAPTURED
    return _Story(packets, states, conn, lang, base, packets.time[rows[0]], by_frame, opened=opened)


def _is_key(story: _Story, row: int) -> bool:
    # Raw codes compare equal to IntEnum members: no enum object per packet on the hot path.
    if story.states.role[row] in KEY_ROLES or story.packets.flags[row] & _CONTROL:
        return True
    if not story.by_frame:
        return False
    found = story.by_frame.get(story.packets.frame[row], ())
    return any(a.severity.rank >= Severity.WARN.rank for a in found)


def _sender_states(story: _Story, row: int, direction: Direction) -> tuple[TcpState, TcpState]:
    st = story.states
    if direction is Direction.TO_SERVER:
        return TcpState(st.client_before[row]), TcpState(st.client_after[row])
    return TcpState(st.server_before[row]), TcpState(st.server_after[row])


def _other(direction: Direction) -> Direction:
    return Direction.TO_CLIENT if direction is Direction.TO_SERVER else Direction.TO_SERVER


def _illegal(flags: int) -> bool:
    """Combinations no stack sends in a normal connection (TCP-REFERENCE H7)."""
    both = TcpFlags.SYN | TcpFlags.FIN
    syn_rst = TcpFlags.SYN | TcpFlags.RST
    xmas = TcpFlags.FIN | TcpFlags.PSH | TcpFlags.URG
    return (
        flags & 0x1FF == 0
        or flags & both == both
        or flags & syn_rst == syn_rst
        or (flags & xmas == xmas and not flags & TcpFlags.ACK)
    )


def _situation(story: _Story, row: int) -> str:
    """The narr.* key (without the prefix) that explains this notable packet in its context."""
    flags = story.packets.flags[row]
    direction = Direction(story.states.direction[row])
    sender_before, _ = _sender_states(story, row, direction)
    if sender_before in _SYNCHRONISED:
        story.opened = True
    if _illegal(flags):
        return "illegal"
    if flags & TcpFlags.RST:
        return _rst_situation(story, direction, sender_before)
    if flags & TcpFlags.SYN:
        return _syn_situation(story, row, direction)
    if flags & TcpFlags.FIN:
        return _fin_situation(story, row, direction)
    role = PacketRole(story.states.role[row])
    if role is PacketRole.FIN_ACK:
        return _finack_situation(story, direction, sender_before)
    if role is PacketRole.HANDSHAKE_ACK:
        story.opened = True
        return "hs_ack"
    return _plain_situation(role)


def _plain_situation(role: PacketRole) -> str:
    plain = {
        PacketRole.DATA: "data",
        PacketRole.PURE_ACK: "pure_ack",
        PacketRole.WINDOW_UPDATE: "window_update",
        PacketRole.KEEP_ALIVE: "keep_alive",
    }
    return plain.get(role, "other")


def _syn_situation(story: _Story, row: int, direction: Direction) -> str:
    packets = story.packets
    retransmitted = PacketRole(story.states.role[row]) is PacketRole.SYN_RETRANSMISSION
    if not packets.flags[row] & TcpFlags.ACK:
        if direction is Direction.TO_CLIENT:
            return "syn_simultaneous"
        if retransmitted:
            return "syn_again"
        if _seen_from_the_server(story):
            return "syn_stale"
        story.syn_length = packets.length[row]
        if packets.length[row] == 0:
            return "syn"
        return "syn_tfo" if packets.tfo[row] else "syn_data"
    story.synack_seen = True
    if retransmitted:
        return "synack_again"
    if story.conn.handshake is Handshake.SIMULTANEOUS_OPEN:
        return "synack_simultaneous"
    situation = _synack_situation(story, row)
    if situation == "synack" and _seen_from_the_server(story):
        story.stale_synack = True
        return "synack_stale"
    return situation


def _seen_from_the_server(story: _Story) -> bool:
    """Old duplicate where the SYN-ACK acknowledges the SYN in the capture: that SYN is stale."""
    conn, p = story.conn, story.packets
    if conn.handshake is not Handshake.OLD_DUPLICATE or conn.client_isn is None:
        return False
    synack = TcpFlags.SYN | TcpFlags.ACK
    acks = [p.ack[r] for r in conn.packet_index if p.flags[r] & synack == synack]
    # Seen from the client instead, a SYN-ACK acknowledges some other (stale) SYN.
    return bool(acks) and all(a == (conn.client_isn + 1) % _MOD for a in acks)


def _synack_situation(story: _Story, row: int) -> str:
    """A SYN-ACK's ack tells which SYN it answers (RFC 9293 §3.5, Fig. 8)."""
    isn = story.conn.client_isn
    if isn is None:
        return "synack"
    ack = story.packets.ack[row]
    story.stale_synack = False
    if ack == (isn + 1) % _MOD:
        return "synack_tfo_ignored" if story.syn_length else "synack"
    if story.syn_length and ack == (isn + 1 + story.syn_length) % _MOD:
        return "synack_tfo"
    story.stale_synack = True
    return "synack_old"


def _rst_situation(story: _Story, direction: Direction, sender_before: TcpState) -> str:
    if not story.opened:
        if direction is Direction.TO_CLIENT and not story.synack_seen:
            return "rst_refused"
        if direction is Direction.TO_SERVER and story.stale_synack:
            return "rst_old_duplicate"
        return "rst_handshake"
    if sender_before in (TcpState.CLOSED, TcpState.LISTEN, TcpState.TIME_WAIT):
        return "rst_unknown"
    return "rst_after_fin" if direction in story.fin_seq else "rst_abort"


def _fin_situation(story: _Story, row: int, direction: Direction) -> str:
    packets = story.packets
    fin_seq = (packets.seq[row] + packets.length[row]) % _MOD  # the FIN follows the data
    if story.fin_seq.get(direction) == fin_seq:
        story.fin_resent.add(direction)
        return "fin_again"
    story.fin_seq[direction] = fin_seq
    peer_fin = story.fin_seq.get(_other(direction))
    if peer_fin is None:
        return "fin_active"
    has_ack = bool(packets.flags[row] & TcpFlags.ACK)
    if not (has_ack and _seq_ge(packets.ack[row], peer_fin + 1)):
        story.crossed = True
        return "fin_simultaneous"  # sent before its sender had seen the peer's FIN (T3)
    if direction in story.acked_fin:
        return "fin_passive"
    story.acked_fin.add(direction)
    return "fin_three_way"  # RFC 9293 Fig. 5 Note 2: the peer goes straight to TIME_WAIT


def _finack_situation(story: _Story, direction: Direction, sender_before: TcpState) -> str:
    again = direction in story.acked_fin
    story.acked_fin.add(direction)
    resent = _other(direction) in story.fin_resent
    if again and (sender_before is TcpState.TIME_WAIT or resent):
        return "finack_again"  # RFC 9293 §3.10.7.4: TIME-WAIT re-acknowledges a resent FIN
    if direction not in story.fin_seq:
        return "finack_first"
    if sender_before is TcpState.CLOSING or story.crossed:
        return "finack_simultaneous"
    return "finack_last"


def _key_line(story: _Story, row: int) -> NarrativeLine:
    packets, st = story.packets, story.states
    direction = Direction(st.direction[row])
    situation = _situation(story, row)
    seq_rel = _relative(packets.seq[row], story.base[direction])
    has_ack = bool(packets.flags[row] & TcpFlags.ACK)
    ack_rel = _relative(packets.ack[row], story.base[_other(direction)]) if has_ack else None
    found = story.by_frame.get(packets.frame[row], [])
    client = (st.client_before[row], st.client_after[row])
    server = (st.server_before[row], st.server_after[row])
    return NarrativeLine(
        frame=packets.frame[row],
        last_frame=packets.frame[row],
        time=packets.time[row] - story.t0,
        direction=direction,
        flags=flags_label(packets.flags[row]),
        role=PacketRole(st.role[row]),
        client_before=TcpState(client[0]),
        client_after=TcpState(client[1]),
        server_before=TcpState(server[0]),
        server_after=TcpState(server[1]),
        seq_raw=packets.seq[row],
        seq_rel=seq_rel,
        ack_raw=packets.ack[row] if has_ack else None,
        ack_rel=ack_rel,
        length=packets.length[row],
        text=_key_text(story, row, situation, seq_rel, ack_rel, found),
        concepts=_CONCEPTS.get(situation, ()),
        anomalies=tuple(dict.fromkeys(a.slug for a in found)),
        is_summary=False,
    )


def _key_text(
    story: _Story,
    row: int,
    situation: str,
    seq_rel: int | None,
    ack_rel: int | None,
    found: list[Anomaly],
) -> str:
    """What the packet says, what its sender now knows, its anomalies, and the state change."""
    packets, st, lang = story.packets, story.states, story.lang
    params = {
        "sender": text(lang, f"who.{_side(Direction(st.direction[row]))}"),
        "seq": seq_rel,
        "ack": "-" if ack_rel is None else ack_rel,
        "seq_raw": packets.seq[row],
        "ack_raw": packets.ack[row],
        "length": packets.length[row],
        "syn_length": story.syn_length,
        "port": story.conn.server.port,
        "flags": flags_label(packets.flags[row], lang),
        "window": packets.window[row],
    }
    sentences = [text(lang, f"narr.{situation}", **params)]
    if packets.length[row] and situation not in ("syn_data", "syn_tfo", "data"):
        sentences.append(text(lang, "narr.carries_data", **params))
    if found:
        titles = _join(lang, (text(lang, f"anomaly.{a.slug}.title") for a in found))
        sentences.append(text(lang, "narr.flagged", titles=titles))
    client = (st.client_before[row], st.client_after[row])
    server = (st.server_before[row], st.server_after[row])
    sentences.append(_states_clause(lang, client, server))
    return " ".join(sentences) if lang == "en" else "".join(sentences)


def _side(direction: Direction) -> str:
    return "client" if direction is Direction.TO_SERVER else "server"


def _join(lang: Lang, items: Iterable[str]) -> str:
    return text(lang, "narr.sum.sep").join(items)


def state_name(lang: Lang, state: TcpState) -> str:
    """The RFC name of a state, or "unknown" in lang when the capture cannot tell."""
    return _state_name(lang, state)


def _state_name(lang: Lang, state: TcpState) -> str:
    return text(lang, "narr.unknown_state") if state is TcpState.UNKNOWN else state.name


def _states_clause(lang: Lang, client: tuple[int, int], server: tuple[int, int]) -> str:
    """ "States: client SYN_SENT → ESTABLISHED; server stays SYN_RECEIVED." in lang."""
    parts = {}
    for side, (before_code, after_code) in (("client", client), ("server", server)):
        before, after = TcpState(before_code), TcpState(after_code)
        label = text(lang, f"side.{side}")
        if before is after:
            parts[side] = text(lang, "narr.side_same", side=label, state=_state_name(lang, after))
        else:
            parts[side] = text(
                lang,
                "narr.side_change",
                side=label,
                before=_state_name(lang, before),
                after=_state_name(lang, after),
            )
    return text(lang, "narr.states", **parts)


def _add_to_run(story: _Story, run: _Run | None, row: int) -> _Run:
    if run is None:
        run = _Run(first=row, last=row)
    run.last = row
    packets = story.packets
    role = story.states.role[row]
    length = packets.length[row]
    if role == _KEEP_ALIVE:
        run.keepalives += 1
    elif length:
        run.data += 1
    elif role == _WINDOW_UPDATE:
        run.windows += 1
    elif role == _PURE_ACK:
        run.acks += 1
    else:
        run.others += 1
    if story.states.direction[row] == _TO_SERVER:
        run.to_server += length
    else:
        run.to_client += length
    if packets.analysis[row] & _RETRANSMITTED:
        run.retrans += 1
    if story.by_frame:
        for anomaly in story.by_frame.get(packets.frame[row], ()):
            if anomaly.slug not in run.slugs:
                run.slugs.append(anomaly.slug)
    return run


def _count(lang: Lang, key: str, count: int) -> str:
    return plural(lang, f"narr.sum.{key}", count)


def human_bytes(count: int, lang: Lang = Lang.EN) -> str:
    """A byte count for people: 950 B (950 字节), 1.2 kB, 3.4 MB, 5.6 GB (decimal units)."""
    if count < 1000:
        return text(lang, "ui.bytes", count=count)
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
            amounts.append(
                text(lang, "narr.sum.to_server", amount=human_bytes(run.to_server, lang))
            )
        if run.to_client:
            amounts.append(
                text(lang, "narr.sum.to_client", amount=human_bytes(run.to_client, lang))
            )
        parts.append(text(lang, "narr.sum.and").join(amounts))
    counted = (
        ("acks", run.acks),
        ("window", run.windows),
        ("keepalive", run.keepalives),
        ("other", run.others),
        ("retrans", run.retrans),
    )
    parts.extend(_count(lang, key, n) for key, n in counted if n)
    return _join(lang, parts)


def _summary_line(story: _Story, run: _Run) -> NarrativeLine:
    packets, st = story.packets, story.states
    first, last = run.first, run.last
    return NarrativeLine(
        frame=packets.frame[first],
        last_frame=packets.frame[last],
        time=packets.time[first] - story.t0,
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
        text=_summary_text(story.lang, run),
        concepts=(),
        anomalies=tuple(run.slugs),
        is_summary=True,
    )


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
    if conn.closed_first is Closer.BOTH:
        parts.append(text(lang, "ui.closed_together"))  # not "both closed first"
    elif conn.closed_first is not Closer.NONE:
        parts.append(text(lang, "ui.closed_first", who=text(lang, f"closer.{conn.closed_first}")))
    if conn.time_wait is not Closer.NONE:
        parts.append(text(lang, "ui.time_wait", who=text(lang, f"closer.{conn.time_wait}")))
    if conn.handshake is Handshake.NOT_CAPTURED:
        parts.append(text(lang, "ui.midstream"))
    return " · ".join(parts)


def _milliseconds(seconds: float) -> str:
    ms = seconds * 1000
    return f"{ms:.3f}" if ms < 1 else f"{ms:.1f}"


def vantage_text(connection: Connection, lang: Lang) -> str:
    """Where the capture was most likely taken, and how far each endpoint's moments are off."""
    conn, found = connection, connection.vantage
    if found.point is CapturePoint.UNKNOWN:
        return text(lang, "vantage.unknown")
    syn_synack, synack_ack = conn.rtt_syn_synack or 0.0, conn.rtt_synack_ack or 0.0
    times = {
        "syn_synack": _milliseconds(syn_synack),
        "synack_ack": _milliseconds(synack_ack),
        "total": _milliseconds(syn_synack + synack_ack),
    }
    if found.weak:
        lean = text(lang, f"vantage.lean.{found.point.value}")
        return text(lang, "vantage.weak", lean=lean, **times)
    return text(
        lang,
        f"vantage.{found.point.value}",
        client=_milliseconds(found.client_delay or 0.0),
        server=_milliseconds(found.server_delay or 0.0),
        **times,
    )
