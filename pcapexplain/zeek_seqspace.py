"""Zeek's sequence space for one endpoint (pure): what conn.log's byte counts and gaps rest on.

The numbers follow Zeek's TCP analyzer (TCP_Endpoint.h, TCPSessionAdapter.cc, TCP_Reassembler.cc):
a signed 64-bit start, 32-bit last and acknowledged numbers with their wrap counts, and the
reassembler's view of which bytes arrived, so that bytes acknowledged but never seen count as a
content gap.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pcapexplain.model import TcpFlags
from pcapexplain.seqspace import seq_add, seq_diff, seq_wrap

MASK64 = (1 << 64) - 1  # Zeek's 64-bit sequence numbers (TCP_Endpoint.h), unsigned arithmetic
TOO_LARGE_SEQ_DELTA = 1 << 20  # TCPSessionAdapter.cc: a SYN/RST seq this far off is not trusted
_SYN, _FIN, _RST = int(TcpFlags.SYN), int(TcpFlags.FIN), int(TcpFlags.RST)


@dataclass(slots=True)
class SeqSpace:
    """One endpoint's sequence numbers as Zeek's TCP analyzer keeps them (TCP_Endpoint.h).

    start is Zeek's signed 64-bit start_seq; last and ack are 32-bit with their wrap counts; the
    reassembly fields (relative numbers, data from 1) find content gaps as Zeek's
    TCP_Reassembler does when the peer acknowledges bytes that were never seen.
    """

    start: int = 0
    last: int = 0
    ack: int = 0
    wraps: int = 0
    ack_wraps: int = 0
    fins: int = 0
    fin_seq: int = 0  # relative seq just past the FIN
    delivered: int = 1  # relative seq up to which the data is contiguous (last_reassem_seq)
    trimmed: int = 0  # highest acknowledgment processed (trim_seq)
    above_hole: list[tuple[int, int]] = field(default_factory=list)  # data beyond a gap
    missed: int = 0  # bytes reported as content gaps

    def init(self, seq: int, last: int | None = None) -> None:
        self.start, self.ack, self.last = seq, seq, seq if last is None else last

    def update_last(self, seq: int) -> None:
        if seq < self.last:
            self.wraps += 1
        self.last = seq

    def update_ack(self, seq: int) -> None:
        if seq < self.ack:
            self.ack_wraps += 1
        self.ack = seq

    def acknowledge(self, ack: int) -> None:
        """The peer acknowledged up to ack (update_ack_seq): only forward, 0 is suspect."""
        delta = seq_diff(ack, self.ack)
        if delta > 0 and not (ack == 0 and delta > TOO_LARGE_SEQ_DELTA):
            self.update_ack(ack)

    def advance(self, past: int, flags: int, *, trusted: bool) -> None:
        """A segment ending just before past was sent (update_last_seq).

        trusted is false once the endpoint has reset: later numbers are not believed.
        """
        delta = seq_diff(past, self.last)
        if flags & (_SYN | _RST) and abs(delta) > TOO_LARGE_SEQ_DELTA:
            return
        if flags & _FIN and self.last == seq_add(self.start, 1):
            self.update_last(past)  # > 2 GB connections of which only the SYN and FIN were seen
        elif trusted and delta > 0:
            self.update_last(past)

    def no_data_acked(self) -> bool:
        ack = (self.ack_wraps << 32) + self.ack
        return ack in (self.start & MASK64, (self.start + 1) & MASK64)

    def relative(self, seq: int, last: int, wraps: int) -> tuple[int, bool]:
        """(seq relative to start, underflow), as TCPSessionAdapter's get_relative_seq."""
        delta = seq_diff(seq, last)
        if delta < 0 and wraps and seq > last:
            wraps -= 1  # part of the previous 32-bit space
        elif delta > 0 and seq < last:
            wraps += 1
        if wraps == 0:
            delta = seq_diff(seq, seq_wrap(self.start))
            return delta & MASK64, delta < 0  # unsigned, as in Zeek
        return ((wraps << 32) + seq - self.start) & MASK64, False

    def size(self) -> int:
        last = (self.wraps << 32) + self.last
        ack = (self.ack_wraps << 32) + self.ack
        size = (max(last, ack) - self.start) & MASK64  # unsigned, as in Zeek
        if size:
            size -= 1  # the SYN's sequence number
        if self.fins and size:
            size -= 1  # the FIN's
        return size

    def data(self, rel_seq: int, length: int) -> None:
        """A data segment reached the reassembler (TCP_Reassembler::DataSent)."""
        acked = (self.ack_wraps << 32) + self.ack - self.start
        upper = rel_seq + length
        if rel_seq < acked:
            if upper <= acked:
                return
            rel_seq = acked
        if upper <= self.delivered:
            return
        if rel_seq <= self.delivered:
            self.delivered = upper
            self._drain()
        else:
            self.above_hole.append((rel_seq, upper))

    def acked(self, rel_ack: int, *, partial: bool, report: bool) -> None:
        """The peer acknowledged up to rel_ack: bytes never seen below it are a content gap."""
        if self.fins and rel_ack >= self.fin_seq:
            rel_ack = self.fin_seq - 1
        if rel_ack <= self.trimmed:
            return
        self.trimmed = rel_ack
        if rel_ack <= self.delivered or (rel_ack <= 2 and partial):
            return  # Zeek ignores the first ack of a partial connection (Undelivered)
        for begin, end in sorted(self.above_hole):
            if begin >= rel_ack:
                break
            if begin > self.delivered:
                self.missed += (begin - self.delivered) if report else 0
            self.delivered = max(self.delivered, end)
        self.above_hole = [(b, e) for b, e in self.above_hole if e > self.delivered]
        if rel_ack > self.delivered:
            self.missed += (rel_ack - self.delivered) if report else 0
            self.delivered = rel_ack

    def _drain(self) -> None:
        while self.above_hole:
            ready = [b for b in self.above_hole if b[0] <= self.delivered]
            if not ready:
                return
            self.delivered = max(self.delivered, *(e for _, e in ready))
            self.above_hole = [(b, e) for b, e in self.above_hole if e > self.delivered]
