"""What every anomaly check works on: each connection's notable rows and bounded look-ups.

`gather` makes whole-column passes over all packets, collecting each connection's *notable* rows
(tshark analysis bits, control flags, bad checksums, oversize segments, data after a FIN or RST);
a `Context` then gives the checks those rows, short look-backs inside one connection, and the
reconstructor's summary of it.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from pcapexplain.anomalies.catalogue import CATALOGUE
from pcapexplain.arrays import first_of_each, stable_order
from pcapexplain.model import (
    Anomaly,
    AnomalySlug,
    ChecksumStatus,
    Closer,
    Connection,
    Direction,
    PacketColumns,
    PacketStates,
    Severity,
    TcpFlags,
)
from pcapexplain.retransmission import Stall, stall
from pcapexplain.seqspace import segment_end, seq_gt

# Plain ints: IntFlag's own `&` costs a call per row.
SYN, ACK, FIN, RST = int(TcpFlags.SYN), int(TcpFlags.ACK), int(TcpFlags.FIN), int(TcpFlags.RST)
BAD_CHECKSUM = int(ChecksumStatus.BAD)
_CTRL = SYN | ACK | FIN | RST
MAX_FRAMES = 1000  # frames kept per anomaly; the true count stays in params["count"]
LOOK_BACK = 256  # packets of one connection a check may scan backwards from a row
AT_END = 1.0  # less capture than this after a packet: it happened "at capture end"


@dataclass(frozen=True, slots=True)
class Notable:
    """One connection's notable rows, and what any of them carries (to skip empty look-ups)."""

    rows: list[int]
    flags: int = 0  # every TCP flag set on some notable row
    bits: int = 0  # every analysis bit set on some notable row
    bad_checksum: bool = False  # some notable row has a bad TCP checksum
    zero_window: bool = False  # some notable row advertises a zero window


@dataclass(frozen=True, slots=True)
class Gathered:
    """Every connection's notable rows, grouped: connection i owns rows[starts[i]:starts[i+1]].

    The per-connection arrays are indexed by connection id.
    """

    rows: list[int]
    starts: list[int]  # one more than the connections
    flags: npt.NDArray[np.int64]  # every TCP flag set on some notable row
    bits: npt.NDArray[np.int64]  # every analysis bit set on some notable row
    bad_checksum: npt.NDArray[np.bool_]
    zero_window: npt.NDArray[np.bool_]
    # The notable rows (as rows) with their flags, analysis bits and connection, for `where`.
    row_numbers: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    row_flags: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    row_bits: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    row_owner: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    # (bits, flags) → the rows `where` gives for them, grouped as rows/starts are.
    found: dict[tuple[int, int], tuple[list[int], list[int]]] = field(default_factory=dict)

    def where(self, cid: int, bits: int, flags: int) -> list[int]:
        """Context.where for connection cid: its notable rows carrying any of the bits or any of
        the flags, in capture order. One whole-array pass per distinct question, then slices."""
        key = (bits, flags)
        if key not in self.found:
            hit = ((self.row_bits & bits) | (self.row_flags & flags)) != 0
            starts = np.zeros(len(self.starts), dtype=np.int64)
            np.cumsum(np.bincount(self.row_owner[hit], minlength=len(starts) - 1), out=starts[1:])
            self.found[key] = (self.row_numbers[hit].tolist(), starts.tolist())
        rows, bounds = self.found[key]
        return rows[bounds[cid] : bounds[cid + 1]]

    def of(self, cid: int) -> Notable:
        return Notable(
            self.rows[self.starts[cid] : self.starts[cid + 1]],
            int(self.flags[cid]),
            int(self.bits[cid]),
            bool(self.bad_checksum[cid]),
            bool(self.zero_window[cid]),
        )


def gather(
    packets: PacketColumns, states: PacketStates, connections: list[Connection], min_mss: int
) -> dict[int, Notable]:
    """The notable rows of every connection, in capture order (see gather_columns)."""
    found = gather_columns(packets, states, connections, min_mss)
    return {c.id: found.of(c.id) for c in connections}


def gather_columns(
    packets: PacketColumns, states: PacketStates, connections: list[Connection], min_mss: int
) -> Gathered:
    """The notable rows of every connection, in capture order, from whole-column passes.

    A row is notable when it has analysis bits, any flag but a lone ACK, a bad checksum or more
    payload than min_mss (the smallest MSS any connection of the capture announced,
    `CaptureWide.min_mss`), or carries data after a FIN or RST of its connection: every other
    row is an ordinary data or ACK segment that no check reads.
    """
    count = len(packets)
    cid = np.asarray(states.connection, dtype=np.int64)
    flags = np.asarray(packets.flags, dtype=np.int64)
    length = np.asarray(packets.length, dtype=np.int64)
    bits = np.asarray(packets.analysis, dtype=np.int64)
    size = max(len(connections), int(cid.max()) + 1 if count else 0)
    # The first FIN or RST of each connection: data after it is notable (T4, T9).
    closing = np.flatnonzero(flags & (FIN | RST))
    first_close = np.full(size, count, dtype=np.int64)
    closers, first = first_of_each(cid[closing])  # rows ascend: the first
    first_close[closers] = closing[first]
    bad = np.asarray(packets.tcp_checksum) == BAD_CHECKSUM  # compared in the column's own type
    mask = (
        (bits != 0)
        | ((flags & _CTRL) != ACK)
        | bad
        | (length > min_mss)
        | ((length != 0) & (first_close.take(cid) < np.arange(count)))
    )
    rows = np.flatnonzero(mask)
    # (take: what indexing with rows gives, in about half the time.)
    rows = rows[stable_order(cid.take(rows))]  # by connection, each in capture order
    owner = cid.take(rows)
    row_flags, row_bits = flags.take(rows), bits.take(rows)
    starts = np.zeros(size + 1, dtype=np.int64)
    np.cumsum(np.bincount(owner, minlength=size), out=starts[1:])
    # OR over each connection's run of rows (the runs are contiguous: rows are by connection).
    present = np.flatnonzero(starts[1:] > starts[:-1])
    seen_flags = np.zeros(size, dtype=np.int64)
    seen_bits = np.zeros(size, dtype=np.int64)
    if len(rows):
        seen_flags[present] = np.bitwise_or.reduceat(row_flags, starts[present])
        seen_bits[present] = np.bitwise_or.reduceat(row_bits, starts[present])
    bad_seen = np.bincount(owner[bad.take(rows)], minlength=size) > 0
    zero_seen = np.bincount(owner[np.asarray(packets.window).take(rows) == 0], minlength=size) > 0
    return Gathered(
        rows.tolist(),
        starts.tolist(),
        seen_flags,
        seen_bits,
        bad_seen,
        zero_seen,
        row_numbers=rows,
        row_flags=row_flags,
        row_bits=row_bits,
        row_owner=owner,
    )


def retry_times(ctx: Context, rows: list[int]) -> dict[str, str | int | float]:
    """Count and timing of a run of retries: SYNs, SYN-ACKs, resent data or probes (RFC 6298
    §5.5: each wait doubles)."""
    times = [ctx.p.time[r] for r in rows]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    backoff = "none"
    if len(gaps) >= 2:
        ratios = [b / a for a, b in zip(gaps, gaps[1:], strict=False) if a > 0]
        if ratios and all(1.6 <= q <= 2.4 for q in ratios):
            backoff = "doubling"
        elif ratios and all(0.8 <= q <= 1.25 for q in ratios):
            backoff = "constant"
        else:
            backoff = "irregular"
    return {
        "count": len(rows),
        "first_interval": round(gaps[0], 6) if gaps else 0.0,
        "last_interval": round(gaps[-1], 6) if gaps else 0.0,
        "backoff": backoff,
    }


def side_name(direction: int) -> str:
    """The sender of a direction, as the `side` parameter names it."""
    return Closer.CLIENT.value if direction == Direction.TO_SERVER else Closer.SERVER.value


@dataclass(slots=True)
class Context:
    """One connection as the checks see it: its notable rows plus bounded look-ups."""

    p: PacketColumns
    s: PacketStates
    c: Connection
    rows: list[int]
    capture_end: float
    prev: Connection | None = None  # the previous incarnation of the same 4-tuple
    skip: set[int] = field(default_factory=set)  # rows already explained by an earlier check
    offload_hosts: frozenset[str] = frozenset()  # D14: their bad checksums are offload
    memo: dict[tuple[str, int, bool], list[int]] = field(default_factory=dict)  # row lists
    next_seqs: dict[tuple[int, int], int | None] = field(default_factory=dict)  # next_seq's
    usual_ttls: dict[int, int | None] = field(default_factory=dict)  # RST row → sender's TTL
    # Every flag and analysis bit some notable row carries (-1: unknown, all): a look-up for
    # rows with a flag or bit none of them has is empty without reading them.
    seen_flags: int = -1
    seen_bits: int = -1
    seen_bad_checksum: bool = True
    seen_zero_window: bool = True
    # Every connection's notable rows, when rows are this connection's share of them: `where`
    # then slices an answer made once for all connections.
    notable: Gathered | None = None
    # retransmission.stall of the connection, once asked ([] until then): two checks ask.
    stalled: list[Stall | None] = field(default_factory=list)

    def d(self, row: int) -> int:
        return self.s.direction[row]

    def side(self, row: int) -> str:
        return side_name(self.d(row))

    def sides(self, rows: Iterable[int]) -> str:
        """The one side that sent all of rows, or "both"."""
        found = {self.side(r) for r in rows}
        return found.pop() if len(found) == 1 else Closer.BOTH.value

    def payload(self, rows: Iterable[int]) -> int:
        return sum(self.p.length[r] for r in rows)

    def where(self, *, bits: int = 0, flags: int = 0) -> list[int]:
        """Notable rows carrying any of the analysis bits or any of the flags."""
        analysis, packet_flags = self.p.analysis, self.p.flags
        bits, flags = int(bits), int(flags)  # IntFlag's own `&` costs a call per row
        if not (bits & self.seen_bits or flags & self.seen_flags):
            return []
        if self.notable is not None:
            return self.notable.where(self.c.id, bits, flags)
        return [r for r in self.rows if analysis[r] & bits or packet_flags[r] & flags]

    def syns(self, direction: int, *, with_ack: bool) -> list[int]:
        """SYN rows (not SYN+RST) from one direction, with or without the ACK flag."""
        key = ("syn", direction, with_ack)
        if not self.seen_flags & SYN:
            return []
        if key not in self.memo:
            flags, d = self.p.flags, self.s.direction
            self.memo[key] = [
                r
                for r in self.rows
                if flags[r] & SYN
                and not flags[r] & RST
                and bool(flags[r] & ACK) == with_ack
                and d[r] == direction
            ]
        return self.memo[key]

    def fins(self, direction: int) -> list[int]:
        """FIN rows (not with SYN or RST) from one direction."""
        key = ("fin", direction, False)
        if not self.seen_flags & FIN:
            return []
        if key not in self.memo:
            flags, d = self.p.flags, self.s.direction
            self.memo[key] = [
                r
                for r in self.rows
                if flags[r] & FIN and not flags[r] & (SYN | RST) and d[r] == direction
            ]
        return self.memo[key]

    def rsts(self, direction: int) -> list[int]:
        """RST rows from one direction."""
        key = ("rst", direction, False)
        if not self.seen_flags & RST:
            return []
        if key not in self.memo:
            flags, d = self.p.flags, self.s.direction
            self.memo[key] = [r for r in self.rows if flags[r] & RST and d[r] == direction]
        return self.memo[key]

    def before(self, row: int, direction: int | None = None) -> Iterator[int]:
        """Rows of this connection before row, newest first, at most LOOK_BACK of them."""
        index = self.c.packet_index
        pos = bisect_left(index, row)
        return self._of(reversed(index[max(pos - LOOK_BACK, 0) : pos]), direction)

    def after(self, row: int, direction: int | None = None) -> Iterator[int]:
        """Rows of this connection after row, oldest first, at most LOOK_BACK of them."""
        index = self.c.packet_index
        pos = bisect_left(index, row) + 1
        return self._of(iter(index[pos : pos + LOOK_BACK]), direction)

    def _of(self, rows: Iterator[int], direction: int | None) -> Iterator[int]:
        if direction is None:
            return rows
        d = self.s.direction
        return (r for r in rows if d[r] == direction)

    def stall(self) -> Stall | None:
        """retransmission.stall of the connection."""
        if not self.stalled:
            self.stalled.append(stall(self.p, self.s, self.c))
        return self.stalled[0]

    def end(self, row: int) -> int:
        """Sequence number just after the row's segment (SYN and FIN count one each)."""
        return segment_end(self.p.seq[row], self.p.length[row], self.p.flags[row])

    def next_seq(self, row: int, direction: int) -> int | None:
        """next(sender): the highest segment end the direction had sent before row."""
        key = (row, direction)
        if key not in self.next_seqs:
            # Both directions in one walk: the checks that ask for one mostly ask for the other.
            best: list[int | None] = [None, None]
            isn = (self.c.client_isn, self.c.server_isn)  # by Direction code
            flags, seq, length, dirs = self.p.flags, self.p.seq, self.p.length, self.s.direction
            for r in self.before(row):
                f, d = flags[r], dirs[r]
                # A RST takes no sequence space; a SYN with another ISN opens another one (H10).
                if f & RST or (f & SYN and seq[r] != isn[d]):
                    continue
                e, top = segment_end(seq[r], length[r], f), best[d]
                best[d] = e if top is None or seq_gt(e, top) else top
            self.next_seqs[(row, 0)], self.next_seqs[(row, 1)] = best
        return self.next_seqs[key]

    def last_ack(self, direction: int, row: int | None = None) -> int | None:
        """The newest ack number the direction sent (before row, or in the whole connection)."""
        index = self.c.packet_index
        rows = (
            self.before(row, direction)
            if row is not None
            else (
                index[k]
                for k in range(len(index) - 1, max(len(index) - 1 - LOOK_BACK, -1), -1)
                if self.s.direction[index[k]] == direction
            )
        )
        for r in rows:
            if self.p.flags[r] & ACK:
                return self.p.ack[r]
        return None

    def make(
        self,
        slug: AnomalySlug,
        rows: Iterable[int],
        severity: Severity | None = None,
        /,
        **params: str | int | float,
    ) -> Anomaly:
        if isinstance(rows, _LISTS) and len(rows) == 1:
            frames: tuple[int, ...] = (self.p.frame[rows[0]],)
        else:
            frames = tuple(sorted(set(map(self.p.frame.__getitem__, rows)))[:MAX_FRAMES])
        return Anomaly(slug, severity or _SEVERITY[slug], self.c.id, frames, params)


Check = Callable[[Context], Iterator[Anomaly]]
# Most findings name one row (a RST, the last packet): its frame needs no set or sort.
_LISTS = (list, tuple)
_SEVERITY = {slug: spec.severity for slug, spec in CATALOGUE.items()}  # each slug's default
