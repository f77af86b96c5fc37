"""Index preparation (pure): everything a batch's index page shows, formatted in advance.

`build_index_context` turns the batch's rows into an IndexContext of plain strings and numbers;
reporter.render_index only fills the template. Capture names are kept verbatim: the template
escapes them, so a file called `<script>.pcap` reads as such and runs nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote

from pcapexplain.batch_model import CaptureRow, CaptureStatus
from pcapexplain.explanations import text, ui_texts
from pcapexplain.model import Handshake, Lang, Severity, Teardown
from pcapexplain.report_context import Count


@dataclass(frozen=True, slots=True)
class Tally:
    code: str  # handshake or close value, or severity
    label: str  # its words, for a tooltip
    count: int


@dataclass(frozen=True, slots=True)
class IndexRow:
    capture: str  # verbatim
    href: str  # the report, relative and URL-quoted; "" without one
    status: str  # CaptureStatus value
    status_label: str
    packets: int | None
    connections: int | None
    handshakes: tuple[Tally, ...]
    teardowns: tuple[Tally, ...]
    severities: tuple[Tally, ...]  # most severe first
    severity_key: int  # sorts rows by their most severe findings, then by how many
    notes: tuple[str, ...]  # the error, its hint, warnings, "results kept": each a line


@dataclass(frozen=True, slots=True)
class IndexContext:
    lang: str
    ui: dict[str, str]
    folder: str
    facts: tuple[tuple[str, str], ...]
    statuses: tuple[Count, ...]  # files by status, key "status:ok"
    packets: int
    connections: int
    handshakes: tuple[Count, ...]  # connections of all captures, key "handshake:complete"
    teardowns: tuple[Count, ...]
    severities: tuple[Count, ...]  # findings of all captures, key "severity:warn"
    rows: tuple[IndexRow, ...]
    interrupted_note: str  # "" unless the run was interrupted
    generated_at: str
    version: str


def build_index_context(
    rows: Sequence[CaptureRow],
    *,
    folder: str,
    lang: Lang,
    interrupted: bool,
    generated_at: str,
    version: str,
) -> IndexContext:
    """Prepare the index of a batch: rows in the order given, totals over all of them."""
    language = Lang(lang)
    summaries = [r.summary for r in rows if r.summary is not None]
    handshakes = _add(s.handshakes for s in summaries)
    teardowns = _add(s.teardowns for s in summaries)
    severities = _add(s.severities for s in summaries)
    analysed = sum(1 for r in rows if r.status in (CaptureStatus.OK, CaptureStatus.ERROR))
    captures = sum(1 for r in rows if r.status is not CaptureStatus.SKIPPED)
    note = ""
    if interrupted:
        note = text(language, "batch.interrupted", done=f"{analysed:,}", total=f"{captures:,}")
    return IndexContext(
        lang=language,
        ui={**ui_texts(language, "report."), **ui_texts(language, "batch.")},
        folder=folder,
        facts=(
            (text(language, "batch.fact.folder"), folder),
            (text(language, "batch.fact.files"), f"{len(rows):,}"),
            (text(language, "report.fact.version"), version),
            (text(language, "batch.fact.generated"), generated_at),
        ),
        statuses=_status_counts(language, rows),
        packets=sum(s.packets for s in summaries),
        connections=sum(s.connections for s in summaries),
        handshakes=_counts(language, "handshake", [m.value for m in Handshake], handshakes),
        teardowns=_counts(language, "teardown", [m.value for m in Teardown], teardowns),
        severities=_counts(language, "severity", _SEVERITIES, severities),
        rows=tuple(_row(language, r) for r in rows),
        interrupted_note=note,
        generated_at=generated_at,
        version=version,
    )


_SEVERITIES = [s.value for s in sorted(Severity, key=lambda s: -s.rank)]


def _add(counts: Iterable[Mapping[str, int]]) -> Counter[str]:
    total: Counter[str] = Counter()
    for count in counts:
        total.update(count)
    return total


def _counts(
    lang: Lang, kind: str, order: list[str], counted: Mapping[str, int]
) -> tuple[Count, ...]:
    return tuple(
        Count(f"{kind}:{value}", text(lang, f"{kind}.{value}"), counted[value])
        for value in order
        if counted.get(value)
    )


def _status_counts(lang: Lang, rows: Sequence[CaptureRow]) -> tuple[Count, ...]:
    counted = Counter(r.status for r in rows)
    return tuple(
        Count(f"status:{s.value}", text(lang, f"batch.status.{s.value}"), counted[s])
        for s in CaptureStatus
        if counted[s]
    )


def _tallies(
    lang: Lang, kind: str, order: list[str], counted: Mapping[str, int]
) -> tuple[Tally, ...]:
    return tuple(
        Tally(value, text(lang, f"{kind}.{value}"), counted[value])
        for value in order
        if counted.get(value)
    )


def _row(lang: Lang, row: CaptureRow) -> IndexRow:
    s = row.summary
    severities = _tallies(lang, "severity", _SEVERITIES, s.severities if s else {})
    return IndexRow(
        capture=row.capture,
        href=quote(row.report) if row.report else "",
        status=row.status.value,
        status_label=text(lang, f"batch.status.{row.status.value}"),
        packets=s.packets if s else None,
        connections=s.connections if s else None,
        handshakes=_tallies(
            lang, "handshake", [m.value for m in Handshake], s.handshakes if s else {}
        ),
        teardowns=_tallies(lang, "teardown", [m.value for m in Teardown], s.teardowns if s else {}),
        severities=severities,
        severity_key=_severity_key(s.severities if s else {}),
        notes=_notes(lang, row),
    )


def _severity_key(counted: Mapping[str, int]) -> int:
    # Capped per level so that many infos never outrank one warning.
    return sum(min(counted.get(s.value, 0), 999) * 1000**s.rank for s in Severity)


def _notes(lang: Lang, row: CaptureRow) -> tuple[str, ...]:
    notes = [row.error] if row.error else []
    if row.hint:
        notes.append(text(lang, "batch.hint", hint=row.hint))
    if row.summary is not None:
        notes += [text(lang, "batch.warning", warning=w) for w in row.summary.warnings]
    if row.reused:
        notes.append(text(lang, "batch.reused"))
    return tuple(notes)
