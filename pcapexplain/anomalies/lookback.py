"""Look-backs for many rows at once: next(sender) and a RST sender's usual TTL, as whole-array
passes.

The checks ask Context.next_seq about a few thousand rows of a capture (gaps, unseen ACKs,
resets), and teardown's `_usual_ttl` about each RST, each a walk back over up to LOOK_BACK rows
of its connection. `known` answers them all beforehand, for the rows the checks may ask about,
and hands the answers to every Context; the walks stay the definitions and still run for any row
not answered here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import attrgetter

import numpy as np
import numpy.typing as npt

from pcapexplain.anomalies.context import LOOK_BACK, RST, SYN
from pcapexplain.anomalies.preconditions import segment_ends
from pcapexplain.arrays import distinct, joined_rows
from pcapexplain.model import NO_VALUE, AnalysisFlag, Connection, PacketColumns, PacketStates
from pcapexplain.seqspace import HALF, MOD

Ints = npt.NDArray[np.int64]
# The rows whose next(sender) some check asks for: data after a gap (D4), ACKs of unseen data
# (D5) and RSTs (T6, T7). Asking for others is fine: they are walked.
ASKED_BITS = int(AnalysisFlag.LOST_SEGMENT | AnalysisFlag.ACK_LOST_SEGMENT)
CHUNK = 1 << 18  # window cells per pass, to bound the temporary arrays (about 2 MB each)
_NO_ISN = -1  # never a sequence number: a SYN compared with it always has "another ISN"
_NO_TTL = NO_VALUE  # the column's value when the TTL is unknown

# Tests turn this off to compare the answers with the walk's.
_ENABLED = True


@dataclass(frozen=True, slots=True)
class Known:
    """The look-backs answered beforehand (a row absent from a dict is walked)."""

    # (row, direction) → next(sender), as Context.next_seq defines it
    next_seqs: dict[tuple[int, int], int | None] = field(default_factory=dict)
    # row → the TTL all its sender's other recent packets agree on, as teardown._usual_ttl
    usual_ttls: dict[int, int | None] = field(default_factory=dict)


def known(
    packets: PacketColumns,
    states: PacketStates,
    connections: Sequence[Connection],
    rows: Sequence[int] | Ints,
) -> Known:
    """The look-backs of each of rows whose answer the arrays can give (rows of connections; the
    rest are left to the walks).

    Within a next(sender) the fold "the later of two ends" is a maximum only where the ends lie
    less than half the sequence space apart; a row whose ends do not is left out, for the walk.
    """
    cid = np.asarray(states.connection, dtype=np.int64)
    rows_ = np.asarray(rows, dtype=np.int64)
    found = Known()
    if not _ENABLED or not len(rows_) or not connections:
        return found
    # Connection id → its position in connections (-1: not one of them).
    ids = np.fromiter(map(attrgetter("id"), connections), np.int64, len(connections))
    place = np.full(max(int(ids.max()), int(cid.max())) + 1, -1, dtype=np.int64)
    place[ids] = np.arange(len(ids))
    rows_ = rows_[place[cid[rows_]] >= 0]
    if not len(rows_):
        return found
    owners = distinct(cid[rows_])
    # Each owner's rows, in capture order, one owner after another; rank orders the owners.
    conns = [connections[k] for k in place[owners].tolist()]
    index = joined_rows([c.packet_index for c in conns])
    rank = np.zeros(int(cid.max()) + 1, dtype=np.int64)
    rank[owners] = np.arange(len(owners))
    count = len(packets)
    spot = rank[cid[index]] * (count + 1) + index
    wanted = rank[cid[rows_]] * (count + 1) + rows_
    pos = np.searchsorted(spot, wanted)
    # A row its connection does not list has no window to walk: the walk decides.
    listed = spot[np.minimum(pos, len(spot) - 1)] == wanted
    rows_, pos, wanted = rows_[listed], pos[listed], wanted[listed]
    first = np.searchsorted(spot, rank[cid[rows_]] * (count + 1))  # the owner's first row
    width = np.minimum(pos - first, LOOK_BACK)
    isn = np.full((len(conns), 2), _NO_ISN, dtype=np.int64)
    for k, conn in enumerate(conns):
        for d, value in enumerate((conn.client_isn, conn.server_isn)):  # by Direction code
            if value is not None:
                isn[k, d] = value
    columns = _Columns(packets, states, index, isn)
    # Rows with windows of alike width go together, so the padded arrays stay mostly full.
    by_width = np.argsort(width, kind="stable")
    start = 0
    while start < len(by_width):
        stop = start + max(CHUNK // max(int(width[by_width[start:]].max()), 1), 1)
        part = by_width[start:stop]
        stop = start + len(part)
        columns.answer(rows_[part], pos[part], width[part], rank[cid[rows_[part]]], found)
        start = stop
    return found


class _Columns:
    """What the walk reads, per position of the owners' concatenated rows."""

    def __init__(
        self, packets: PacketColumns, states: PacketStates, index: Ints, isn: Ints
    ) -> None:
        def column(values: Sequence[int]) -> Ints:
            # Gathered first, then widened: no int64 copy of a whole narrow column.
            return np.asarray(values).take(index).astype(np.int64, copy=False)

        self.flags = column(packets.flags)
        self.seq = column(packets.seq)
        self.length = column(packets.length)
        self.direction = column(states.direction)
        self.ttl = column(packets.ttl)
        self.isn = isn

    def answer(
        self,
        rows: Ints,
        pos: Ints,
        width: Ints,
        owner: Ints,
        found: Known,
    ) -> None:
        """Fill found for rows, whose windows are the width positions before pos."""
        widest = max(int(width.max(initial=0)), 1)  # a column even for first rows (no window)
        back = np.arange(1, widest + 1, dtype=np.int64)  # newest first, as the walk goes
        inside = back[None, :] <= width[:, None]
        # Products with masks stand for np.where below: it takes several times longer here.
        at = (pos[:, None] - back[None, :]) * inside
        flags, seq, direction = self.flags[at], self.seq[at], self.direction[at]
        # A RST takes no sequence space; a SYN with another ISN opens another one (H10).
        isn = self.isn[owner[:, None], direction]
        syn = (flags & SYN) != 0
        counted = inside & ((flags & RST) == 0) & ~(syn & (seq != isn))
        end = segment_ends(seq, self.length[at], flags)
        listed = rows.tolist()
        for d in (0, 1):
            mine = counted & (direction == d)
            has = mine.any(axis=1)
            newest = np.argmax(mine, axis=1)
            ref = end[np.arange(len(rows)), newest]
            ahead = (end - ref[:, None]) % MOD
            ahead -= (ahead >= HALF) * MOD  # signed, as seq_diff
            top = (mine * (ahead + MOD) - MOD).max(axis=1, initial=-MOD)  # -MOD where not mine
            bottom = (mine * (ahead - MOD) + MOD).min(axis=1, initial=MOD)  # MOD where not mine
            # Less than half the space apart, "later" orders them all: the fold is the maximum.
            ordered = ~has | (top - bottom < HALF)
            best = ((ref + top) % MOD).tolist()
            for k in np.flatnonzero(ordered).tolist():
                found.next_seqs[(listed[k], d)] = best[k] if has[k] else None
        # The TTLs of the row's sender on its other packets (not RSTs) in the window.
        ttl = self.ttl[at]
        sent = inside & (direction == self.direction[pos][:, None]) & ((flags & RST) == 0)
        sent &= ttl != _NO_TTL
        low = np.where(sent, ttl, np.iinfo(np.int64).max).min(axis=1)
        agree = sent.any(axis=1) & (low == np.where(sent, ttl, _NO_TTL).max(axis=1))
        usual = np.where(agree, low, _NO_TTL).tolist()
        pairs = zip(listed, usual, strict=True)
        found.usual_ttls.update((row, None if u == _NO_TTL else u) for row, u in pairs)
