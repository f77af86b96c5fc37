"""Narrate (pure): the packet-by-packet story of one connection, in English or Chinese.

A packet gets a line of its own when it changes either endpoint's state, carries SYN, FIN or RST,
completes the handshake, has a warn or error anomaly, belongs to a half-close (its first
HALF_CLOSE_LINES segments) or resends data (the first RESENT_LINES); the segments between them
are collapsed into one summary line per run. A told packet's facts are computed from the replay
(facts.packet_facts); they select its sentence (situations.select), and the sentence is filled
with computed values only, so that no line can name a state or a step the replay does not show.
Every text comes from explanations.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pcapexplain import facts, icmp
from pcapexplain.explanations import finding_texts, plural, sentences, text
from pcapexplain.facts import Walk, join, state_name
from pcapexplain.facts import flags_label as flags_label  # the ladder and tests name it here
from pcapexplain.model import (
    RETRANSMITTED,
    Anomaly,
    AnomalySlug,
    CaptureAnalysis,
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
from pcapexplain.seqspace import relative
from pcapexplain.situations import (
    CONCEPT_LINKS,
    RESENT_SITUATIONS,
    EcnSetup,
    EcnSignal,
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
    flags: TcpFlags | None  # None for a summary line; flags_label() writes them out
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
    anomalies: tuple[AnomalySlug, ...]
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


COPIES_LISTED = 20  # left-out copies named in a connection's note; more are counted, then …
HALF_CLOSE_LINES = 6  # segments of a half-close told one by one; the rest are summarised
RESENT_LINES = 6  # resent data segments told one by one, with their cause; the rest summarised
ECN_LINES = 6  # ECE echoes and CWRs told one by one; the rest summarised
# URG is told on its own segment: a run's summary would hide that data was sent as urgent.
_CONTROL = TcpFlags.SYN | TcpFlags.FIN | TcpFlags.RST | TcpFlags.URG
# Findings told in full (what was seen, and why it matters) where they end (their `frame` param):
# one event spread over many packets, which a title on each packet would not explain.
TOLD_WHERE_THEY_END = frozenset({AnomalySlug.STALLED})
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
    slugs: list[AnomalySlug] = field(default_factory=list)


def story(
    result: CaptureAnalysis,
    connection: Connection,
    lang: Lang,
    previous: Connection | None = None,
) -> Story:
    """The whole story of one connection of an analysis: what `explain` prints and the report
    shows. previous is the connection that used the same port pair before it (predecessors
    finds it for a whole capture at once); it explains a reuse."""
    found = result.anomalies_of(connection.id)
    lines = narrate(result.packets, result.states, connection, lang, found, previous=previous)
    notes = (
        *state_paths(result.states, connection, lang),
        *inference_notes(connection, lang),
        vantage_text(connection, lang),
        *icmp_notes(connection, lang),
        *copies_note(result, connection, lang),
    )
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
    anomalies: Sequence[Anomaly] = (),
    *,
    previous: Connection | None = None,
) -> list[NarrativeLine]:
    """The story of one connection, one NarrativeLine per told packet or per run of others.

    packets and states are the whole capture's columns and the reconstructor's per-packet states;
    connection picks its rows through packet_index; lang is "en" or "zh"; anomalies are the
    connection's findings (CaptureAnalysis.anomalies_of), told beside the packets they concern;
    previous is the connection that used the same port pair before (it explains a reuse).
    """
    rows = list(connection.packet_index)
    if not rows:
        return []
    walker = _new_story(packets, states, connection, lang, rows, anomalies)
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
        facts.remember(walker, row)
    if run is not None:
        lines.append(_summary_line(walker, run))
    return lines


def _new_story(
    packets: PacketColumns,
    states: PacketStates,
    conn: Connection,
    lang: Lang,
    rows: list[int],
    anomalies: Sequence[Anomaly],
) -> Walk:
    base: dict[Direction, int | None] = {
        Direction.TO_SERVER: conn.client_isn,
        Direction.TO_CLIENT: conn.server_isn,
    }
    for row in rows:  # without a captured SYN, count from the first seq seen in each direction
        direction = Direction(states.direction[row])
        if base[direction] is None:
            base[direction] = packets.seq[row]
    by_frame: dict[int, list[Anomaly]] = {}
    for anomaly in anomalies:
        for frame in anomaly.frames:
            by_frame.setdefault(frame, []).append(anomaly)
    return Walk(packets, states, conn, lang, base, packets.time[rows[0]], by_frame)


def _is_key(walker: Walk, row: int) -> bool:
    # Raw codes compare equal to IntEnum members: no enum object per packet on the hot path.
    st = walker.states
    if st.role[row] in KEY_ROLES or walker.packets.flags[row] & _CONTROL:
        return True
    if (
        st.client_before[row] != st.client_after[row]
        or st.server_before[row] != st.server_after[row]
    ):
        return True  # a packet that moves a side on is always told
    if facts.half_close(walker, row) and walker.half_close_told < HALF_CLOSE_LINES:
        return True
    if facts.resent_data(walker.packets, row) and walker.resent_seen < RESENT_LINES:
        return True
    if walker.ecn_on and walker.ecn_told < ECN_LINES:
        direction = Direction(st.direction[row])
        if facts.ecn_signal(walker, row, direction) is not EcnSignal.NONE:
            return True
    if not walker.by_frame:
        return False
    frame = walker.packets.frame[row]
    found = walker.by_frame.get(frame, ())
    return any(a.severity.rank >= Severity.WARN.rank or _ends_at(a, frame) for a in found)


def _ends_at(anomaly: Anomaly, frame: int) -> bool:
    """A finding told in full at this frame, where it ends."""
    return anomaly.slug in TOLD_WHERE_THEY_END and anomaly.params.get("frame") == frame


# ------------------------------------------------------------------------------------- lines


def _key_line(walker: Walk, row: int) -> NarrativeLine:
    packets, st = walker.packets, walker.states
    direction = Direction(st.direction[row])
    found = walker.by_frame.get(packets.frame[row], [])
    told = facts.packet_facts(walker, row)
    situation = select(told)
    seq_rel = relative(packets.seq[row], walker.base[direction])
    has_ack = bool(packets.flags[row] & TcpFlags.ACK)
    ack_rel = relative(packets.ack[row], walker.base[facts.other(direction)]) if has_ack else None
    reuse = facts.reuse(walker, row, situation)
    said = _sentences(walker, row, told, situation, seq_rel, ack_rel, reuse)
    if found:
        names = (text(walker.lang, f"anomaly.{a.slug}.title") for a in found)
        titles = text(walker.lang, "ui.list_sep").join(names)  # a list of names: 、 in Chinese
        said.append(text(walker.lang, "narr.flagged", titles=titles))
        for ending in (a for a in found if _ends_at(a, packets.frame[row])):
            said += finding_texts(walker.lang, ending.slug, ending.params)  # what, and why
    said.append(_states_clause(walker.lang, told))
    joined = sentences(walker.lang, said)
    return NarrativeLine(
        frame=packets.frame[row],
        last_frame=packets.frame[row],
        time=packets.time[row] - walker.t0,
        direction=direction,
        flags=TcpFlags(packets.flags[row]),
        role=told.role,
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
    walker: Walk,
    row: int,
    f: PacketFacts,
    situation: Situation,
    seq_rel: int | None,
    ack_rel: int | None,
    reuse: facts.Reuse | None,
) -> list[str]:
    """What the packet says and did, in computed values only, then what rode along with it."""
    lang = walker.lang
    params = facts.sentence_params(walker, row, f, seq_rel, ack_rel)
    sentences = []
    if f.illegal:
        sentences.append(text(lang, "narr.illegal", **params))
    sentences.append(text(lang, f"narr.{situation.value}", **params))
    told_data = {Situation.SYN_DATA, Situation.SYN_TFO, Situation.DATA, Situation.HS_ACK_DATA}
    told_data |= {Situation.DATA_HALF_CLOSE, Situation.FINACK_FIRST_DATA}
    told_data |= {Situation.DATA_AFTER_CLOSE, Situation.FINACK_FIRST_DATA_REFUSED}
    told_data |= set(RESENT_SITUATIONS.values())
    if f.length and situation not in told_data:
        sentences.append(text(lang, "narr.carries_data", **params))
    if f.ecn is not EcnSetup.NONE:
        sentences.append(text(lang, f"narr.ecn_{f.ecn.value}", **params))
    if f.ecn_signal is not EcnSignal.NONE:
        sentences.append(text(lang, f"narr.ecn_{f.ecn_signal.value}", **params))
    if f.flags & TcpFlags.URG and not f.illegal:
        sentences.append(text(lang, "narr.urgent", **params))
    if reuse is not None:
        sentences.extend(text(lang, f"narr.{key}", **params, **reuse.params) for key in reuse.keys)
    if f.resent_because is not None and params["rtts"] != "-":
        sentences.append(text(lang, "narr.resent_rtt", **params))
    return sentences


def _states_clause(lang: Lang, f: PacketFacts) -> str:
    """ "States: client SYN_SENT → ESTABLISHED; server stays SYN_RECEIVED." in lang."""
    if f.self_connect:  # one socket: the sender's move is the receiver's
        return text(lang, "narr.states_self", moves=_move_text(lang, "", f.sender).strip())
    by_side = (
        (f.sender, f.receiver) if f.direction is Direction.TO_SERVER else (f.receiver, f.sender)
    )
    parts = {
        side: _move_text(lang, text(lang, f"side.{side}"), move)
        for side, move in zip(("client", "server"), by_side, strict=True)
    }
    return text(lang, "narr.states", **parts)


def _move_text(lang: Lang, label: str, move: Move) -> str:
    """ "client SYN_SENT → ESTABLISHED", "server stays SYN_RECEIVED" (label "" for no name)."""
    before, after = state_name(lang, move.before), state_name(lang, move.after)
    if not move.changed:
        return text(lang, "narr.side_same", side=label, state=after)
    if move.passed is not None:
        passed = state_name(lang, move.passed)
        return text(lang, "narr.side_passed", side=label, before=before, passed=passed, after=after)
    return text(lang, "narr.side_change", side=label, before=before, after=after)


# ----------------------------------------------------------------------------------- summaries


def _add_to_run(walker: Walk, run: _Run | None, row: int) -> _Run:
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
    if packets.analysis[row] & RETRANSMITTED:
        run.retrans += 1
    if walker.by_frame:
        for anomaly in walker.by_frame.get(packets.frame[row], ()):
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
        ("zero_window_probe", run.probes),
        ("other", run.others),
        ("retrans", run.retrans),
    )
    parts.extend(_count(lang, key, n) for key, n in counted if n)
    return join(lang, parts)


def _summary_line(walker: Walk, run: _Run) -> NarrativeLine:
    packets, st = walker.packets, walker.states
    first, last = run.first, run.last
    return NarrativeLine(
        frame=packets.frame[first],
        last_frame=packets.frame[last],
        time=packets.time[first] - walker.t0,
        direction=None,
        flags=None,
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
    if line.flags is not None:
        parts.append(flags_label(line.flags, lang))
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
            packets=plural(lang, "ui.connection_packets", len(conn.packet_index)),
            duration=f"{conn.duration:.3f}",
        )
    ]
    if conn.closed_first is Closer.BOTH:
        parts.append(text(lang, "ui.closed_together"))  # not "both closed first"
    elif conn.closed_first is Closer.UNKNOWN:
        parts.append(text(lang, "ui.closed_first_unknown"))
    elif conn.closed_first is not Closer.NONE:
        parts.append(text(lang, "ui.closed_first", who=text(lang, f"closer.{conn.closed_first}")))
    if conn.time_wait is Closer.UNKNOWN:
        parts.append(text(lang, "ui.time_wait_unknown"))
    elif conn.time_wait is not Closer.NONE:
        parts.append(text(lang, "ui.time_wait", who=text(lang, f"closer.{conn.time_wait}")))
    if conn.handshake is Handshake.NOT_CAPTURED:
        parts.append(text(lang, "ui.midstream"))
    if conn.self_connect:
        parts.append(text(lang, "ui.self_connect"))
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
    if conn.self_connect:  # one socket: its two columns hold the same states
        path = state_path(states, conn, True)
        names = text(lang, "ui.path_sep").join(state_name(lang, s) for s in path)
        return (text(lang, "ui.paths_self", path=names),)
    parts = {}
    for side in ("client", "server"):
        path = state_path(states, conn, side == "client")
        names = text(lang, "ui.path_sep").join(state_name(lang, s) for s in path)
        parts[side] = names
    return (text(lang, "ui.paths", **parts),)


def inference_notes(conn: Connection, lang: Lang) -> tuple[str, ...]:
    """What the verdicts rest on beyond the packets (the contract's `inferred`), one note each."""
    return tuple(text(lang, f"ui.inferred.{i.value}") for i in conn.inferred)


def icmp_notes(conn: Connection, lang: Lang) -> tuple[str, ...]:
    """One note per ICMP error about the connection's segments: what, from whom, about what."""
    return tuple(
        text(
            lang,
            "ui.icmp",
            frame=e.frame,
            seconds=f"{e.time - conn.first_time:.3f}",
            kind=text(lang, f"ui.icmp_kind.{icmp.kind_of(e).value}"),
            type=e.type,
            code=e.code,
            reporter=e.reporter,
            source=text(lang, f"ui.icmp_source.{icmp.source(e)}"),
            sender=text(lang, f"who.{'client' if icmp.about_client(e, conn) else 'server'}"),
            seq=e.seq,
        )
        for e in conn.icmp
    )


def copies_note(result: CaptureAnalysis, conn: Connection, lang: Lang) -> tuple[str, ...]:
    """The frames left out as second copies of the connection's packets: a frame range told
    ("frames 7–13") may span them, while every count leaves them out."""
    if not result.capture.copies:
        return ()
    frame = result.packets.frame
    kept = {frame[row] for row in conn.packet_index}
    left_out = [copy for copy, original in result.capture.copies if original in kept]
    if not left_out:
        return ()
    listed = [str(f) for f in left_out[:COPIES_LISTED]]
    if len(left_out) > COPIES_LISTED:
        listed.append("…")
    return (
        plural(lang, "ui.copies", len(left_out), frames=text(lang, "ui.list_sep").join(listed)),
    )


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
