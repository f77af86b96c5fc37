"""TCP-analysis stage of the native reader: tshark's `tcp.stream` and `tcp.analysis.*` flags.

`Analyser.feed(headers, rows)` takes decoded TCP headers in frame order and returns, per header,
the conversation it belongs to (numbered in order of creation, as `tcp.stream` is) and the
analysis flags tshark would print. tcpfast.py takes the in-order 4-tuples off its hands.
The rules are Wireshark 4.0's `dissect_tcp` and `tcp_analyze_sequence_number` (packet-tcp.c),
restated in docs/NATIVE-READER.md; where this module reads a field that tshark reads, it reads it
at the same moment (before or after the packet's own options), because the flags of one packet
depend on what the earlier ones left behind.

State lives in flat lists indexed by flow (2 per conversation: one per direction), and the loop
runs over plain Python ints of one slice of headers at a time: the analysis is sequential by
nature (each packet's flags depend on the previous ones of its connection), so it is the one
per-packet loop of the native reader, kept to integer comparisons. Runs of ordinary segments
that tcpfast.ordinary finds skip it when the loop's state is the one they assume (`Skips`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from pcapexplain import seqspace
from pcapexplain.model import AnalysisFlag
from pcapexplain.tcpheader import REACH_ALL, REACH_FLAGS, REACH_OPTIONS

Array = np.ndarray[Any, Any]

_SYN, _ACK, _FIN, _RST = 0x02, 0x10, 0x01, 0x04
_SYN_FIN, _SFR = _SYN | _FIN, _SYN | _FIN | _RST
# Sequence space from the one definition; the loops inline its arithmetic as `& _M` on ints.
_M = seqspace.MOD - 1
_HALF = seqspace.HALF
MAX_UNACKED = 10000  # TCP_MAX_UNACKED_SEGMENTS: beyond this tshark stops listing segments
_FAST_RETRANSMISSION_WINDOW = 20_000_000  # ns after the last ACK (packet-tcp.c)
_DEFAULT_OOO_THRESHOLD = 3_000_000  # ns, when no initial RTT is known
NO_WINDOW = 0xFFFFFFFF  # a flow's window before its first packet (G_MAXUINT32)
# packet-tcp.c marks a flow stalled behind a gap by setting its duplicate-ACK count to -1, in an
# unsigned field: it then counts as "at least 2 duplicate ACKs" for the fast-retransmission test.
_STALLED = 0xFFFFFFFF

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
_GROUP = 1 << 15  # headers per group of whole 4-tuples given to the fast path (its temporaries)


_EVERY_BIT = int(np.bitwise_or.reduce([bits for bits, _ in _PRINTED]))  # others print nothing


def _printed_table() -> Array:
    """The printed bits of every combination of TCP_A_* bits (a lookup replaces 15 passes).

    A combination prints what its bits print one by one (_PRINTED tests each entry's bits with
    `&`), so the table doubles bit by bit: the combinations with bit b are those without it,
    plus b's own. (Built at import, before the processes fork: 15 small steps rather than 15
    passes over all 32,768 combinations.)
    """
    out = np.zeros(1, dtype=np.int64)
    for b in range(_EVERY_BIT.bit_length()):
        own = 0
        for bits, flag in _PRINTED:
            if bits >> b & 1:
                own |= int(flag)
        out = np.concatenate([out, out | own])
    return out


_PRINTED_TABLE = _printed_table()


def printed_flags(ta_flags: Array) -> Array:
    """Map packet-tcp.c's TCP_A_* bits to the AnalysisFlag bits of the loader's column."""
    printed: Array = _PRINTED_TABLE[ta_flags & _EVERY_BIT]
    return printed


@dataclass(slots=True)
class Headers:
    """The analysis inputs of every TCP header of the capture, in frame order."""

    frame: Array
    time: Array  # int64 nanoseconds since the epoch
    pair: Array  # number of the unordered 4-tuple
    flow: Array  # pair * 2 + direction (0 or 1, the same for every header of one direction)
    flags: Array
    seq: Array
    ack: Array
    seglen: Array  # -1: tshark does not know it, and does no analysis
    window: Array  # the raw window field
    reach: Array  # tcpheader.REACH_*
    in_error: Array  # quoted in an ICMP error
    ws_stored: Array  # window-scale shift the options leave, -1 for none
    heavy: Array  # the flow may reach tshark's limit of unacknowledged segments

    def __len__(self) -> int:
        return len(self.frame)


@dataclass(slots=True)
class Analysed:
    conversation: Array  # int64 per header fed: the Analyser's conversation number
    flags: Array  # int64 TCP_A_* bits printed (0 where tshark printed no analysis)


@dataclass(slots=True)
class Skips:
    """The rows of a group fed (whole 4-tuples) that may skip the rules, found by the fast path.

    A skippable row is an ordinary segment (in order, no SYN, FIN or RST, nothing flagged but
    perhaps a window update) provided the state of its conversation is the one assumed here.
    Consecutive skippable rows of one 4-tuple form a run; the loop checks the assumption where it
    enters a run and then takes the run's results, or else runs the rules on the whole run.
    end and ta per row; the rest per run (what the loop reads where it enters one), the (runs, 2)
    columns per direction (flow & 1) of its 4-tuple.
    """

    end: Array  # a skippable row: past its run's last row (runs end at slices); else 0
    ta: Array  # TCP_A_* bits of a skippable row: 0, WINDOW_UPDATE or DUPLICATE_ACK
    start: Array  # per run, in order: its first row
    nextseq: Array  # (runs, 2) before the run: nextseq, which also is the max seq to be acked
    lastack: Array  # (runs, 2) before the run: the last ACK
    window: Array  # (runs, 2) before the run: the last window
    last: Array  # (runs, 2) the run's last row of the direction (-1: none)
    moved: Array  # (runs, 2) the run's last row of the direction with payload (-1: none)
    reset: Array  # (runs, 2) the run's last row of the direction that changed the ACK (-1: none)
    duplicates: Array  # (runs, 2) duplicate ACKs of the direction in the run
    after_reset: Array  # (runs, 2) duplicate ACKs of the direction after its reset row (or 0)
    # (runs, 2) how far the direction's max seq to be acked may lag behind nextseq (-1: not at all)
    headroom: Array

    def part(self, rows: slice) -> Skips:
        """The skips of rows (a slice no run crosses), numbered from its start."""
        start = rows.start
        low, high = np.searchsorted(self.start, (start, rows.stop)).tolist()
        runs = slice(low, high)

        def shift(at: Array) -> Array:
            moved: Array = np.where(at >= 0, at - start, -1)
            return moved

        end = self.end[rows]
        return Skips(
            end=np.where(end > 0, end - start, 0),
            ta=self.ta[rows],
            start=self.start[runs] - start,
            nextseq=self.nextseq[runs],
            lastack=self.lastack[runs],
            window=self.window[runs],
            last=shift(self.last[runs]),
            moved=shift(self.moved[runs]),
            reset=shift(self.reset[runs]),
            duplicates=self.duplicates[runs],
            after_reset=self.after_reset[runs],
            headroom=self.headroom[runs],
        )


SkipFinder = Callable[[Headers, Array, int], Skips]  # (headers, rows, slice length) → Skips


class _Runs:
    """Skips of one slice, as plain lists: per run (by its first row) where it ends, its 4-tuple,
    and all the loop reads where it enters the run, gathered for every run at once."""

    def __init__(self, skips: Skips, table: _Table) -> None:
        ta, starts = skips.ta, skips.start
        end = skips.end[starts]
        at = starts.tolist()
        self.end: dict[int, int] = dict(zip(at, end.tolist(), strict=True))
        pairs = table.columns(starts, ("pair",))[:, 0].tolist()
        self.pair: dict[int, int] = dict(zip(at, pairs, strict=True))
        facts = [skips.nextseq, skips.lastack, skips.window, skips.headroom]
        for d in (0, 1):
            last, moved, reset = (a[:, d] for a in (skips.last, skips.moved, skips.reset))
            facts += [
                np.stack([last, moved, reset], axis=1),
                table.columns(np.maximum(last, 0), _LAST),
                ta[np.maximum(last, 0)][:, None],
                table.columns(np.maximum(moved, 0), ("time",)),
                skips.after_reset[:, d][:, None],
                skips.duplicates[:, d][:, None],
            ]
        gathered = np.concatenate(facts, axis=1) if len(starts) else np.zeros((0, 0), np.int64)
        # first row of a run → nextseq, last ACK, window and headroom of both directions, then
        # per direction its _DIRECTION facts
        self.at: dict[int, list[int]] = dict(zip(at, gathered.tolist(), strict=True))


_LAST = ("seq", "ack", "seglen", "window", "time")  # a run's facts of its last row
_DIRECTION = 12  # facts per direction of a run: last, moved, reset rows; seq, ack, seglen,
# window, time of its last; ta of its last; time of moved; duplicates after reset and from k


class _Table:
    """The headers of one slice (rows of h), each column gathered for the rows asked for: most
    rows of a slice are in runs, whose facts need a few columns of a few rows."""

    def __init__(self, h: Headers, rows: Array) -> None:
        self.h, self.rows = h, rows

    def columns(self, at: Array, names: tuple[str, ...]) -> Array:
        """The columns names at rows at (places in the slice), side by side as int64."""
        h, rows = self.h, self.rows[at]
        return np.stack([getattr(h, name)[rows] for name in names], axis=1, dtype=np.int64)

    def numbered(self, at: Array, follow: Array) -> list[list[int]]:
        """The rows at for _rules, in the order it reads them, each with its place and follow."""
        h, rows = self.h, self.rows[at]
        table = np.stack(
            [
                h.frame[rows],
                h.pair[rows],
                h.flow[rows] & 1,
                h.flags[rows],
                h.seq[rows],
                h.ack[rows],
                h.seglen[rows],
                h.window[rows],
                h.time[rows],
                h.reach[rows],
                h.ws_stored[rows],
                h.heavy[rows],
                at,
                follow,
            ],
            axis=1,
            dtype=np.int64,
        )
        numbered: list[list[int]] = table.tolist()
        return numbered

    def time(self, at: int) -> int:
        return int(self.h.time[self.rows[at]])


def _groups(pair: Array, size: int) -> Iterator[tuple[int, int]]:
    """(low, high) bounds of consecutive groups of about size rows of whole 4-tuples (pair is
    grouped by 4-tuple; a 4-tuple longer than size makes a group alone)."""
    n = len(pair)
    ends = np.append(np.flatnonzero(pair[1:] != pair[:-1]) + 1, n)
    low = 0
    while low < n:
        at = max(int(np.searchsorted(ends, low + size, side="right")) - 1, 0)
        high = int(ends[at])
        if high <= low:
            high = int(ends[np.searchsorted(ends, low, side="right")])
        yield low, high
        low = high


class Analyser:
    """Conversation and per-flow state across the whole capture, fed one block at a time."""

    def __init__(self) -> None:
        self.created: list[int] = []  # per conversation, the frame that opened it
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

    def feed(self, headers: Headers, rows: Array, skip: SkipFinder | None = None) -> Analysed:
        """Analyse the headers at rows, continuing from earlier ones.

        rows holds whole 4-tuples, each in frame order, the 4-tuples by increasing number: they
        are independent, and conversations are numbered by the frame that opened them, so their
        order does not matter. skip, when given, names the rows that may skip the rules (Skips),
        for a group of whole 4-tuples at a time.
        """
        n = len(rows)
        conversation = np.empty(n, dtype=np.int64)
        flags = np.empty(n, dtype=np.int64)
        for low, high in _groups(headers.pair[rows], _GROUP if skip is not None else n):
            group = rows[low:high]
            skips = skip(headers, group, _SLICE) if skip is not None else None
            for first in range(low, high, _SLICE):
                last = min(first + _SLICE, high)
                part = slice(first - low, last - low)
                out = self._slice(headers, group[part], skips.part(part) if skips else None)
                conversation[first:last], flags[first:last] = out
        return Analysed(conversation=conversation, flags=flags)

    def _new_conversation(self, heavy: int, frame: int) -> int:
        conv = len(self._first_rtt)
        self._first_rtt.append(0)
        self._last_syn.append(0)
        self.created.append(frame)
        for _ in range(2):
            self._base_set.append(False)
            self._base.append(0)
            self._nextseq.append(0)
            self._nextseq_time.append(0)
            self._maxseq.append(0)
            self._lastack.append(0)
            self._lastack_time.append(0)
            self._window.append(NO_WINDOW)
            self._win_scale.append(-1)
            self._first_ack.append(False)
            self._last_flags.append(0)
            self._dupacks.append(0)
            self._unacked.append([] if heavy else None)
        return conv

    def _slice(self, h: Headers, rows: Array, skips: Skips | None) -> tuple[list[int], list[int]]:
        """The rules over one slice of headers, but for the runs of ordinary segments (skips)
        that find the state the fast path assumed: those take its results instead."""
        table = _Table(h, rows)
        n = len(rows)
        streams = [0] * n
        if skips is None:
            printed = [0] * n
            self._rules(table.numbered(np.arange(n), np.zeros(n, np.int64)), streams, printed)
            return streams, printed
        printed = skips.ta.tolist()
        runs = _Runs(skips, table)

        def run(k: int) -> None:
            """The run from row k: its results taken if the state is the one assumed."""
            conv, facts, end = self._current[runs.pair[k]], runs.at[k], runs.end[k]
            lagging = self._lagging(conv, facts)
            if lagging >= 0:
                self._take_run(conv, facts, table, k, end, lagging)
                streams[k:end] = [conv] * (end - k)
                return
            # Another state than assumed (most often the max seq to be acked still behind
            # nextseq after a gap, until a row that ends the run): the run takes the rules.
            at = np.arange(k, end)
            self._rules(table.numbered(at, np.zeros(len(at), np.int64)), streams, printed)

        # The rules go over the rows no run holds in one call; each such row says whether a
        # run starts after it (its row, else 0), and the loop enters that run there.
        follow = np.zeros(n, dtype=np.int64)
        follow[:-1] = np.where(skips.end[1:] > 0, np.arange(1, n), 0)
        if 0 in runs.end:
            run(0)
        cold = np.flatnonzero(skips.end == 0)
        self._rules(table.numbered(cold, follow[cold]), streams, printed, run)
        return streams, printed

    def _lagging(self, conv: int, facts: list[int]) -> int:
        """-1 unless the state of both flows is what the fast path assumed where the run starts
        (nextseq, last ACK and window of either direction, neither flow's last segment a
        keep-alive, whose duplicate ACK is a keep-alive ACK); then a bit per flow whose max seq
        to be acked lags behind its nextseq, as far as no ACK of the run goes beyond it (else
        it is nextseq). facts: _Runs.at of the run."""
        nextseq0, nextseq1, lastack0, lastack1, window0, window1, room0, room1 = facts[:8]
        flow = 2 * conv
        if not (
            self._nextseq[flow] == nextseq0
            and self._nextseq[flow + 1] == nextseq1
            and self._lastack[flow] == lastack0
            and self._lastack[flow + 1] == lastack1
            and self._window[flow] == window0
            and self._window[flow + 1] == window1
            and self._base_set[flow]
            and self._base_set[flow + 1]
            and not (self._last_flags[flow] | self._last_flags[flow + 1]) & KEEP_ALIVE
        ):
            return -1
        lagging = 0
        for d, room in ((0, room0), (1, room1)):
            nextseq, maxseq = self._nextseq[flow + d], self._maxseq[flow + d]
            if maxseq != nextseq:
                lag = (nextseq - maxseq) & _M
                if not maxseq or lag >= _HALF or lag > room:
                    return -1  # an ACK of the run would be an ACKed unseen segment
                lagging |= 1 << d
        return lagging

    def _take_run(
        self, conv: int, facts: list[int], table: _Table, k: int, end: int, lagging: int
    ) -> None:
        """The state the rules would leave after the ordinary segments at rows k .. end - 1."""
        for d in (0, 1):
            flow = 2 * conv + d
            at = 8 + d * _DIRECTION
            last, moved, reset, seq, ack, seglen, win, ts, ta, moved_time, dup_reset, dup_k = facts[
                at : at + _DIRECTION
            ]
            if last < k:
                continue  # no segment of this direction from k on
            self._nextseq[flow] = (seq + seglen) & _M
            if not lagging >> d & 1:  # else no segment starts at it: it stays behind
                self._maxseq[flow] = self._nextseq[flow]
            self._window[flow] = win
            self._lastack[flow] = ack
            self._lastack_time[flow] = ts
            self._last_flags[flow] = ta
            self._first_ack[flow] = False  # an ACK without SYN
            if moved >= k:
                self._nextseq_time[flow] = moved_time
            if reset >= k:  # the count starts again after it
                self._dupacks[flow] = dup_reset
            elif dup_k:
                count = self._dupacks[flow]
                count = 1 if count == _STALLED else count + 1
                self._dupacks[flow] = count + dup_k - 1
        first_syn = self._last_syn[conv]
        if first_syn and not self._first_rtt[conv]:  # the first ACK after a SYN gives the RTT
            for at in range(k, end):  # most often the first row: not the run's times as a list
                ts = table.time(at)
                self._first_rtt[conv] = ts - first_syn
                if ts != first_syn:
                    break

    def _rules(
        self,
        rows: list[list[int]],
        streams: list[int],
        printed: list[int],
        run: Callable[[int], None] = lambda k: None,
    ) -> None:
        """The loop of dissect_tcp and tcp_analyze_sequence_number over rows (_slice's table,
        then the row's place i and follow, _numbered): the conversation and printed flags of
        each go to streams[i] and printed[i]; where follow is set, run(follow) after the row.

        The common cases (in-order data, pure ACKs) run inline on local names; the rare ones
        (port reuse, ACKed unseen segments, retransmissions, listed segments) call helpers.
        """
        current = self._current
        base_set, base = self._base_set, self._base
        nextseq_of, nextseq_time, maxseq_of = self._nextseq, self._nextseq_time, self._maxseq
        lastack_of, lastack_time, window_of = self._lastack, self._lastack_time, self._window
        win_scale, first_ack, last_flags = self._win_scale, self._first_ack, self._last_flags
        dupacks, unacked = self._dupacks, self._unacked
        for frame, tup, d, flags, seq, ack, seglen, win, ts, reach, ws, big, i, follow in rows:
            conv = current.get(tup)
            if conv is None:
                conv = current[tup] = self._new_conversation(big, frame)
            fwd = 2 * conv + d
            ta = 0
            if flags & _SYN and base_set[fwd]:
                conv, ta = self._syn_on_known_flow(tup, conv, d, flags, seq, big, frame)
                fwd = 2 * conv + d
            if seglen >= 0:
                # ---- tcp_analyze_sequence_number, packet-tcp.c order ----
                rev = fwd ^ 1
                if not base_set[fwd]:
                    base[fwd] = seq if flags & _SYN else (seq - 1) & _M
                    base_set[fwd] = True
                if not base_set[rev] and flags & _ACK:
                    base[rev] = (ack - 1) & _M
                    base_set[rev] = True
                nextseq = nextseq_of[fwd]
                lastack = lastack_of[fwd]
                window = window_of[fwd]
                sfr = flags & _SFR
                if seglen == 1 and seq == nextseq and window_of[rev] == 0:
                    ta |= ZERO_WINDOW_PROBE
                else:
                    if win == 0 and not sfr:
                        ta |= ZERO_WINDOW
                    if nextseq and (nextseq - seq) & _M >= _HALF and not flags & _RST:
                        ta |= LOST_PACKET
                    if seglen <= 1 and not sfr and seq == (nextseq - 1) & _M:
                        ta |= KEEP_ALIVE
                    if seglen == 0:
                        if seq == nextseq and ack == lastack and not sfr:
                            if win != window:
                                if win:
                                    ta |= WINDOW_UPDATE
                            elif win:
                                if last_flags[rev] & KEEP_ALIVE:
                                    ta |= KEEP_ALIVE_ACK
                                else:
                                    count = dupacks[fwd]
                                    dupacks[fwd] = 1 if count == _STALLED else count + 1
                                    ta |= DUPLICATE_ACK
                            elif last_flags[rev] & ZERO_WINDOW_PROBE:
                                ta |= ZERO_WINDOW_PROBE_ACK
                    elif win_scale[rev] != -1 and not sfr:
                        scale = win_scale[rev]
                        shift = 0 if first_ack[rev] or scale == -2 else scale
                        edge = lastack_of[rev] + ((window_of[rev] << shift) & _M)
                        if (seq + seglen - edge) & _M == 0:
                            ta |= WINDOW_FULL
                if ack != lastack:
                    dupacks[fwd] = 0
                if flags & _ACK:
                    maxseq = maxseq_of[rev]
                    if maxseq and (maxseq - ack) & _M >= _HALF and self._acked_unseen(rev):
                        ta |= ACK_LOST_PACKET
                if seglen or flags & _SYN_FIN:
                    if not ta & KEEP_ALIVE:
                        rev_ack = lastack_of[rev]
                        if seglen and rev_ack and (rev_ack - seq - seglen) & _M < _HALF:
                            ta |= SPURIOUS_RETRANSMISSION
                        elif nextseq and (seq - nextseq) & _M >= _HALF:
                            ta |= self._resent(fwd, flags, seq, seglen, ts, nextseq)
                    after = (seq + seglen) & _M
                    listed = unacked[fwd]
                    if listed is None or len(listed) < MAX_UNACKED:
                        if flags & _SYN_FIN:  # SYN and FIN count as one byte
                            after = (after + 1) & _M
                        if listed is not None:
                            listed.append(after)
                else:
                    after = seq
                if (not nextseq or (nextseq - after) & _M >= _HALF) and not ta & ZERO_WINDOW_PROBE:
                    nextseq_of[fwd] = nextseq = after
                    nextseq_time[fwd] = ts
                maxseq = maxseq_of[fwd]
                if (seq == maxseq or not maxseq) and not ta & ZERO_WINDOW_PROBE:
                    maxseq_of[fwd] = nextseq
                window_of[fwd] = win
                lastack_of[fwd] = ack
                lastack_time[fwd] = ts
                last_flags[fwd] = ta
                if unacked[rev]:
                    self._drop_acked(rev, ack)
            streams[i] = conv  # conversations are numbered in creation order, as tcp.stream
            printed[i] = ta if reach == REACH_ALL else 0
            # Below REACH_FLAGS, a bogus header length: dissection stopped after the seq.
            if reach >= REACH_FLAGS:
                if flags & _SYN:
                    if not flags & _ACK:
                        self._last_syn[conv] = ts
                    first_ack[fwd] = True
                elif flags & _ACK:
                    first_syn = self._last_syn[conv]
                    if first_syn and not self._first_rtt[conv]:
                        self._first_rtt[conv] = ts - first_syn
                    first_ack[fwd] = False
                if reach >= REACH_OPTIONS and ws >= 0:
                    win_scale[fwd] = ws
                if reach == REACH_ALL and flags & _SYN:
                    self._verify_window_scaling(fwd, flags & _ACK != 0)
            if follow:
                run(follow)

    def _syn_on_known_flow(
        self, tup: int, conv: int, d: int, flags: int, seq: int, big: int, frame: int
    ) -> tuple[int, int]:
        """A SYN on a flow whose ISN is known: port reuse, or a repeated SYN (dissect_tcp)."""
        fwd = 2 * conv + d
        if flags & _ACK:
            if seq != self._base[fwd]:  # a SYN-ACK with another ISN: the same stream, rebased
                self._base[fwd] = seq
                return conv, REUSED_PORTS
            return conv, 0
        if seq != self._base[fwd]:  # a new ISN: a new conversation (tcp.stream) begins
            conv = self._current[tup] = self._new_conversation(big, frame)
            return conv, REUSED_PORTS
        # A repeated SYN: tshark restores nextseq, which a RST may have moved.
        self._nextseq[fwd] = self._maxseq[fwd]
        return conv, 0

    def _drop_acked(self, flow: int, ack: int) -> None:
        """Every listed segment this ACK reaches leaves the flow's list."""
        listed = self._unacked[flow]
        if listed:
            listed[:] = [x for x in listed if (ack - x) & _M >= _HALF]

    def _verify_window_scaling(self, fwd: int, synack: bool) -> None:
        rev = fwd ^ 1
        if self._win_scale[fwd] == -1:
            self._win_scale[fwd] = self._win_scale[rev] = -2
        elif synack and self._win_scale[rev] == -2:
            self._win_scale[fwd] = -2

    def _acked_unseen(self, rev: int) -> bool:
        """ACKed unseen segment: an ACK beyond the other direction's max seq to be acked."""
        maxseq = self._maxseq[rev]
        nextseq = self._nextseq[rev]
        if (maxseq - nextseq) & _M >= _HALF:  # below the highest seq seen: jump, report once
            self._maxseq[rev] = nextseq
            return True
        # Stalled behind a gap: report once, until the other side's next change of ACK.
        reported = self._dupacks[rev] == 0
        self._dupacks[rev] = _STALLED
        return reported

    def _resent(self, fwd: int, flags: int, seq: int, seglen: int, ts: int, nextseq: int) -> int:
        """A segment behind nextseq: fast retransmission, out-of-order or retransmission."""
        if seglen > 1 and (nextseq - 1) & _M == seq:
            return 0  # one byte before nextseq: data after a zero-window probe
        rev = fwd ^ 1
        since_ack = (ts - self._lastack_time[rev]) % (1 << 64)
        if (
            self._dupacks[rev] >= 2
            and self._lastack[rev] == seq
            and since_ack < _FAST_RETRANSMISSION_WINDOW
        ):
            return FAST_RETRANSMISSION
        since_next = (ts - self._nextseq_time[fwd]) % (1 << 64)
        conv_rtt = self._first_rtt[fwd >> 1]
        threshold = conv_rtt % (1 << 64) if conv_rtt else _DEFAULT_OOO_THRESHOLD
        after = (seq + seglen + (1 if flags & _SYN_FIN else 0)) & _M
        if since_next < threshold and nextseq != after:
            return OUT_OF_ORDER
        return RETRANSMISSION
