"""Capture-file stage for a plain pcap read in byte ranges: each part of a large file walks the
records whose header starts in its range, and no others.

The file is cut at size * k / n. Part 0 starts after the file header; part k > 0 guesses where
its first record starts (`first_record`): the first offset after its cut where a chain of
plausible record headers follows. Part k - 1 walks past its cut to the first record at or after
it, which is the truth its neighbour's guess is checked against when the parts meet
(rangeread.verdict); a payload that looks like record headers fools the guess, and the parts then
read the file as a whole (rare, never wrong). gzip and pcapng are read whole.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from pcapexplain import capfile
from pcapexplain.capfile import Buffered, FileSummary, PcapFormat, Records

Array = np.ndarray[Any, Any]

HEADER = 24  # the pcap file header
RECORD_HEADER = 16
CHAIN = 6  # consecutive plausible record headers that make a guess
_SCAN = 1 << 16  # offsets whose headers are tested at once


@dataclass(frozen=True, slots=True)
class Range:
    """The bytes of one part: records whose header starts in [low, high) are its own."""

    which: int
    parts: int
    low: int
    high: int


def byte_range(size: int, which: int, parts: int) -> Range:
    """Part which of parts of a file of size bytes: cut at size * k / parts."""
    return Range(which, parts, size * which // parts, size * (which + 1) // parts)


def plain_format(path: Path) -> PcapFormat | None:
    """The format of a plain (not gzip) pcap file with a header wiretap accepts; None for any
    other file, which is read whole (and refused there, when it must be)."""
    try:
        with open(path, "rb") as raw:
            reader = Buffered(capfile.Plain(raw), capfile.MAX_SNAPLEN * 4)
            head = reader.peek(4)
            if len(head) < 4 or struct.unpack("<I", head)[0] not in capfile.PCAP_MAGIC:
                return None
            fmt = capfile.pcap_format(reader, FileSummary())
    except (capfile.CaptureFormatError, capfile.UnsupportedCapture, OSError):
        return None
    return fmt


def read_range(path: Path, fmt: PcapFormat, part: Range, summary: FileSummary) -> Iterator[Records]:
    """The records of part (frames numbered from 1 at its first); summary.end is where the next
    part's first record starts (None: the walk stopped at damage, summary.damaged, or the part
    found no first record, `first_record`)."""
    summary.linktypes.add(fmt.linktype)
    with open(path, "rb") as raw:
        start = HEADER if part.which == 0 else first_record(raw, fmt, part)
        summary.start = start
        if start is None or start >= part.high:
            summary.end = start  # no record of its own (the walk before it tells if true)
            return
        raw.seek(start)
        size = min(capfile.BLOCK_SIZE, part.high - start + RECORD_HEADER + capfile.MAX_SNAPLEN)
        reader = Buffered(capfile.Plain(raw), size)
        yield from capfile.pcap_records(reader, summary, fmt, pos=0, base=start, bound=part.high)


def first_record(raw: BinaryIO, fmt: PcapFormat, part: Range) -> int | None:
    """The guess: the first offset in part where CHAIN plausible record headers follow one
    another (or lead to the file's end); None when no offset within a record's length of the
    cut has them."""
    size = os.fstat(raw.fileno()).st_size
    longest = RECORD_HEADER + _max_captured(fmt)
    reach = min(part.high, part.low + longest) - part.low  # a record starts before, or damage
    raw.seek(part.low)
    window = raw.read(reach + CHAIN * longest)
    ends_file = part.low + len(window) >= size
    data = np.frombuffer(window + bytes(RECORD_HEADER), dtype=np.uint8)
    for first in range(0, reach, _SCAN):
        offsets = np.arange(first, min(first + _SCAN, reach), dtype=np.int64)
        for at in offsets[_plausible(data, offsets, fmt)[0]].tolist():
            if _chain(data, len(window), at, fmt, ends_file):
                return part.low + int(at)
    return None


def _max_captured(fmt: PcapFormat) -> int:
    return min(fmt.snaplen, capfile.MAX_SNAPLEN) if fmt.snaplen else capfile.MAX_SNAPLEN


def _plausible(data: Array, offsets: Array, fmt: PcapFormat) -> tuple[Array, Array]:
    """Which offsets hold a plausible record header, and the captured length each says: that
    length within the snapshot length and at most the original one, which is 1 to MAX_SNAPLEN
    (no wire carries larger packets, offloading included); the sub-second field under a second.
    """
    _, frac, incl, orig = capfile.gather_u32(data, offsets, 4, fmt.order)
    incl, orig = capfile.lengths_of(incl, orig, fmt.swap)
    second = 1_000_000_000 if fmt.nanosecond else 1_000_000
    ok: Array = (frac < second) & (incl <= _max_captured(fmt)) & (incl <= orig)
    ok &= (orig > 0) & (orig <= capfile.MAX_SNAPLEN)
    return ok, incl


def _chain(data: Array, end: int, at: int, fmt: PcapFormat, ends_file: bool) -> bool:
    """Whether CHAIN plausible record headers follow one another from at in data (valid up to
    end), each landing exactly on the next; or fewer, ending exactly at the file's end, or
    (a capture cut short) after at least two whole records, running past it."""
    for whole in range(CHAIN):  # whole records so far
        if at == end and ends_file:
            return True
        if at + RECORD_HEADER > end:
            return ends_file and whole >= 2
        ok, incl = _plausible(data, np.array([at], dtype=np.int64), fmt)
        if not ok[0]:
            return False
        at += RECORD_HEADER + int(incl[0])
        if at > end:
            return ends_file and whole >= 2
    return True
