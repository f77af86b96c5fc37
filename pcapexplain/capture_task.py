"""Per-capture task of a batch: analyse one capture, write its report and its table parts.

`run_capture(CaptureTask) -> CaptureSummary` is a plain module-level function of picklable
values, so the local worker processes and Dask workers run the same code (see runner.py). It
raises PcapExplainError for a bad capture, the same error `pcapexplain report` gives for it
alone. Everything it writes is written atomically; the summary it returns is small.

A capture gives the same results alone or in a batch because the adapters below make its
connection rows, its conn.log and its report page from the same `api.analyse` result with the
same functions as `connections --format csv`, `connections --format zeek` and `report`. They are
the only places in the batch that know how those three are made.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pcapexplain import __version__, api, connlog, records, reporter
from pcapexplain.batch_model import CaptureSummary
from pcapexplain.capture_reading import collector_paused
from pcapexplain.model import Lang
from pcapexplain.output import atomic_write_text

ROWS_PART = ".rows.jsonl"  # suffixes of the per-capture parts, after the parts prefix
CONN_LOG_PART = ".conn.log"
PART_SUFFIXES = (ROWS_PART, CONN_LOG_PART)


@dataclass(frozen=True, slots=True)
class CaptureTask:
    """What one worker needs; paths are absolute and must mean the same on every worker."""

    path: str  # the capture to read
    capture: str  # its name relative to the batch folder: the `capture` column
    report: str  # where its HTML report goes
    parts: str  # prefix of its table parts (prefix + CSV_PART, ...)
    lang: str  # Lang value of the report
    reader: str = "auto"  # Reader value: which reader reads the capture


def run_capture(task: CaptureTask) -> CaptureSummary:
    """Analyse task.path, write its report and table parts; raises PcapExplainError."""
    with collector_paused():  # read and analysis, as `report` runs them alone
        analysis = api.analyse(task.path, reader=task.reader)
    rows = connection_rows(analysis, task.capture)
    reporter.write_report(report_html(analysis, Lang(task.lang)), task.report)
    atomic_write_text(task.parts + ROWS_PART, rows_part(rows))
    atomic_write_text(task.parts + CONN_LOG_PART, conn_log_text(analysis, task.capture))
    info = analysis.capture
    return CaptureSummary(
        sha256=info.sha256,
        packets=info.total_frames,
        connections=len(rows),
        handshakes=dict(Counter(str(r["handshake"]) for r in rows)),
        teardowns=dict(Counter(str(r["teardown"]) for r in rows)),
        severities=dict(Counter(a.severity.value for a in analysis.anomalies)),
        warnings=info.warnings,
        tshark_version=info.tshark_version,
        reader=info.read_by,
    )


def rows_part(rows: list[dict[str, Any]]) -> str:
    """Connection rows as JSON lines: the column names (capture first), then one array per row.

    JSON keeps every value's type (ints, floats to the last digit, booleans, nulls), so the
    batch's CSV and Parquet made from it equal what the capture gives alone.
    """
    columns = ["capture", *(name for name in rows[0] if name != "capture")] if rows else []
    lines = [json.dumps(columns)]
    lines += [json.dumps([r[name] for name in columns], ensure_ascii=False) for r in rows]
    return "\n".join(lines) + "\n"


def read_rows_part(path: str) -> Iterator[dict[str, Any]]:
    """The rows of a part written by rows_part, one at a time."""
    with open(path, encoding="utf-8") as handle:
        columns = json.loads(handle.readline() or "[]")
        for line in handle:
            yield dict(zip(columns, json.loads(line), strict=True))


# --------------------------------------------------------------------------- the adapters


def connection_rows(analysis: api.Analysis, capture: str) -> list[dict[str, records.Scalar]]:
    """The rows of `connections --format csv`, with capture as the `capture` column."""
    return [r.flat() for r in records.connection_records(analysis.result, capture)]


def conn_log_text(analysis: api.Analysis, capture: str) -> str:
    """The text of `connections --format zeek`; uids are made from capture, so they stay apart
    across the captures of a batch and the same from run to run."""
    result = analysis.result
    rows = connlog.rows(result.packets, result.states, checksums_validated=False)
    return connlog.render(rows, path=capture)


def empty_conn_log() -> str:
    """A conn.log with its header lines and no record, for a batch with no connection."""
    return connlog.render([], path="")


def report_html(analysis: api.Analysis, lang: Lang) -> str:
    """The page `pcapexplain report CAPTURE --lang LANG` writes."""
    ctx = reporter.build_context(
        analysis.result,
        lang=lang,
        selected=None,
        generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        version=__version__,
    )
    return reporter.render_html(ctx)
