"""Which connections a check can possibly flag: per-connection facts from whole-column passes.

Most connections are ordinary, and on them almost every check returns nothing. Each check
declares, beside its definition (`@needs(...)`), a precondition over `Facts`: a boolean per
connection that is true wherever the check could emit a finding. `detect` runs a check only where
its precondition holds; the check alone still decides what it finds. A precondition may be looser
than its check, never tighter: it only skips connections where the check provably yields nothing
(and so marks no rows as explained for the checks after it).

The row-level facts cover each connection's notable rows (context.gather_columns), a sixth of
the packets: the checks read no other row for what a precondition asks (a SYN, FIN or RST, an
analysis bit, data after a close or above the smallest MSS are all notable). A check that walks
every packet of its connection has a precondition over `Facts.whole`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from functools import cached_property
from operator import attrgetter
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from pcapexplain.arrays import first_of_each
from pcapexplain.model import (
    Connection,
    Direction,
    Handshake,
    PacketColumns,
    PacketStates,
    TcpFlags,
    Teardown,
)
from pcapexplain.seqspace import MOD

SYN, ACK, FIN, RST = int(TcpFlags.SYN), int(TcpFlags.ACK), int(TcpFlags.FIN), int(TcpFlags.RST)
_TO_SERVER, _TO_CLIENT = int(Direction.TO_SERVER), int(Direction.TO_CLIENT)

Mask = npt.NDArray[np.bool_]
Ints = npt.NDArray[np.int64]
Codes = npt.NDArray[np.integer[Any]]  # enum codes, int8 in the readers' columns
Precondition = Callable[["Facts"], Mask]
_C = TypeVar("_C", bound=Callable[..., object])

# check function → its precondition; a check without one runs on every connection.
PRECONDITIONS: dict[Callable[..., object], Precondition] = {}


def needs(precondition: Precondition) -> Callable[[_C], _C]:
    """Declare the connections on which the decorated check can possibly emit."""

    def mark(check: _C) -> _C:
        PRECONDITIONS[check] = precondition
        return check

    return mark


class Facts:
    """Per-connection facts, each a numpy array indexed by connection id, some computed on demand.

    Row-level columns (`flags`, `length`, ...) hold the packet columns' values at `rows`, the rows
    the facts consider (every row, or each connection's notable rows: `detect` passes those, as
    the checks read no other rows for what their preconditions test; `whole` considers every
    row). `any(mask)` turns a mask over them into "some row of the connection matches".
    """

    def __init__(
        self,
        packets: PacketColumns,
        states: PacketStates,
        connections: Sequence[Connection],
        *,
        size: int,
        zero_window: Mask,
        bad_checksum: Mask,
        bits: Ints,
        has_previous: Mask,
        rows: Ints | None = None,
    ) -> None:
        """rows: the rows considered, each connection's in capture order (None: every row)."""
        self.p, self.s, self.connections, self.size = packets, states, connections, size
        self._rows = rows

        def column(values: Sequence[int], dtype: type[np.integer[Any]] | None = None) -> Any:
            # A view of the column where its type allows it (no copy); small codes stay small.
            if rows is None:
                return np.asarray(values, dtype=dtype)
            # Gathered first, then widened (no copy of a whole narrow column); take gives what
            # indexing with rows does, in about half the time.
            found = np.asarray(values).take(rows)
            return found if dtype is None else found.astype(dtype, copy=False)

        self.cid: Ints = column(states.connection, np.int64)
        self.direction: Codes = column(states.direction)
        self.flags: Ints = column(packets.flags, np.int64)
        self.length: Ints = column(packets.length, np.int64)
        self.seq: Ints = column(packets.seq, np.int64)
        self.ack: Ints = column(packets.ack, np.int64)
        self.analysis: Ints = column(packets.analysis, np.int64)
        self.client_before: Codes = column(states.client_before)
        self.server_before: Codes = column(states.server_before)
        self.zero_window = zero_window  # some notable row advertises a zero window
        self.bad_checksum = bad_checksum  # some notable row has a bad TCP checksum
        self.bits = bits  # every analysis bit some row of the connection carries
        self.has_previous = has_previous  # an earlier incarnation of the same 4-tuple exists

    @cached_property
    def whole(self) -> Facts:
        """These facts over every row."""
        if self._rows is None:
            return self
        return Facts(
            self.p,
            self.s,
            self.connections,
            size=self.size,
            zero_window=self.zero_window,
            bad_checksum=self.bad_checksum,
            bits=self.bits,
            has_previous=self.has_previous,
        )

    def any(self, rows: Mask | Ints) -> Mask:
        """Connections with some row where rows (a mask, or positions among the rows considered)
        is true."""
        return _mask(self.count(rows) > 0)

    def count(self, rows: Mask | Ints) -> Ints:
        """How many rows of each connection match."""
        return _ints(np.bincount(self.cid[rows], minlength=self.size)[: self.size])

    def by_direction(self, rows: Mask) -> Ints:
        """How many rows match, per connection and direction: shape (connections, 2)."""
        keys = self.pair_key[rows]
        return _ints(np.bincount(keys, minlength=2 * self.size)[: 2 * self.size].reshape(-1, 2))

    def handshake_in(self, *kinds: Handshake) -> Mask:
        codes = [list(Handshake).index(k) for k in kinds]
        return _mask(np.isin(self._summary[:, 0], codes))

    def teardown_is(self, kind: Teardown) -> Mask:
        return _mask(self._summary[:, 1] == list(Teardown).index(kind))

    @property
    def server_mss(self) -> Ints:
        """The MSS the server announced, 0 for none."""
        return self._summary[:, 2]

    @property
    def client_mss(self) -> Ints:
        return self._summary[:, 3]

    @cached_property
    def unknown_length(self) -> Ints:
        """Segments whose payload length tshark could not tell, both directions: the rows the
        counters of Connection.to_server and to_client sum (outcomes.count), counted from the
        column, which is quicker than reading every connection's counters."""
        unknown = np.flatnonzero(np.asarray(self.p.length_unknown))
        cid = np.asarray(self.s.connection, dtype=np.int64).take(unknown)
        return _ints(np.bincount(cid, minlength=self.size)[: self.size])

    @property
    def half_close(self) -> Mask:
        """The replay saw a half-close."""
        return _mask(self._summary[:, 4])

    @property
    def icmp_errors(self) -> Ints:
        return self._summary[:, 5]

    @property
    def self_connect(self) -> Mask:
        """One address and port at both ends (Connection.self_connect)."""
        return _mask(self._summary[:, 6])

    @cached_property
    def _summary(self) -> Ints:
        """What the checks' preconditions read of each connection's summary, one row per id."""
        # Members by their ids: an enum member hashes through a Python call (Enum.__hash__).
        handshakes = {id(k): i for i, k in enumerate(Handshake)}
        teardowns = {id(k): i for i, k in enumerate(Teardown)}
        conns = self.connections

        def column(values: Iterable[int]) -> Ints:
            return np.fromiter(values, np.int64, len(conns))

        # One socket at both ends has one port at both: only those are asked self_connect.
        ports = column(map(attrgetter("client.port"), conns))
        alike = np.flatnonzero(ports == column(map(attrgetter("server.port"), conns)))
        self_connect = np.zeros(len(conns), dtype=np.int64)
        self_connect[alike] = [conns[k].self_connect for k in alike.tolist()]
        columns = [
            column(map(handshakes.__getitem__, map(id, map(attrgetter("handshake"), conns)))),
            column(map(teardowns.__getitem__, map(id, map(attrgetter("teardown"), conns)))),
            column([m or 0 for m in map(attrgetter("server_options.mss"), conns)]),
            column([m or 0 for m in map(attrgetter("client_options.mss"), conns)]),
            column(map(attrgetter("half_close"), conns)),
            column(map(len, map(attrgetter("icmp"), conns))),
            self_connect,
        ]
        out = np.full((self.size, len(columns)), -1, dtype=np.int64)
        out[column(map(attrgetter("id"), conns))] = np.stack(columns, axis=1)
        return out

    def from_(self, direction: int) -> Mask:
        return _mask(self.direction == direction)

    @cached_property
    def syn(self) -> Mask:
        """SYN rows without RST (ctx.syns)."""
        return _mask((self.flags & (SYN | RST)) == SYN)

    @cached_property
    def client_syn(self) -> Mask:
        return _mask(self.syn & ((self.flags & ACK) == 0) & self.from_(_TO_SERVER))

    @cached_property
    def server_synack(self) -> Mask:
        return _mask(self.syn & ((self.flags & ACK) != 0) & self.from_(_TO_CLIENT))

    @cached_property
    def fin(self) -> Mask:
        """FIN rows without SYN or RST (ctx.fins)."""
        return _mask((self.flags & (FIN | SYN | RST)) == FIN)

    @cached_property
    def rst(self) -> Mask:
        return _mask((self.flags & RST) != 0)

    def first(self, rows: Mask) -> Ints:
        """Per (connection, direction), indexed as pair_key, the first row (its number) where rows
        is true, or the number of packets when there is none."""
        out = np.full(2 * self.size, len(self.p), dtype=np.int64)
        hits = np.flatnonzero(rows)
        keys, at = first_of_each(self.pair_key[hits])  # the first: capture order
        out[keys] = self.rows[hits[at]]
        return out

    @cached_property
    def rows(self) -> Ints:
        """Each considered row's own number."""
        return np.arange(len(self.p), dtype=np.int64) if self._rows is None else self._rows

    @cached_property
    def pair_key(self) -> Ints:
        """Each row's (connection, direction) as one index: cid * 2 + direction."""
        return _ints(self.cid * 2 + self.direction)

    def segment_end(self, rows: Ints) -> Ints:
        """seqspace.segment_end over rows."""
        return segment_ends(self.seq[rows], self.length[rows], self.flags[rows])

    def later_than(self, first: Ints) -> Mask:
        """Rows after the first row of their own (connection, direction) in first."""
        return _mask(self.rows > first[self.pair_key])


def segment_ends(seq: Ints, length: Ints, flags: Ints) -> Ints:
    """seqspace.segment_end over arrays of any shape."""
    return _ints((seq + length + ((flags & SYN) != 0) + ((flags & FIN) != 0)) % MOD)


def _mask(values: object) -> Mask:
    return np.asarray(values, dtype=np.bool_)


def _ints(values: object) -> Ints:
    return np.asarray(values, dtype=np.int64)
