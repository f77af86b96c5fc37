"""Answer extraction (pure): the closed vocabulary of rubric questions, one extractor per kind.

Each extractor reads one analysed connection and returns what a model student would answer,
with the frames that prove it, or says why the capture cannot answer it (no SYN, no FIN...).
Values are raw: sequence numbers as on the wire, times in seconds; the grading stage converts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from pcapexplain.model import (
    AnalysisFlag,
    Closer,
    Connection,
    Direction,
    PacketColumns,
    PacketRole,
    PacketStates,
    TcpFlags,
    TcpState,
    Teardown,
)
from pcapexplain.seqspace import relative, segment_end, seq_add, seq_ge

ALPHA: Final = 0.125  # EstimatedRTT = (1 - α) EstimatedRTT + α SampleRTT (RFC 6298 §2)
DEFAULT_SAMPLES: Final = 6  # the Wireshark TCP lab asks for the first six segments


class QuestionKind(StrEnum):
    """The questions a rubric may ask; `questions.extract` answers each from the capture."""

    CLIENT_ISN = "client_isn"  # the client's initial sequence number, from its SYN
    SERVER_ISN = "server_isn"  # the server's, from its SYN-ACK
    SYNACK_SEQ = "synack_seq"  # the SYN-ACK's sequence number (the server's ISN)
    SYNACK_ACK = "synack_ack"  # the SYN-ACK's acknowledgment number (client ISN + 1)
    CLIENT_MSS = "client_mss"  # MSS option offered in the SYN
    CLIENT_WSCALE = "client_wscale"  # window-scale shift offered in the SYN
    HANDSHAKE_RTT = "handshake_rtt"  # SYN → SYN-ACK at the capture point
    FIRST_DATA_SEQ = "first_data_seq"  # seq of the first data segment of one side
    SAMPLE_RTTS = "sample_rtts"  # SampleRTT of the first data segments
    ESTIMATED_RTT = "estimated_rtt"  # EstimatedRTT after those samples, α = 0.125
    MIN_WINDOW = "min_window"  # smallest receive window one side advertised (scaled)
    RETRANSMITTED_FRAMES = "retransmitted_frames"  # frames tshark marks as retransmissions
    FIRST_FIN_SENDER = "first_fin_sender"  # client or server: the active closer
    FIN_SEQ = "fin_seq"  # seq of the first FIN
    FIN_ACK = "fin_ack"  # the acknowledgment number that answers it (FIN seq + 1)
    TEARDOWN = "teardown"  # three-way or four-way close (or reset, simultaneous)
    TIME_WAIT_SIDE = "time_wait_side"  # who enters TIME_WAIT


class ValueType(StrEnum):
    """How an answer is compared with the computed value."""

    SEQUENCE = "sequence"  # a sequence or ack number, raw or relative to an ISN
    COUNT = "count"  # an integer read off a header: MSS, window-scale shift, window
    TIME = "time"  # seconds at the capture point, answered in the question's unit
    TIMES = "times"  # a list of times, in order
    FRAMES = "frames"  # a list of frame numbers; an empty list means "none"
    CHOICE = "choice"  # one word of a closed vocabulary (client, server, four_way, ...)


class Side(StrEnum):
    CLIENT = "client"
    SERVER = "server"


@dataclass(frozen=True, slots=True)
class KindSpec:
    value: ValueType
    side: Side | None = None  # the default for questions that take a side
    samples: bool = False  # takes `count`, the number of segments


SPECS: Final[Mapping[QuestionKind, KindSpec]] = {
    QuestionKind.CLIENT_ISN: KindSpec(ValueType.SEQUENCE),
    QuestionKind.SERVER_ISN: KindSpec(ValueType.SEQUENCE),
    QuestionKind.SYNACK_SEQ: KindSpec(ValueType.SEQUENCE),
    QuestionKind.SYNACK_ACK: KindSpec(ValueType.SEQUENCE),
    QuestionKind.CLIENT_MSS: KindSpec(ValueType.COUNT),
    QuestionKind.CLIENT_WSCALE: KindSpec(ValueType.COUNT),
    QuestionKind.HANDSHAKE_RTT: KindSpec(ValueType.TIME),
    QuestionKind.FIRST_DATA_SEQ: KindSpec(ValueType.SEQUENCE, side=Side.CLIENT),
    QuestionKind.SAMPLE_RTTS: KindSpec(ValueType.TIMES, side=Side.CLIENT, samples=True),
    QuestionKind.ESTIMATED_RTT: KindSpec(ValueType.TIME, side=Side.CLIENT, samples=True),
    QuestionKind.MIN_WINDOW: KindSpec(ValueType.COUNT, side=Side.SERVER),
    QuestionKind.RETRANSMITTED_FRAMES: KindSpec(ValueType.FRAMES),
    QuestionKind.FIRST_FIN_SENDER: KindSpec(ValueType.CHOICE),
    QuestionKind.FIN_SEQ: KindSpec(ValueType.SEQUENCE),
    QuestionKind.FIN_ACK: KindSpec(ValueType.SEQUENCE),
    QuestionKind.TEARDOWN: KindSpec(ValueType.CHOICE),
    QuestionKind.TIME_WAIT_SIDE: KindSpec(ValueType.CHOICE),
}


class Reason(StrEnum):
    """Why a capture cannot answer a question; each has a text under rubric.reason.*."""

    NO_CONNECTION = "no_connection"  # nothing matched the rubric's [select]
    NO_SYN = "no_syn"  # the capture started after the client's SYN
    NO_SYNACK = "no_synack"  # no SYN-ACK was captured
    NO_DATA = "no_data"  # the side sent no data
    NO_ACKED_DATA = "no_acked_data"  # no data segment was acknowledged without retransmission
    NO_FIN = "no_fin"  # nobody sent a FIN
    NO_FIN_ACK = "no_fin_ack"  # the first FIN was never acknowledged in the capture
    NO_CLOSE = "no_close"  # the connection was not closed within the capture
    NO_WINDOW_SCALE = "no_window_scale"  # the handshake, hence the window scale, is missing
    OPTIONS_CUT = "options_cut"  # the snapshot length cut off the SYN's or SYN-ACK's option asked
    CLOSER_UNKNOWN = "closer_unknown"  # one direction unseen: who closed first is unknown


@dataclass(frozen=True, slots=True)
class Computed:
    """A question's answer computed from the capture.

    value: raw number, seconds, tuple of seconds or frames, a word, or None when the thing asked
    about is absent (an option not offered). relative: a sequence number counted from the
    sender's ISN (or its first captured seq). evidence: the frames the answer is about;
    accepted: every frame a student may cite for it. also: other words or numbers that are
    right too (the window-scale multiplier, "both" for a simultaneous close).
    """

    value: int | float | str | tuple[int | float, ...] | None
    evidence: tuple[int, ...]
    accepted: frozenset[int]
    relative: int | None = None
    also: tuple[int | str, ...] = ()
    params: dict[str, str | int | float] = field(default_factory=dict)

    def number(self) -> float:
        """The value of a COUNT or TIME answer."""
        if not isinstance(self.value, int | float):
            raise TypeError(f"not a number: {self.value!r}")
        return float(self.value)

    def numbers(self) -> tuple[float, ...]:
        """The values of a TIMES or FRAMES answer."""
        if not isinstance(self.value, tuple):
            raise TypeError(f"not a list: {self.value!r}")
        return tuple(float(v) for v in self.value)


@dataclass(frozen=True, slots=True)
class Unanswerable:
    reason: Reason


Extracted = Computed | Unanswerable

_SYN, _ACK, _FIN = int(TcpFlags.SYN), int(TcpFlags.ACK), int(TcpFlags.FIN)
_RESENT = int(
    AnalysisFlag.RETRANSMISSION
    | AnalysisFlag.FAST_RETRANSMISSION
    | AnalysisFlag.SPURIOUS_RETRANSMISSION
)
_TO_SERVER, _TO_CLIENT = int(Direction.TO_SERVER), int(Direction.TO_CLIENT)
_OTHER_ROLE = int(PacketRole.OTHER)
_TIME_WAIT = int(TcpState.TIME_WAIT)
_CLOSED_BY_FINS = frozenset((Teardown.FOUR_WAY, Teardown.THREE_WAY, Teardown.SIMULTANEOUS))
_CLOSED = _CLOSED_BY_FINS | {Teardown.RESET_BY_CLIENT, Teardown.RESET_BY_SERVER}


@dataclass(frozen=True, slots=True)
class View:
    """One connection with its packets: what every extractor reads."""

    packets: PacketColumns
    states: PacketStates
    conn: Connection

    @property
    def rows(self) -> list[int]:
        return list(self.conn.packet_index)

    def frame(self, row: int) -> int:
        return self.packets.frame[row]

    def sent_by(self, row: int, side: Side) -> bool:
        if self.conn.self_connect:
            return True  # one socket at both ends sends every segment as client and as server
        wanted = _TO_SERVER if side is Side.CLIENT else _TO_CLIENT
        return self.states.direction[row] == wanted

    def syns(self) -> list[int]:
        """The client's SYNs (first and retransmitted), in order."""
        return [
            r
            for r in self.rows
            if self.sent_by(r, Side.CLIENT) and self.packets.flags[r] & (_SYN | _ACK) == _SYN
        ]

    def synacks(self) -> list[int]:
        return [
            r
            for r in self.rows
            if self.sent_by(r, Side.SERVER) and self.packets.flags[r] & (_SYN | _ACK) == _SYN | _ACK
        ]

    def base(self, side: Side) -> int | None:
        """Where the side's relative numbers start: its ISN; without a captured SYN, one before
        its first captured seq, as Wireshark counts (the first segment seen is relative 1)."""
        isn = self.conn.client_isn if side is Side.CLIENT else self.conn.server_isn
        if isn is not None:
            return isn
        first = next((r for r in self.rows if self.sent_by(r, side)), None)
        return None if first is None else seq_add(self.packets.seq[first], -1)

    def first_fin(self) -> int | None:
        return next(
            (
                r
                for r in self.rows
                if self.packets.flags[r] & _FIN and self.states.role[r] != _OTHER_ROLE
            ),
            None,
        )

    def ack_covering(self, row: int, end: int) -> int | None:
        """The first later segment from the peer of row's sender that acknowledges `end`."""
        peer = other(self.side_of(row))
        packets = self.packets
        return next(
            (
                r
                for r in self.rows
                if r > row
                and self.sent_by(r, peer)
                and packets.flags[r] & _ACK
                and seq_ge(packets.ack[r], end)
            ),
            None,
        )

    def side_of(self, row: int) -> Side:
        return Side.CLIENT if self.states.direction[row] == _TO_SERVER else Side.SERVER


def other(side: Side) -> Side:
    return Side.SERVER if side is Side.CLIENT else Side.CLIENT


def _sequence(view: View, row: int, value: int, side: Side, accepted: list[int]) -> Computed:
    base = view.base(side)
    frames = tuple(view.frame(r) for r in accepted)
    return Computed(value, (view.frame(row),), frozenset(frames), relative=relative(value, base))


def _client_isn(view: View, params: Params) -> Extracted:
    syns = view.syns()
    if not syns or view.conn.client_isn is None:
        return Unanswerable(Reason.NO_SYN)
    same = [r for r in syns if view.packets.seq[r] == view.conn.client_isn]
    return _sequence(view, same[0], view.conn.client_isn, Side.CLIENT, same)


def _server_isn(view: View, params: Params) -> Extracted:
    synacks = view.synacks()
    if not synacks:
        return Unanswerable(Reason.NO_SYNACK)
    seq = view.packets.seq[synacks[0]]
    same = [r for r in synacks if view.packets.seq[r] == seq]
    return _sequence(view, synacks[0], seq, Side.SERVER, same)


def _synack_ack(view: View, params: Params) -> Extracted:
    synacks = view.synacks()
    if not synacks:
        return Unanswerable(Reason.NO_SYNACK)
    row = synacks[0]
    ack = view.packets.ack[row]
    same = [r for r in synacks if view.packets.ack[r] == ack]
    found = _sequence(view, row, ack, Side.CLIENT, same)
    isn = view.conn.client_isn
    return Computed(
        found.value,
        found.evidence,
        found.accepted,
        relative=found.relative,
        params={"isn": "?" if isn is None else isn, "ack": ack},
    )


def _syn_option(name: str) -> Extractor:
    def extract(view: View, params: Params) -> Extracted:
        syns = view.syns()
        if not syns:
            return Unanswerable(Reason.NO_SYN)
        row = syns[0]
        raw = view.packets.mss[row] if name == "mss" else view.packets.wscale[row]
        if raw < 0 and view.packets.header_cut[row]:
            return Unanswerable(Reason.OPTIONS_CUT)  # not seen, as the capture cut it off
        value = None if raw < 0 else raw
        frames = frozenset(view.frame(r) for r in syns)
        also: tuple[int | str, ...] = ()
        if name == "wscale" and value is not None:
            also = (1 << value,)  # Wireshark shows "7 (multiply by 128)": both are right
        return Computed(value, (view.frame(row),), frames, also=also)

    return extract


def _handshake_rtt(view: View, params: Params) -> Extracted:
    syns, synacks = view.syns(), view.synacks()
    if not syns:
        return Unanswerable(Reason.NO_SYN)
    if not synacks or view.conn.rtt_syn_synack is None:
        return Unanswerable(Reason.NO_SYNACK)
    synack = synacks[0]
    syn = max((r for r in syns if r < synack), default=syns[0])
    frames = (view.frame(syn), view.frame(synack))
    return Computed(view.conn.rtt_syn_synack, frames, frozenset(frames))


def _data_rows(view: View, side: Side) -> list[int]:
    return [r for r in view.rows if view.sent_by(r, side) and view.packets.length[r] > 0]


def _first_data_seq(view: View, params: Params) -> Extracted:
    rows = _data_rows(view, params.side)
    if not rows:
        return Unanswerable(Reason.NO_DATA)
    row = rows[0]
    seq = view.packets.seq[row]
    if view.packets.flags[row] & _SYN:
        seq = seq_add(seq, 1)  # data on a SYN starts after the SYN's own number
    return _sequence(view, row, seq, params.side, [row])


@dataclass(frozen=True, slots=True)
class Sample:
    segment: int  # row of the data segment
    ack: int  # row of the first ACK covering it
    rtt: float  # seconds


def samples(view: View, side: Side, count: int) -> list[Sample]:
    """SampleRTTs of the side's first `count` data segments, Karn's rule applied (RFC 6298 §3):
    a segment that was retransmitted is skipped, since its ACK cannot say which copy it answers."""
    packets = view.packets
    resent = {packets.seq[r] for r in _data_rows(view, side) if packets.analysis[r] & _RESENT}
    found: list[Sample] = []
    for row in _data_rows(view, side):
        if len(found) == count:
            break
        seq = packets.seq[row]
        if packets.analysis[row] & _RESENT or seq in resent:
            continue
        ack = view.ack_covering(row, seq_add(seq, packets.length[row]))
        if ack is not None:
            found.append(Sample(row, ack, packets.time[ack] - packets.time[row]))
    return found


def _no_samples(view: View, side: Side) -> Unanswerable:
    return Unanswerable(Reason.NO_ACKED_DATA if _data_rows(view, side) else Reason.NO_DATA)


def _sample_frames(view: View, found: list[Sample]) -> tuple[tuple[int, ...], frozenset[int]]:
    frames = tuple(view.frame(s.segment) for s in found)
    acks = {view.frame(s.ack) for s in found}
    return frames, frozenset(frames) | acks


def _sample_rtts(view: View, params: Params) -> Extracted:
    found = samples(view, params.side, params.count)
    if not found:
        return _no_samples(view, params.side)
    frames, accepted = _sample_frames(view, found)
    return Computed(tuple(s.rtt for s in found), frames, accepted, params={"count": len(found)})


def estimate(rtts: list[float]) -> float:
    """EstimatedRTT after each sample in turn, started at the first sample (RFC 6298 §2.2)."""
    estimated = rtts[0]
    for sample in rtts[1:]:
        estimated = (1 - ALPHA) * estimated + ALPHA * sample
    return estimated


def _estimated_rtt(view: View, params: Params) -> Extracted:
    found = samples(view, params.side, params.count)
    if not found:
        return _no_samples(view, params.side)
    frames, accepted = _sample_frames(view, found)
    value = estimate([s.rtt for s in found])
    return Computed(value, frames, accepted, params={"count": len(found), "alpha": ALPHA})


def _min_window(view: View, params: Params) -> Extracted:
    syns, synacks = view.syns(), view.synacks()
    if not syns or not synacks:
        return Unanswerable(Reason.NO_WINDOW_SCALE)
    c_shift, s_shift = view.packets.wscale[syns[0]], view.packets.wscale[synacks[0]]
    cut = view.packets.header_cut
    if (c_shift < 0 and cut[syns[0]]) or (s_shift < 0 and cut[synacks[0]]):
        return Unanswerable(Reason.OPTIONS_CUT)
    negotiated = c_shift >= 0 and s_shift >= 0  # RFC 7323 §2.2: only when both offered it
    shift = (c_shift if params.side is Side.CLIENT else s_shift) if negotiated else 0
    windows = [
        # RFC 7323 §2.2: the window field of a SYN or SYN-ACK is never scaled.
        (view.packets.window[r] << (0 if view.packets.flags[r] & _SYN else shift), r)
        for r in view.rows
        if view.sent_by(r, params.side)
    ]
    smallest = min(w for w, _ in windows)
    frames = tuple(view.frame(r) for w, r in windows if w == smallest)
    return Computed(smallest, frames[:10], frozenset(frames), params={"shift": shift})


def _retransmitted(view: View, params: Params) -> Extracted:
    frames = tuple(view.frame(r) for r in view.rows if view.packets.analysis[r] & _RESENT)
    return Computed(frames, frames, frozenset(frames), params={"count": len(frames)})


def _first_fin_sender(view: View, params: Params) -> Extracted:
    fin = view.first_fin()
    if fin is None:
        return Unanswerable(Reason.NO_FIN)
    if view.conn.closed_first is Closer.UNKNOWN:
        return Unanswerable(Reason.CLOSER_UNKNOWN)  # the first FIN captured need not be the first
    sender = view.side_of(fin)
    also: tuple[int | str, ...] = ("both",) if view.conn.teardown is Teardown.SIMULTANEOUS else ()
    return Computed(sender.value, (view.frame(fin),), frozenset({view.frame(fin)}), also=also)


def _fin_seq(view: View, params: Params) -> Extracted:
    fin = view.first_fin()
    if fin is None:
        return Unanswerable(Reason.NO_FIN)
    if view.conn.closed_first is Closer.UNKNOWN:
        return Unanswerable(Reason.CLOSER_UNKNOWN)
    return _sequence(view, fin, view.packets.seq[fin], view.side_of(fin), [fin])


def _fin_ack(view: View, params: Params) -> Extracted:
    fin = view.first_fin()
    if fin is None:
        return Unanswerable(Reason.NO_FIN)
    closer, packets = view.side_of(fin), view.packets
    end = segment_end(packets.seq[fin], packets.length[fin], packets.flags[fin])
    answer = view.ack_covering(fin, end)
    if answer is None:
        return Unanswerable(Reason.NO_FIN_ACK)
    found = _sequence(view, answer, packets.ack[answer], closer, [answer])
    params_: dict[str, str | int | float] = {
        "fin_seq": packets.seq[fin],
        "fin_frame": view.frame(fin),
    }
    return Computed(found.value, found.evidence, found.accepted, found.relative, params=params_)


def _close_rows(view: View) -> list[int]:
    closing = (int(PacketRole.FIN), int(PacketRole.FIN_ACK), int(PacketRole.RST))
    return [r for r in view.rows if view.states.role[r] in closing]


def _teardown(view: View, params: Params) -> Extracted:
    if view.conn.teardown not in _CLOSED:
        return Unanswerable(Reason.NO_CLOSE)
    frames = tuple(view.frame(r) for r in _close_rows(view))
    return Computed(view.conn.teardown.value, frames, frozenset(frames))


def _time_wait_side(view: View, params: Params) -> Extracted:
    if view.conn.teardown not in _CLOSED:
        return Unanswerable(Reason.NO_CLOSE)
    if view.conn.time_wait is Closer.UNKNOWN:
        return Unanswerable(Reason.CLOSER_UNKNOWN)
    states = view.states
    entered = [
        r
        for r in view.rows
        if (states.client_after[r] == _TIME_WAIT and states.client_before[r] != _TIME_WAIT)
        or (states.server_after[r] == _TIME_WAIT and states.server_before[r] != _TIME_WAIT)
    ]
    # The FIN that put a side into TIME_WAIT, and the ACK that side sent back for it.
    answers = [_next_from(view, r, other(view.side_of(r))) for r in entered]
    rows = sorted({*entered, *(r for r in answers if r is not None)}) or _close_rows(view)
    frames = tuple(view.frame(r) for r in rows)
    return Computed(view.conn.time_wait.value, frames, frozenset(frames))


def _next_from(view: View, after: int, side: Side) -> int | None:
    return next((r for r in view.rows if r > after and view.sent_by(r, side)), None)


@dataclass(frozen=True, slots=True)
class Params:
    """The per-question settings an extractor reads."""

    side: Side = Side.CLIENT
    count: int = DEFAULT_SAMPLES


Extractor = Callable[[View, Params], Extracted]

EXTRACTORS: Final[Mapping[QuestionKind, Extractor]] = {
    QuestionKind.CLIENT_ISN: _client_isn,
    QuestionKind.SERVER_ISN: _server_isn,
    QuestionKind.SYNACK_SEQ: _server_isn,
    QuestionKind.SYNACK_ACK: _synack_ack,
    QuestionKind.CLIENT_MSS: _syn_option("mss"),
    QuestionKind.CLIENT_WSCALE: _syn_option("wscale"),
    QuestionKind.HANDSHAKE_RTT: _handshake_rtt,
    QuestionKind.FIRST_DATA_SEQ: _first_data_seq,
    QuestionKind.SAMPLE_RTTS: _sample_rtts,
    QuestionKind.ESTIMATED_RTT: _estimated_rtt,
    QuestionKind.MIN_WINDOW: _min_window,
    QuestionKind.RETRANSMITTED_FRAMES: _retransmitted,
    QuestionKind.FIRST_FIN_SENDER: _first_fin_sender,
    QuestionKind.FIN_SEQ: _fin_seq,
    QuestionKind.FIN_ACK: _fin_ack,
    QuestionKind.TEARDOWN: _teardown,
    QuestionKind.TIME_WAIT_SIDE: _time_wait_side,
}


def extract(kind: QuestionKind, view: View | None, params: Params) -> Extracted:
    """The model answer to one question about view's connection (None: no connection matched)."""
    if view is None:
        return Unanswerable(Reason.NO_CONNECTION)
    return EXTRACTORS[kind](view, params)
