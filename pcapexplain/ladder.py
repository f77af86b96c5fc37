"""Ladder-diagram geometry (pure): where each arrow, label and state name goes.

The template turns these shapes into inline SVG; all text stays plain data here so that Jinja's
autoescaping is the only way capture-derived strings reach the page. A long run of ordinary
segments becomes a Band: the page draws it as one collapsed bar that opens to show its packets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pcapexplain.model import (
    RETRANSMITTED,
    Connection,
    Direction,
    PacketColumns,
    PacketRole,
    PacketStates,
    TcpState,
)
from pcapexplain.narrate import KEY_ROLES, flags_label
from pcapexplain.seqspace import seq_diff

WIDTH = 800
CLIENT_X, SERVER_X = 220, 620
ROW = 36  # vertical space per arrow
TITLE_Y, ADDRESS_Y = 14, 27  # baselines of the endpoint's role and of its address
LIFELINE_TOP = 33
TOP = 44  # the first arrow starts here, below the titles
ARROW_DROP = 22  # how far an arrow falls while crossing: time passes in flight
MIN_BAND = 8  # runs of at least this many ordinary segments collapse into a band
BAND_DETAIL_LIMIT = 200  # packets drawn inside an opened band, at most


@dataclass(frozen=True, slots=True)
class Arrow:
    frame: int
    x1: int
    y1: int
    x2: int
    y2: int
    label: str  # flags, relative seq/ack, length
    time: str  # "+0.012 s"
    anomalous: bool
    role: str  # PacketRole name, lower case, for styling


@dataclass(frozen=True, slots=True)
class StateMark:
    x: int
    y: int
    anchor: str  # "end" left of the client line, "start" right of the server line
    state: str
    initial: bool = False  # the state before the first packet, drawn at the top of the line


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of drawn packets: one SVG with both lifelines."""

    height: int
    arrows: tuple[Arrow, ...]
    states: tuple[StateMark, ...]


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
    client_x: int = CLIENT_X
    server_x: int = SERVER_X
    width: int = WIDTH
    title_y: int = TITLE_Y
    address_y: int = ADDRESS_Y
    lifeline_top: int = LIFELINE_TOP


def build(
    packets: PacketColumns,
    states: PacketStates,
    conn: Connection,
    anomalous_frames: frozenset[int],
    *,
    time_format: str = "+{:.3f} s",
) -> Ladder:
    """The ladder of one connection: key and anomalous packets in full, long plain runs banded."""
    index = conn.packet_index
    draw = _Drawer(
        packets, states, conn, anomalous_frames, time_format, _bases(packets, states, conn)
    )
    parts: list[Segment | Band] = []
    pending: list[int] = []
    run: list[int] = []
    for row in index:
        if _plain(packets, states, row, anomalous_frames):
            run.append(row)
            continue
        _flush_run(run, pending, parts, draw)
        run = []
        pending.append(row)
    _flush_run(run, pending, parts, draw)
    if pending:
        parts.append(draw.segment(pending))
    return Ladder(tuple(parts), str(conn.client), str(conn.server))


def _plain(
    packets: PacketColumns, states: PacketStates, row: int, anomalous: frozenset[int]
) -> bool:
    return (
        states.role[row] not in KEY_ROLES
        and packets.frame[row] not in anomalous
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
    p = draw.packets
    shown = run[:BAND_DETAIL_LIMIT]
    parts.append(
        Band(
            first_frame=p.frame[run[0]],
            last_frame=p.frame[run[-1]],
            packets=len(run),
            payload=sum(p.length[r] for r in run),
            retransmissions=sum(1 for r in run if p.analysis[r] & RETRANSMITTED),
            detail=draw.segment(shown),
            hidden=len(run) - len(shown),
        )
    )


@dataclass(frozen=True, slots=True)
class _Drawer:
    packets: PacketColumns
    states: PacketStates
    conn: Connection
    anomalous: frozenset[int]
    time_format: str
    bases: tuple[int | None, int | None]  # relative numbers count from these (client, server)

    def segment(self, rows: Sequence[int]) -> Segment:
        arrows: list[Arrow] = []
        marks: list[StateMark] = []
        if rows and rows[0] == self.conn.packet_index[0]:
            marks.extend(_initial_marks(self.states, rows[0]))
        for i, row in enumerate(rows):
            y = TOP + i * ROW
            arrows.append(self.arrow(row, y))
            marks.extend(_state_marks(self.states, row, y + ARROW_DROP))
        return Segment(height=TOP + len(rows) * ROW + 8, arrows=tuple(arrows), states=tuple(marks))

    def arrow(self, row: int, y: int) -> Arrow:
        p, s = self.packets, self.states
        to_server = s.direction[row] == Direction.TO_SERVER
        x1, x2 = (CLIENT_X, SERVER_X) if to_server else (SERVER_X, CLIENT_X)
        frame = p.frame[row]
        return Arrow(
            frame=frame,
            x1=x1,
            y1=y,
            x2=x2,
            y2=y + ARROW_DROP,
            label=_label(p, self.bases, row, to_server),
            time=self.time_format.format(p.time[row] - self.conn.first_time),
            anomalous=frame in self.anomalous or _resent(p, s, row),
            role=PacketRole(s.role[row]).name.lower(),
        )


def _resent(packets: PacketColumns, states: PacketStates, row: int) -> bool:
    """tshark's retransmission verdict, except on a first SYN or SYN-ACK: in a simultaneous
    open it calls each side's SYN-ACK a retransmission, and that is the legal handshake."""
    first_send = states.role[row] in (PacketRole.SYN, PacketRole.SYN_ACK)
    return bool(packets.analysis[row] & RETRANSMITTED) and not first_send


def _initial_marks(states: PacketStates, row: int) -> list[StateMark]:
    """Where each lifeline starts (CLOSED, LISTEN, ...): the first change then reads as a step."""
    marks = []
    # The baseline sits just above the first arrow's tail; the template adds 4 px to centre it.
    y = TOP - 4
    if states.client_before[row] != TcpState.UNKNOWN:
        client = TcpState(states.client_before[row]).name
        marks.append(StateMark(CLIENT_X - 8, y, "end", client, initial=True))
    if states.server_before[row] != TcpState.UNKNOWN:
        server = TcpState(states.server_before[row]).name
        marks.append(StateMark(SERVER_X + 8, y, "start", server, initial=True))
    return marks


def _state_marks(states: PacketStates, row: int, y: int) -> list[StateMark]:
    marks = []
    if states.client_before[row] != states.client_after[row]:
        marks.append(StateMark(CLIENT_X - 8, y, "end", TcpState(states.client_after[row]).name))
    if states.server_before[row] != states.server_after[row]:
        marks.append(StateMark(SERVER_X + 8, y, "start", TcpState(states.server_after[row]).name))
    return marks


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
    packets: PacketColumns, bases: tuple[int | None, int | None], row: int, to_server: bool
) -> str:
    own, peer = bases if to_server else bases[::-1]
    parts = [flags_label(packets.flags[row])]
    parts.append(f"seq={_relative(packets.seq[row], own)}")
    if packets.flags[row] & 0x010:
        parts.append(f"ack={_relative(packets.ack[row], peer)}")
    parts.append(f"len={packets.length[row]}")
    return " ".join(parts)


def _relative(value: int, base: int | None) -> int:
    return value if base is None else seq_diff(value, base)
