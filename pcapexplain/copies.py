"""Second copies of one packet (pure): left out before any analysis, with a warning.

A capture taken on two interfaces at once sees every packet that crosses both twice: `tcpdump -i
any` on a host that bridges or routes between two of them (a Docker or VM host, a Linux router),
or a mirror port fed by both directions of two links. Both copies carry the same bytes; told as
two packets, the second reads as a retransmission, every ACK as a duplicate ACK, every FIN as
resent. A later copy is the same packet, not a resend, when every field its sender sets is the
same (seq, ack, flags, length, window, TSval, the checksum field and the IPv4 identification) and:

- strong: the identification is not 0. Stacks that fill it in (Linux per connection, Windows per
  host, the BSDs and macOS at random) give every packet they send, resends included, a new one;
  the copy may then come up to COPY_WINDOW later, behind a queue or other packets; or
- weak (IPv6, or an identification of 0, as Linux's SYN-ACKs and FreeBSD's packets carry): it
  comes within COPY_GAP and nothing the other side sent was captured in between. No timer resends
  that soon, and a duplicate ACK answers a segment from the other side, which the capture would
  show between the two; or
- late: it carries the TCP timestamp option (a TSval other than 0) and comes more than
  TS_TICK_MAX later. Every timestamp clock ticks at least once a second (RFC 7323 §5.4), so a
  packet sent again carries a new TSval: the same one a second later is the first packet held
  back (a router's queue waiting for neighbour discovery, captured as it enters and again as it
  leaves) or recorded twice.

Exactly the same bytes resent by their sender within COPY_GAP, with nothing in between, cannot
be told from a copy by any capture; no stack does it. A copy delayed by more than COPY_GAP without
an identification stays in the analysis, told as a retransmission as before.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

import numpy as np

from pcapexplain import arrays
from pcapexplain.explanations import said
from pcapexplain.model import NO_VALUE, Capture, CaptureInfo, PacketColumns

COPY_GAP = 0.001  # s: the weak rule's limit; copies on a bridge come microseconds apart
COPY_WINDOW = 1.0  # s: the strong rule's limit, far within the identification's wrap
TS_TICK_MAX = 1.0  # s: RFC 7323 §5.4: the slowest timestamp clock allowed ticks once a second

# The fields a copy shares with its first capture (addresses are compared after the hash).
_KEY = ("sport", "dport", "seq", "ack", "flags", "length", "window", "tsval", "tcp_sum", "ip_id")
# Enough to make chance matches rare; the ports keep other 4-tuples' rows from falling between
# a packet and its copy among the candidates, as they cannot when a part holds its 4-tuples alone.
_HASHED = ("seq", "ack", "tsval", "tcp_sum", "ip_id", "sport", "dport")
_BITMAP = 1 << 20


def copies(packets: PacketColumns) -> dict[int, int]:
    """Row of each second (or later) copy → row of the copy before it, in capture order."""
    if len(packets) < 2:
        return {}
    earlier, later = _same_hash(packets)
    found: dict[int, int] = {}
    for first, second in zip(earlier.tolist(), later.tolist(), strict=True):
        if _same_packet(packets, first, second):
            found[second] = first
    return found


def _same_hash(packets: PacketColumns) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Pairs of rows, earlier and later, whose busiest key fields hash alike: candidates only.

    Sorting the hashes alone, then finding the few repeated ones, costs a fifth of an argsort
    of every row: a million-packet capture pays some 0.07 s for a check that usually finds none.
    """
    mix = np.zeros(len(packets), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for name in _HASHED:
            column = np.asarray(getattr(packets, name)).astype(np.uint64)
            np.bitwise_xor(mix, column, out=mix)
            np.multiply(mix, np.uint64(0x100000001B3), out=mix)  # FNV-1a's prime, over fields
    ordered = np.sort(mix)
    repeated = arrays.distinct(ordered[1:][ordered[1:] == ordered[:-1]])
    if not len(repeated):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    # Their rows, through a bitmap of the hashes' low bits: one gather, no search per row.
    marked = np.zeros(_BITMAP, dtype=bool)
    marked[repeated & np.uint64(_BITMAP - 1)] = True
    rows = np.flatnonzero(marked[mix & np.uint64(_BITMAP - 1)])  # in capture order
    rows = rows[arrays.among(mix[rows], repeated)]
    by_hash = np.argsort(mix[rows], kind="stable")  # a few rows: capture order kept within a hash
    rows, hashes = rows[by_hash], mix[rows][by_hash]
    same = np.flatnonzero(hashes[1:] == hashes[:-1])
    return rows[same], rows[same + 1]


def _same_packet(p: PacketColumns, first: int, second: int) -> bool:
    if any(getattr(p, name)[first] != getattr(p, name)[second] for name in _KEY):
        return False
    if (p.src[first], p.dst[first]) != (p.src[second], p.dst[second]):
        return False
    if p.tcp_sum[first] == NO_VALUE:  # the header was cut before the checksum: too little seen
        return False
    gap = p.time[second] - p.time[first]
    if gap < 0:
        return False
    rule = rule_of(p, first, second)
    if rule is Rule.LATE:
        return True
    if rule is Rule.STRONG:
        return gap <= COPY_WINDOW
    return gap <= COPY_GAP and not _answered_between(p, first, second)


def _late(p: PacketColumns, first: int, gap: float) -> bool:
    """The same TSval after the sender's timestamp clock must have ticked: not sent again.

    A TSval of 0 proves nothing: a stack that does not run the clock (or only echoes) sends 0."""
    return gap > TS_TICK_MAX and p.tsval[first] not in (NO_VALUE, 0)


class Rule(StrEnum):
    """Which rule found a copy (the module's docstring)."""

    STRONG = "strong"
    WEAK = "weak"
    LATE = "late"


def rule_of(p: PacketColumns, first: int, second: int) -> Rule:
    """The rule that decides whether second is a copy of first (and names it in the warning)."""
    if _late(p, first, p.time[second] - p.time[first]):
        return Rule.LATE
    return Rule.STRONG if identified(p, first) else Rule.WEAK


def identified(p: PacketColumns, row: int) -> bool:
    """The row carries an IP identification to compare (the strong rule), not IPv6 or 0."""
    return p.ip_id[row] not in (NO_VALUE, 0)


def _answered_between(p: PacketColumns, first: int, second: int) -> bool:
    """A packet of the other direction was captured between the two rows."""
    src, dst, sport, dport = p.src[first], p.dst[first], p.sport[first], p.dport[first]
    return any(
        p.src[r] == dst and p.dst[r] == src and p.sport[r] == dport and p.dport[r] == sport
        for r in range(first + 1, second)
    )


@dataclass(frozen=True, slots=True)
class Copy:
    """A later copy left out: its frame, the first copy's (kept), the copy just before it, and
    the rule that matched it."""

    frame: int
    kept: int
    before: int
    rule: Rule


def without_copies(capture: Capture) -> Capture:
    """The capture with every second copy of a packet left out, and a warning that says so."""
    found, packets = left_out(capture.packets)
    if not found:
        return capture
    return replace(capture, info=told(capture.info, found), packets=packets)


def left_out(packets: PacketColumns) -> tuple[list[Copy], PacketColumns]:
    """The copies found, in capture order, and the packets without them.

    A copy is one packet of one 4-tuple, so the parts of a capture cut by 4-tuple find the
    whole capture's copies between them (told turns them all into its warning)."""
    found = copies(packets)
    if not found:
        return [], packets
    keep = np.ones(len(packets), dtype=bool)
    keep[list(found)] = False
    frames = packets.frame
    listed = [
        Copy(
            frame=frames[row],
            kept=frames[_kept_original(found, row)],
            before=frames[found[row]],
            rule=rule_of(packets, found[row], row),
        )
        for row in sorted(found)
    ]
    return listed, _kept(packets, keep)


def told(info: CaptureInfo, found: Sequence[Copy]) -> CaptureInfo:
    """info with the copies left out (in capture order) and the warning that says so."""
    if not found:
        return info
    warnings = (*info.warnings, _warning(found))
    return replace(info, warnings=warnings, copies=tuple((c.frame, c.kept) for c in found))


def _kept_original(found: dict[int, int], row: int) -> int:
    """The first copy of row's packet: the one kept (a third copy's original is left out too)."""
    while row in found:
        row = found[row]
    return row


def _warning(found: Sequence[Copy]) -> str:
    """The warning names what was compared: each copy matched by one rule or another."""
    late = sum(c.rule is Rule.LATE for c in found)
    strong = sum(c.rule is Rule.STRONG for c in found)
    compared = _compared(strong, len(found) - late - strong)
    tick = f"{TS_TICK_MAX:g}"
    if late and compared is None:
        compared = said("warning.compared.late", tick=tick)
    elif late:
        late_count = said("warning.copy_count", count=late)
        compared = said("warning.compared.also_late", others=compared, late=late_count, tick=tick)
    return said(
        "warning.copies",
        packets=said("warning.packets", count=len(found)),
        compared=compared,
        first=found[0].frame,
        original=found[0].before,
    )


def _compared(strong: int, weak: int) -> str | None:
    """What the copies found by identification (strong) or by time alone (weak) had in common."""
    gap = f"{COPY_GAP * 1000:g}"
    if not (strong or weak):
        return None
    if not weak:
        return said("warning.compared.strong")
    if not strong:
        return said("warning.compared.weak", gap=gap)
    return said(
        "warning.compared.both",
        strong=said("warning.copy_count", count=strong),
        weak=said("warning.copy_count", count=weak),
        gap=gap,
    )


def _kept(packets: PacketColumns, keep: np.ndarray[Any, Any]) -> PacketColumns:
    columns: dict[str, Any] = {}
    for name in packets.__dataclass_fields__:
        column = getattr(packets, name)
        if isinstance(column, array):
            kept = np.frombuffer(column, dtype=column.typecode)[keep]
            columns[name] = array(column.typecode, kept.tobytes())
        else:
            columns[name] = [value for value, k in zip(column, keep.tolist(), strict=True) if k]
    return PacketColumns(**columns)
