"""A capture split by 4-tuple into parts analysed apart, and their records merged back (pure).

Every stage after reading works per 4-tuple (the reconstructor's incarnations, the replay, the
checks, Zeek's view, the records), except the capture-wide facts of `anomalies.capture_wide`,
which the parts combine before their checks run. So a part holds whole 4-tuples (all their
incarnations, their ICMP errors) with their rows in capture order; its packets keep their
frame numbers and tshark stream numbers; and the merged records, ordered by first frame and
renumbered, are the records of the capture analysed whole (tests/test_shards.py).
`shard_run.py` runs the parts in processes.
"""

from __future__ import annotations

import hashlib
import socket
from array import array
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pcapexplain.model import COLUMN_NAMES, IcmpError, PacketColumns
from pcapexplain.records import ConnectionRecord

Ints = npt.NDArray[np.int64]
NO_ROWS: Ints = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True, slots=True)
class Part:
    """One part of a capture: its packets and the ICMP errors about its 4-tuples."""

    packets: PacketColumns
    icmp: tuple[IcmpError, ...]


@dataclass(frozen=True, slots=True)
class Split:
    """Which part each row goes to, and each ICMP error."""

    row_part: npt.NDArray[np.int64]
    icmp_part: list[int]
    parts: int

    def rows(self, part: int) -> Ints:
        """The rows of one part, in capture order."""
        return np.flatnonzero(self.row_part == part)


def split(packets: PacketColumns, icmp: Sequence[IcmpError], parts: int) -> Split:
    """Packets and ICMP errors cut into at most `parts` non-empty parts of whole 4-tuples.

    A 4-tuple's part comes from a hash of it, so the parts hold about equal numbers of
    4-tuples; an ICMP error goes to the part of the 4-tuple it quotes (where `icmp.match` finds
    its connection, or drops it in any part when no packet has that 4-tuple).
    """
    row_part = _part_of(
        _tuple_hashes(packets.src, packets.sport, packets.dst, packets.dport), parts
    )
    icmp_part = _part_of(
        _tuple_hashes(
            [e.src for e in icmp],
            [e.sport for e in icmp],
            [e.dst for e in icmp],
            [e.dport for e in icmp],
        ),
        parts,
    )
    # Parts no 4-tuple fell into are dropped, the others renumbered in order.
    used = np.flatnonzero(np.bincount(row_part, minlength=parts))
    number = np.zeros(parts, dtype=np.int64)
    number[used] = np.arange(len(used))
    return Split(number[row_part], number[icmp_part].tolist(), len(used))


def part(packets: PacketColumns, icmp: Sequence[IcmpError], where: Split, which: int) -> Part:
    """The packets and ICMP errors of one part."""
    rows = where.rows(which)
    errors = tuple(e for e, p in zip(icmp, where.icmp_part, strict=True) if p == which)
    return Part(take(packets, rows), errors)


def take(packets: PacketColumns, rows: Ints) -> PacketColumns:
    """The columns at rows (ascending), in the column types the readers give."""
    picked = rows.tolist()
    values: dict[str, Sequence[object]] = {}
    for name in COLUMN_NAMES:
        column = getattr(packets, name)
        if isinstance(column, array):
            chosen = np.frombuffer(column, dtype=column.typecode)[rows]
            values[name] = array(column.typecode, chosen.tobytes())
        else:
            values[name] = list(map(column.__getitem__, picked))
    return PacketColumns(**values)  # type: ignore[arg-type]


def merge(parts: Sequence[Sequence[ConnectionRecord]]) -> list[ConnectionRecord]:
    """The parts' records as one capture's: connections are numbered in the order of their
    first packet (reconstructor.reconstruct), which frame numbers keep across parts."""
    merged = sorted((r for records in parts for r in records), key=lambda r: r.first_frame)
    # tuple.__new__ rather than _replace: a tenth of the time, for the same record.
    return [tuple.__new__(ConnectionRecord, (i, *r[1:])) for i, r in enumerate(merged)]


def _tuple_hashes(
    src: Sequence[str], sport: Sequence[int], dst: Sequence[str], dport: Sequence[int]
) -> Ints:
    """One hash per row for its 4-tuple, the same in both directions, and the same in every run
    (of the addresses' bytes, not Python's str hash): a capture splits the same way each time."""
    numbers = _Numbers()  # each distinct address read once
    src_number, dst_number = (
        np.fromiter(map(numbers.__getitem__, addresses), dtype=np.int64, count=len(addresses))
        for addresses in (src, dst)
    )
    family, raw = _address_bytes(list(numbers))
    hashes = address_hashes(family, raw)
    return _hashes(
        hashes[src_number],
        hashes[dst_number],
        np.asarray(sport, dtype=np.int64),
        np.asarray(dport, dtype=np.int64),
    )


def address_hashes(family: Ints, raw: npt.NDArray[np.uint8]) -> Ints:
    """The hash of each address that _tuple_hashes uses (for parts_of): family 4 or 6, and its
    16 bytes (an IPv4 address in the last 4), as the native reader locates them. Every bit of
    the address reaches every bit of the hash (its high bits alone make a good table index)."""
    halves: npt.NDArray[np.uint64] = np.ascontiguousarray(raw).view("<u8")  # (n, 2)
    first = _mixed(np.bitwise_xor(halves[:, 0], family.astype(np.uint64)))
    hashes: Ints = _mixed(np.bitwise_xor(first, halves[:, 1])).view(np.int64)
    return hashes


def _mixed(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """splitmix64's finaliser (Steele, Lea and Flood, 2014), wrapping as a hash wants."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def _address_bytes(names: Sequence[str]) -> tuple[Ints, npt.NDArray[np.uint8]]:
    """(family, 16 bytes) of addresses as printed (decode.address_text's inverse); a name that
    is no address (a hand-made capture's) has family 0 and a digest of it."""
    family = np.zeros(len(names), dtype=np.int64)
    raw = np.zeros((len(names), 16), dtype=np.uint8)
    for i, name in enumerate(names):
        six = ":" in name
        try:
            packed = socket.inet_pton(socket.AF_INET6 if six else socket.AF_INET, name)
            family[i] = 6 if six else 4
        except OSError:
            packed = hashlib.blake2b(name.encode(), digest_size=16).digest()
        raw[i, 16 - len(packed) :] = np.frombuffer(packed, dtype=np.uint8)
    return family, raw


def parts_of(src: Ints, sport: Ints, dst: Ints, dport: Ints, parts: int) -> Ints:
    """The part of each row's 4-tuple, its addresses given by address_hashes: the part split
    gives it when no part is empty (a reader that cuts while reading keeps empty parts)."""
    return _part_of(_hashes(src, dst, sport, dport), parts)


def _hashes(src: Ints, dst: Ints, sport: Ints, dport: Ints) -> Ints:
    with np.errstate(over="ignore"):  # wrapping is what a hash wants
        ends = [src * _PORTS + sport, dst * _PORTS + dport]
        low, high = np.minimum(*ends), np.maximum(*ends)
        hashes: Ints = low * _MIX + high
        return hashes


class _Numbers(dict[str, int]):
    """Address → a number, given in order of the first look-up: one pass over a column."""

    def __missing__(self, name: str) -> int:
        value = self[name] = len(self)
        return value


def _part_of(hashes: Ints, parts: int) -> Ints:
    """A part for each hash: its high bits after one more multiplication, spread over parts."""
    with np.errstate(over="ignore"):
        mixed = (hashes * _MIX).view(np.uint64) >> np.uint64(33)
    return (mixed % np.uint64(parts)).astype(np.int64)


_PORTS = 65537  # a prime above the port range
_MIX = -7046029254386353131  # 0x9E3779B97F4A7C15 (Fibonacci hashing) as an int64
