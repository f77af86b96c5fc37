"""Shared value types of a batch (no I/O, nothing heavy): what became of each file and its numbers.

The batch stage (batch, capture_task), its writers (batch_writers, index_context) and its display
(run_display, terminal, cli) all read these, so none of them needs another's module to name them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class CaptureStatus(StrEnum):
    """What became of one file of a batch (the `status` column of captures.csv)."""

    OK = "ok"  # analysed; its report and table rows are written
    ERROR = "error"  # a capture that could not be analysed; the error says why
    SKIPPED = "skipped"  # not a capture; the error column says why
    INTERRUPTED = "interrupted"  # not analysed: the run was stopped first


@dataclass(frozen=True, slots=True)
class CaptureSummary:
    """The few numbers a batch's index and captures.csv show for one analysed capture."""

    sha256: str
    packets: int  # every frame in the file, TCP or not
    connections: int
    handshakes: dict[str, int]  # Handshake value -> connections
    teardowns: dict[str, int]  # Teardown value -> connections
    severities: dict[str, int]  # Severity value -> findings (as in the report's summary)
    warnings: tuple[str, ...]  # e.g. the capture is cut short
    tshark_version: str
    reader: str = ""  # CaptureInfo.read_by of the reader that read it ("" in older batch state)


@dataclass(frozen=True, slots=True)
class CaptureRow:
    """One file of a batch, as the index and captures.csv show it."""

    capture: str  # path relative to the batch folder, "/"-separated, shown verbatim
    status: CaptureStatus
    error: str = ""  # the error (or the reason it was skipped), as for a single file
    hint: str = ""
    sha256: str = ""
    report: str = ""  # its report, relative to the output folder, "/"-separated
    summary: CaptureSummary | None = None  # set exactly when status is OK
    reused: bool = False  # unchanged since the last run: its results were kept
    seconds: float = 0.0  # time its analysis took (in the run that made it)
