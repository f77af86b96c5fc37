"""Native reader of a plain pcap read in byte ranges, one part in each process (shard_run.py).

Each part walks and decodes only its own range of the file (`pcapranges`), choosing for every
TCP header the part of its 4-tuple, and counting what the capture says about itself
(`native.Facts`). The parts then meet twice: first to check every guessed start against the walk
before it and to join their counts into the whole capture's (`verdict`: None when a guess was
wrong, and the parts read the file whole, native.load_capture with a Cut); then to swap the
segments of each other's 4-tuples (`Piece`), after which each part assembles its 4-tuples' rows
in frame order and analyses them as a whole reading's part would be (native.Collected).

A damaged record or a cut-short end stops the reading where reading the file whole stops: the
records of the ranges after it are dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pcapexplain import capfile, decode, files, linklayer, native, pcapranges
from pcapexplain.decode import ErrorHeader
from pcapexplain.errors import CaptureUnreadable, os_reason
from pcapexplain.explanations import said
from pcapexplain.model import Capture, IcmpError
from pcapexplain.tcpheader import Segments

Array = np.ndarray[Any, Any]


@dataclass(frozen=True, slots=True)
class Report:
    """What a part's range held, for the first meeting."""

    range: pcapranges.Range
    start: int | None  # its first record (a guess, but for part 0); None: none in reach
    end: int | None  # where the record after its last starts; None: damaged, or no start
    frames: int
    damaged: str | None
    facts: native.Facts


@dataclass(frozen=True, slots=True)
class Verdict:
    """The whole capture's, from the parts' reports: where each part's frames are numbered from,
    how many parts count (those after a damaged record do not), and the capture-wide facts."""

    offsets: list[int]
    counted: int
    summary: capfile.FileSummary
    facts: native.Facts


@dataclass(frozen=True, slots=True)
class Piece:
    """The segments of one part's 4-tuples that another part's range held, numbered as in the
    whole capture, and the ICMP errors that quote them."""

    segments: Segments
    errors: dict[int, ErrorHeader]
    src: Array  # address ids, numbered as in keys
    dst: Array
    keys: list[bytes]  # the sender's addresses (family + 16 bytes), in id order


@dataclass(frozen=True, slots=True)
class Meeting:
    """Where the parts meet (shard_run's processes, or threads in tests): the reports, for
    every part's verdict; each part's pieces for the others (its own slot None), for those of
    the others for it; and native.Cut.meet, for the stream numbers."""

    verdict: Callable[[Report], Verdict | None]
    swap: Callable[[list[Piece | None]], list[Piece | None]]
    opened: Callable[[Array], Array]


def verdict(reports: list[Report]) -> Verdict | None:
    """The verdict of the parts' reports, in part order; None when a part's guess is not where
    the walk of the part before it ended (its first record at or after the cut)."""
    truth = reports[0].start
    offsets, frames, counted = [], 0, len(reports)
    summary, facts = capfile.FileSummary(), native.Facts()
    for which, report in enumerate(reports):
        offsets.append(frames)
        if which >= counted:
            continue
        if report.start is None and truth is not None and truth >= report.range.high:
            continue  # no record starts in this range
        if report.start != truth:
            return None
        facts.then(report.facts, frames)
        frames += report.frames
        truth = report.end
        if report.damaged is not None:
            summary.damaged, counted = report.damaged, which + 1
    summary.frames = frames
    return Verdict(offsets, counted, summary, facts)


def read(
    path: Path,
    which: int,
    parts: int,
    meeting: Meeting,
    *,
    validate_checksums: bool,
    status: files.ReadStatus,
) -> Capture | None:
    """native.load_capture of a part (with a Cut, without the digest) read from its byte range;
    None when the file is read whole instead: it is no plain pcap of a link type this reader
    knows, or a guessed start was wrong (every part gets None alike)."""
    fmt = pcapranges.plain_format(path)
    if fmt is None or fmt.linktype not in linklayer.KNOWN_LINKTYPES:
        return None
    size = path.stat().st_size
    status.size, status.reading = size, True
    shown = files.shown_name(path)
    name = files.error_name(path, shown)
    try:
        part = pcapranges.byte_range(size, which, parts)
        collected = native.Collected(cut=native.Cut(which, parts, meeting.opened))
        try:
            report, decoded = _decode_range(path, fmt, part, collected, validate_checksums, status)
        except OSError as exc:
            reason = os_reason(exc)
            raise CaptureUnreadable(said("error.cannot_read", path=name, reason=reason)) from exc
        found = meeting.verdict(report)
        if found is None:
            return None
        keys = list(collected.addresses)
        outgoing = decoded.pieces(found.offsets[which], which < found.counted, keys)
        own = outgoing[which]
        outgoing[which] = None
        received = meeting.swap(outgoing)
        received[which] = own
        icmp = _assemble(collected, received, which)
        collected.facts = found.facts
        packets = collected.columns() if found.summary.frames and found.facts.tcp else None
        native.return_freed_memory()
    finally:
        status.reading = False
    return native.finished(found.summary, found.facts, packets, icmp, name, shown, size, "")


@dataclass(slots=True)
class _Decoded:
    """A range's decoded segments and their address ids, sorted block by block into the parts
    of their 4-tuples (while the block is fresh in the cache)."""

    parts: int
    segments: list[list[Segments]] = field(default_factory=list)  # per part, its blocks
    src: list[list[Array]] = field(default_factory=list)  # native.Collected's ids
    dst: list[list[Array]] = field(default_factory=list)
    errors: dict[int, ErrorHeader] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for column in (self.segments, self.src, self.dst):
            column.extend([] for _ in range(self.parts))

    def add(self, result: decode.BlockResult, part: Array, src: Array, dst: Array) -> None:
        """A decoded block, the part of each segment, its address ids."""
        self.errors.update(result.errors)
        for which in range(self.parts):
            rows = np.flatnonzero(part == which)
            self.segments[which].append(result.segments.take(rows))
            self.src[which].append(src[rows])
            self.dst[which].append(dst[rows])

    def pieces(self, offset: int, counted: bool, keys: list[bytes]) -> list[Piece | None]:
        """The segments for each part, their frames offset (none when the range is not
        counted: a damaged record came before it); keys: the addresses in id order."""
        if not counted or not self.segments[0]:
            return [None] * self.parts
        found: list[Piece | None] = []
        for which, blocks in enumerate(self.segments):
            mine = Segments.joined(blocks)
            blocks.clear()
            mine.frame += offset
            quoted = mine.frame[mine.in_error].tolist()
            errors = {f: self.errors[f - offset] for f in quoted if f - offset in self.errors}
            src, dst = np.concatenate(self.src[which]), np.concatenate(self.dst[which])
            found.append(Piece(mine, errors, src, dst, keys))
        return found


def _decode_range(
    path: Path,
    fmt: capfile.PcapFormat,
    part: pcapranges.Range,
    collected: native.Collected,
    validate: bool,
    status: files.ReadStatus,
) -> tuple[Report, _Decoded]:
    """Walk and decode the range: every header's part chosen, the capture-wide facts counted."""
    summary, facts = capfile.FileSummary(), native.Facts()
    decoded = _Decoded(part.parts)
    for records in pcapranges.read_range(path, fmt, part, summary):
        result = decode.decode(records, validate_checksums=validate)
        s = result.segments
        facts.count(s)
        facts.count_foreign(result.foreign)
        which, src, dst = collected.parts_of(s.family, s.src, s.dst, s.sport, s.dport, part.parts)
        decoded.add(result, which, src, dst)
        status.frames = records.first_frame + len(records) - 1
    report = Report(part, summary.start, summary.end, summary.frames, summary.damaged, facts)
    return report, decoded


def _assemble(
    collected: native.Collected, pieces: list[Piece | None], which: int
) -> tuple[IcmpError, ...]:
    """The part's segments taken in, in frame order (the ranges' order), with their address
    ids; its ICMP errors."""
    icmp: list[IcmpError] = []
    for source, piece in enumerate(pieces):
        if piece is None:
            continue
        if source == which:
            collected.interned = piece.src, piece.dst
        else:
            collected.interned = collected.adopted(piece.keys, piece.src, piece.dst)
        result = decode.BlockResult(piece.segments, {}, piece.errors)
        icmp.extend(native.icmp_errors(result))
        collected.add(result)
    return tuple(icmp)
