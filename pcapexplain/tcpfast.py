"""TCP-analysis stage of the native reader, fast path: in-order connections, vectorised.

Most connections of a capture are plain: one SYN first, every segment exactly where the previous
one of its direction ended, no zero window, no ACK of data the capture never showed. For those
tshark's analysis (tcpanalysis.py states it in full) can only ever flag three things, each a
function of the previous packet of the same direction and the last one of the other direction:
duplicate ACKs, window updates and window-full segments. `split` finds such 4-tuples with array
operations and flags their packets; every other 4-tuple goes through tcpanalysis.Analyser, the
reference, and `tests/test_native_equivalence.py` holds the two paths equal (it runs both).

The conditions that make a 4-tuple plain are exactly the ones under which the other rules of
tcp_analyze_sequence_number cannot fire; docs/NATIVE-READER.md lists them. In the other 4-tuples
`ordinary` finds, with the same kind of passes, the runs of segments the rules would flag at most
as window updates or duplicate ACKs, given a state the loop checks before it lets a run skip.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from pcapexplain import seqspace, tcpanalysis
from pcapexplain.tcpanalysis import Headers
from pcapexplain.tcpheader import REACH_ALL

Array = np.ndarray[Any, Any]

_SYN, _ACK, _FIN, _RST = 0x02, 0x10, 0x01, 0x04
# Sequence space from the one definition; the loops inline its arithmetic as `& _M` on ints.
_M = seqspace.MOD - 1
_HALF = seqspace.HALF


_CHUNK = 1 << 17  # headers per group of whole 4-tuples: bounds the temporaries (~200 B each)


@dataclass(slots=True)
class Split:
    plain: Array  # bool per header: its 4-tuple took the fast path
    flags: Array  # TCP_A_* bits for the plain headers (0 elsewhere)
    opening: Array  # per 4-tuple: the frame that opened its conversation if plain, else -1
    order: Array  # every header by 4-tuple, frame order within each

    @property
    def first_frame(self) -> Array:
        """The opening frames of the plain 4-tuples, sorted."""
        frames: Array = np.sort(self.opening[self.opening >= 0])
        return frames


def stable_order(keys: Array) -> Array:
    """np.argsort(keys, kind="stable") of non-negative integers, 16 bits at a time.

    numpy sorts 16-bit integers stably by radix, in linear time, and wider ones by merging: a
    million 4-tuple numbers sort about five times faster a digit at a time (least significant
    first, each pass stable).
    """
    order: Array = np.argsort((keys & 0xFFFF).astype(np.uint16), kind="stable")
    top = int(keys.max()) if len(keys) else 0
    shift = 16
    while top >> shift:
        digit = ((keys[order] >> shift) & 0xFFFF).astype(np.uint16)
        order = order[np.argsort(digit, kind="stable")]
        shift += 16
    return order


def split(h: Headers) -> Split:
    """Which headers belong to plain 4-tuples, and the analysis flags of those headers.

    Every rule here looks only at the headers of one 4-tuple, so the 4-tuples go through in
    groups of about _CHUNK headers, renumbered from 0 within their group.
    """
    n = len(h.frame)
    pairs = int(h.pair.max()) + 1 if n else 0
    plain = np.zeros(n, dtype=bool)
    flags = np.zeros(n, dtype=np.int64)
    opening = np.full(pairs, -1, dtype=np.int64)
    order = stable_order(h.pair)  # by 4-tuple, frame order within each
    ends = np.cumsum(np.bincount(h.pair, minlength=pairs))  # past each 4-tuple's last header
    low = 0
    while low < pairs:
        start = int(ends[low - 1]) if low else 0
        high = max(int(np.searchsorted(ends, start + _CHUNK, side="right")), low + 1)
        rows = order[start : int(ends[high - 1])]
        part = Headers(**{name: getattr(h, name)[rows] for name in _HEADER_FIELDS})
        part.pair -= low
        part.flow -= 2 * low
        plain[rows], flags[rows], opening[low:high] = _split_part(part, high - low)
        low = high
    return Split(plain, flags, opening, order)


_HEADER_FIELDS = tuple(Headers.__dataclass_fields__)


def _split_part(h: Headers, pairs: int) -> tuple[Array, Array, Array]:
    """split for headers of whole 4-tuples numbered 0 .. pairs - 1, grouped by 4-tuple."""
    n = len(h.frame)
    flags = h.flags.astype(np.int64)
    seq, ack = h.seq.astype(np.int64), h.ack.astype(np.int64)
    seglen, window = h.seglen.astype(np.int64), h.window.astype(np.int64)
    after = (seq + seglen + ((flags & (_SYN | _FIN)) != 0)) & _M
    near = _Neighbours(h.pair, h.flow)
    prev, rev = near.previous, near.other
    has_prev, has_rev = prev >= 0, rev >= 0
    expected = np.where(has_prev, after[prev], 0)  # nextseq, since every segment came in order
    rev_next = np.where(has_rev, after[rev], 0)
    rev_ack = np.where(has_rev, ack[rev], 0)
    bad = ~_plain_shape(h, flags, seq, after, window, has_prev, expected, near.first_of_pair)
    # An ACK beyond what the other side sent is "ACKed unseen" ...
    bad |= ((flags & _ACK) != 0) & (rev_next != 0) & (((rev_next - ack) & _M) >= _HALF)
    # ... and data the other side had already acknowledged a "spurious retransmission".
    bad |= (seglen > 0) & (rev_ack != 0) & (((rev_ack - seq - seglen) & _M) < _HALF)
    plain_pairs = np.ones(pairs, dtype=bool)
    plain_pairs[h.pair[bad]] = False
    plain = plain_pairs[h.pair]
    sfr = (flags & (_SYN | _FIN | _RST)) != 0
    prev_window = np.where(has_prev, window[prev], tcpanalysis.NO_WINDOW)
    prev_ack = np.where(has_prev, ack[prev], 0)
    empty = plain & (seglen == 0) & (window != 0) & ~sfr & (ack == prev_ack) & (seq == expected)
    out = np.zeros(n, dtype=np.int64)
    out[empty & (window == prev_window)] = tcpanalysis.DUPLICATE_ACK
    out[empty & (window != prev_window)] = tcpanalysis.WINDOW_UPDATE
    data = np.flatnonzero(plain & (seglen > 0) & ~sfr)
    if len(data):
        scales = _Scales(h, flags, plain, near.first_of_pair)
        full = scales.window_full(h, data, seq + seglen, window, ack, rev)
        out[data[full]] |= tcpanalysis.WINDOW_FULL
    opening = np.full(pairs, -1, dtype=np.int64)
    opened = plain & near.first_of_pair
    opening[h.pair[opened]] = h.frame[opened]
    return plain, out, opening


class _Neighbours:
    """Per header: the previous header of its flow, the last earlier one of the other flow of
    its 4-tuple (-1: none), and whether it is its 4-tuple's first. The headers come grouped by
    4-tuple, in frame order within each (as split gives them)."""

    def __init__(self, pair: Array, flow: Array) -> None:
        n = len(pair)
        position = np.arange(n)
        starts = np.ones(n, dtype=bool)
        starts[1:] = pair[1:] != pair[:-1]
        self.first_of_pair = starts
        group_start = np.maximum.accumulate(np.where(starts, position, 0))
        direction = flow & 1
        last = {}
        for d in (0, 1):
            seen = np.maximum.accumulate(np.where(direction == d, position, -1))
            before = np.concatenate([[-1], seen[:-1]])  # strictly earlier
            before[before < group_start] = -1  # in another 4-tuple: none
            last[d] = before
        mine = direction == 1
        self.previous = np.where(mine, last[1], last[0])
        self.other = np.where(mine, last[0], last[1])


def _plain_shape(
    h: Headers,
    flags: Array,
    seq: Array,
    after: Array,
    window: Array,
    has_prev: Array,
    expected: Array,
    first_of_pair: Array,
) -> Array:
    """Per header: nothing in it that only the full analysis handles."""
    pure_syn = (flags & (_SYN | _ACK)) == _SYN
    syn_ack = (flags & (_SYN | _ACK)) == (_SYN | _ACK)
    ok: Array = (h.reach == REACH_ALL) & ~h.in_error & (h.seglen >= 0) & ~h.heavy
    ok &= window != 0  # no zero window, hence no probe either
    ok &= after != 0  # tshark reads a next sequence number of 0 as "unknown"
    # In order: each header starts where its direction's previous one ended; a direction's
    # first header avoids the values that tshark's unset state (0) would match.
    ok &= np.where(has_prev, seq == expected, (seq != 0) & (seq != _M))
    # Options change the window scale only on the SYN and the SYN-ACK.
    ok &= ((flags & _SYN) != 0) | (h.ws_stored < 0)
    # One pure SYN, the 4-tuple's first header; a SYN-ACK only as its direction's first.
    ok &= ~((pure_syn | syn_ack) & has_prev)
    ok &= ~pure_syn | first_of_pair
    starts_with_syn = np.zeros(int(h.pair.max()) + 1 if len(h.pair) else 0, dtype=bool)
    starts_with_syn[h.pair[first_of_pair & pure_syn]] = True
    ok &= starts_with_syn[h.pair]
    return ok


class _Scales:
    """dissect_tcp's window-scale bookkeeping, replayed on the SYN and SYN-ACK of plain 4-tuples
    (the only headers of such a 4-tuple that change it)."""

    def __init__(self, h: Headers, flags: Array, plain: Array, first_of_pair: Array) -> None:
        pairs = int(h.pair.max()) + 1
        never = np.iinfo(np.int64).max
        self.syn = np.full(pairs, never, dtype=np.int64)
        self.synack = np.full(pairs, never, dtype=np.int64)
        syn = np.flatnonzero(plain & first_of_pair)  # a plain 4-tuple opens with its SYN
        synack = np.flatnonzero(plain & ((flags & (_SYN | _ACK)) == (_SYN | _ACK)))
        self.syn[h.pair[syn]] = h.frame[syn]
        self.synack[h.pair[synack]] = h.frame[synack]
        self.client = np.full(pairs, 0, dtype=np.int64)  # direction of the SYN sender
        self.client[h.pair[syn]] = h.flow[syn] & 1
        # After the SYN: its own shift, or "no scaling" both ways (verify_tcp_window_scaling).
        ws = h.ws_stored.astype(np.int64)
        c1 = np.full(pairs, -1, dtype=np.int64)
        c1[h.pair[syn]] = ws[syn]
        s1 = np.where(c1 >= 0, -1, -2)
        c1 = np.where(c1 >= 0, c1, -2)
        # After the SYN-ACK: the server's shift, then the same verification from its side.
        server_ws = np.full(pairs, -1, dtype=np.int64)
        server_ws[h.pair[synack]] = ws[synack]
        has_synack = self.synack < never
        s2 = np.where(has_synack & (server_ws >= 0), server_ws, s1)
        unknown = has_synack & (s2 == -1)
        c2 = np.where(unknown, -2, c1)
        s2 = np.where(unknown | (has_synack & (c2 == -2)), -2, s2)
        self.after_syn = (c1, s1)
        self.after_synack = (c2, s2)
        # Per flow: its first ACK without SYN (is_first_ack ends there) and its SYN or SYN-ACK.
        self.own_syn = np.full(2 * pairs, never, dtype=np.int64)
        self.own_syn[h.flow[syn]] = h.frame[syn]
        self.own_syn[h.flow[synack]] = h.frame[synack]
        acks = np.flatnonzero(plain & ((flags & (_SYN | _ACK)) == _ACK))
        self.first_ack = np.full(2 * pairs, never, dtype=np.int64)
        for d in (0, 1):  # one direction's flows come in increasing order: no sort needed
            rows = acks[(h.flow[acks] & 1) == d]
            flows = h.flow[rows]
            first = np.ones(len(rows), dtype=bool)
            first[1:] = flows[1:] != flows[:-1]
            self.first_ack[flows[first]] = h.frame[rows[first]]

    def window_full(
        self, h: Headers, rows: Array, end: Array, window: Array, ack: Array, rev: Array
    ) -> Array:
        """At rows: does the segment end at the other side's last ACK plus its window?"""
        pair, frame = h.pair[rows], h.frame[rows]
        other = h.flow[rows] ^ 1
        other_is_client = (other & 1) == self.client[pair]
        late = frame > self.synack[pair]
        c = np.where(late, self.after_synack[0][pair], self.after_syn[0][pair])
        s = np.where(late, self.after_synack[1][pair], self.after_syn[1][pair])
        scale = np.where(frame > self.syn[pair], np.where(other_is_client, c, s), -1)
        first_ack = (self.own_syn[other] < frame) & ~(self.first_ack[other] < frame)
        shift = np.where(first_ack | (scale == -2), 0, np.maximum(scale, 0))
        back = rev[rows]
        has = back >= 0
        rev_window = np.where(has, window[np.maximum(back, 0)], tcpanalysis.NO_WINDOW)
        rev_ack = np.where(has, ack[np.maximum(back, 0)], 0)
        edge = (rev_ack + ((rev_window << shift) & _M)) & _M
        full: Array = (scale != -1) & (((end[rows] - edge) & _M) == 0)
        return full


# ------------------------------------------------------------------- ordinary segments


def ordinary(h: Headers, rows: Array, cut: int) -> tcpanalysis.Skips:
    """The rows (whole 4-tuples, by 4-tuple, frame order within) that may skip the rules.

    A row may when, with the state its direction's and the other direction's earlier rows leave
    if every in-order segment moved nextseq (a running maximum of segment ends), it is an
    ordinary segment: analysed and fully read, in order, ACK without SYN, FIN or RST, a non-zero
    window and no window-scale option, no ACK beyond what the other side sent, no data it
    already acknowledged, not a possible window-full or zero-window probe. Then the rules flag
    at most a window update or a duplicate ACK, and leave a state its fields give. Whether the
    loop's state really is the assumed one it checks where it enters a run (Skips). Runs end
    at every cut rows (the loop's slices).
    """
    n = len(rows)
    pos = np.arange(n)
    pair = h.pair[rows]
    d = (h.flow[rows] & 1).astype(np.int64)
    flags = h.flags[rows].astype(np.int64)
    seq, ack = h.seq[rows].astype(np.int64), h.ack[rows].astype(np.int64)
    seglen, window = h.seglen[rows].astype(np.int64), h.window[rows].astype(np.int64)
    analysed = seglen >= 0
    after = (seq + np.maximum(seglen, 0) + ((flags & (_SYN | _FIN)) != 0)) & _M
    # A pure SYN after a 4-tuple's first row may open a new conversation or reset nextseq
    # (repeated SYN): the assumptions start again there ("epochs").
    pair_first = np.ones(n, dtype=bool)
    pair_first[1:] = pair[1:] != pair[:-1]
    epoch_first = pair_first | ((flags & (_SYN | _ACK)) == _SYN)
    epoch_start = np.maximum.accumulate(np.where(epoch_first, pos, 0))
    last = np.empty((n, 2), dtype=np.int64)  # the last analysed row of each direction before
    for e in (0, 1):
        seen = np.maximum.accumulate(np.where(analysed & (d == e), pos, -1))
        before = np.concatenate([[-1], seen[:-1]])
        last[:, e] = np.where(before >= epoch_start, before, -1)
    end, most, nextseq, tame = _running_nextseq(after, analysed, d, np.cumsum(epoch_first))
    own, other = last[pos, d], last[pos, 1 - d]
    p, q = np.maximum(own, 0), np.maximum(other, 0)
    ok = (own >= 0) & (other >= 0) & analysed & (h.reach[rows] == REACH_ALL)
    ok &= ~h.in_error[rows] & ~h.heavy[rows] & (h.ws_stored[rows] < 0) & (window != 0)
    ok &= (flags & (_SYN | _FIN | _RST | _ACK)) == _ACK
    # In order, where nextseq is known and the segment's end is not 0 (unknown to tshark).
    ok &= (end - most[p] == seglen) & tame & (nextseq[p] != 0) & (after != 0)
    ok &= ~((seglen == 1) & (window[q] == 0))  # a zero-window probe
    same_ack = ack == ack[p]
    duplicate = (seglen == 0) & same_ack & (window == window[p])  # or a keep-alive's ACK
    rev_ack, rev_window = ack[q], window[q]
    ok &= ~((seglen > 0) & (rev_ack != 0) & (((rev_ack - seq - seglen) & _M) < _HALF))
    # Window full, whatever the scale: only rows still ok with payload can be.
    data = np.flatnonzero(ok & (seglen > 0))
    gap, edge = (seq[data] + seglen[data] - rev_ack[data]) & _M, rev_window[data]
    full = np.zeros(len(data), dtype=bool)
    for shift in range(15):
        full |= gap == ((edge << shift) & _M)
    ok[data[full]] = False
    rev_next = nextseq[q]
    ok &= ~((rev_next != 0) & (((rev_next - ack) & _M) >= _HALF))  # ACKed unseen
    ta = np.where(ok & (seglen == 0) & same_ack, tcpanalysis.WINDOW_UPDATE, 0)
    ta[ok & duplicate] = tcpanalysis.DUPLICATE_ACK
    starts = ok & (pair_first | (pos % cut == 0))
    starts[1:] |= ok[1:] & ~ok[:-1]
    starts[:1] = ok[:1]
    lasts = ok.copy()
    lasts[:-1] &= ~ok[1:] | starts[1:]
    run = np.maximum(np.cumsum(starts) - 1, 0)  # the run of each skippable row
    first, final = np.flatnonzero(starts), np.flatnonzero(lasts)  # each run's first and last
    ends = np.append(final + 1, 0)  # (a last 0 for no run at all)
    before = last[first]  # (runs, 2): the last analysed row of either direction before the run
    known = np.maximum(before, 0)
    runs = (len(first), 2)
    skips = tcpanalysis.Skips(
        end=np.where(ok, ends[run], 0),
        ta=ta,
        start=first,
        nextseq=np.where(before >= 0, nextseq[known], 0),
        lastack=ack[known],
        window=window[known],
        last=np.full(runs, -1, dtype=np.int64),
        moved=np.full(runs, -1, dtype=np.int64),
        reset=np.full(runs, -1, dtype=np.int64),
        duplicates=np.zeros(runs, dtype=np.int64),
        after_reset=np.zeros(runs, dtype=np.int64),
        headroom=np.zeros(runs, dtype=np.int64),
    )
    for e in (0, 1):
        mine = ok & (d == e)
        for column, chosen in (
            (skips.last, mine),
            (skips.moved, mine & (seglen > 0)),
            (skips.reset, mine & ~same_ack),
        ):
            at = np.flatnonzero(chosen)  # the last of each run
            at = at[np.append(run[at][1:] != run[at][:-1], True)] if len(at) else at
            column[run[at], e] = at
        counted = np.cumsum(mine & duplicate)  # up to each row; a run's rows are consecutive
        skips.duplicates[:, e] = counted[final] - counted[first] + (mine & duplicate)[first]
        reset = skips.reset[:, e]
        skips.after_reset[:, e] = np.where(reset >= 0, counted[final] - counted[reset], 0)
    skips.headroom = _headroom(ok, d, ack, last, most, nextseq, first, skips.last)
    return skips


def _headroom(
    ok: Array, d: Array, ack: Array, last: Array, most: Array, nextseq: Array,
    first: Array, last_in_run: Array,
) -> Array:  # fmt: skip
    """Per run (first: their first rows) and direction: how far that flow's max seq to be acked
    may lag behind its nextseq where the run starts with no ACK of the run going beyond it (-1:
    none may).

    Unwrapped in the flow's own terms, as _running_nextseq gives them; the flow's growth over
    the run stays under 2**31, so that no segment of it can start at the lagging value.
    """
    room = np.full((len(first), 2), -1, dtype=np.int64)
    if not len(first):
        return room
    none = 1 << 40
    for e in (0, 1):
        here = np.where(last[:, e] >= 0, most[np.maximum(last[:, e], 0)], 0)  # its nextseq
        rev_next = np.where(last[:, e] >= 0, nextseq[np.maximum(last[:, e], 0)], 0)
        acking = ok & (d == 1 - e) & (rev_next != 0)  # (ok: a row of e came before)
        acked = np.where(acking, here - ((rev_next - ack) & _M), -none)
        acked[ok & (d == 1 - e) & (rev_next == 0)] = none  # nextseq unknown: no lag at all
        # The highest ACK of each run: the rows from its first to the next run's first hold
        # its rows, then rows that may not skip, whose -none changes nothing.
        highest = np.maximum.reduceat(np.clip(acked, -none, none), first)
        end_row, start = last_in_run[:, e], here[first]
        grown = np.where(end_row >= 0, most[np.maximum(end_row, 0)], start) - start
        fine = (last[first, e] >= 0) & (grown < _HALF)
        room[:, e] = np.where(fine, np.minimum(start - highest, none), -1)
    return room


_WILD = 1 << 36  # an unwrapped sequence number further than this from its start: no skip


def _running_nextseq(
    after: Array, analysed: Array, d: Array, epoch: Array
) -> tuple[Array, Array, Array, Array]:
    """Per analysed row, within its epoch and direction: its segment end unwrapped (relative to
    the first one), the running maximum of those up to it (nextseq if every segment that goes
    further moves it), that maximum as a sequence number, and whether the unwrapping stayed
    tame. Unwrapping takes each step between consecutive ends as the signed 32-bit difference."""
    n = len(after)
    rows = np.flatnonzero(analysed)
    key = epoch[rows] * 2 + d[rows]
    rows = rows[stable_order(key)]
    key = epoch[rows] * 2 + d[rows]
    first = np.ones(len(rows), dtype=bool)
    first[1:] = key[1:] != key[:-1]
    ends = after[rows]
    step = np.zeros(len(rows), dtype=np.int64)
    step[1:] = ((ends[1:] - ends[:-1] + _HALF) & _M) - _HALF
    step[first] = 0
    total = np.cumsum(step)
    group = np.cumsum(first) - 1
    relative = total - total[np.flatnonzero(first)][group]
    wild = np.abs(relative) > _WILD
    relative = np.clip(relative, -_WILD, _WILD)
    lift = group * (4 * _WILD)
    most = np.maximum.accumulate(relative + lift) - lift
    origin = ends[np.flatnonzero(first)][group]
    out_end = np.zeros(n, dtype=np.int64)
    out_most = np.zeros(n, dtype=np.int64)
    out_next = np.zeros(n, dtype=np.int64)
    tame = np.zeros(n, dtype=bool)
    out_end[rows] = relative
    out_most[rows] = most
    out_next[rows] = (origin + most) & _M
    wild_so_far = np.maximum.accumulate(wild.astype(np.int64) + 2 * group) - 2 * group
    tame[rows] = wild_so_far == 0
    return out_end, out_most, out_next, tame
