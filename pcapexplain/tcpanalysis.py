"""TCP-analysis stage of the native reader: tshark's `tcp.stream` and `tcp.analysis.*` flags.

`Analyser.feed(segments)` takes the decoded TCP headers in frame order and returns, per header,
the conversation index tshark would print (`tcp.stream`) and the analysis flags it would print.
The rules are Wireshark 4.0's `dissect_tcp` and `tcp_analyze_sequence_number` (packet-tcp.c),
restated in docs/NATIVE-READER.md; where this module reads a field that tshark reads, it reads it
at the same moment (before or after the packet's own options), because the flags of one packet
depend on what the earlier ones left behind.

State lives in flat lists indexed by flow (2 per conversation: one per direction), and the loop
runs over plain Python ints of one slice of headers at a time: the analysis is sequential by
nature (each packet's flags depend on the previous ones of its connection), so it is the one
per-packet loop of the native reader, kept to integer comparisons.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from pcapexplain.decode import REACH_ALL, REACH_FLAGS, REACH_OPTIONS, Segments
from pcapexplain.model import AnalysisFlag

Array = np.ndarray[Any, Any]

_SYN, _ACK, _FIN, _RST = 0x02, 0x10, 0x01, 0x04
_SYN_FIN, _SFR = _SYN | _FIN, _SYN | _FIN | _RST
_M = 0xFFFFFFFF
_HALF = 0x80000000
MAX_UNACKED = 10000  # TCP_MAX_UNACKED_SEGMENTS: beyond this tshark stops listing segments
_FAST_RETRANSMISSION_WINDOW = 20_000_000  # ns after the last ACK (packet-tcp.c)
_DEFAULT_OOO_THRESHOLD = 3_000_000  # ns, when no initial RTT is known
_NO_WINDOW = 0xFFFFFFFF  # a flow's window before its first packet (G_MAXUINT32)

# Bits of packet-tcp.c's ta->flags (TCP_A_*), kept apart from the columns' AnalysisFlag bits.
RETRANSMISSION = 0x0001
LOST_PACKET = 0x0002
ACK_LOST_PACKET = 0x0004
KEEP_ALIVE = 0x0008
DUPLICATE_ACK = 0x0010
ZERO_WINDOW = 0x0020
ZERO_WINDOW_PROBE = 0x0040
ZERO_WINDOW_PROBE_ACK = 0x0080
KEEP_ALIVE_ACK = 0x0100
OUT_OF_ORDER = 0x0200
FAST_RETRANSMISSION = 0x0400
WINDOW_UPDATE = 0x0800
WINDOW_FULL = 0x1000
REUSED_PORTS = 0x2000
SPURIOUS_RETRANSMISSION = 0x4000

# ta->flags → the fields tshark prints. A fast or spurious retransmission also prints
# tcp.analysis.retransmission (packet-tcp.c adds both expert items).
_PRINTED = (
    (RETRANSMISSION | FAST_RETRANSMISSION | SPURIOUS_RETRANSMISSION, AnalysisFlag.RETRANSMISSION),
    (FAST_RETRANSMISSION, AnalysisFlag.FAST_RETRANSMISSION),
    (SPURIOUS_RETRANSMISSION, AnalysisFlag.SPURIOUS_RETRANSMISSION),
    (OUT_OF_ORDER, AnalysisFlag.OUT_OF_ORDER),
    (LOST_PACKET, AnalysisFlag.LOST_SEGMENT),
    (ACK_LOST_PACKET, AnalysisFlag.ACK_LOST_SEGMENT),
    (DUPLICATE_ACK, AnalysisFlag.DUPLICATE_ACK),
    (ZERO_WINDOW, AnalysisFlag.ZERO_WINDOW),
    (ZERO_WINDOW_PROBE, AnalysisFlag.ZERO_WINDOW_PROBE),
    (ZERO_WINDOW_PROBE_ACK, AnalysisFlag.ZERO_WINDOW_PROBE_ACK),
    (WINDOW_FULL, AnalysisFlag.WINDOW_FULL),
    (WINDOW_UPDATE, AnalysisFlag.WINDOW_UPDATE),
    (KEEP_ALIVE, AnalysisFlag.KEEP_ALIVE),
    (KEEP_ALIVE_ACK, AnalysisFlag.KEEP_ALIVE_ACK),
    (REUSED_PORTS, AnalysisFlag.REUSED_PORTS),
)
_SLICE = 1 << 15  # headers converted to Python ints at a time (bounds the transient memory)


def printed_flags(ta_flags: Array) -> Array:
    """Map packet-tcp.c's TCP_A_* bits to the AnalysisFlag bits of the loader's column."""
    out = np.zeros(len(ta_flags), dtype=np.int64)
    for bits, flag in _PRINTED:
        out |= np.where(ta_flags & bits, int(flag), 0)
    return out


@dataclass(slots=True)
class Analysed:
    stream: Array  # int64 tcp.stream per header
    flags: Array  # int64 TCP_A_* bits printed (0 where tshark printed no analysis)


class Analyser:
    """Conversation and per-flow state across the whole capture, fed one block at a time."""

    def __init__(self) -> None:
        self.streams = 0
        self._current: dict[int, int] = {}  # 4-tuple number → its current conversation
        # Per conversation:
        self._first_rtt: list[int] = []  # ns; 0 while unknown
        self._last_syn: list[int] = []  # ns of the latest pure SYN; 0 before one
        # Per flow (conversation * 2 + direction):
        self._base_set: list[bool] = []
        self._base: list[int] = []
        self._nextseq: list[int] = []
        self._nextseq_time: list[int] = []
        self._maxseq: list[int] = []  # "max seq to be acked"
        self._lastack: list[int] = []
        self._lastack_time: list[int] = []
        self._window: list[int] = []
        self._win_scale: list[int] = []  # -1 unknown, -2 no scaling, else the shift
        self._first_ack: list[bool] = []  # is_first_ack: no pure ACK since its SYN
        self._last_flags: list[int] = []
        self._dupacks: list[int] = []
        self._unacked: list[list[int] | None] = []  # listed segments' next seqs, when tracked

    def feed(self, segments: Segments, tuples: Array, direction: Array, heavy: Array) -> Analysed:
        """Analyse one block of headers.

        tuples numbers each header's unordered 4-tuple (stable across blocks), direction says
        which way it goes (0 or 1, the same for every header of one direction), heavy marks the
        tuples whose flows may hold more than TCP_MAX_UNACKED_SEGMENTS unacknowledged segments.
        """
        n = len(segments)
        stream = np.empty(n, dtype=np.int64)
        flags = np.empty(n, dtype=np.int64)
        for first in range(0, n, _SLICE):
            part = slice(first, min(first + _SLICE, n))
            stream[part], flags[part] = self._slice(segments, tuples, direction, heavy, part)
        return Analysed(stream=stream, flags=flags)

    def _new_conversation(self, heavy: bool) -> int:
        conv = len(self._first_rtt)
        self._first_rtt.append(0)
        self._last_syn.append(0)
        self.streams += 1
        for _ in range(2):
            self._base_set.append(False)
            self._base.append(0)
            self._nextseq.append(0)
            self._nextseq_time.append(0)
            self._maxseq.append(0)
            self._lastack.append(0)
            self._lastack_time.append(0)
            self._window.append(_NO_WINDOW)
            self._win_scale.append(-1)
            self._first_ack.append(False)
            self._last_flags.append(0)
            self._dupacks.append(0)
            self._unacked.append([] if heavy else None)
        return conv

    def _slice(
        self, s: Segments, tuples: Array, direction: Array, heavy: Array, part: slice
    ) -> tuple[list[int], list[int]]:
        columns = zip(
            tuples[part].tolist(),
            direction[part].tolist(),
            s.flags[part].tolist(),
            s.seq[part].tolist(),
            s.ack[part].tolist(),
            s.seglen[part].tolist(),
            s.window[part].tolist(),
            (s.seconds[part] * 1_000_000_000 + s.nanos[part]).tolist(),
            s.reach[part].tolist(),
            s.ws_stored[part].tolist(),
            heavy[part].tolist(),
            strict=True,
        )
        streams: list[int] = []
        printed: list[int] = []
        current = self._current
        base_set, base = self._base_set, self._base
        for tup, d, flags, seq, ack, seglen, win, ts, reach, ws, big in columns:
            conv = current.get(tup)
            if conv is None:
                conv = current[tup] = self._new_conversation(big)
            fwd = 2 * conv + d
            ta = 0
            syn_ack = flags & (_SYN | _ACK)
            if syn_ack == _SYN and base_set[fwd]:
                if seq != base[fwd]:
                    conv = current[tup] = self._new_conversation(big)
                    fwd = 2 * conv + d
                    ta = REUSED_PORTS
                else:
                    # A repeated SYN: tshark restores nextseq (a RST may have moved it).
                    self._nextseq[fwd] = self._maxseq[fwd]
            elif syn_ack == _SYN | _ACK and base_set[fwd] and seq != base[fwd]:
                base[fwd] = seq
                ta = REUSED_PORTS
            if seglen >= 0:
                rev = fwd ^ 1
                if not base_set[fwd]:
                    base[fwd] = seq if flags & _SYN else (seq - 1) & _M
                    base_set[fwd] = True
                if not base_set[rev] and flags & _ACK:
                    base[rev] = (ack - 1) & _M
                    base_set[rev] = True
                ta = self._analyse(fwd, ta, flags, seq, ack, seglen, win, ts)
            streams.append(conv)
            if reach < REACH_FLAGS:
                printed.append(0)  # a bogus header length: dissection stopped after the seq
                continue
            self._after_header(conv, fwd, flags, ts)
            if reach >= REACH_OPTIONS and ws >= 0:
                self._win_scale[fwd] = ws
            if reach == REACH_ALL:
                printed.append(ta)
                if flags & _SYN:
                    self._verify_window_scaling(fwd, flags & _ACK != 0)
            else:
                printed.append(0)
        return streams, printed  # conversations are numbered in creation order, as tcp.stream

    def _after_header(self, conv: int, fwd: int, flags: int, ts: int) -> None:
        """The SYN/ACK bookkeeping dissect_tcp does after the analysis of a header."""
        if flags & _SYN:
            if not flags & _ACK:
                self._last_syn[conv] = ts
            self._first_ack[fwd] = True
        elif flags & _ACK:
            if self._last_syn[conv] and not self._first_rtt[conv]:
                self._first_rtt[conv] = ts - self._last_syn[conv]
            self._first_ack[fwd] = False

    def _verify_window_scaling(self, fwd: int, synack: bool) -> None:
        rev = fwd ^ 1
        if self._win_scale[fwd] == -1:
            self._win_scale[fwd] = self._win_scale[rev] = -2
        elif synack and self._win_scale[rev] == -2:
            self._win_scale[fwd] = -2

    def _analyse(
        self, fwd: int, ta: int, flags: int, seq: int, ack: int, seglen: int, win: int, ts: int
    ) -> int:
        """tcp_analyze_sequence_number: the TCP_A_* flags of one header; updates the flows."""
        rev = fwd ^ 1
        nextseq = self._nextseq[fwd]
        lastack = self._lastack[fwd]
        sfr = flags & _SFR
        probe = seglen == 1 and seq == nextseq and self._window[rev] == 0
        if probe:
            ta |= ZERO_WINDOW_PROBE
        else:
            ta = self._window_checks(fwd, ta, flags, seq, ack, seglen, win, nextseq, lastack, sfr)
        if ack != lastack:
            self._dupacks[fwd] = 0
        if flags & _ACK and self._acked_unseen(rev, ack):
            ta |= ACK_LOST_PACKET
        if seglen > 0 or flags & _SYN_FIN:
            ta = self._retransmission(fwd, ta, flags, seq, seglen, ts, nextseq)
        self._advance(fwd, ta, flags, seq, seglen, win, ack, ts, nextseq)
        return ta

    def _window_checks(
        self,
        fwd: int,
        ta: int,
        flags: int,
        seq: int,
        ack: int,
        seglen: int,
        win: int,
        nextseq: int,
        lastack: int,
        sfr: int,
    ) -> int:
        """Zero window, lost segment, keep-alive, window update/full, keep-alive and ZWP ACKs,
        duplicate ACK, in packet-tcp.c's order (the two ACK kinds end the checks early)."""
        rev = fwd ^ 1
        if win == 0 and not sfr:
            ta |= ZERO_WINDOW
        if nextseq and (nextseq - seq) & _M >= _HALF and not flags & _RST:
            ta |= LOST_PACKET
        if seglen <= 1 and seq == (nextseq - 1) & _M and not sfr:
            ta |= KEEP_ALIVE
        same = seglen == 0 and seq == nextseq and ack == lastack and not sfr
        window = self._window[fwd]
        if same and win and win != window:
            ta |= WINDOW_UPDATE
        if seglen > 0 and self._win_scale[rev] != -1 and not sfr:
            scale = self._win_scale[rev]
            shift = 0 if self._first_ack[rev] or scale == -2 else scale
            edge = (self._lastack[rev] + ((self._window[rev] << shift) & _M)) & _M
            if (seq + seglen) & _M == edge:
                ta |= WINDOW_FULL
        if same and win == window:
            if win and self._last_flags[rev] & KEEP_ALIVE:
                return ta | KEEP_ALIVE_ACK
            if not win and self._last_flags[rev] & ZERO_WINDOW_PROBE:
                return ta | ZERO_WINDOW_PROBE_ACK
            if win:
                count = self._dupacks[fwd]
                self._dupacks[fwd] = 1 if count == -1 else count + 1
                ta |= DUPLICATE_ACK
        return ta

    def _acked_unseen(self, rev: int, ack: int) -> bool:
        """ACKed unseen segment: this ACK covers bytes the other direction never showed."""
        maxseq = self._maxseq[rev]
        if not maxseq or (maxseq - ack) & _M < _HALF:  # only an ACK beyond max seq to be acked
            return False
        nextseq = self._nextseq[rev]
        if (maxseq - nextseq) & _M >= _HALF:  # below the highest seq seen: jump, report once
            self._maxseq[rev] = nextseq
            return True
        # Stalled behind a gap: report once, until the other side's next change of ACK.
        reported = self._dupacks[rev] == 0
        self._dupacks[rev] = -1
        return reported

    def _retransmission(
        self, fwd: int, ta: int, flags: int, seq: int, seglen: int, ts: int, nextseq: int
    ) -> int:
        """Spurious, fast, out-of-order or plain retransmission, first match wins."""
        if ta & KEEP_ALIVE:
            return ta
        rev = fwd ^ 1
        behind = nextseq != 0 and (seq - nextseq) & _M >= _HALF
        if seglen > 1 and (nextseq - 1) & _M == seq:
            behind = False  # one byte before nextseq: data after a zero-window probe
        rev_ack = self._lastack[rev]
        if seglen > 0 and rev_ack and (rev_ack - (seq + seglen)) & _M < _HALF:
            return ta | SPURIOUS_RETRANSMISSION
        if not behind:
            return ta
        since_ack = (ts - self._lastack_time[rev]) % (1 << 64)
        if self._dupacks[rev] >= 2 and rev_ack == seq and since_ack < _FAST_RETRANSMISSION_WINDOW:
            return ta | FAST_RETRANSMISSION
        since_next = (ts - self._nextseq_time[fwd]) % (1 << 64)
        conv_rtt = self._first_rtt[fwd >> 1]
        threshold = conv_rtt % (1 << 64) if conv_rtt else _DEFAULT_OOO_THRESHOLD
        after = (seq + seglen + (1 if flags & _SYN_FIN else 0)) & _M
        if since_next < threshold and nextseq != after:
            return ta | OUT_OF_ORDER
        return ta | RETRANSMISSION

    def _advance(
        self,
        fwd: int,
        ta: int,
        flags: int,
        seq: int,
        seglen: int,
        win: int,
        ack: int,
        ts: int,
        nextseq: int,
    ) -> None:
        """Update next seq, max seq to be acked, window and last ACK; drop acked segments."""
        after = (seq + seglen) & _M
        listed = self._unacked[fwd]
        # tshark lists a segment (and counts SYN/FIN as a byte) only below its unacked limit.
        if (seglen or flags & _SYN_FIN) and (listed is None or len(listed) < MAX_UNACKED):
            if flags & _SYN_FIN:
                after = (after + 1) & _M
            if listed is not None:
                listed.append(after)
        probe = ta & ZERO_WINDOW_PROBE
        if (not nextseq or (nextseq - after) & _M >= _HALF) and not probe:
            self._nextseq[fwd] = after
            self._nextseq_time[fwd] = ts
        maxseq = self._maxseq[fwd]
        if (seq == maxseq or not maxseq) and not probe:
            self._maxseq[fwd] = self._nextseq[fwd]
        self._window[fwd] = win
        self._lastack[fwd] = ack
        self._lastack_time[fwd] = ts
        self._last_flags[fwd] = ta
        rev_listed = self._unacked[fwd ^ 1]
        if rev_listed:  # every segment this ACK reaches leaves the list
            rev_listed[:] = [x for x in rev_listed if (ack - x) & _M >= _HALF]
