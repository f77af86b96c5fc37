"""TCP-analysis stage of the native reader, fast path: in-order connections, vectorised.

Most connections of a capture are plain: one SYN first, every segment exactly where the previous
one of its direction ended, no zero window, no ACK of data the capture never showed. For those
tshark's analysis (tcpanalysis.py states it in full) can only ever flag three things, each a
function of the previous packet of the same direction and the last one of the other direction:
duplicate ACKs, window updates and window-full segments. `split` finds such 4-tuples with array
operations and flags their packets; every other 4-tuple goes through tcpanalysis.Analyser, the
reference, and `tests/test_native_equivalence.py` holds the two paths equal (it runs both).

The conditions that make a 4-tuple plain are exactly the ones under which the other rules of
tcp_analyze_sequence_number cannot fire; docs/NATIVE-READER.md lists them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from pcapexplain import seqspace, tcpanalysis
from pcapexplain.decode import REACH_ALL
from pcapexplain.tcpanalysis import Headers

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

    @property
    def first_frame(self) -> Array:
        """The opening frames of the plain 4-tuples, sorted."""
        frames: Array = np.sort(self.opening[self.opening >= 0])
        return frames


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
    order = np.argsort(h.pair, kind="stable")  # by 4-tuple, frame order within each
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
    return Split(plain, flags, opening)


_HEADER_FIELDS = tuple(Headers.__dataclass_fields__)


def _split_part(h: Headers, pairs: int) -> tuple[Array, Array, Array]:
    """split for headers of whole 4-tuples numbered 0 .. pairs - 1, in any order across them."""
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
    its 4-tuple (-1: none), and whether it is its 4-tuple's first. One sort by 4-tuple."""

    def __init__(self, pair: Array, flow: Array) -> None:
        n = len(pair)
        order = np.argsort(pair, kind="stable")  # by 4-tuple, frame order within each
        ordered = pair[order]
        starts = np.ones(n, dtype=bool)
        starts[1:] = ordered[1:] != ordered[:-1]
        self.first_of_pair = np.zeros(n, dtype=bool)
        self.first_of_pair[order[starts]] = True
        group_start = np.maximum.accumulate(np.where(starts, np.arange(n), 0))
        direction = flow[order] & 1
        last = {}
        for d in (0, 1):
            seen = np.maximum.accumulate(np.where(direction == d, np.arange(n), -1))
            before = np.concatenate([[-1], seen[:-1]])  # strictly earlier
            before[before < group_start] = -1  # in another 4-tuple: none
            last[d] = before
        self.previous = np.full(n, -1, dtype=np.int64)
        self.other = np.full(n, -1, dtype=np.int64)
        for d in (0, 1):
            mine = direction == d
            same, other = last[d][mine], last[1 - d][mine]
            self.previous[order[mine]] = np.where(same >= 0, order[same], -1)
            self.other[order[mine]] = np.where(other >= 0, order[other], -1)


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
        flows, first = np.unique(h.flow[acks], return_index=True)  # frame order: the first
        self.first_ack = np.full(2 * pairs, never, dtype=np.int64)
        self.first_ack[flows] = h.frame[acks][first]

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
