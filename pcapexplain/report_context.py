"""Report preparation (pure): everything the HTML page shows, formatted in advance.

`build_context` turns one analysis into a ReportContext of plain strings, numbers and the ladder
geometry; the template only loops over it. Which connections get a full section is decided here,
to keep a 20,000-connection report small enough for a browser.
"""

from __future__ import annotations

import bisect
import dataclasses
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from pcapexplain import ladder, narrate
from pcapexplain.anomalies import CATALOGUE, MAX_FRAMES
from pcapexplain.explanations import (
    CONCEPTS,
    finding_texts,
    has,
    in_lang,
    peer,
    plural,
    reader_name,
    sentences,
    shows_codes,
    text,
    ui_texts,
)
from pcapexplain.facts import state_name
from pcapexplain.model import (
    Anomaly,
    CaptureAnalysis,
    CaptureInfo,
    Closer,
    Connection,
    Handshake,
    Lang,
    PacketColumns,
    PacketRole,
    Severity,
    TcpFlags,
    TcpOptions,
    Teardown,
    ZeekVerdict,
)

FULL_FIRST = 50  # the first connections always get a full section
# …and at most this many in all, warn/error ones first. On the 20,000-connection benchmark (5,059
# with a warning) drawing every warned connection made a 107 MB page; 300 sections make 13 MB.
FULL_LIMIT = 300
FINDING_FRAMES = 50  # frame links listed per anomaly; the rest are counted
_CONTROL = TcpFlags.SYN | TcpFlags.FIN | TcpFlags.RST
# Packets the list always explains one by one (narrate.KEY_ROLES minus the catch-all OTHER): the
# structure tests count an explanation element for each of them.
EXPLAINED_ROLES = frozenset(
    {
        PacketRole.SYN,
        PacketRole.SYN_ACK,
        PacketRole.HANDSHAKE_ACK,
        PacketRole.FIN,
        PacketRole.FIN_ACK,
        PacketRole.RST,
        PacketRole.SYN_RETRANSMISSION,
    }
)


@dataclass(frozen=True, slots=True)
class Count:
    key: str  # filter key, e.g. "handshake:refused"
    label: str
    count: int


@dataclass(frozen=True, slots=True)
class Badge:
    slug: str
    severity: str
    title: str
    text: str  # what the badge shows: the slug where the language shows codes, else the title


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the connection table."""

    id: int
    client: str
    server: str
    inferred: bool  # a verdict rests on inference (see inferred_note)
    inferred_note: str
    handshake: str
    handshake_label: str
    handshake_short: str  # the table cell
    teardown: str
    teardown_label: str
    teardown_short: str
    closed_first: str
    time_wait: str
    duration: float
    duration_text: str
    bytes_to_server: int
    bytes_to_client: int
    packets: int
    badges: tuple[Badge, ...]
    worst: int  # severity rank of the worst anomaly, -1 for none
    detailed: bool


@dataclass(frozen=True, slots=True)
class Line:
    """One explained packet (or a summarised run) of the annotated packet list."""

    frames: str
    anchor: str  # id of the line, for links from anomalies
    first_frame: int | None
    last_frame: int | None
    time: str
    direction: str
    flags: str
    seq: str
    ack: str
    length: int
    states: str
    text: str
    concepts: tuple[tuple[str, str], ...]  # (concept key, title)
    anomalous: bool
    is_summary: bool
    key_packet: bool  # SYN, FIN or RST: always explained


@dataclass(frozen=True, slots=True)
class Finding:
    slug: str
    severity: str
    severity_label: str
    title: str
    explanation: str
    why: str
    frames: tuple[tuple[int, str], ...]  # (frame, anchor of the line that shows it)
    more_frames: str  # "and 12 more" when the frame list was cut, else ""
    wireshark: str  # what Wireshark shows for the same thing ("" for nothing)
    zeek: str  # what Zeek logs for it ("" for nothing)


@dataclass(frozen=True, slots=True)
class Section:
    id: int
    heading: str
    notes: tuple[str, ...]  # each side's states on the way, what the verdicts infer
    client: str
    server: str
    inferred: bool
    facts: tuple[tuple[str, str], ...]
    options: tuple[tuple[str, str, str], ...]  # (option, client's, server's)
    ladder: ladder.Ladder
    lines: tuple[Line, ...]
    findings: tuple[Finding, ...]
    concepts: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Concept:
    key: str
    title: str
    body: str


@dataclass(frozen=True, slots=True)
class ReportContext:
    lang: str
    codes: bool  # show pcapexplain's codes (outcome values, slugs) beside their labels
    ui: dict[str, str]
    capture_name: str
    facts: tuple[tuple[str, str], ...]
    handshakes: tuple[Count, ...]
    teardowns: tuple[Count, ...]
    severities: tuple[Count, ...]
    anomaly_slugs: tuple[Count, ...]
    rows: tuple[Row, ...]
    sections: tuple[Section, ...]
    left_out: int
    left_out_note: str
    concepts: tuple[Concept, ...]
    generated_at: str
    version: str


def build_context(
    result: CaptureAnalysis,
    *,
    lang: Lang,
    selected: Sequence[int] | None,
    generated_at: str,
    version: str,
) -> ReportContext:
    """Prepare the whole page. selected: connection ids that must get a full section."""
    language = Lang(lang)  # a plain "en" works too; anything else is a ValueError, never English
    detailed = choose_detailed(result, selected)
    rows = tuple(
        _row(language, c, result.anomalies_of(c.id), c.id in detailed) for c in result.connections
    )
    before = narrate.predecessors(result.connections)
    sections = tuple(
        _section(language, result, c, before.get(c.id))
        for c in result.connections
        if c.id in detailed
    )
    left_out = len(result.connections) - len(sections)
    severe_left_out = sum(1 for r in rows if not r.detailed and r.worst >= Severity.WARN.rank)
    return ReportContext(
        lang=language,
        codes=shows_codes(language),
        ui=_ui(language),
        capture_name=os.path.basename(result.capture.path),
        facts=_capture_facts(language, result, generated_at, version),
        handshakes=_counts(language, "handshake", [c.handshake for c in result.connections]),
        teardowns=_counts(language, "teardown", [c.teardown for c in result.connections]),
        severities=_severity_counts(language, result.anomalies),
        anomaly_slugs=_slug_counts(language, result.anomalies),
        rows=rows,
        sections=sections,
        left_out=left_out,
        left_out_note=_left_out_note(language, left_out, severe_left_out),
        concepts=tuple(
            Concept(k, text(language, f"concept.{k}.title"), text(language, f"concept.{k}.body"))
            for k in CONCEPTS
        ),
        generated_at=generated_at,
        version=version,
    )


def choose_detailed(result: CaptureAnalysis, selected: Sequence[int] | None) -> set[int]:
    """Ids drawn in full: the selected ones, the first FULL_FIRST, then the most severe."""
    connections = result.connections
    chosen = set(selected or ())
    chosen.update(c.id for c in connections[:FULL_FIRST])
    worst = {c.id: _worst(result.anomalies_of(c.id)) for c in connections}
    severe = sorted(
        (c for c in connections if worst[c.id] >= Severity.WARN.rank),
        key=lambda c: (-worst[c.id], c.id),
    )
    for conn in severe:
        if len(chosen) >= max(FULL_LIMIT, len(selected or ())):
            break
        chosen.add(conn.id)
    return chosen


def _left_out_note(lang: Lang, left_out: int, severe: int) -> str:
    """What the page leaves out and how to get it; warned connections are named on their own."""
    if not left_out:
        return ""
    note = text(lang, "report.left_out", count=f"{left_out:,}")
    if severe:
        severe_note = text(lang, "report.left_out_severe", count=f"{severe:,}", limit=FULL_LIMIT)
        note = sentences(lang, (note, severe_note))
    return note


def _worst(anomalies: Sequence[Anomaly]) -> int:
    return max((a.severity.rank for a in anomalies), default=-1)


def _ui(lang: Lang) -> dict[str, str]:
    return ui_texts(lang, "report.")


def _capture_facts(
    lang: Lang, result: CaptureAnalysis, generated_at: str, version: str
) -> tuple[tuple[str, str], ...]:
    info, packets = result.capture, result.packets
    span = f"{packets.time[-1] - packets.time[0]:.3f}" if len(packets) else "0"
    facts = [
        (text(lang, "report.fact.size"), f"{narrate.human_bytes(info.size_bytes, lang)}"),
        (text(lang, "report.fact.sha256"), info.sha256),
        (text(lang, "report.fact.packets"), _packets_fact(lang, info, len(packets))),
        (text(lang, "report.fact.span"), text(lang, "report.seconds", seconds=span)),
        (text(lang, "report.fact.connections"), f"{len(result.connections):,}"),
        (text(lang, "report.fact.reader"), reader_name(lang, info.reader, info.read_by)),
        (text(lang, "report.fact.version"), version),
        (text(lang, "report.fact.generated"), generated_at),
    ]
    facts += [(text(lang, "report.fact.warning"), in_lang(w, lang)) for w in info.warnings]
    return tuple(facts)


def _packets_fact(lang: Lang, info: CaptureInfo, tcp: int) -> str:
    """Frames / TCP packets analysed; copies left out are named, not counted as TCP packets."""
    shown = f"{info.total_frames:,} / {tcp:,} TCP"
    if info.copies:
        shown = text(
            lang, "report.fact.copies_left_out", shown=shown, count=f"{len(info.copies):,}"
        )
    return shown


def _counts(lang: Lang, kind: str, values: Sequence[Handshake | Teardown]) -> tuple[Count, ...]:
    counted = Counter(v.value for v in values)
    order = Handshake if kind == "handshake" else Teardown
    return tuple(
        Count(f"{kind}:{m.value}", text(lang, f"{kind}.{m.value}"), counted[m.value])
        for m in order
        if counted[m.value]
    )


def _severity_counts(lang: Lang, anomalies: Sequence[Anomaly]) -> tuple[Count, ...]:
    counted = Counter(a.severity.value for a in anomalies)
    return tuple(
        Count(f"severity:{s.value}", text(lang, f"severity.{s.value}"), counted[s.value])
        for s in reversed(Severity)
        if counted[s.value]
    )


def _slug_counts(lang: Lang, anomalies: Sequence[Anomaly]) -> tuple[Count, ...]:
    counted = Counter(a.slug for a in anomalies)
    return tuple(
        Count(f"anomaly:{slug}", _title(lang, slug), n) for slug, n in sorted(counted.items())
    )


def _title(lang: Lang, slug: str) -> str:
    key = f"anomaly.{slug}.title"
    return text(lang, key) if has(lang, key) else slug


def _row(lang: Lang, conn: Connection, anomalies: Sequence[Anomaly], detailed: bool) -> Row:
    badges = tuple(
        Badge(a.slug, a.severity.value, title, a.slug if shows_codes(lang) else title)
        for a in _unique_by_slug(anomalies)
        for title in [_title(lang, a.slug)]
    )
    return Row(
        id=conn.id,
        client=str(conn.client),
        server=str(conn.server),
        inferred=bool(conn.inferred),
        inferred_note=sentences(lang, narrate.inference_notes(conn, lang)),
        handshake=conn.handshake.value,
        handshake_label=text(lang, f"handshake.{conn.handshake.value}"),
        handshake_short=text(lang, f"short.handshake.{conn.handshake.value}"),
        teardown=conn.teardown.value,
        teardown_label=text(lang, f"teardown.{conn.teardown.value}"),
        teardown_short=text(lang, f"short.teardown.{conn.teardown.value}"),
        closed_first=text(lang, f"report.who.{conn.closed_first.value}"),
        time_wait=text(lang, f"report.who.{conn.time_wait.value}"),
        duration=round(conn.duration, 6),
        duration_text=f"{conn.duration:.3f}",
        bytes_to_server=conn.to_server.payload_bytes,
        bytes_to_client=conn.to_client.payload_bytes,
        packets=conn.to_server.packets + conn.to_client.packets,
        badges=badges,
        worst=_worst(anomalies),
        detailed=detailed,
    )


def _unique_by_slug(anomalies: Sequence[Anomaly]) -> list[Anomaly]:
    seen: dict[str, Anomaly] = {}
    for a in anomalies:
        if a.slug not in seen or a.severity.rank > seen[a.slug].severity.rank:
            seen[a.slug] = a
    return sorted(seen.values(), key=lambda a: (-a.severity.rank, a.slug))


def _section(
    lang: Lang, result: CaptureAnalysis, conn: Connection, previous: Connection | None
) -> Section:
    found = result.anomalies_of(conn.id)
    # Warnings and errors mark their packets; info and notes (a simultaneous open) do not.
    severe = [a for a in found if a.severity.rank >= Severity.WARN.rank]
    warned = frozenset(f for a in severe for f in a.frames)
    drawn = ladder.build(
        result.packets,
        result.states,
        conn,
        warned,
        lang,
    )
    drawn = dataclasses.replace(drawn, parts=tuple(_labelled(lang, p) for p in drawn.parts))
    warned_slugs = frozenset(a.slug for a in severe)
    told = narrate.story(result, conn, lang, previous)
    lines = tuple(
        _line(lang, result.packets, line, warned, warned_slugs, f"c{conn.id}-f{line.frame}")
        for line in told.lines
    )
    anchors = _anchors(lines, conn.id)
    used = sorted({key for line in lines for key, _ in line.concepts}, key=CONCEPTS.index)
    return Section(
        id=conn.id,
        heading=told.header,
        notes=told.notes,
        client=str(conn.client),
        server=str(conn.server),
        inferred=conn.roles_inferred,
        facts=_connection_facts(lang, conn, result.zeek[conn.id]),
        options=_options(lang, conn.client_options, conn.server_options),
        ladder=drawn,
        lines=lines,
        findings=tuple(_finding(lang, a, anchors) for a in found),
        concepts=tuple((k, text(lang, f"concept.{k}.title")) for k in used),
    )


def _labelled(lang: Lang, part: ladder.Segment | ladder.Band) -> ladder.Segment | ladder.Band:
    """A band's summary, as the issue words it: "1,234 segments, 1.2 MB, 3 retransmissions"."""
    if isinstance(part, ladder.Segment):
        return part
    label = text(
        lang,
        "report.band",
        frames=text(lang, "ui.frames", first=part.first_frame, last=part.last_frame),
        count=f"{part.packets:,}",
        size=narrate.human_bytes(part.payload, lang),
    )
    if part.retransmissions:
        label += text(lang, "narr.sum.sep") + plural(lang, "narr.sum.retrans", part.retransmissions)
    return dataclasses.replace(part, label=label)


def _connection_facts(
    lang: Lang, conn: Connection, zeek: ZeekVerdict
) -> tuple[tuple[str, str], ...]:
    def ms(value: float | None) -> str:
        return "–" if value is None else text(lang, "report.ms", ms=f"{value * 1000:.3f}")

    isn = "–" if conn.client_isn is None else str(conn.client_isn)
    peer_isn = "–" if conn.server_isn is None else str(conn.server_isn)
    return (
        (text(lang, "report.col.handshake"), text(lang, f"handshake.{conn.handshake.value}")),
        (text(lang, "report.col.teardown"), text(lang, f"teardown.{conn.teardown.value}")),
        (text(lang, "report.col.closed_first"), _closed_first(lang, conn.closed_first)),
        (text(lang, "report.col.time_wait"), text(lang, f"closer.{conn.time_wait.value}")),
        (text(lang, "report.fact.isn"), f"{isn} / {peer_isn}"),
        (text(lang, "report.fact.rtt_syn"), ms(conn.rtt_syn_synack)),
        (text(lang, "report.fact.rtt_ack"), ms(conn.rtt_synack_ack)),
        (text(lang, "report.fact.zeek"), f"{zeek.state} {zeek.history}"),
        (
            text(lang, "report.fact.traffic"),
            text(
                lang,
                "report.traffic",
                up=conn.to_server.packets,
                up_bytes=narrate.human_bytes(conn.to_server.payload_bytes, lang),
                down=conn.to_client.packets,
                down_bytes=narrate.human_bytes(conn.to_client.payload_bytes, lang),
            ),
        ),
    )


def _closed_first(lang: Lang, closer: Closer) -> str:
    if closer is Closer.BOTH:
        return text(lang, "ui.closed_together")
    return text(lang, f"closer.{closer.value}")


def _options(
    lang: Lang, client: TcpOptions, server: TcpOptions
) -> tuple[tuple[str, str, str], ...]:
    def show(options: TcpOptions, name: str) -> str:
        value = getattr(options, name)
        if value is None or value is False:
            if options.options_cut:  # not seen, because not captured: unknown, not absent
                return text(lang, "report.option_cut")
            return "–" if value is None else text(lang, "report.no")
        if isinstance(value, bool):
            return text(lang, "report.yes")
        return str(value)

    names = ("mss", "wscale", "sack_permitted", "timestamps", "tfo")
    return tuple(
        (text(lang, f"report.option.{n}"), show(client, n), show(server, n)) for n in names
    )


def _anchors(lines: Sequence[Line], connection_id: int) -> dict[int, str]:
    """Frame → id of the line that shows it (a summary line stands for all of its frames)."""
    anchors: dict[int, str] = {}
    for line in lines:
        if line.first_frame is None:
            continue
        last = line.last_frame if line.last_frame is not None else line.first_frame
        for frame in range(line.first_frame, last + 1):
            anchors.setdefault(frame, line.anchor)
    return anchors


def _line(
    lang: Lang,
    packets: PacketColumns,
    line: narrate.NarrativeLine,
    warned_frames: frozenset[int],
    warned_slugs: frozenset[str],
    anchor: str,
) -> Line:
    """One row of the packet list; it is marked when a warning or an error concerns it."""
    frames = (
        text(lang, "ui.frames", first=line.frame, last=line.last_frame)
        if line.is_summary and line.frame != line.last_frame
        else text(lang, "ui.frame", frame=line.frame)
    )
    direction = "" if line.direction is None else text(lang, f"dir.{line.direction.name.lower()}")
    states = "" if line.is_summary else _states(lang, line)
    # Frame numbers rise through the capture: the packet's row is found by bisection.
    row = (
        None
        if line.is_summary or line.frame is None
        else bisect.bisect_left(packets.frame, line.frame)
    )
    bits = 0 if row is None else packets.flags[row]
    return Line(
        frames=frames,
        anchor=anchor,
        first_frame=line.frame,
        last_frame=line.last_frame,
        time=text(lang, "ui.time", seconds=f"{line.time:.3f}"),
        direction=direction,
        flags="" if row is None else narrate.flags_label(bits, lang),
        seq=_numbers(lang, line.seq_raw, line.seq_rel),
        ack=_numbers(lang, line.ack_raw, line.ack_rel),
        length=line.length,
        states=states,
        text=line.text,
        concepts=tuple((k, text(lang, f"concept.{k}.title")) for k in line.concepts),
        anomalous=line.frame in warned_frames or not warned_slugs.isdisjoint(line.anomalies),
        is_summary=line.is_summary,
        key_packet=_is_key(line, bits),
    )


def _is_key(line: narrate.NarrativeLine, flags: int) -> bool:
    """SYN, SYN-ACK, handshake ACK, FIN, ACK of a FIN and RST: each gets its own explanation."""
    if line.is_summary:
        return False
    return bool(flags & _CONTROL) or line.role in EXPLAINED_ROLES


def _numbers(lang: Lang, raw: int | None, rel: int | None) -> str:
    if raw is None:
        return ""
    return text(lang, "report.raw_rel", raw=raw, rel=rel) if rel is not None else str(raw)


def _states(lang: Lang, line: narrate.NarrativeLine) -> str:
    return text(
        lang,
        "report.states_line",
        client_before=state_name(lang, line.client_before),
        client_after=state_name(lang, line.client_after),
        server_before=state_name(lang, line.server_before),
        server_after=state_name(lang, line.server_after),
    )


def _finding(lang: Lang, anomaly: Anomaly, anchors: dict[int, str]) -> Finding:
    explain, why = finding_texts(lang, anomaly.slug, anomaly.params)
    return Finding(
        slug=anomaly.slug,
        severity=anomaly.severity.value,
        severity_label=text(lang, f"severity.{anomaly.severity.value}"),
        title=_title(lang, anomaly.slug),
        explanation=explain,
        why=why,
        frames=tuple((f, anchors.get(f, "")) for f in anomaly.frames[:FINDING_FRAMES]),
        more_frames=_more_frames(lang, anomaly),
        wireshark=_peer(lang, anomaly.slug, "wireshark", CATALOGUE[anomaly.slug].wireshark_peer),
        zeek=_peer(lang, anomaly.slug, "zeek", CATALOGUE[anomaly.slug].zeek_peer),
    )


def _peer(lang: Lang, slug: str, tool: str, original: str) -> str:
    return "" if original == "-" else peer(lang, slug, tool, original)


def _more_frames(lang: Lang, anomaly: Anomaly) -> str:
    """How many frames the list leaves out ("1,000+" when the detector itself kept no more)."""
    hidden = len(anomaly.frames) - FINDING_FRAMES
    if hidden <= 0:
        return ""
    capped = len(anomaly.frames) >= MAX_FRAMES
    return text(lang, "report.more_frames", count=f"{hidden:,}{'+' if capped else ''}")
