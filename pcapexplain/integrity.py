"""Integrity checks (pure): the student's own capture, of the right thing, at the right time?

Per capture: taken outside the rubric's assignment window; holding no connection the rubric
selects. Across a class: byte-identical captures, and captures that share a TCP connection (the
same ports and ISNs cannot come from two independent runs: ISNs are random 32-bit numbers).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from pcapexplain.model import Connection

ConnectionKey = tuple[int, int, int, int]  # client port, server port, client ISN, server ISN


class IntegrityFlag(StrEnum):
    """Why a submission deserves a teacher's look; texts under grade.flag.*."""

    IDENTICAL_CAPTURE = "identical-capture"  # the same bytes as another student's capture
    SHARED_CONNECTION = "shared-connection"  # a connection with the same ports and ISNs
    OUTSIDE_WINDOW = "outside-window"  # packets dated before the assignment opened or after
    NO_MATCHING_CONNECTION = "no-matching-connection"  # nothing the rubric's [select] takes


@dataclass(frozen=True, slots=True)
class Flag:
    flag: IntegrityFlag
    others: tuple[str, ...] = ()  # the other students involved, for the class-wide checks


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What the class-wide checks compare: the file's hash and its handshakes."""

    student: str
    sha256: str
    connections: frozenset[ConnectionKey]


def connection_keys(connections: Iterable[Connection]) -> frozenset[ConnectionKey]:
    """Ports and ISNs of every connection whose handshake was captured."""
    return frozenset(
        (c.client.port, c.server.port, c.client_isn, c.server_isn)
        for c in connections
        if c.client_isn is not None and c.server_isn is not None
    )


def capture_flags(
    first_time: float | None,
    last_time: float | None,
    opens: float | None,
    closes: float | None,
    matched: bool,
) -> tuple[Flag, ...]:
    """The checks one capture allows on its own."""
    flags = []
    if first_time is not None and last_time is not None:
        early = opens is not None and first_time < opens
        late = closes is not None and last_time > closes
        if early or late:
            flags.append(Flag(IntegrityFlag.OUTSIDE_WINDOW))
    if not matched:
        flags.append(Flag(IntegrityFlag.NO_MATCHING_CONNECTION))
    return tuple(flags)


def class_flags(prints: Sequence[Fingerprint]) -> Mapping[str, tuple[Flag, ...]]:
    """Student → the class-wide flags raised against them, naming the others involved.

    A shared connection is reported only between captures that are not byte-identical (the
    identical-capture flag already says more).
    """
    by_hash: dict[str, list[str]] = defaultdict(list)
    by_connection: dict[ConnectionKey, list[Fingerprint]] = defaultdict(list)
    for fp in prints:
        by_hash[fp.sha256].append(fp.student)
        for key in fp.connections:
            by_connection[key].append(fp)
    found: dict[str, list[Flag]] = defaultdict(list)
    for students in by_hash.values():
        for student in students if len(students) > 1 else ():
            others = tuple(sorted(s for s in students if s != student))
            found[student].append(Flag(IntegrityFlag.IDENTICAL_CAPTURE, others))
    shared: dict[str, set[str]] = defaultdict(set)
    for holders in by_connection.values():
        for fp in holders:
            shared[fp.student].update(o.student for o in holders if o.sha256 != fp.sha256)
    for student, others_set in sorted(shared.items()):
        if others_set:
            found[student].append(Flag(IntegrityFlag.SHARED_CONNECTION, tuple(sorted(others_set))))
    return {student: tuple(flags) for student, flags in found.items()}
