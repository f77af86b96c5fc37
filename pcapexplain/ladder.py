"""Ladder-diagram geometry (pure): where each arrow, label, state name and bracket goes.

Every label is a computed value: flags and relative numbers of the packet, and the states the
replay gave both endpoints. The sender's new state is written where its arrow leaves, the
receiver's where it arrives. Two segments that each left before the other arrived, as the replay
found (simultaneous open, crossing FINs), are drawn as crossing arrows.
A side that ends in TIME_WAIT gets a bracket labelled 2MSL, then the CLOSED its timer leads to.

The template turns these shapes into inline SVG; all text stays plain data here so that Jinja's
autoescaping is the only way capture-derived strings reach the page. A long run of ordinary
segments becomes a Band: the page draws it as one collapsed bar that opens to show its packets.
"""

from __future__ import annotations

import dataclasses
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from pcapexplain.explanations import text
from pcapexplain.facts import state_name
from pcapexplain.model import (
    Connection,
    Direction,
    Lang,
    PacketColumns,
    PacketRole,
    PacketStates,
    TcpFlags,
    TcpState,
)
from pcapexplain.narrate import KEY_ROLES, flags_label
from pcapexplain.outcomes import resent
from pcapexplain.seqspace import seq_diff

WIDTH = 800
CLIENT_X, SERVER_X = 220, 620
TITLE_Y, ADDRESS_Y = 14, 27  # baselines of the endpoint's role and of its address
INITIAL_Y = 42  # baseline of the state each lifeline starts in
LIFELINE_TOP = 33
TOP = 58  # the first arrow starts here, below the starting states
ROW = 36  # vertical space per arrow
ARROW_DROP = 22  # how far an arrow falls while crossing: time passes in flight
CROSS_LAG = 18  # the second of two crossing segments leaves this much after the first
CROSS_DROP = 58  # both crossing arrows arrive this far below the first one's start
BRACKET_MIN = 40  # the 2MSL bracket's least height (it stands for 60 s to 4 min, not to scale)
BRACKET_GAP = 14  # the bracket's distance from its lifeline
MIN_BAND = 8  # runs of at least this many ordinary segments collapse into a band
BAND_DETAIL_LIMIT = 200  # packets drawn inside an opened band, at most

# Text metrics of the ladder's 11 px monospace font (DejaVu Sans Mono, Menlo and Consolas advance
# 0.60-0.62 em); the browser test checks the real boxes against these.
CHAR_WIDTH = 6.8
WIDE_WIDTH = 11.5  # a Chinese character (or full-width sign) is 1 em
ASCENT, DESCENT = 9, 3
LABEL_GAP = 2  # between a label's box and its own arrow
LABEL_MARGIN = 12  # between a label and the lifelines

_KINDS = {
    PacketRole.SYN: "open",
    PacketRole.SYN_ACK: "open",
    PacketRole.HANDSHAKE_ACK: "open",
    PacketRole.SYN_RETRANSMISSION: "open",
    PacketRole.FIN: "close",
    PacketRole.FIN_ACK: "close",
    PacketRole.RST: "reset",
}


@dataclass(frozen=True, slots=True)
class Box:
    """An axis-aligned rectangle: left, top, width, height."""

    x: float
    y: float
    width: float
    height: float

    def overlaps(self, other: Box) -> bool:
        return not (
            self.x + self.width <= other.x
            or other.x + other.width <= self.x
            or self.y + self.height <= other.y
            or other.y + other.height <= self.y
        )


@dataclass(frozen=True, slots=True)
class Arrow:
    frame: int
    x1: int
    y1: int
    x2: int
    y2: int
    label: str  # flags, relative seq/ack, length
    label_x: int  # centre of the label
    label_y: int  # its baseline
    label_width: float  # in the ladder's font, as text_width measures it
    time: str  # "+0.012 s"
    kind: str  # open, close, reset or data: the colour
    resent: bool  # sent again: dashed
    flagged: bool  # a warning or error concerns it: red label
    crossing: bool  # in flight together with its neighbour: the two arrows cross

    @property
    def label_box(self) -> Box:
        width = self.label_width
        return Box(self.label_x - width / 2, self.label_y - ASCENT, width, ASCENT + DESCENT)

    @property
    def head(self) -> tuple[int, int]:
        """Where the arrowhead's two back corners are (the tip is x2, y2)."""
        return (self.x2 + (-9 if self.x2 > self.x1 else 9), self.y2)


@dataclass(frozen=True, slots=True)
class StateMark:
    x: int
    y: int  # baseline
    anchor: str  # "end" left of the client line, "start" right of the server line
    state: str
    kind: str = "change"  # "initial" (before the first packet), "change", or "timer" (after 2MSL)
    passed: str = ""  # a state passed through on the way, within the same segment

    @property
    def initial(self) -> bool:
        return self.kind == "initial"


@dataclass(frozen=True, slots=True)
class Bracket:
    """TIME_WAIT's 2MSL wait on one lifeline: a bracket beside it, then the CLOSED it ends in."""

    x: int  # the bracket's vertical stroke
    tick: int  # its ticks reach from x to here, towards the lifeline
    y1: int
    y2: int
    label_x: int
    label_y: int
    anchor: str


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of drawn packets: one SVG with both lifelines."""

    height: int
    arrows: tuple[Arrow, ...]
    states: tuple[StateMark, ...]
    brackets: tuple[Bracket, ...] = ()


@dataclass(frozen=True, slots=True)
class Band:
    """A collapsed run of ordinary segments; detail is drawn when opened (up to a limit)."""

    first_frame: int
    last_frame: int
    packets: int
    payload: int
    retransmissions: int
    detail: Segment
    hidden: int  # packets of the run not drawn even when opened
    label: str = ""  # the summary line, filled in per language by report_context


@dataclass(frozen=True, slots=True)
class Ladder:
    parts: tuple[Segment | Band, ...]
    client_address: str  # capture-derived: reaches the SVG only through autoescaping
    server_address: str
    legend: tuple[str, ...] = ()  # which styles the drawing uses, in the legend's order
    client_x: int = CLIENT_X
    server_x: int = SERVER_X
    width: int = WIDTH
    title_y: int = TITLE_Y
    address_y: int = ADDRESS_Y
    lifeline_top: int = LIFELINE_TOP


LEGEND_ORDER = (
    "open",
    "data",
    "close",
    "reset",
    "resent",
    "flagged",
    "crossing",
    "state",
    "initial",
    "time_wait",
)


def build(
    packets: PacketColumns,
    states: PacketStates,
    conn: Connection,
    flagged_frames: frozenset[int],
    lang: Lang = Lang.EN,
) -> Ladder:
    """The ladder of one connection: key and flagged packets in full, long plain runs banded.

    flagged_frames: frames a warning or error concerns; lang: the language of the labels.
    """
    crossing = crossings(states, conn.packet_index)
    bases = _bases(packets, states, conn)
    draw = _Drawer(packets, states, conn, flagged_frames, lang, crossing, bases)
    parts: list[Segment | Band] = []
    pending: list[int] = []
    run: list[int] = []
    for row in conn.packet_index:
        if _plain(packets, states, row, flagged_frames, crossing):
            run.append(row)
            continue
        _flush_run(run, pending, parts, draw)
        run = []
        pending.append(row)
    _flush_run(run, pending, parts, draw)
    if pending:
        parts.append(draw.segment(pending, last=True))
    elif parts and isinstance(parts[-1], Segment):
        parts[-1] = draw.with_bracket(parts[-1])
    return Ladder(tuple(parts), str(conn.client), str(conn.server), _legend(parts))


def crossings(states: PacketStates, rows: Sequence[int]) -> dict[int, int]:
    """Later row -> earlier row, for consecutive drawn segments that the replay found crossed.

    The replay decides from the ack fields (a FIN or SYN that does not acknowledge the peer's,
    RFC 9293 Fig. 6 and 7) and from what was sent instead (a SYN-ACK where an ACK would answer
    the peer's SYN-ACK). Crossings between segments that are not neighbours are drawn plain.
    """
    return {
        later: earlier
        for earlier, later in zip(rows, rows[1:], strict=False)
        if states.crossed.get(later) == earlier
    }


def _plain(
    packets: PacketColumns,
    states: PacketStates,
    row: int,
    flagged: frozenset[int],
    crossing: Mapping[int, int],
) -> bool:
    return (
        states.role[row] not in KEY_ROLES
        and packets.frame[row] not in flagged
        and row not in crossing
        and states.client_before[row] == states.client_after[row]
        and states.server_before[row] == states.server_after[row]
    )


def _flush_run(
    run: list[int], pending: list[int], parts: list[Segment | Band], draw: _Drawer
) -> None:
    if len(run) < MIN_BAND:
        pending.extend(run)
        return
    if pending:
        parts.append(draw.segment(list(pending)))
        pending.clear()
    p, s = draw.packets, draw.states
    shown = run[:BAND_DETAIL_LIMIT]
    parts.append(
        Band(
            first_frame=p.frame[run[0]],
            last_frame=p.frame[run[-1]],
            packets=len(run),
            payload=sum(p.length[r] for r in run),
            retransmissions=sum(1 for r in run if resent(p, s, r)),
            detail=draw.segment(shown),
            hidden=len(run) - len(shown),
        )
    )


def _legend(parts: Iterable[Segment | Band]) -> tuple[str, ...]:
    used: set[str] = set()
    for part in parts:
        segment = part.detail if isinstance(part, Band) else part
        for a in segment.arrows:
            used.add(a.kind)
            used.update(k for k, on in (("resent", a.resent), ("flagged", a.flagged)) if on)
            used.update(("crossing",) if a.crossing else ())
        used.update("state" if m.kind == "change" else m.kind for m in segment.states)
        used.update(("time_wait",) if segment.brackets else ())
    return tuple(k for k in LEGEND_ORDER if k in used)


@dataclass(frozen=True, slots=True)
class _Drawer:
    packets: PacketColumns
    states: PacketStates
    conn: Connection
    flagged: frozenset[int]
    lang: Lang
    crossing: Mapping[int, int]  # later row -> earlier row
    bases: tuple[int | None, int | None]  # relative numbers count from these (client, server)

    def segment(self, rows: Sequence[int], *, last: bool = False) -> Segment:
        """Lay out the rows top to bottom; a crossing pair shares one taller slot."""
        s = self.states
        arrows: list[Arrow] = []
        marks: list[StateMark] = []
        if rows and rows[0] == self.conn.packet_index[0]:
            marks.extend(_initial_marks(s, rows[0]))
        y, i = TOP, 0
        while i < len(rows):
            row = rows[i]
            pair = i + 1 < len(rows) and self.crossing.get(rows[i + 1]) == row
            if pair:
                later = rows[i + 1]
                first = self.arrow(row, y, y + CROSS_DROP, crossing=True)
                second = self.arrow(later, y + CROSS_LAG, y + CROSS_DROP, crossing=True)
                arrows += [first, second]
                marks += _marks(s, row, first, self.lang) + _marks(s, later, second, self.lang)
                y, i = y + CROSS_DROP + ROW - ARROW_DROP, i + 2
            else:
                arrow = self.arrow(row, y, y + ARROW_DROP, crossing=False)
                arrows.append(arrow)
                marks += _marks(s, row, arrow, self.lang)
                y, i = y + ROW, i + 1
        placed = _place_labels(arrows)
        height = y - ROW + ARROW_DROP + 12  # below the last arrowhead and its state
        segment = Segment(height=height, arrows=placed, states=tuple(marks))
        return self.with_bracket(segment) if last else segment

    def arrow(self, row: int, y1: int, y2: int, *, crossing: bool) -> Arrow:
        p, s = self.packets, self.states
        to_server = s.direction[row] == Direction.TO_SERVER
        x1, x2 = (CLIENT_X, SERVER_X) if to_server else (SERVER_X, CLIENT_X)
        frame = p.frame[row]
        label = _label(p, self.bases, row, to_server, self.lang)
        return Arrow(
            frame=frame,
            x1=x1,
            y1=y1,
            x2=x2,
            y2=y2,
            label=label,
            label_x=(x1 + x2) // 2,
            label_y=y1,
            label_width=text_width(label),
            time=text(self.lang, "ui.time", seconds=f"{p.time[row] - self.conn.first_time:.3f}"),
            kind=_KINDS.get(PacketRole(s.role[row]), "data"),
            resent=resent(p, s, row),
            flagged=frame in self.flagged,
            crossing=crossing,
        )

    def with_bracket(self, segment: Segment) -> Segment:
        """Add TIME_WAIT's 2MSL bracket and the CLOSED after it, for each side that ends there."""
        brackets, marks = list(segment.brackets), list(segment.states)
        bottom = segment.height
        for final, x, anchor, side in (
            (self.conn.client_final, CLIENT_X - 8, "end", -1),
            (self.conn.server_final, SERVER_X + 8, "start", 1),
        ):
            if final is not TcpState.TIME_WAIT:
                continue
            entered = [m.y for m in segment.states if m.x == x and m.state == final.name]
            top = (entered[-1] if entered else TOP) + DESCENT + 3
            y2 = max(segment.height, top + BRACKET_MIN)
            stroke = x + side * (BRACKET_GAP - 8)
            brackets.append(
                Bracket(
                    x=stroke,
                    tick=stroke - side * 5,
                    y1=top,
                    y2=y2,
                    label_x=stroke + side * 4,
                    label_y=(top + y2) // 2 + 4,
                    anchor=anchor,
                )
            )
            marks.append(StateMark(x, y2 + ASCENT + 5, anchor, TcpState.CLOSED.name, "timer"))
            bottom = max(bottom, y2 + ASCENT + 5 + DESCENT + 6)
        return Segment(bottom, segment.arrows, tuple(marks), tuple(brackets))


def _initial_marks(states: PacketStates, row: int) -> list[StateMark]:
    """Where each lifeline starts (CLOSED, LISTEN, ...): the first change then reads as a step."""
    marks = []
    if states.client_before[row] != TcpState.UNKNOWN:
        client = TcpState(states.client_before[row]).name
        marks.append(StateMark(CLIENT_X - 8, INITIAL_Y, "end", client, "initial"))
    if states.server_before[row] != TcpState.UNKNOWN:
        server = TcpState(states.server_before[row]).name
        marks.append(StateMark(SERVER_X + 8, INITIAL_Y, "start", server, "initial"))
    return marks


def _marks(states: PacketStates, row: int, arrow: Arrow, lang: Lang) -> list[StateMark]:
    """The sender's new state at the arrow's tail, the receiver's at its head (a RST's receiver
    may become unknown: facts.state_name names that in lang)."""
    marks = []
    for before, after, x, anchor in (
        (states.client_before, states.client_after, CLIENT_X - 8, "end"),
        (states.server_before, states.server_after, SERVER_X + 8, "start"),
    ):
        if before[row] == after[row]:
            continue
        at_tail = (x < CLIENT_X) == (arrow.x1 == CLIENT_X)
        y = (arrow.y1 if at_tail else arrow.y2) + 4  # centred on the arrow's end
        passed = states.passed_through(row, client=x < CLIENT_X)
        name = state_name(lang, TcpState(after[row]))
        marks.append(StateMark(x, y, anchor, name, passed=passed.name if passed else ""))
    return marks


_NEIGHBOURS = 3
_CENTRED = (0.5, 0.35, 0.25, 0.65, 0.75, 0.15, 0.85)
_NEAR_TAIL = (0.2, 0.25, 0.3, 0.15, 0.35, 0.1, 0.5)


def _place_labels(arrows: Sequence[Arrow]) -> tuple[Arrow, ...]:
    """Put each label just above its own arrow, where it crosses no other arrow or label.

    Candidates run from the middle of the arrow towards its tail, then its head; the baseline
    sits above the arrow's highest point under the label, so the arrow never runs through it.
    """
    lines = [(a.x1, a.y1, a.x2, a.y2) for a in arrows]
    placed: list[Arrow] = []
    for index, arrow in enumerate(arrows):
        # Arrows run top to bottom: only a few neighbours on each side can reach this label.
        near = range(max(index - _NEIGHBOURS, 0), min(index + _NEIGHBOURS + 1, len(arrows)))
        others = [lines[i] for i in near if i != index]
        boxes = [p.label_box for p in placed[-_NEIGHBOURS:]]
        # Crossing arrows meet in the middle: their labels go near their tails, apart.
        fractions = _NEAR_TAIL if arrow.crossing else _CENTRED
        options = (_label_at(arrow, f) for f in fractions)
        first = _label_at(arrow, fractions[0])
        x, y, _ = next(
            (
                o
                for o in options
                if not any(crosses(o[2], line) for line in others)
                and not any(o[2].overlaps(box) for box in boxes)
            ),
            first,
        )
        placed.append(dataclasses.replace(arrow, label_x=x, label_y=y))
    return tuple(placed)


def text_width(label: str) -> float:
    """The label's width in the ladder's font: Chinese characters are a full em wide."""
    wide = sum(1 for ch in label if unicodedata.east_asian_width(ch) in "WF")
    return (len(label) - wide) * CHAR_WIDTH + wide * WIDE_WIDTH


def _label_at(arrow: Arrow, fraction: float) -> tuple[int, int, Box]:
    """Centre, baseline and box of the label put at fraction of the way from tail to head."""
    width = arrow.label_width
    left_end, right_end = sorted((arrow.x1, arrow.x2))
    centre = arrow.x1 + (arrow.x2 - arrow.x1) * fraction
    half = width / 2
    centre = min(max(centre, left_end + LABEL_MARGIN + half), right_end - LABEL_MARGIN - half)
    if width > right_end - left_end - 2 * LABEL_MARGIN:
        centre = (left_end + right_end) / 2
    # The arrow only falls: its highest point under the label is at the label's tail-side end.
    near = centre - half if arrow.x2 > arrow.x1 else centre + half
    highest = _y_at(arrow.x1, arrow.y1, arrow.x2, arrow.y2, near)
    baseline = int(highest - LABEL_GAP - DESCENT)
    x = round(centre)
    return x, baseline, Box(x - width / 2, baseline - ASCENT, width, ASCENT + DESCENT)


def _y_at(x1: float, y1: float, x2: float, y2: float, x: float) -> float:
    t = min(max((x - x1) / (x2 - x1), 0.0), 1.0)
    return y1 + (y2 - y1) * t


def crosses(box: Box, line: tuple[int, int, int, int]) -> bool:
    """Whether a line segment passes through the box (its interior or border)."""
    x1, y1, x2, y2 = line
    if x1 == x2:
        low, high = sorted((y1, y2))
        inside = box.x <= x1 <= box.x + box.width
        return inside and low <= box.y + box.height and high >= box.y
    left, right = max(box.x, min(x1, x2)), min(box.x + box.width, max(x1, x2))
    if left > right:
        return False
    ya, yb = sorted((_y_at(x1, y1, x2, y2, left), _y_at(x1, y1, x2, y2, right)))
    return ya <= box.y + box.height and yb >= box.y


def _bases(
    packets: PacketColumns, states: PacketStates, conn: Connection
) -> tuple[int | None, int | None]:
    """Each side's ISN; without a captured SYN, its first seq seen, as the packet list counts."""
    client, server = conn.client_isn, conn.server_isn
    for row in conn.packet_index:
        if client is not None and server is not None:
            break
        if states.direction[row] == Direction.TO_SERVER and client is None:
            client = packets.seq[row]
        elif states.direction[row] == Direction.TO_CLIENT and server is None:
            server = packets.seq[row]
    return client, server


def _label(
    packets: PacketColumns,
    bases: tuple[int | None, int | None],
    row: int,
    to_server: bool,
    lang: Lang,
) -> str:
    """Flags, then seq, ack and length as the packet list counts them: "SYN, ACK seq=0 ack=1"."""
    own, peer = bases if to_server else bases[::-1]
    flags = packets.flags[row]
    parts = [flags_label(flags, lang)]
    parts.append(text(lang, "report.ladder_seq", value=_relative(packets.seq[row], own)))
    if flags & TcpFlags.ACK:
        parts.append(text(lang, "report.ladder_ack", value=_relative(packets.ack[row], peer)))
    parts.append(text(lang, "report.ladder_len", value=packets.length[row]))
    return " ".join(parts)


def _relative(value: int, base: int | None) -> int:
    return value if base is None else seq_diff(value, base)
